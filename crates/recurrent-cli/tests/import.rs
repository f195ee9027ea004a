//! PyTorch → recurrent: two models trained in PyTorch and saved as PyTorch users save them
//! (scripts/make_import_fixture.py: an nn.Embedding + nn.LSTM + nn.Linear in safetensors, a
//! bias=False nn.GRU + nn.Linear in .npz) go through `recurrent import`, then `eval` and
//! `sample`, and give PyTorch's numbers (import_expected.json: PyTorch float64 on the same float32
//! weights). Then `inspect`, and the errors a PyTorch user meets, each in one line.

mod common;
use common::{assert_fails, ok, recurrent, s, stdout};

use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn pytorch_models_import_and_give_pytorchs_numbers() {
    let d = tempfile::tempdir().unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("import_expected.json")).unwrap()).unwrap();
    let vocab = fixture("import_vocab.json");
    let passage = fixture("import_passage.txt");
    for (name, file, note) in [
        ("lstm", "import_lstm.safetensors", "folded the embedding embed.weight"),
        ("gru", "import_gru.npz", "has no biases (bias=False): zeros"),
    ] {
        let out = d.path().join(format!("{name}.safetensors"));
        let o = recurrent(&["import", s(&fixture(file)), "--vocab", s(&vocab), "--out", s(&out)]);
        ok(&o);
        assert!(stdout(&o).contains(note), "{}", stdout(&o));
        // eval: PyTorch's loss over the passage (float32 here against its float64).
        let o = recurrent(&["eval", s(&out), s(&passage), "--json"]);
        ok(&o);
        let got: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        let (ours, theirs) =
            (got["nats_per_char"].as_f64().unwrap(), expected[name]["nats_per_char"].as_f64().unwrap());
        assert!((ours - theirs).abs() < 1e-7, "{name}: {ours} nats/char here, {theirs} in PyTorch");
        assert_eq!(got["characters"], 1999);
        // sample: the greedy continuation of the prime, character for character.
        let prime = expected["prime"].as_str().unwrap();
        let o = recurrent(&["sample", s(&out), "--prime", prime, "--temperature", "0", "--length", "60"]);
        ok(&o);
        assert_eq!(stdout(&o).trim_end_matches('\n'), expected[name]["greedy"].as_str().unwrap(), "{name}");
        // inspect: the configuration and the import's origin.
        let o = recurrent(&["inspect", s(&out), "--json"]);
        ok(&o);
        let info: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(info["cell"], name);
        assert_eq!(info["vocab_size"], 58);
        assert!(info["imported_from"].as_str().unwrap().ends_with(file));
        // train --init-from continues from the imported weights.
        let run = d.path().join(format!("run-{name}"));
        let o = recurrent(&[
            "train",
            s(&passage),
            "--init-from",
            s(&out),
            "--out",
            s(&run),
            "--steps",
            "3",
            "--seq-len",
            "16",
            "--batch",
            "2",
            "--eval-every",
            "3",
            "--sample-every",
            "0",
        ]);
        ok(&o);
    }
}

#[test]
fn inspect_shows_what_a_run_checkpoint_holds() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let o = recurrent(&[
        "train",
        s(&fixture("import_passage.txt")),
        "--out",
        s(&run),
        "--steps",
        "4",
        "--hidden",
        "8",
        "--seq-len",
        "8",
        "--batch",
        "2",
        "--eval-every",
        "4",
        "--sample-every",
        "0",
        "--val-frac",
        "0.2",
    ]);
    ok(&o);
    let o = recurrent(&["inspect", s(&run.join("best.safetensors"))]);
    ok(&o);
    let text = stdout(&o);
    for want in [
        "model: lstm 2×8",
        "step: 4",
        "validation loss:",
        "rnn.weight_hh_l1",
        "(32, 8)",
        "checksum: data_sha256 present",
    ] {
        assert!(text.contains(want), "no '{want}' in:\n{text}");
    }
    let o = recurrent(&["inspect", s(&run.join("last.state.safetensors"))]);
    ok(&o);
    assert!(stdout(&o).contains("tensors of the training state"), "{}", stdout(&o));
}

/// Each message a PyTorch user met that misled them: now one line naming the file, the cause
/// and the fix.
#[test]
fn errors_name_the_file_the_cause_and_the_fix() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let vocab = fixture("import_vocab.json");
    let out = dir.join("m.safetensors");
    let import = |sd: &Path, extra: &[&str]| recurrent(&[&["import", s(sd), "--out", s(&out)][..], extra].concat());
    // A torch.save pickle (zip or raw pickle) is named as such.
    let pickle = dir.join("model.pt");
    std::fs::write(&pickle, b"PK\x03\x04 torch zip archive").unwrap();
    assert_fails(&import(&pickle, &["--vocab", s(&vocab)]), "is a torch.save file (a pickle), not safetensors");
    assert_fails(&recurrent(&["sample", s(&pickle)]), "is a torch.save file (a pickle)");
    // bf16 weights.
    let bf16 = dir.join("bf16.safetensors");
    let header = br#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    std::fs::write(&bf16, &bytes).unwrap();
    assert_fails(
        &import(&bf16, &["--vocab", s(&vocab)]),
        "holds w as BF16: recurrent reads F32 and F64 tensors; save them as float32",
    );
    // Vocabulary entries that are not single characters, or repeated.
    let words = dir.join("words.json");
    std::fs::write(&words, r#"["a", "<unk>", "b"]"#).unwrap();
    assert_fails(
        &import(&fixture("import_gru.npz"), &["--vocab", s(&words)]),
        "vocabulary entry 1 is \"<unk>\" (5 characters): a character model's vocabulary lists single characters",
    );
    let twice = dir.join("twice.json");
    std::fs::write(&twice, r#"["a", "b", "a"]"#).unwrap();
    assert_fails(
        &import(&fixture("import_gru.npz"), &["--vocab", s(&twice)]),
        "vocabulary entry 2 repeats 'a' (entry 0)",
    );
    // A vocabulary of the wrong size, a wrong --cell.
    let short = dir.join("short.json");
    std::fs::write(&short, r#"["a", "b", "c"]"#).unwrap();
    assert_fails(
        &import(&fixture("import_gru.npz"), &["--vocab", s(&short)]),
        "no output layer found: no 2-d …weight of shape (3, 24)",
    );
    assert_fails(
        &import(&fixture("import_gru.npz"), &["--vocab", s(&vocab), "--cell", "lstm"]),
        "--cell lstm but rnn.weight_hh_l0 (72, 24) has the 3 gates of a gru",
    );
    assert_fails(&import(&fixture("import_gru.npz"), &[]), "give the vocabulary: --vocab");
    // The training state of another architecture names the file.
    let run = dir.join("run");
    let train = |out: &Path, hidden: &str| {
        recurrent(&[
            "train",
            s(&fixture("import_passage.txt")),
            "--out",
            s(out),
            "--steps",
            "2",
            "--hidden",
            hidden,
            "--seq-len",
            "8",
            "--batch",
            "2",
            "--eval-every",
            "2",
            "--sample-every",
            "0",
        ])
    };
    ok(&train(&run, "8"));
    let other = dir.join("other");
    ok(&train(&other, "12"));
    let (t, mut meta) = recurrent::checkpoint::read_tensors(&other.join("last.state.safetensors")).unwrap();
    // Keep the first run's weights but the other's optimizer moments: a state of another model.
    let (mine, _) = recurrent::checkpoint::read_tensors(&run.join("last.state.safetensors")).unwrap();
    meta.remove("data_sha256");
    let mut list: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (k, v) in mine.iter().filter(|(k, _)| k.starts_with("rnn.") || k.starts_with("head.")) {
        list.push((k.clone(), v.shape().to_vec(), v.iter().map(|&x| x as f32).collect()));
    }
    for (k, v) in t.iter().filter(|(k, _)| k.starts_with("opt.")) {
        list.push((k.clone(), v.shape().to_vec(), v.iter().map(|&x| x as f32).collect()));
    }
    let (_, run_meta) = recurrent::checkpoint::read_tensors(&run.join("last.state.safetensors")).unwrap();
    meta.insert("config".into(), run_meta["config"].clone());
    // (and the run's own train_config: a state whose train_config is another model's is refused
    // earlier, as an edited configuration, by edges.rs's test)
    meta.insert("train_config".into(), run_meta["train_config"].clone());
    std::fs::write(run.join("last.state.safetensors"), recurrent::checkpoint::serialize(&list, &meta).unwrap())
        .unwrap();
    let _ = std::fs::remove_file(run.join("prev.state.safetensors"));
    let o = recurrent(&["train", "--resume", s(&run), "--steps", "4"]);
    assert_fails(&o, "last.state.safetensors belongs to another model (opt.0.rnn.weight_ih_l0 is");
}

/// A bidirectional model, a model whose first layer takes an embedding, and a model saved with
/// bias=False, when handed to `sample` as if they were checkpoints; `import` refuses
/// bidirectional and proj_size modules in words.
#[test]
fn checkpoints_that_are_really_pytorch_models_say_so() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = recurrent::checkpoint::read_tensors(&fixture("import_lstm.safetensors")).unwrap();
    let vocab: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(fixture("import_vocab.json")).unwrap()).unwrap();
    let write = |name: &str, tensors: &recurrent::interop::Tensors| {
        let mut meta = recurrent::checkpoint::Meta::new();
        meta.insert("config".into(), r#"{"cell":"lstm","dropout":0.0}"#.into());
        meta.insert("vocab".into(), serde_json::to_string(&vocab).unwrap());
        let list: Vec<(String, Vec<usize>, Vec<f32>)> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.shape().to_vec(), v.iter().map(|&x| x as f32).collect()))
            .collect();
        let p = d.path().join(name);
        std::fs::write(&p, recurrent::checkpoint::serialize(&list, &meta).unwrap()).unwrap();
        p
    };
    // Renamed to the checkpoint's names, but with the embedding still in front.
    let renamed: recurrent::interop::Tensors = t
        .iter()
        .filter(|(k, _)| !k.starts_with("embed"))
        .map(|(k, v)| (k.replacen("lstm.", "rnn.", 1).replacen("fc.", "head.", 1), v.clone()))
        .collect();
    let p = write("emb.safetensors", &renamed);
    assert_fails(&recurrent(&["sample", s(&p)]), "rnn.weight_ih_l0 has input size 16 but the vocabulary has 58 characters (an embedding in front? convert with `recurrent import`");
    let mut no_bias = renamed.clone();
    no_bias.retain(|k, _| !k.starts_with("rnn.bias"));
    let p = write("nobias.safetensors", &no_bias);
    assert_fails(&recurrent(&["sample", s(&p)]), "nobias.safetensors is not a recurrent model checkpoint: it has no rnn.bias_ih_l0 (a module saved with bias=False?)");
    let mut bi = renamed.clone();
    bi.insert("rnn.weight_ih_l0_reverse".into(), renamed["rnn.weight_ih_l0"].clone());
    let p = write("bi.safetensors", &bi);
    assert_fails(
        &recurrent(&["sample", s(&p)]),
        "bi.safetensors is not a recurrent model checkpoint: its rnn.* tensors are bidirectional",
    );
    // A checkpoint whose vocabulary has a word-level entry, or a repeated character.
    let mut words = vocab.clone();
    words[1] = "<unk>".into();
    let mut meta = recurrent::checkpoint::Meta::new();
    meta.insert("config".into(), r#"{"cell":"lstm","dropout":0.0}"#.into());
    meta.insert("vocab".into(), serde_json::to_string(&words).unwrap());
    let list: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let p = d.path().join("unk.safetensors");
    std::fs::write(&p, recurrent::checkpoint::serialize(&list, &meta).unwrap()).unwrap();
    assert_fails(
        &recurrent(&["sample", s(&p)]),
        "unk.safetensors is not a recurrent model checkpoint: vocabulary entry 1 is \"<unk>\" (5 characters)",
    );
    words[1] = words[2].clone();
    meta.insert("vocab".into(), serde_json::to_string(&words).unwrap());
    std::fs::write(&p, recurrent::checkpoint::serialize(&list, &meta).unwrap()).unwrap();
    assert_fails(&recurrent(&["sample", s(&p)]), "vocabulary entry 2 repeats");
    let vocab_path = fixture("import_vocab.json");
    let mut bi_sd = t.clone();
    bi_sd.insert("lstm.weight_ih_l0_reverse".into(), t["lstm.weight_ih_l0"].clone());
    let p = write("bi_sd.safetensors", &bi_sd);
    let out = d.path().join("o.safetensors");
    assert_fails(
        &recurrent(&["import", s(&p), "--vocab", s(&vocab_path), "--out", s(&out)]),
        "lstm. is bidirectional (…_reverse tensors): a character model predicts the next character from the past only",
    );
    let mut proj = t.clone();
    proj.insert("lstm.weight_hr_l0".into(), ndarray::ArrayD::zeros(vec![16, 32]));
    let p = write("proj.safetensors", &proj);
    assert_fails(
        &recurrent(&["import", s(&p), "--vocab", s(&vocab_path), "--out", s(&out)]),
        "lstm.weight_hr_l0 is present: the LSTM was made with proj_size > 0",
    );
}
