//! What the command-line tests share: running the binary, reading its output, a piece of the
//! bundled corpus to train on, a tiny model's flags, and the check of a one-line refusal.
#![allow(dead_code)] // each test binary uses its own share

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `recurrent` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
}

/// Runs `recurrent ARGS` to the end.
pub fn recurrent(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts success, showing stderr otherwise.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "failed: {}", stderr(o));
}

/// Asserts a refusal: non-zero exit, one line on stderr containing `needle`, no panic.
pub fn assert_fails(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    let e = stderr(o);
    assert!(e.contains(needle), "expected '{needle}' in: {e}");
    assert_eq!(e.trim().lines().count(), 1, "one line expected: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// A refusal by clap: non-zero exit, `needle` in clap's own message (several lines: the error,
/// then the usage or the possible values), no panic.
pub fn assert_clap_fails(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    let e = stderr(o);
    assert!(e.starts_with("error: ") && e.contains(needle), "expected '{needle}' in: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// The first `n` bytes of the bundled corpus (ASCII), written to `dir/name`.
pub fn corpus_head(dir: &Path, name: &str, n: usize) -> PathBuf {
    let corpus =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tinyshakespeare.txt")).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, &corpus[..n]).unwrap();
    p
}

/// A tiny model that trains in a blink, evaluated and logged every 5 steps.
pub const TINY: &[&str] = &[
    "--hidden",
    "16",
    "--seq-len",
    "16",
    "--batch",
    "4",
    "--eval-every",
    "5",
    "--log-every",
    "5",
    "--sample-every",
    "0",
];

/// `recurrent train TEXT --out OUT` with [`TINY`] and `extra`.
pub fn train(text: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", s(text), "--out", s(out)];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    recurrent(&args)
}
