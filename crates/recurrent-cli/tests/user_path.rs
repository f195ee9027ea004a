//! The ordinary user's path (issue 25): a run folder wherever a checkpoint goes, the next
//! command said, logs a person can follow (resume, clock, units), sampling as nanoGPT users
//! expect, and a run's configuration given back with --config.

mod common;
use common::*;

use std::path::Path;

fn small_run(dir: &Path, name: &str, extra: &[&str]) -> (std::path::PathBuf, std::process::Output) {
    let t = corpus_head(dir, "t.txt", 30_000);
    let out = dir.join(name);
    let o = train(&t, &out, &[&["--steps", "20", "--threads", "1"][..], extra].concat());
    ok(&o);
    (out, o)
}

// Item 1: sample, eval, inspect and train --init-from take a run folder (its best, else its
// last), and say which checkpoint they used.
#[test]
fn a_run_folder_is_accepted_wherever_a_checkpoint_is() {
    let d = tempfile::tempdir().unwrap();
    let (run, _) = small_run(d.path(), "run", &[]);
    let t = d.path().join("t.txt");
    let best = run.join("best.safetensors");
    for args in [
        vec!["sample", s(&run), "--length", "20", "--seed", "1"],
        vec!["eval", s(&run), s(&t)],
        vec!["inspect", s(&run)],
        vec!["train", s(&t), "--init-from", s(&run), "--out", s(&d.path().join("again")), "--steps", "2"],
    ] {
        let o = recurrent(&args);
        ok(&o);
        assert!(
            stderr(&o).contains(&format!("using {} (its best checkpoint)", best.display())),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // The same sample from the folder as from its best checkpoint.
    let a = recurrent(&["sample", s(&run), "--length", "50", "--seed", "4"]);
    let b = recurrent(&["sample", s(&best), "--length", "50", "--seed", "4"]);
    assert_eq!(stdout(&a), stdout(&b));
    std::fs::remove_file(&best).unwrap();
    let o = recurrent(&["sample", s(&run), "--length", "5", "--seed", "1"]);
    assert!(stderr(&o).contains("last.safetensors (its last checkpoint)"), "{}", stderr(&o));
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_fails(
        &recurrent(&["sample", s(&empty)]),
        "is a folder without a checkpoint (best.safetensors or last.safetensors)",
    );
}

// Items 2 and 3: the next commands at the end; a resume says where it resumes; without a
// terminal the progress lines carry the clock and an ETA; the loss's unit is named in the log
// and in metrics.jsonl; inspect --json gives the step as an integer.
#[test]
fn the_log_says_what_happens_and_what_to_do_next() {
    let d = tempfile::tempdir().unwrap();
    let (run, o) = small_run(d.path(), "run", &[]);
    let out = stdout(&o);
    assert!(out.contains(&format!("next: recurrent sample {}", run.display())), "{out}");
    assert!(out.contains(&format!("recurrent report {} --out report.html", run.display())), "{out}");
    // One stream tells the story: the header, the progress lines (with the clock and an ETA
    // when no terminal shows a bar), the samples and the last lines are all on stdout, in
    // order; and the same lines are in train.log in the run folder.
    let line = out.lines().find(|l| l.starts_with("step 5/20")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(" nats/char") && line.contains(" elapsed, ETA "), "{line}");
    let order = [
        "training a lstm",
        "step 5/20",
        "step 20/20",
        "done: 20 steps",
        "next: recurrent sample",
        "--- sample (temperature 0.8) ---",
    ];
    let at: Vec<usize> = order.iter().map(|w| out.find(w).unwrap_or_else(|| panic!("no {w:?} in {out}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {out}");
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert_eq!(log, out, "train.log holds what stdout showed");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().all(|l| l.contains(r#""train_loss_unit":"nats/char""#)), "{metrics}");
    let o = recurrent(&["train", "--resume", s(&run), "--steps", "30"]);
    ok(&o);
    assert!(stdout(&o).contains(&format!("resuming {} at step 20 of 30 (epoch", run.display())), "{}", stdout(&o));
    let log2 = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert_eq!(log2, log + &stdout(&o), "a resume appends to train.log");
    let j: serde_json::Value = serde_json::from_str(&stdout(&recurrent(&["inspect", s(&run), "--json"]))).unwrap();
    assert_eq!(j["step"], serde_json::json!(30), "an integer step");
    // min-char-rnn's loss is summed over its 25-character window, and says so.
    let t = d.path().join("t.txt");
    let mc = d.path().join("mc");
    let o = recurrent(&["train", s(&t), "--preset", "min-char-rnn", "--steps", "200", "--out", s(&mc)]);
    ok(&o);
    assert!(stdout(&o).contains(" nats/25 chars"), "{}", stdout(&o));
    let metrics = std::fs::read_to_string(mc.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains(r#""train_loss_unit":"nats/25 chars""#), "{metrics}");
}

// Item 5: top-p, several samples, a stop string, JSON, and a seed drawn and printed when none
// is given (and that seed draws the same text again).
#[test]
fn sampling_as_nanogpt_users_expect() {
    let d = tempfile::tempdir().unwrap();
    let (run, _) = small_run(d.path(), "run", &[]);
    let o = recurrent(&["sample", s(&run), "--length", "80", "--top-p", "0.9", "--seed", "2"]);
    ok(&o);
    assert_eq!(stdout(&o), stdout(&recurrent(&["sample", s(&run), "--length", "80", "--top-p", "0.9", "--seed", "2"])));
    assert_ne!(
        stdout(&o),
        stdout(&recurrent(&["sample", s(&run), "--length", "80", "--seed", "2"])),
        "top-p changes the draw"
    );
    let three =
        stdout(&recurrent(&["sample", s(&run), "--length", "30", "--num-samples", "3", "--seed", "1", "--prime", "A"]));
    assert_eq!(three.matches("\n---\n").count(), 2, "{three}");
    let o = recurrent(&[
        "sample",
        s(&run),
        "--length",
        "400",
        "--stop",
        "\n",
        "--seed",
        "1",
        "--prime",
        "A",
        "--temperature",
        "1",
    ]);
    ok(&o);
    assert_eq!(stdout(&o).matches('\n').count(), 1, "the sample ends before its first newline: {:?}", stdout(&o));
    let j: serde_json::Value = serde_json::from_str(
        stdout(&recurrent(&["sample", s(&run), "--length", "40", "--json", "--seed", "7"])).trim(),
    )
    .unwrap();
    assert_eq!(j["seed"], 7);
    assert_eq!(j["text"].as_str().unwrap().chars().count(), 40);
    let lp = j["mean_logprob"].as_f64().unwrap();
    assert!(lp < 0.0 && lp > -10.0, "{lp}");
    // No seed: one is drawn, printed, and gives the same text when given back.
    let o = recurrent(&["sample", s(&run), "--length", "60"]);
    ok(&o);
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("seed ")).unwrap_or_else(|| panic!("{err}"));
    let seed: String = line.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(line, format!("seed {seed} (give --seed {seed} to draw this sample again)"));
    assert_eq!(stdout(&o), stdout(&recurrent(&["sample", s(&run), "--length", "60", "--seed", &seed])));
    assert_fails(&recurrent(&["sample", s(&run), "--top-p", "0"]), "--top-p 0 is outside (0, 1]");
    assert_fails(&recurrent(&["sample", s(&run), "--num-samples", "0"]), "--num-samples is 0");
}

// Item 6: a run's config.json given back with --config repeats its first steps bit for bit.
#[test]
fn a_config_file_repeats_the_run() {
    let d = tempfile::tempdir().unwrap();
    let (run, _) = small_run(d.path(), "run", &[]);
    let again = d.path().join("again");
    ok(&recurrent(&["train", "--config", s(&run.join("config.json")), "--out", s(&again)]));
    for name in ["last.safetensors", "last.state.safetensors"] {
        let (ta, ma) = recurrent::checkpoint::read_tensors(&run.join(name)).unwrap();
        let (tb, mb) = recurrent::checkpoint::read_tensors(&again.join(name)).unwrap();
        assert_eq!(ta, tb, "{name}: tensors");
        assert_eq!(ma.get("train_config"), mb.get("train_config"), "{name}: configuration");
    }
    // Fewer steps from the same file: the first steps of the same run.
    let short = d.path().join("short");
    ok(&recurrent(&["train", "--config", s(&run.join("config.json")), "--steps", "10", "--out", s(&short)]));
    let a = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let b = std::fs::read_to_string(short.join("metrics.jsonl")).unwrap();
    let first = |m: &str| m.lines().take(2).map(|l| l.split(",\"lr\"").next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(first(&a), first(&b));
    assert_fails(&recurrent(&["train", "--config", s(&run.join("metrics.jsonl"))]), "is not a run configuration");
}

// Item 4: messages that name what is wrong — a text given as a checkpoint is not a checkpoint;
// a missing text is not "cannot be scored"; a resume of a folder that does not exist says so;
// a course case without --layout course says to add it; eval --json reports an error as JSON;
// clap's errors keep clap's layout; --steps -5 is an invalid value, not a suggestion of `--`.
#[test]
fn messages_name_the_problem() {
    let d = tempfile::tempdir().unwrap();
    let (run, _) = small_run(d.path(), "run", &[]);
    let t = d.path().join("t.txt");
    for f in [t.clone(), run.join("config.json")] {
        assert_fails(
            &recurrent(&["sample", s(&f)]),
            "is not a checkpoint (a .safetensors file written by `recurrent train` or `recurrent import`)",
        );
    }
    let best = run.join("best.safetensors");
    let o = recurrent(&["eval", s(&best), "/nope.txt"]);
    assert_fails(&o, "cannot read /nope.txt");
    assert!(!stderr(&o).contains("cannot be scored"), "{}", stderr(&o));
    assert_fails(
        &recurrent(&["train", "--resume", s(&d.path().join("nope"))]),
        "nope does not exist: give the --out folder of an earlier run",
    );
    let case = d.path().join("case.npz");
    let mut tensors = recurrent::interop::Tensors::new();
    tensors.insert("Wax".into(), ndarray::ArrayD::zeros(vec![5, 3]));
    tensors.insert("a0".into(), ndarray::ArrayD::zeros(vec![5, 10]));
    recurrent::interop::write_npz(&case, &tensors).unwrap();
    assert_fails(
        &recurrent(&["grads", s(&case), "--cell", "rnn", "--out", "o.npz"]),
        "holds the course's names (Wax, a0): add --layout course",
    );
    // A text of 2 characters is scored (one prediction), with a note that so few say little;
    // an empty one names both minimums.
    let two = d.path().join("two.txt");
    std::fs::write(&two, "ab").unwrap();
    let o = recurrent(&["eval", s(&best), s(&two)]);
    ok(&o);
    assert!(stdout(&o).starts_with("1 characters: "), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("gives only 1 prediction to score: a loss over so few characters says little"),
        "{}",
        stderr(&o)
    );
    let empty = d.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert_fails(
        &recurrent(&["eval", s(&best), s(&empty)]),
        "is empty: give a UTF-8 text, of a few thousand characters at least to train on (2 at least to score)",
    );
    // The course layout: Wya and by beside da are named as unused; dy (the output's logits'
    // gradient) is taken and gives dWya and dby too (their values: crates/recurrent/tests/course.rs,
    // against finite differences).
    let course = d.path().join("course.npz");
    let mut c = recurrent::interop::Tensors::new();
    let z = |shape: &[usize], k: f64| {
        use ndarray::Dimension;
        ndarray::ArrayD::from_shape_fn(shape.to_vec(), |i| k * (i.as_array_view().sum() as f64 + 1.0) / 10.0)
    };
    for (n, shape, k) in [
        ("x", &[3, 2, 4][..], 1.0),
        ("a0", &[5, 2], -0.5),
        ("Wax", &[5, 3], 0.3),
        ("Waa", &[5, 5], -0.2),
        ("ba", &[5, 1], 0.1),
        ("Wya", &[2, 5], 0.4),
        ("by", &[2, 1], 0.2),
    ] {
        c.insert(n.into(), z(shape, k));
    }
    let mut with_da = c.clone();
    with_da.insert("da".into(), z(&[5, 2, 4], 0.7));
    recurrent::interop::write_npz(&course, &with_da).unwrap();
    let out = d.path().join("g.npz");
    let o = recurrent(&["grads", s(&course), "--cell", "rnn", "--layout", "course", "--out", s(&out)]);
    ok(&o);
    assert!(stderr(&o).contains("note: Wya and by are not used by a backward from da; give dy"), "{}", stderr(&o));
    c.insert("dy".into(), z(&[2, 2, 4], 0.7));
    recurrent::interop::write_npz(&course, &c).unwrap();
    let o = recurrent(&["grads", s(&course), "--cell", "rnn", "--layout", "course", "--out", s(&out)]);
    ok(&o);
    assert!(!stderr(&o).contains("note: Wya"), "{}", stderr(&o));
    let g = recurrent::interop::read_npz(&out).unwrap();
    assert_eq!(g["dWya"].shape(), &[2, 5]);
    assert_eq!(g["dby"].shape(), &[2, 1]);
    assert_eq!(g["dx"].shape(), &[3, 2, 4]);
    let o = recurrent(&["eval", s(&best), "/nope.txt", "--json"]);
    assert!(!o.status.success());
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(j["error"].as_str().unwrap().contains("cannot read /nope.txt"), "{j}");
    let o = recurrent(&["train", "--hiden", "8"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).lines().count() > 1 && stderr(&o).contains("a similar argument exists: '--hidden'"),
        "{}",
        stderr(&o)
    );
    let o = recurrent(&["train", "--steps", "-5"]);
    assert!(stderr(&o).contains("invalid value '-5' for '--steps <STEPS>'"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("-- -5"), "{}", stderr(&o));
}

// Item 6: --help shows what every preset sets each flag to; --eval-every 0 turns validation off
// (the run still writes its checkpoint at the end).
#[test]
fn help_shows_the_presets_and_eval_every_zero_is_off() {
    let help = stdout(&recurrent(&["train", "--help"]));
    assert!(
        help.contains("Hidden size H [default: 256; char-rnn: 128; min-char-rnn: 100; shakespeare: 512]"),
        "{help}"
    );
    assert!(help.contains("[default: adam; char-rnn: rmsprop; min-char-rnn: adagrad; shakespeare: adam]"), "{help}");
    assert!(help.contains("Possible values:") && help.contains("- rmsprop:"), "{help}");
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    let args =
        ["--steps", "20", "--hidden", "16", "--seq-len", "16", "--batch", "4", "--eval-every", "0", "--log-every", "5"];
    let o =
        recurrent(&[&["train", s(&t), "--out", s(&run), "--threads", "1", "--sample-every", "0"][..], &args].concat());
    ok(&o);
    assert!(!stdout(&o).contains("| val "), "{}", stdout(&o));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().all(|l| l.contains(r#""val_loss":null"#)), "{metrics}");
    assert!(run.join("last.state.safetensors").exists() && run.join("last.safetensors").exists());
}

// Issue 27's settings from the command line: each flag lands in config.json under its name,
// nonsense is refused in one line naming the flag, and a run that stops early says so and
// exits 0.
#[test]
fn the_schedule_regularisation_and_early_stopping_flags() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = d.path().join("run");
    let flags = ["--schedule", "cosine", "--warmup", "3", "--lr-min", "1e-4", "--weight-decay", "0.1"];
    let more = ["--dropout-head", "0.2", "--variational-dropout", "--patience", "3", "--layers", "2", "--steps", "20"];
    let o = train(&t, &run, &[&flags[..], &more[..]].concat());
    ok(&o);
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (&c["schedule"], &c["warmup"], &c["lr_min"], &c["weight_decay"]),
        (&serde_json::json!("cosine"), &serde_json::json!(3), &serde_json::json!(1e-4), &serde_json::json!(0.1))
    );
    assert_eq!(
        (&c["dropout_head"], &c["variational_dropout"], &c["patience"]),
        (&serde_json::json!(0.2), &serde_json::json!(true), &serde_json::json!(3))
    );
    for (bad, needle) in [
        (&["--weight-decay", "-1"][..], "--weight-decay -1 is not a decay"),
        (&["--lr-min", "1"][..], "--lr-min 1 is not between 0 and --lr"),
        (&["--dropout-head", "1"][..], "--dropout-head 1 is outside [0, 1)"),
        (&["--schedule", "cosine", "--lr-decay", "0.9"][..], "--lr-decay 0.9 decays per epoch"),
    ] {
        assert_fails(&train(&t, &d.path().join("bad"), &[bad, &["--steps", "5"][..]].concat()), needle);
    }
    // Patience 1 with validation every step at a learning rate too high to keep improving.
    let early = d.path().join("early");
    let args = ["--hidden", "16", "--seq-len", "16", "--batch", "4", "--sample-every", "0", "--log-every", "5"];
    let stop = ["--patience", "1", "--eval-every", "1", "--lr", "0.05", "--steps", "300", "--eval-windows", "3"];
    let o = recurrent(&[&["train", s(&t), "--out", s(&early)][..], &args, &stop].concat());
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("stopped early at step ") && out.contains("validations in a row without a new best (--patience)"),
        "{out}"
    );
}
