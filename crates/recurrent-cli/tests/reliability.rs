//! Nothing lost, nothing stuck: the run folder, resume, interrupts, damaged checkpoints, sizes
//! checked up front, and quiet pipes — one test per way a user's work could be lost or a run
//! could hang or crash (issue 15).

mod common;
use common::{assert_fails, bin, corpus_head, ok, recurrent, s, stderr, train, TINY};

use recurrent::checkpoint::{read_tensors, serialize, Meta};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Every tensor of two checkpoints, bit for bit.
fn same_weights(a: &Path, b: &Path) {
    let (x, _) = read_tensors(a).unwrap();
    let (y, _) = read_tensors(b).unwrap();
    assert_eq!(x.len(), y.len());
    for (name, t) in &x {
        assert_eq!(t, &y[name], "{name} differs between {} and {}", a.display(), b.display());
    }
}

fn metric_steps(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect()
}

// Item 1. The training state is the one file a resume needs: with last.safetensors gone the
// run still resumes exactly; with the state itself gone (a kill between its two renames) the
// run resumes from the checkpoint before it, with a note, and still ends bit for bit where an
// uninterrupted run does; temporaries a killed writer left are removed.
#[test]
fn the_state_alone_resumes_and_the_previous_one_is_a_fallback() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let full = d.path().join("full");
    ok(&train(&t, &full, &["--steps", "20", "--dropout", "0.2", "--layers", "2"]));
    let part = d.path().join("part");
    ok(&train(&t, &part, &["--steps", "10", "--dropout", "0.2", "--layers", "2"]));
    std::fs::remove_file(part.join("last.safetensors")).unwrap();
    std::fs::write(part.join(".last.safetensors.tmp-4242"), vec![0u8; 1000]).unwrap();
    let o = recurrent(&["train", "--resume", s(&part), "--steps", "15"]);
    ok(&o);
    assert!(stderr(&o).contains("removed 1 temporary file(s)"), "{}", stderr(&o));
    assert!(!part.join(".last.safetensors.tmp-4242").exists());
    std::fs::remove_file(part.join("last.state.safetensors")).unwrap();
    let o = recurrent(&["train", "--resume", s(&part), "--steps", "20"]);
    ok(&o);
    assert!(stderr(&o).contains("resuming from the checkpoint before it"), "{}", stderr(&o));
    assert!(stderr(&o).contains("(step 10)"), "{}", stderr(&o));
    same_weights(&full.join("last.safetensors"), &part.join("last.safetensors"));
    assert_eq!(metric_steps(&part), vec![5, 10, 15, 20]);
}

// Item 2. An existing run is never replaced; two runs started at once get two folders; a
// resume into the same folder spelt another way keeps its metrics; a resume into another
// folder takes the metrics and best.safetensors with it.
#[test]
fn runs_are_never_overwritten_or_shared() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let a = d.path().join("a");
    ok(&train(&t, &a, &["--steps", "10"]));
    let before = std::fs::read(a.join("last.state.safetensors")).unwrap();
    let o = train(&t, &a, &["--steps", "10", "--layers", "1"]);
    assert_fails(&o, "already holds a run (last.state.safetensors, prev.state.safetensors, last.safetensors, best.safetensors): continue it with --resume");
    assert_eq!(std::fs::read(a.join("last.state.safetensors")).unwrap(), before);
    // Same folder, another spelling: the metrics are not truncated.
    let other_spelling = format!("{}/../a/.", a.display());
    ok(&recurrent(&["train", "--resume", s(&a), "--out", &other_spelling, "--steps", "15"]));
    assert_eq!(metric_steps(&a), vec![5, 10, 15]);
    // Another folder: the metrics and best.safetensors come along, and the summary's best exists.
    let b = d.path().join("b");
    let o = recurrent(&["train", "--resume", s(&a), "--out", s(&b), "--steps", "20", "--val-frac", "0.1"]);
    ok(&o);
    assert!(b.join("best.safetensors").exists());
    assert_eq!(metric_steps(&b), vec![5, 10, 15, 20]);
    // Two runs started together without --out.
    let cwd = d.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let start = || {
        bin()
            .current_dir(&cwd)
            .args([&["train", s(&t), "--steps", "5"][..], TINY].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p, q) = (start(), start());
    for c in [p, q] {
        ok(&c.wait_with_output().unwrap());
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(cwd.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in runs {
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["steps"], 5);
    }
}

// Item 3. A resume checks that the text and the split are the run's; --init-from starts a new
// run from the weights on another text.
#[test]
fn resume_refuses_other_data_and_init_from_takes_the_weights() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    ok(&train(&t, &run, &["--steps", "10", "--val-frac", "0.1"]));
    let shorter = corpus_head(d.path(), "short.txt", 20_000);
    let o = recurrent(&["train", "--resume", s(&run), s(&shorter), "--steps", "20"]);
    assert_fails(&o, "is not the text this run was trained on (30000 characters, sha256 ");
    assert!(stderr(&o).contains("start a new run from its weights with --init-from"), "{}", stderr(&o));
    let longer = corpus_head(d.path(), "long.txt", 40_000);
    assert_fails(
        &recurrent(&["train", "--resume", s(&run), s(&longer), "--steps", "20"]),
        "is not the text this run was trained on",
    );
    assert_fails(
        &recurrent(&["train", "--resume", s(&run), "--steps", "20", "--val-frac", "0.5"]),
        "val-frac 0.1; flags asking for another architecture or data layout cannot resume it",
    );
    // The text moved: the message says where the path came from.
    let moved = d.path().join("moved.txt");
    std::fs::rename(&t, &moved).unwrap();
    let o = recurrent(&["train", "--resume", s(&run), "--steps", "20"]);
    assert_fails(&o, "config.json: cannot read");
    std::fs::rename(&moved, &t).unwrap();
    // --init-from: the weights, a new run, step 0, on a text of the same characters.
    let init = d.path().join("init");
    let ck = run.join("last.safetensors");
    let o = recurrent(
        &[&["train", s(&longer), "--init-from", s(&ck), "--out", s(&init), "--steps", "5"][..], &TINY[4..]].concat(),
    );
    ok(&o);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(init.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["hidden"], 16);
    assert!(cfg["init_from"].as_str().unwrap().ends_with("last.safetensors"));
    assert_eq!(metric_steps(&init), vec![5]);
    assert_fails(
        &recurrent(&["train", s(&longer), "--init-from", s(&ck), "--out", s(&d.path().join("x")), "--hidden", "32"]),
        "holds a lstm 2×16: leave out --cell/--hidden/--layers",
    );
    let odd = d.path().join("odd.txt");
    std::fs::write(&odd, "é".repeat(5000)).unwrap();
    assert_fails(
        &recurrent(&["train", s(&odd), "--init-from", s(&ck), "--out", s(&d.path().join("y"))]),
        "--init-from needs a text of the checkpoint's characters",
    );
    // A resume below the current step is refused before anything is written.
    let cfg_before = std::fs::read(run.join("config.json")).unwrap();
    assert_fails(&recurrent(&["train", "--resume", s(&run), "--steps", "3"]), "--steps 3 is below the run's step 10");
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), cfg_before);
    // The saved text path is absolute: a resume from another folder finds it.
    let o = bin().current_dir("/").args(["train", "--resume", s(&run), "--steps", "12"]).output().unwrap();
    ok(&o);
    // Another thread count says it breaks bit-exactness.
    let o = recurrent(&["train", "--resume", s(&run), "--steps", "14", "--threads", "1"]);
    ok(&o);
    let saved: serde_json::Value = serde_json::from_slice(&cfg_before).unwrap();
    if saved["threads"] != 1 {
        assert!(stderr(&o).contains("its continuation is not bit for bit"), "{}", stderr(&o));
    }
}

/// Sends `sig` to a child.
fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("the child is running");
}

/// Waits until `path` exists (the run has started training).
fn wait_for(path: &Path) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

// Item 4. Ctrl-C (SIGINT) and SIGTERM save the step reached and exit 130; the run then resumes
// and ends bit for bit where an uninterrupted one does.
#[test]
fn interrupts_save_and_exit_and_the_run_resumes_exactly() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let opts = ["--steps", "400", "--hidden", "48", "--eval-every", "1000", "--log-every", "1", "--threads", "1"];
    let full = d.path().join("full");
    let o = recurrent(&[&["train", s(&t), "--out", s(&full)][..], &TINY[2..6], &opts].concat());
    ok(&o);
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        let part = d.path().join(format!("part-{sig}"));
        let child = bin()
            .args([&["train", s(&t), "--out", s(&part)][..], &TINY[2..6], &opts].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(&part.join("metrics.jsonl"));
        signal(child.id(), sig);
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("checkpoint saved in") && e.contains("continue with: recurrent train --resume"), "{e}");
        let (_, meta) = read_tensors(&part.join("last.safetensors")).unwrap();
        let step: usize = meta["step"].parse().unwrap();
        assert!(step > 0 && step < 400, "interrupted at step {step}");
        ok(&recurrent(&["train", "--resume", s(&part)]));
        same_weights(&full.join("last.safetensors"), &part.join("last.safetensors"));
    }
}

// Item 5. Validation on a bounded number of windows, a checkpoint interval of its own, and
// every checkpoint kept by name with --keep-all.
#[test]
fn checkpoint_interval_and_keep_all() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    let o = recurrent(
        &[
            &["train", s(&t), "--out", s(&run)][..],
            &TINY[..6],
            &["--steps", "7", "--eval-every", "100", "--checkpoint-every", "3", "--keep-all", "--eval-windows", "2"],
        ]
        .concat(),
    );
    ok(&o);
    let mut kept: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept[0].starts_with("step0000003-epoch") && !kept[0].contains("-val"), "{kept:?}");
    assert!(kept[2].starts_with("step0000007-epoch") && kept[2].contains("-val"), "{kept:?}");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!((cfg["eval_windows"].as_u64(), cfg["checkpoint_every"].as_u64()), (Some(2), Some(3)));
}

// Item 6. Sizes and thresholds are checked before anything is allocated or written.
#[test]
fn sizes_are_checked_up_front() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    let t0 = Instant::now();
    let o = recurrent(&["train", s(&t), "--out", s(&run), "--hidden", "100000"]);
    assert_fails(&o, "needs about");
    assert!(stderr(&o).contains("more than the") && stderr(&o).contains("use a smaller --hidden"), "{}", stderr(&o));
    assert!(t0.elapsed() < Duration::from_secs(30), "refused before allocating");
    assert_fails(&recurrent(&["train", s(&t), "--out", s(&run), "--threads", "0"]), "--threads is 0");
    assert_fails(&recurrent(&["train", s(&t), "--out", s(&run), "--threads", "512"]), "--threads 512 is more than");
    assert_fails(
        &recurrent(&["train", s(&t), "--out", s(&run), "--clip", "nan"]),
        "--clip NaN is not a clipping threshold",
    );
    assert_fails(&recurrent(&["train", s(&t), "--out", s(&run), "--clip-norm", "inf"]), "--clip-norm inf is not");
    assert!(!run.join("config.json").exists(), "nothing written");
}

// Item 7. A checkpoint whose data was changed after it was written, or whose weights are not
// finite, is refused with the file's name.
#[test]
fn damaged_and_non_finite_checkpoints_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    ok(&train(&t, &run, &["--steps", "5"]));
    let mut bytes = std::fs::read(run.join("last.safetensors")).unwrap();
    let n = bytes.len();
    for i in 0..100 {
        bytes[n - 1 - 37 * i] ^= 0x40;
    }
    let flipped = d.path().join("flipped.safetensors");
    std::fs::write(&flipped, &bytes).unwrap();
    assert_fails(&recurrent(&["sample", s(&flipped)]), "is damaged: its tensor data no longer matches the checksum");
    assert_fails(&recurrent(&["eval", s(&flipped), s(&t)]), "flipped.safetensors is damaged");
    // NaN weights, with a checksum that matches them.
    let (tensors, mut meta): (_, Meta) = read_tensors(&run.join("last.safetensors")).unwrap();
    meta.remove("data_sha256");
    let list: Vec<(String, Vec<usize>, Vec<f32>)> = tensors
        .iter()
        .map(|(k, a)| {
            let mut v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            if k == "rnn.weight_hh_l0" {
                v[3] = f32::NAN;
            }
            (k.clone(), a.shape().to_vec(), v)
        })
        .collect();
    let nan = d.path().join("nan.safetensors");
    std::fs::write(&nan, serialize(&list, &meta).unwrap()).unwrap();
    assert_fails(&recurrent(&["sample", s(&nan)]), "holds NaN or infinite weights (in rnn.weight_hh_l0)");
    assert_fails(&recurrent(&["eval", s(&nan), s(&t)]), "holds NaN or infinite weights");
}

// Item 8. A closed pipe stops `sample` quietly (and early); clap's errors keep the name of a
// missing argument; the bundled corpus is inside the binary; a loss that explodes stops the run.
#[test]
fn pipes_missing_arguments_bundled_corpus_and_explosions() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    ok(&train(&t, &run, &["--steps", "5"]));
    let mut child = bin()
        .args(["sample", s(&run.join("last.safetensors")), "--length", "100000000", "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap(); // then the pipe closes
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "nothing on stderr for a closed pipe");
    let o = recurrent(&["sample"]);
    // clap's own layout (several lines) names the missing argument.
    assert!(!o.status.success() && stderr(&o).contains("the following required arguments were not provided"));
    assert!(stderr(&o).contains("<CHECKPOINT>"), "{}", stderr(&o));
    // From a folder with no data/: the bundled tiny-shakespeare is inside the binary.
    let cwd = d.path().join("elsewhere");
    std::fs::create_dir(&cwd).unwrap();
    let o =
        bin().current_dir(&cwd).args([&["train", "--out", "r", "--steps", "2"][..], TINY].concat()).output().unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("on the bundled tiny-shakespeare (1115394 characters"));
    // SGD at a huge rate without clipping: the loss climbs past 3× the first and the run stops.
    let boom = d.path().join("boom");
    let o = train(&t, &boom, &["--steps", "200", "--optimizer", "sgd", "--lr", "100", "--clip-norm", "0"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the smoothed loss exploded to") && stderr(&o).contains("training stopped"),
        "{}",
        stderr(&o)
    );
}
