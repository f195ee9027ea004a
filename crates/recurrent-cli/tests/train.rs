//! `recurrent train`, `sample` and `eval` end to end on a small text: outputs, checkpoint
//! contents, exact resume, and every bad input getting one clear line and a non-zero exit.

mod common;
use common::{assert_clap_fails, assert_fails, corpus_head, recurrent, stderr, stdout, train};

use recurrent::checkpoint::read_tensors;
use std::path::Path;

#[test]
fn trains_writes_everything_and_samples() {
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "small.txt", 30_000);
    let run = d.path().join("run");
    let o = train(&text, &run, &["--steps", "10", "--cell", "gru", "--layers", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("--- sample"), "{}", stdout(&o));
    for f in [
        "last.safetensors",
        "best.safetensors",
        "last.state.safetensors",
        "metrics.jsonl",
        "loss.svg",
        "loss.png",
        "config.json",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    // Metrics: one line per 5 steps, with every documented key.
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for k in ["step", "epoch", "train_loss", "val_loss", "lr", "grad_norm", "chars_per_sec", "elapsed_s"] {
        assert!(lines[1].get(k).is_some(), "metrics lack {k}: {}", lines[1]);
    }
    assert_eq!(lines[1]["step"], 10);
    assert!(lines[1]["val_loss"].as_f64().unwrap() > 0.0);
    // Checkpoint: PyTorch names and shapes, config and vocabulary in the metadata.
    let (t, meta) = read_tensors(&run.join("last.safetensors")).unwrap();
    let v = serde_json::from_str::<Vec<String>>(&meta["vocab"]).unwrap().len();
    assert_eq!(t["rnn.weight_ih_l0"].shape(), &[48, v]);
    assert_eq!(t["rnn.weight_hh_l1"].shape(), &[48, 16]);
    assert_eq!(t["head.weight"].shape(), &[v, 16]);
    assert_eq!(t.len(), 10);
    assert!(meta["config"].contains("\"cell\":\"gru\""));
    // Sampling: temperature 0 is deterministic; the prime is printed first.
    let ck = run.join("best.safetensors");
    let a = recurrent(&["sample", ck.to_str().unwrap(), "--prime", "First", "--length", "40", "--temperature", "0"]);
    let b = recurrent(&[
        "sample",
        ck.to_str().unwrap(),
        "--prime",
        "First",
        "--length",
        "40",
        "--temperature",
        "0",
        "--seed",
        "9",
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).starts_with("First") && stdout(&a).chars().count() == 46);
    let k = recurrent(&["sample", ck.to_str().unwrap(), "--length", "30", "--top-k", "3"]);
    assert!(k.status.success());
    // Eval: bits = nats / ln 2.
    let e = recurrent(&["eval", ck.to_str().unwrap(), text.to_str().unwrap()]);
    let s = stdout(&e);
    let nums: Vec<f64> = s.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(nums.len(), 4, "{s}");
    assert_eq!(nums[0], 29_999.0);
    assert!((nums[1] / std::f64::consts::LN_2 - nums[2]).abs() < 1e-5, "{s}");
    assert!((nums[1].exp() - nums[3]).abs() < 1e-3 * nums[3], "perplexity: {s}");
}

/// N steps, stop, resume to N+M gives bit for bit the weights of N+M uninterrupted steps
/// (with dropout, two layers and Adam, so the RNG, the moments and the carried state matter).
#[test]
fn resume_is_exact() {
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "small.txt", 30_000);
    let (full, part) = (d.path().join("full"), d.path().join("part"));
    let opts = ["--layers", "2", "--dropout", "0.3", "--cell", "lstm", "--optimizer", "adam"];
    let o = train(&text, &full, &[&["--steps", "23"][..], &opts].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train(&text, &part, &[&["--steps", "11"][..], &opts].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = recurrent(&["train", "--resume", part.to_str().unwrap(), "--steps", "23"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, _) = read_tensors(&full.join("last.safetensors")).unwrap();
    let (b, mb) = read_tensors(&part.join("last.safetensors")).unwrap();
    assert_eq!(mb["step"], "23");
    for (name, x) in &a {
        assert_eq!(x, &b[name], "{name} differs after resume");
    }
    // The metrics continue where they stopped, without duplicates.
    let steps: Vec<u64> = std::fs::read_to_string(part.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![5, 10, 11, 15, 20, 23]);
}

#[test]
fn bad_text_inputs_get_one_line() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    assert_fails(&train(Path::new("/no/such.txt"), &run, &[]), "cannot read /no/such.txt");
    let empty = d.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert_fails(&train(&empty, &run, &[]), "is empty");
    let short = d.path().join("short.txt");
    std::fs::write(&short, "to be or not to be").unwrap();
    assert_fails(&train(&short, &run, &[]), "fewer than one training window needs (65");
    let latin1 = d.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    assert_fails(&train(&latin1, &run, &[]), "is not valid UTF-8 (bad byte at offset 3)");
}

#[test]
fn nonsensical_flags_get_one_line() {
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "small.txt", 30_000);
    let run = d.path().join("run");
    let plain = |extra: &[&str]| {
        recurrent(&[&["train", text.to_str().unwrap(), "--out", run.to_str().unwrap()][..], extra].concat())
    };
    assert_fails(&plain(&["--hidden", "0"]), "--hidden is 0");
    assert_clap_fails(&plain(&["--steps", "x"]), "invalid value 'x' for '--steps <STEPS>'");
    assert_fails(&train(&text, &run, &["--lr", "-0.1"]), "--lr -0.1 is not a positive learning rate");
    assert_fails(&train(&text, &run, &["--dropout", "1"]), "--dropout 1 is outside [0, 1)");
    assert_clap_fails(
        &train(&text, &run, &["--cell", "transformer"]),
        "'transformer' for '--cell <CELL>'\n  [possible values: rnn, lstm, gru]",
    );
    assert_clap_fails(
        &train(&text, &run, &["--optimizer", "lbfgs"]),
        "possible values: adam, adagrad, rmsprop, momentum, sgd",
    );
    assert_clap_fails(&train(&text, &run, &["--preset", "gpt"]), "possible values: min-char-rnn, char-rnn, default");
    assert_clap_fails(&train(&text, &run, &["--hiden", "3"]), "a similar argument exists: '--hidden'");
}

#[test]
fn bad_resumes_and_checkpoints_get_one_line() {
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "small.txt", 30_000);
    let run = d.path().join("run");
    assert_fails(
        &recurrent(&["train", "--resume", d.path().to_str().unwrap()]),
        "holds no checkpoint (last.safetensors)",
    );
    assert!(train(&text, &run, &["--steps", "5"]).status.success());
    let o = recurrent(&["train", "--resume", run.to_str().unwrap(), "--hidden", "32", "--steps", "8"]);
    assert_fails(
        &recurrent(&["train", "--resume", run.to_str().unwrap(), "--preset", "char-rnn"]),
        "--preset cannot change a resumed run",
    );
    assert_fails(&o, "flags asking for another architecture or data layout cannot resume it");
    // A truncated checkpoint and a file that is not one.
    let bytes = std::fs::read(run.join("last.safetensors")).unwrap();
    let cut = d.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails(&recurrent(&["sample", cut.to_str().unwrap()]), "is not a valid checkpoint");
    assert_fails(&recurrent(&["eval", text.to_str().unwrap(), text.to_str().unwrap()]), "is not a checkpoint");
    // A prime outside the vocabulary lists the characters.
    let ck = run.join("last.safetensors");
    assert_fails(
        &recurrent(&["sample", ck.to_str().unwrap(), "--prime", "hé€"]),
        "2 character(s) outside the model's vocabulary: 'é', '€'",
    );
    assert_fails(&recurrent(&["sample", ck.to_str().unwrap(), "--temperature", "-1"]), "--temperature -1 is invalid");
    let other = d.path().join("other.txt");
    std::fs::write(&other, "ZZZ xyz ~~~ {}").unwrap();
    assert_fails(&recurrent(&["eval", ck.to_str().unwrap(), other.to_str().unwrap()]), "not in the model's vocabulary");
}

/// A loss that turns non-finite stops training with a message; the checkpoint written before
/// stays whole and loadable.
#[test]
fn nan_stops_training_and_keeps_the_last_good_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let text = corpus_head(d.path(), "small.txt", 30_000);
    let run = d.path().join("run");
    assert!(train(&text, &run, &["--steps", "5", "--optimizer", "sgd", "--lr", "0.1"]).status.success());
    let before = std::fs::read(run.join("last.safetensors")).unwrap();
    let o =
        recurrent(&["train", "--resume", run.to_str().unwrap(), "--steps", "30", "--lr", "1e38", "--clip-norm", "0"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("training stopped; the last good checkpoint is"), "{}", stderr(&o));
    assert_eq!(std::fs::read(run.join("last.safetensors")).unwrap(), before);
    assert!(recurrent(&["sample", run.join("last.safetensors").to_str().unwrap(), "--length", "10"]).status.success());
}
