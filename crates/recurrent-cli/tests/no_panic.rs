//! No panic is reachable from the command line: every subcommand over a table of bad inputs
//! answers on stderr starting `error:` — one line, or clap's own layout for a flag clap
//! refuses — with a non-zero exit, and no "panicked".

mod common;
use common::corpus_head;

use std::process::Command;

#[test]
fn every_subcommand_answers_bad_input_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    corpus_head(dir, "t.txt", 20_000);
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    std::fs::write(dir.join("one.txt"), "F").unwrap();
    std::fs::write(dir.join("latin1.txt"), b"caf\xe9").unwrap();
    std::fs::write(dir.join("odd.txt"), "\u{1F600}".repeat(100)).unwrap();
    std::fs::write(dir.join("junk.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    std::fs::write(dir.join("junk.npz"), b"PK not really").unwrap();
    assert!(Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    let run =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_recurrent")).current_dir(dir).args(args).output().unwrap();
    let tiny = ["--hidden", "8", "--seq-len", "8", "--batch", "2", "--eval-every", "5", "--sample-every", "0"];
    let o = run(&[&["train", "t.txt", "--out", "run", "--steps", "5"][..], &tiny].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ck = "run/last.safetensors";
    let table: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["--frobnicate"],
        // gradcheck
        &["gradcheck", "--hidden", "0"],
        &["gradcheck", "--layers", "0"],
        &["gradcheck", "--input", "0"],
        &["gradcheck", "--seq-len", "0"],
        &["gradcheck", "--eps", "nan"],
        &["gradcheck", "--eps", "-1"],
        &["gradcheck", "--cell", "transformer"],
        // grads
        &["grads"],
        &["grads", "--cell", "lstm", "--out", "o.npz", "nope.npz"],
        &["grads", "--cell", "lstm", "--out", "o.npz", "t.txt"],
        &["grads", "--cell", "lstm", "--out", "o.npz", "junk.npz"],
        &["grads", "--cell", "lstm", "--out", "o.npz", "--layout", "keras", "t.txt"],
        // train
        &["train", "nope.txt"],
        &["train", "empty.txt"],
        &["train", "latin1.txt"],
        &["train", "one.txt"],
        &["train", "t.txt", "--out", "run"],
        &["train", "t.txt", "--out", "t.txt"],
        &["train", "t.txt", "--hidden", "0"],
        &["train", "t.txt", "--hidden", "100000"],
        &["train", "t.txt", "--batch", "1000000"],
        &["train", "t.txt", "--threads", "0"],
        &["train", "t.txt", "--threads", "4096"],
        &["train", "t.txt", "--clip", "nan"],
        &["train", "t.txt", "--lr", "inf"],
        &["train", "t.txt", "--dropout", "nan"],
        &["train", "t.txt", "--val-frac", "1"],
        &["train", "t.txt", "--steps", "0"],
        &["train", "t.txt", "--checkpoint-every", "0"],
        &["train", "t.txt", "--cell", "transformer"],
        &["train", "--resume", "nope"],
        &["train", "--resume", "."],
        &["train", "--resume", "run", "--hidden", "64"],
        &["train", "--resume", "run", "--steps", "1"],
        &["train", "--resume", "run", "odd.txt"],
        &["train", "--resume", "run", "--init-from", ck],
        &["train", "t.txt", "--init-from", "nope.safetensors"],
        &["train", "t.txt", "--init-from", "junk.safetensors"],
        &["train", "odd.txt", "--init-from", ck, "--out", "x"],
        // sample
        &["sample"],
        &["sample", "nope.safetensors"],
        &["sample", "."],
        &["sample", "t.txt"],
        &["sample", "junk.safetensors"],
        &["sample", ck, "--top-k", "0"],
        &["sample", ck, "--temperature", "nan"],
        &["sample", ck, "--temperature", "-1"],
        &["sample", ck, "--prime", "\u{1F600}"],
        &["sample", ck, "--length", "x"],
        // eval
        &["eval", ck],
        &["eval", ck, "nope.txt"],
        &["eval", ck, "."],
        &["eval", ck, "empty.txt"],
        &["eval", ck, "one.txt"],
        &["eval", ck, "latin1.txt"],
        &["eval", ck, "odd.txt"],
        &["eval", "t.txt", "t.txt"],
        // import, inspect
        &["import"],
        &["import", "nope.safetensors", "--vocab-from", "t.txt", "--out", "m.safetensors"],
        &["import", "junk.safetensors", "--vocab-from", "t.txt", "--out", "m.safetensors"],
        &["import", "junk.npz", "--vocab-from", "t.txt", "--out", "m.safetensors"],
        &["import", ck, "--out", "m.safetensors"],
        &["import", ck, "--vocab", "t.txt", "--out", "m.safetensors"],
        &["import", ck, "--vocab-from", "latin1.txt", "--out", "m.safetensors"],
        &["import", ck, "--vocab-from", "odd.txt", "--out", "m.safetensors"],
        &["inspect"],
        &["inspect", "nope.safetensors"],
        &["inspect", "t.txt"],
        &["inspect", "junk.safetensors"],
        // files that never end, or block (issue 22)
        &["train", "/dev/zero", "--out", "z"],
        &["train", "fifo", "--out", "z"],
        &["sample", "/dev/urandom"],
        &["sample", "fifo"],
        &["eval", ck, "/dev/zero"],
        &["inspect", "fifo"],
        &["grads", "--cell", "rnn", "--out", "o.npz", "/dev/zero"],
        &["import", "fifo", "--vocab-from", "t.txt", "--out", "m.safetensors"],
        &["report", "run", "--text", "/dev/zero", "--out", "r.html"],
        &["train", "t.txt", "--epochs", "18446744073709551615", "--out", "e"],
        &["import", ck, "--vocab-from", "t.txt", "--out", "t.txt"],
        // bench
        &["bench", "--config", "transformer"],
        &["bench", "--threads", "0"],
        &["bench", "--seconds", "nan"],
        &["bench", "--seconds", "0"],
        &["bench", "--steps", "0"],
    ];
    // Without the mpi feature, --distributed says how to build with it.
    #[cfg(not(feature = "mpi"))]
    let table = &[table, &[&["train", "t.txt", "--distributed", "--out", "d"][..]]].concat();
    for args in table.iter() {
        let o = run(args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "recurrent {args:?} succeeded");
        assert!(!e.contains("panicked"), "recurrent {args:?} panicked: {e}");
        assert!(e.starts_with("error: "), "recurrent {args:?}: {e}");
        // The program's own errors are one line; clap's keep clap's layout (the error, then the
        // usage and a pointer to --help).
        let clap = e.contains("\nUsage: ") || e.contains("For more information, try '--help'");
        assert!(clap || e.trim_end().lines().count() == 1, "recurrent {args:?}: one line expected: {e}");
    }
}
