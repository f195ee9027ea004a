//! `recurrent import` (a PyTorch state_dict → a checkpoint) and `recurrent inspect` (what a
//! checkpoint holds).

use crate::args::Cell;
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::checkpoint::{model_from_tensors, read_tensors, save_model, Meta};
use recurrent::data::Vocab;
use recurrent::import::{from_state_dict, ImportNames};
use recurrent::interop::read_npz;
use recurrent::{CellKind, Parameters};
use std::path::PathBuf;

/// Flags of `recurrent import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The state_dict: saved with safetensors.torch.save_file (.safetensors) or np.savez (.npz).
    state_dict: PathBuf,
    /// The vocabulary, a JSON file: a list of one-character strings in token order (e.g.
    /// json.dump(chars, f)), or an object mapping each character to its index (stoi).
    #[arg(long, conflicts_with = "vocab_from")]
    vocab: Option<PathBuf>,
    /// The training text: its sorted set of characters is the vocabulary, as
    /// `chars = sorted(set(text))` makes it.
    #[arg(long)]
    vocab_from: Option<PathBuf>,
    /// Where to write the checkpoint.
    #[arg(long)]
    out: PathBuf,
    /// The cell, checked against the weights (which tell it anyway).
    #[arg(long, value_enum)]
    cell: Option<Cell>,
    /// The embedding's weight tensor, when its name is not recognised (e.g. encoder.weight).
    #[arg(long)]
    embedding: Option<String>,
    /// The output layer's prefix, when it cannot be found (e.g. decoder.).
    #[arg(long)]
    head: Option<String>,
}

/// The vocabulary file: a JSON list of characters, or an object character → index.
fn read_vocab(path: &std::path::Path) -> Result<Vocab> {
    let text = recurrent::files::read_regular(path, 64 << 20, "a vocabulary")?;
    let v: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
        format!("{} is not JSON: give a list of characters, e.g. json.dump(chars, open(path, 'w'))", path.display())
    })?;
    let items: Vec<String> = match v {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|x| x.as_str().map(String::from))
            .collect::<Option<_>>()
            .with_context(|| format!("{}: every entry of the list must be a string", path.display()))?,
        serde_json::Value::Object(m) => {
            let mut pairs: Vec<(usize, String)> = Vec::new();
            for (k, i) in m {
                let i = i.as_u64().with_context(|| format!("{}: {k:?} maps to {i}, not an index", path.display()))?;
                pairs.push((i as usize, k));
            }
            pairs.sort();
            if pairs.iter().enumerate().any(|(j, (i, _))| *i != j) {
                bail!("{}: the indices are not 0..{} each once", path.display(), pairs.len());
            }
            pairs.into_iter().map(|(_, k)| k).collect()
        }
        _ => bail!("{} is neither a list of characters nor an object character → index", path.display()),
    };
    Vocab::from_strings(&items).with_context(|| format!("the vocabulary in {}", path.display()))
}

pub fn import(a: ImportArgs) -> Result<()> {
    // Never over a file this command did not write: an existing --out is refused up front.
    if std::fs::symlink_metadata(&a.out).is_ok() {
        bail!("{} already exists: give another --out (or remove it first); nothing was changed", a.out.display());
    }
    let vocab = match (&a.vocab, &a.vocab_from) {
        (Some(v), _) => read_vocab(v)?,
        (None, Some(t)) => crate::text::load_tokens(t, None, "")?.vocab,
        (None, None) => bail!("give the vocabulary: --vocab chars.json (the list the model was trained with) or --vocab-from TEXT (its sorted characters)"),
    };
    let is_npz = a.state_dict.extension().is_some_and(|e| e == "npz");
    let tensors = if is_npz { read_npz(&a.state_dict)? } else { read_tensors(&a.state_dict)?.0 };
    let names = ImportNames { embedding: a.embedding.clone(), head: a.head.clone() };
    let cell = a.cell.map(CellKind::from);
    let mut imported = from_state_dict(&tensors, vocab.len(), cell, &names)
        .with_context(|| format!("cannot import {}", a.state_dict.display()))?;
    let mut meta = Meta::new();
    meta.insert("imported_from".into(), a.state_dict.display().to_string());
    save_model(&a.out, &mut imported.model, &vocab, &meta)?;
    for n in &imported.notes {
        crate::outln(n);
    }
    crate::outln(&format!(
        "wrote {} ({} parameters, vocabulary {}): use it with sample, eval, inspect, or train --init-from",
        a.out.display(),
        imported.model.num_params(),
        vocab.len()
    ));
    Ok(())
}

/// Flags of `recurrent inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A checkpoint (or a run's last.state.safetensors).
    checkpoint: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let checkpoint = crate::checkpoint_of(&a.checkpoint)?;
    let (tensors, meta) = read_tensors(&checkpoint)?;
    let (mut model, vocab) = model_from_tensors::<f32>(&checkpoint, &tensors, &meta)?;
    let mut shapes = Vec::new();
    model.visit(&mut |n, s, _, _| shapes.push((n.to_string(), s.to_vec())));
    let others: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .filter(|(k, _)| !shapes.iter().any(|(n, _)| n == *k))
        .map(|(k, v)| (k.clone(), v.shape().to_vec()))
        .collect();
    let chars: String = vocab.chars().iter().collect();
    let params = model.num_params();
    let c = &model.config;
    let train_config: Option<serde_json::Value> = meta.get("train_config").and_then(|s| serde_json::from_str(s).ok());
    let num = |k: &str| meta.get(k).and_then(|v| v.parse::<f64>().ok());
    if a.json {
        let j = serde_json::json!({
            "path": checkpoint.display().to_string(),
            "format": meta.get("format"),
            "cell": c.cell.name(), "layers": c.layers, "hidden": c.hidden, "vocab_size": c.vocab,
            "dropout": c.dropout, "parameters": params,
            "vocab": vocab.chars().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "tensors": shapes.iter().map(|(n, s)| serde_json::json!({"name": n, "shape": s})).collect::<Vec<_>>(),
            "other_tensors": others.len(),
            "step": meta.get("step").and_then(|v| v.parse::<u64>().ok()), "val_loss": num("val_loss"),
            "checksum": meta.contains_key("data_sha256"),
            "imported_from": meta.get("imported_from"),
            "train_config": train_config,
        });
        crate::outln(&serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    let mut out = vec![format!("{}: {}", checkpoint.display(), meta.get("format").map_or("(no format)", |s| s))];
    out.push(format!(
        "model: {} {}×{}, vocabulary {}, dropout {}; {params} parameters",
        c.cell, c.layers, c.hidden, c.vocab, c.dropout
    ));
    out.push(format!("vocabulary: {chars:?}"));
    if let Some(s) = meta.get("step") {
        out.push(format!("step: {s}"));
    }
    if let Some(v) = num("val_loss") {
        out.push(format!("validation loss: {v:.6} nats/char ({:.6} bits/char)", v / std::f64::consts::LN_2));
    }
    out.push(format!(
        "checksum: {}",
        if meta.contains_key("data_sha256") {
            "data_sha256 present and verified"
        } else {
            "none (written by another program)"
        }
    ));
    if let Some(f) = meta.get("imported_from") {
        out.push(format!("imported from: {f}"));
    }
    out.push("tensors:".into());
    for (n, s) in &shapes {
        out.push(format!("  {n:<24} {}", recurrent::error::fmt_shape(s)));
    }
    if !others.is_empty() {
        out.push(format!("  … and {} tensors of the training state (optimizer moments, carried state)", others.len()));
    }
    if let Some(tc) = train_config {
        out.push(format!("training configuration: {tc}"));
    }
    crate::outln(&out.join("\n"));
    Ok(())
}
