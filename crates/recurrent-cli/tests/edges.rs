//! Edges a careless or hostile input reaches (issue 22): links and other people's files in a run
//! folder, a closed stderr, sizes a file declares, files that never end, an edited config.json,
//! and the smaller ones. Each of these failed on the build before (the issue says how).

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn small(text: &Path, out: &Path, steps: &str) -> Vec<String> {
    let mut a: Vec<String> =
        ["train", s(text), "--out", s(out), "--steps", steps].iter().map(|x| x.to_string()).collect();
    a.extend(TINY.iter().map(|x| x.to_string()));
    a.extend(["--threads".to_string(), "1".to_string()]);
    a
}

fn run_args(args: &[String]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

/// A run of 10 steps in `dir/name`.
fn a_run(dir: &Path, text: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    ok(&run_args(&small(text, &out, "10")));
    out
}

/// Item 1. A link under a name the run writes (the lock, a plot, the metrics, the state, a
/// checkpoint) is refused, in a new folder and on a resume; the file it points to is untouched.
#[test]
fn links_in_a_run_folder_are_refused_and_their_targets_untouched() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let victim = d.path().join("victim");
    let names =
        [".lock", "loss.svg", "metrics.jsonl", "last.state.safetensors", "last.safetensors", "best.safetensors"];
    for (i, name) in names.iter().enumerate() {
        std::fs::write(&victim, "precious").unwrap();
        // A new run in a folder holding the link.
        let dir = d.path().join(format!("new{i}"));
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        let o = run_args(&small(&t, &dir, "10"));
        assert_fails(&o, "is a symbolic link: recurrent writes only regular files of its own in a run folder");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "{name}: the target changed");
        // A copied run with the link, resumed.
        let run = a_run(d.path(), &t, &format!("run{i}"));
        std::fs::remove_file(run.join(name)).unwrap();
        std::os::unix::fs::symlink(&victim, run.join(name)).unwrap();
        let o = recurrent(&["train", "--resume", s(&run), "--steps", "20"]);
        assert_fails(&o, "is a symbolic link");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "{name}: the target changed on resume");
    }
}

/// Item 2. A folder holding the user's own files under the names a run writes is refused and
/// left as it was; another program's temporary file is not removed; import never overwrites.
#[test]
fn other_peoples_files_are_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let proj = d.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    let mine = [
        ("config.json", "{\"mine\": 1}"),
        ("metrics.jsonl", "my notes\n"),
        ("loss.svg", "<svg/>"),
        (".notes.tmp-2024", "draft"),
    ];
    for (n, c) in mine {
        std::fs::write(proj.join(n), c).unwrap();
    }
    let o = run_args(&small(&t, &proj, "10"));
    assert_fails(
        &o,
        "holds files recurrent did not write under the names a run writes (config.json, metrics.jsonl, loss.svg)",
    );
    for (n, c) in mine {
        assert_eq!(std::fs::read_to_string(proj.join(n)).unwrap(), c, "{n} changed");
    }
    assert!(!proj.join(".lock").exists(), "nothing was created");
    // A folder with unrelated files takes a run beside them, and keeps them.
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join(".notes.tmp-2024"), "draft").unwrap();
    std::fs::write(shared.join("README"), "mine").unwrap();
    ok(&run_args(&small(&t, &shared, "10")));
    assert_eq!(std::fs::read_to_string(shared.join(".notes.tmp-2024")).unwrap(), "draft");
    assert_eq!(std::fs::read_to_string(shared.join("README")).unwrap(), "mine");
    // import --out over an existing file.
    let run = a_run(d.path(), &t, "run");
    let x = d.path().join("x.safetensors");
    std::fs::write(&x, "mine").unwrap();
    let o = recurrent(&["import", s(&run.join("last.safetensors")), "--vocab-from", s(&t), "--out", s(&x)]);
    assert_fails(&o, "already exists: give another --out");
    assert_eq!(std::fs::read_to_string(&x).unwrap(), "mine");
}

/// Item 3. `recurrent train … 2>&1 | head -1`: the reader goes after one line, the run goes on
/// to its end (exit 0, every checkpoint written), never a panic.
#[test]
fn a_closed_stderr_does_not_end_the_run() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let out = d.path().join("run");
    let args = small(&t, &out, "300");
    // One pipe for both streams, as `2>&1 | head -1` makes it.
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child =
        bin().args(&args).stdout(writer.try_clone().unwrap()).stderr(writer).stdin(Stdio::null()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap(); // then the reader is dropped: the pipe closes
    assert!(first.starts_with("training a lstm"), "{first}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the run ended with {status}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().last().unwrap().starts_with("{\"step\":300,"), "the run reached its end");
    // gradcheck and sample into a closed pipe: quiet, exit 0.
    for args in [vec!["gradcheck"], vec!["sample", s(&out.join("last.safetensors")), "--prime", &"F".repeat(100_000)]] {
        let mut child = bin().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // closed before the first line
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

/// Runs `args` in `dir` under GNU time (`apt-get install time`; `.ci/run` installs it),
/// returning its output (time's own line taken off stderr) and its peak resident memory in MB.
/// (The test process's own rusage of a child would count this process's memory: a spawned
/// child starts in its address space.)
fn with_peak(args: &[&str], dir: &Path) -> (std::process::Output, f64) {
    assert!(Path::new("/usr/bin/time").exists(), "GNU time is needed to measure peak memory: apt-get install time");
    let mut o = Command::new("/usr/bin/time")
        .args(["-f", "peak-kb %M"])
        .arg(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let (rest, peak) = err.trim_end().rsplit_once('\n').unwrap_or(("", err.trim_end()));
    let kb: f64 = peak
        .trim_start_matches("Command exited with non-zero status 2")
        .trim()
        .trim_start_matches("peak-kb ")
        .parse()
        .unwrap();
    let rest: Vec<&str> = rest.lines().filter(|l| !l.starts_with("Command exited with")).collect();
    o.stderr = (rest.join("\n") + "\n").into_bytes();
    (o, kb / 1024.0)
}

/// Item 4. Sizes believed only once the bytes are there: an .npz whose header declares 10^11
/// elements, and a checkpoint whose vocabulary metadata lists 10 M entries, are refused in one
/// line, under 100 MB of memory.
#[test]
fn declared_sizes_are_checked_against_the_bytes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A 253-byte .npz: x.npy's header says shape (100000000000,) of float64; 16 bytes follow.
    let mut hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }".to_vec();
    hdr.resize(118, b' ');
    hdr.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(hdr.len() as u16).to_le_bytes());
    npy.extend_from_slice(&hdr);
    npy.extend_from_slice(&[0u8; 16]);
    let mut zip = zip_one("x.npy", &npy);
    std::fs::write(dir.join("lie.npz"), &mut zip).unwrap();
    for args in [
        vec!["grads", "lie.npz", "--cell", "rnn", "--out", "o.npz"],
        vec!["import", "lie.npz", "--vocab-from", "t.txt", "--out", "m.safetensors"],
    ] {
        corpus_head(dir, "t.txt", 1000);
        let (o, mb) = with_peak(&args, dir);
        assert_fails(&o, "its header declares shape (100000000000,), 800000000000 bytes, but it holds 16");
        assert!(mb < 100.0, "{args:?}: peak {mb:.0} MB");
    }
    // A checkpoint whose vocab metadata lists 10 M entries (a 70 MB header), and one whose
    // list of 100,000 (1 MB) is longer than its head has rows (58).
    let t = corpus_head(dir, "c.txt", 30_000);
    let run = a_run(dir, &t, "run");
    let (tensors, meta) = recurrent::checkpoint::read_tensors(&run.join("last.safetensors")).unwrap();
    let flat: Vec<(String, Vec<usize>, Vec<f32>)> =
        tensors.iter().map(|(k, v)| (k.clone(), v.shape().to_vec(), v.iter().map(|&x| x as f32).collect())).collect();
    for (n, file, says) in [
        (10_000_000u32, "big.safetensors", "header, more than a checkpoint's (at most 17 MB"),
        (100_000, "long.safetensors", "lists more characters than its head (head.bias) has rows (58)"),
    ] {
        let list: Vec<String> = (0..n).map(|i| char::from_u32(0x4e00 + i % 20_000).unwrap().to_string()).collect();
        let mut meta = meta.clone();
        meta.insert("vocab".into(), serde_json::to_string(&list).unwrap());
        meta.remove("data_sha256");
        drop(list);
        std::fs::write(dir.join(file), recurrent::checkpoint::serialize(&flat, &meta).unwrap()).unwrap();
        let (o, mb) = with_peak(&["sample", file], dir);
        assert_fails(&o, says);
        assert!(mb < 100.0, "{file}: peak {mb:.0} MB");
    }
}

/// A zip archive (stored, as np.savez writes it) of one file.
fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let mut z = Vec::new();
    let local = |z: &mut Vec<u8>| {
        z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name.as_bytes());
    };
    local(&mut z);
    z.extend_from_slice(data);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0u8; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// Runs `args` in `dir` for at most `secs` seconds; `None` when it was still running (killed).
fn within(args: &[&str], dir: &Path, secs: f64) -> Option<std::process::Output> {
    let mut c = bin().args(args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        if c.try_wait().unwrap().is_some() {
            return Some(c.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    c.kill().unwrap();
    let _ = c.wait();
    None
}

/// Item 5. /dev/zero and a FIFO for every subcommand that reads a file: one line within two
/// seconds.
#[test]
fn endless_files_and_fifos_are_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let t = corpus_head(dir, "t.txt", 30_000);
    let run = a_run(dir, &t, "run");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let ck = run.join("last.safetensors");
    // A resume whose config.json names the endless file.
    let resumed = dir.join("resumed");
    Command::new("cp").args(["-r", s(&run), s(&resumed)]).status().unwrap();
    for f in ["/dev/zero", s(&fifo)] {
        let cfg = resumed.join("config.json");
        let mut c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        c["text"] = serde_json::Value::String(f.to_string());
        std::fs::write(&cfg, c.to_string()).unwrap();
        let cases: Vec<Vec<&str>> = vec![
            vec!["train", f, "--out", "x"],
            vec!["train", "--resume", s(&resumed), "--steps", "20"],
            vec!["eval", s(&ck), f],
            vec!["sample", f],
            vec!["inspect", f],
            vec!["import", f, "--vocab-from", s(&t), "--out", "m.safetensors"],
            vec!["import", s(&ck), "--vocab", f, "--out", "m.safetensors"],
            vec!["grads", f, "--cell", "lstm", "--out", "o.npz"],
            vec!["report", s(&run), "--text", f, "--out", "r.html"],
            vec!["train", s(&t), "--init-from", f, "--out", "y"],
        ];
        for args in cases {
            let o = within(&args, dir, 2.0).unwrap_or_else(|| panic!("{args:?} still running after 2 s"));
            assert_fails(&o, "not a regular file");
        }
    }
}

/// Item 6. An edited config.json: a change of the model or the data layout is refused (the
/// checkpoint is the truth), another setting that shapes training is noted.
#[test]
fn an_edited_config_is_held_against_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 30_000);
    let run = a_run(d.path(), &t, "run");
    let cfg = std::fs::read_to_string(run.join("config.json")).unwrap();
    for (key, value) in [("batch", "8"), ("hidden", "24"), ("layers", "1"), ("seq_len", "9"), ("val_frac", "0.2")] {
        let mut c: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        c[key] = serde_json::from_str(value).unwrap();
        std::fs::write(run.join("config.json"), c.to_string()).unwrap();
        let o = recurrent(&["train", "--resume", s(&run), "--steps", "20"]);
        assert_fails(&o, "but the run's checkpoint was trained as a lstm 2×16 with seq-len 16, batch 4");
    }
    let mut c: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    c["dropout"] = serde_json::from_str("0.3").unwrap();
    std::fs::write(run.join("config.json"), c.to_string()).unwrap();
    let o = recurrent(&["train", "--resume", s(&run), "--steps", "20"]);
    ok(&o);
    assert!(stderr(&o).contains(" → 0.3): its continuation is not bit for bit"), "{}", stderr(&o));
}

/// Item 8. A tiny temperature is greedy (not 60 newlines); epochs that overflow a count are
/// refused; unknown characters are named, the first 20, quickly; a file name that is not UTF-8
/// is named and leaves no folder; np.savez_compressed is read.
#[test]
fn the_smaller_edges() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let t = corpus_head(dir, "t.txt", 30_000);
    let run = a_run(dir, &t, "run");
    let ck = run.join("last.safetensors");
    let greedy = recurrent(&["sample", s(&ck), "--temperature", "0", "--length", "60", "--prime", "ROMEO"]);
    let tiny = recurrent(&["sample", s(&ck), "--temperature", "1e-39", "--length", "60", "--prime", "ROMEO"]);
    ok(&tiny);
    assert_eq!(stdout(&tiny), stdout(&greedy), "a tiny temperature samples as temperature 0");
    let max = usize::MAX.to_string();
    let o = recurrent(&["train", s(&t), "--out", s(&dir.join("ep")), "--epochs", &max, "--hidden", "8"]);
    assert_fails(&o, "is more steps than can be counted: give fewer epochs");
    // CJK text against a model of Shakespeare's characters.
    let cjk = dir.join("cjk.txt");
    let text: String = (0..200_000u32).map(|i| char::from_u32(0x4e00 + i % 20_000).unwrap()).collect();
    std::fs::write(&cjk, text).unwrap();
    let t0 = Instant::now();
    let o = recurrent(&["eval", s(&ck), s(&cjk)]);
    assert!(t0.elapsed().as_secs_f64() < 5.0, "took {:?}", t0.elapsed());
    assert_fails(&o, "20000 character(s) are not in the model's vocabulary");
    assert!(stderr(&o).contains(" and 19980 more; use only"), "{}", stderr(&o));
    assert!(stderr(&o).len() < 1000, "{} bytes", stderr(&o).len());
    // A file name that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"bad\xff.txt"));
    std::fs::copy(&t, &odd).unwrap();
    let o = bin().arg("train").arg(&odd).args(["--out", s(&dir.join("nu")), "--steps", "2"]).output().unwrap();
    assert_fails(&o, "is not valid UTF-8, and the run's config.json must name it: rename the file");
    assert!(stderr(&o).contains("bad"), "the file is named: {}", stderr(&o));
    assert!(!dir.join("nu").exists(), "no folder left behind");
}

// np.savez_compressed (deflate) is read like np.savez: the case the import test writes
// uncompressed gives the same result compressed (by the zip crate, as numpy's zipfile does).
#[test]
fn compressed_npz_is_read() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mut t = recurrent::interop::Tensors::new();
    t.insert("x".into(), ndarray::ArrayD::from_shape_vec(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap());
    let plain = dir.join("p.npz");
    recurrent::interop::write_npz(&plain, &t).unwrap();
    // Re-zip the same entry with deflate.
    let bytes = std::fs::read(&plain).unwrap();
    let mut zin = zip_entries(&bytes);
    let comp = dir.join("c.npz");
    let f = std::fs::File::create(&comp).unwrap();
    let mut zw = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in zin.drain(..) {
        zw.start_file(name, opts).unwrap();
        zw.write_all(&data).unwrap();
    }
    zw.finish().unwrap();
    assert_eq!(recurrent::interop::read_npz(&comp).unwrap(), t);
}

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (e.name().to_string(), v)
        })
        .collect()
}
