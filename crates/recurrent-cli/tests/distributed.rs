//! `train --distributed` on two MPI ranks over loopback (OpenMPI's mpirun; built only with
//! `--features mpi`, which `.ci/run` tests): the weights equal the single process's on two
//! threads bit for bit, a resume on the same two ranks continues exactly, and a rank that cannot
//! start stops every rank with its message instead of leaving the others waiting.
#![cfg(feature = "mpi")]

mod common;
use common::{corpus_head, ok};

use recurrent::checkpoint::read_tensors;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const OPTS: &[&str] = &[
    "--hidden",
    "32",
    "--layers",
    "2",
    "--seq-len",
    "16",
    "--batch",
    "8",
    "--dropout",
    "0.2",
    "--eval-every",
    "10",
    "--log-every",
    "5",
    "--sample-every",
    "0",
];

fn single(text: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(
            [&["train", text.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"][..], OPTS, extra]
                .concat(),
        )
        .output()
        .unwrap()
}

/// `mpirun -n 2 recurrent train … --distributed`, killed if it runs past a minute.
fn two_ranks(args: &[&str]) -> Output {
    let mut child = Command::new("mpirun")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["-n", "2", "--oversubscribe", env!("CARGO_BIN_EXE_recurrent")])
        .args(args)
        .arg("--distributed")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mpirun (apt-get install openmpi-bin)");
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("mpirun ran past a minute: {:?}", child.wait_with_output().unwrap());
}

fn same_bits(a: &Path, b: &Path) {
    let (x, mx) = read_tensors(a).unwrap();
    let (y, my) = read_tensors(b).unwrap();
    assert_eq!(mx["step"], my["step"]);
    for (name, t) in &x {
        let differ = t.iter().zip(y[name].iter()).filter(|(p, q)| p.to_bits() != q.to_bits()).count();
        assert_eq!(differ, 0, "{name}: {differ} values differ between {} and {}", a.display(), b.display());
    }
}

#[test]
fn two_ranks_equal_two_threads_and_resume_exactly() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus_head(d.path(), "t.txt", 40_000);
    let (threads, ranks, part) = (d.path().join("threads"), d.path().join("ranks"), d.path().join("part"));
    ok(&single(&t, &threads, &["--steps", "30"]));
    let base = [&["train", t.to_str().unwrap()][..], OPTS].concat();
    let o = two_ranks(&[&base[..], &["--out", ranks.to_str().unwrap(), "--steps", "30"]].concat());
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 ranks: "), "{}", String::from_utf8_lossy(&o.stdout));
    same_bits(&threads.join("last.safetensors"), &ranks.join("last.safetensors"));
    // The validation losses too (each window's sum over the ranks in rank order).
    assert_eq!(
        std::fs::read_to_string(threads.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| l.split(",\"chars_per_sec").next().unwrap().to_string())
            .collect::<Vec<_>>(),
        std::fs::read_to_string(ranks.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| l.split(",\"chars_per_sec").next().unwrap().to_string())
            .collect::<Vec<_>>(),
    );
    // 12 steps, stop, resume to 30 on the same two ranks.
    ok(&two_ranks(&[&base[..], &["--out", part.to_str().unwrap(), "--steps", "12"]].concat()));
    ok(&two_ranks(&["train", "--resume", part.to_str().unwrap(), "--steps", "30"]));
    same_bits(&threads.join("last.safetensors"), &part.join("last.safetensors"));
    // A rank that cannot start (rank 0 finds a run in the folder) stops both, with its message.
    let o = two_ranks(&[&base[..], &["--out", part.to_str().unwrap(), "--steps", "5"]].concat());
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("already holds a run"), "{e}");
    // Without --out the ranks could not agree on a folder.
    let o = two_ranks(&[&base[..], &["--steps", "5"]].concat());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--distributed needs --out DIR"));
}
