//! The divergence guard fires on a loss that stays far above an untrained model's, never on the
//! noise of one window. The text is the repository's Python scripts as they stood at commit
//! c69be00 (`git ls-files '*.py' | xargs cat`, 43 kB of source, not Shakespeare): on it the
//! build before this guard stopped `--preset min-char-rnn --seed 10` at step 20 ("the loss
//! exploded to 473.7969 (more than 3× the first step's 113.8517)"), one window of Adagrad's
//! noisy start; the original min-char-rnn trains through it.

mod common;

use common::*;
use std::path::Path;

fn text() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/python_sources.txt")
}

#[test]
fn min_char_rnn_trains_through_its_noisy_start_on_twenty_seeds() {
    let d = tempfile::tempdir().unwrap();
    for seed in 1..=20 {
        let out = d.path().join(format!("s{seed}"));
        let seed = seed.to_string();
        let t = text();
        let o = recurrent(&[
            "train",
            s(&t),
            "--out",
            s(&out),
            "--preset",
            "min-char-rnn",
            "--seed",
            &seed,
            "--steps",
            "2000",
        ]);
        assert!(o.status.success(), "seed {seed} stopped: {}", stderr(&o));
        assert!(stdout(&o).contains("done: 2000 steps"), "seed {seed}: {}", stdout(&o));
    }
}

#[test]
fn a_learning_rate_of_1e30_still_stops_with_exit_3() {
    let d = tempfile::tempdir().unwrap();
    for preset in ["min-char-rnn", "default"] {
        let out = d.path().join(preset);
        let t = text();
        let args = ["train", s(&t), "--out", s(&out), "--preset", preset, "--lr", "1e30", "--steps", "200"];
        let small = ["--batch", "4", "--seq-len", "16", "--hidden", "32", "--threads", "1"];
        let o = recurrent(&[&args[..], if preset == "default" { &small[..] } else { &[] }].concat());
        assert_eq!(o.status.code(), Some(3), "{preset}: {}", stderr(&o));
        assert!(stderr(&o).contains("training stopped"), "{preset}: {}", stderr(&o));
    }
}
