//! Fault injection: `kill -9` at random moments of a run that writes a checkpoint at every
//! step, then resume; every trial must resume and end bit for bit where the uninterrupted run
//! ends. `FAULT_TRIALS` sets the number of trials (8 by default, as CI runs it;
//! `FAULT_TRIALS=200 cargo test --release -p recurrent-cli --test faults -- --nocapture` for
//! the figure in the reliability note) and `FAULT_SEED` the moments.

mod common;
use common::{bin, corpus_head, stderr};

use recurrent::checkpoint::read_tensors;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const STEPS: &str = "40";

fn args(text: &Path, out: &Path) -> Vec<String> {
    let mut a: Vec<String> =
        vec!["train".into(), text.display().to_string(), "--out".into(), out.display().to_string()];
    let rest = "--hidden 128 --layers 2 --seq-len 32 --batch 4 --dropout 0.1 --eval-every 10 --log-every 1 \
                --checkpoint-every 1 --sample-every 0 --threads 1 --steps";
    a.extend(rest.split_whitespace().map(String::from));
    a.push(STEPS.into());
    a
}

/// A run to completion; returns how long it took.
fn run(a: &[String]) -> Duration {
    let t0 = Instant::now();
    let o = bin().args(a).output().unwrap();
    assert!(o.status.success(), "{:?} failed: {}", a, stderr(&o));
    t0.elapsed()
}

/// A small deterministic generator (64-bit LCG) for the kill moments.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn kill_nine_at_random_moments_and_every_trial_resumes_exactly() {
    let trials: usize = std::env::var("FAULT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let seed: u64 = std::env::var("FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "t.txt", 40_000);
    let reference = d.path().join("reference");
    let took = run(&args(&text, &reference));
    let (want, _) = read_tensors(&reference.join("last.safetensors")).unwrap();
    let mut rng = Lcg(seed);
    let (mut before_first, mut fallbacks) = (0, 0);
    for trial in 0..trials {
        let out: PathBuf = d.path().join(format!("trial{trial}"));
        let a = args(&text, &out);
        let mut child = bin().args(&a).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(took.mul_f64(rng.unit()));
        let _ = child.kill(); // SIGKILL: no handler runs
        child.wait().unwrap();
        // What the kill left: a run to resume, or (killed before its first checkpoint) a
        // folder a new run may start over in.
        let resumable = ["last.state.safetensors", "prev.state.safetensors"].iter().any(|f| out.join(f).exists());
        if resumable {
            let o = bin().args(["train", "--resume", out.to_str().unwrap()]).output().unwrap();
            assert!(o.status.success(), "trial {trial}: the resume failed: {}", stderr(&o));
            if stderr(&o).contains("resuming from the checkpoint before it") {
                fallbacks += 1;
            }
        } else {
            before_first += 1;
            run(&a);
        }
        let (got, meta) = read_tensors(&out.join("last.safetensors")).unwrap();
        assert_eq!(meta["step"], STEPS, "trial {trial}");
        for (name, t) in &want {
            assert_eq!(t, &got[name], "trial {trial}: {name} differs from the uninterrupted run's");
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    eprintln!(
        "{trials} kill -9 trials over a {:.2} s run: all resumed exactly ({before_first} killed before the first checkpoint and started over, {fallbacks} resumed from the previous state)",
        took.as_secs_f64()
    );
}
