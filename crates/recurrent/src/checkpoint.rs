//! Checkpoints as safetensors: a character model's weights under PyTorch's names (`rnn.*` as in
//! `nn.RNN`/`nn.LSTM`/`nn.GRU`, `head.weight`, `head.bias`), its configuration and vocabulary in
//! the metadata; and plain named-tensor files for the training state. Every write goes to a
//! temporary file in the same folder, is synced, then renamed over the target, so a kill at any
//! moment leaves the previous file whole.

use crate::cell::CellKind;
use crate::data::Vocab;
use crate::error::{fmt_shape, Error, Result};
use crate::interop::{infer_config, recurrent_from_tensors, take, Tensors};
use crate::layer::Parameters;
use crate::model::{CharModel, ModelConfig};
use crate::{Float, Linear};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// The `format` metadata value of a model checkpoint.
pub const MODEL_FORMAT: &str = "recurrent-char-model/1";

/// String metadata stored beside the tensors.
pub type Meta = BTreeMap<String, String>;

/// Writes `bytes` to `path` atomically (temporary file, sync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

fn to_bytes<F: Float>(v: &[F]) -> (Dtype, Vec<u8>) {
    if std::mem::size_of::<F>() == 4 {
        (Dtype::F32, v.iter().flat_map(|x| (x.f64() as f32).to_le_bytes()).collect())
    } else {
        (Dtype::F64, v.iter().flat_map(|x| x.f64().to_le_bytes()).collect())
    }
}

/// Serialises named flat tensors `(name, shape, values)` with metadata into safetensors bytes.
pub fn serialize<F: Float>(tensors: &[(String, Vec<usize>, Vec<F>)], meta: &Meta) -> Result<Vec<u8>> {
    let bytes: Vec<(Dtype, Vec<u8>)> = tensors.iter().map(|(_, _, v)| to_bytes(v)).collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), (dt, b))| (n.clone(), TensorView::new(*dt, s.clone(), b).expect("sizes agree")))
        .collect();
    let info: HashMap<String, String> = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    safetensors::tensor::serialize(views, &Some(info)).map_err(|e| Error::Io(format!("cannot serialise tensors: {e}")))
}

/// Reads a safetensors file: every tensor as `f64` (from F32 or F64) and the metadata.
pub fn read_tensors(path: &Path) -> Result<(Tensors, Meta)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    let bad = |e: &dyn std::fmt::Display| {
        Error::Io(format!("{} is not a valid checkpoint ({e}): it is truncated or corrupt; use another checkpoint (e.g. best.safetensors) or retrain", path.display()))
    };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(&e))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e))?;
    let meta: Meta = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let mut out = Tensors::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let vals: Vec<f64> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4")) as f64).collect(),
            Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect(),
            d => return Err(bad(&format!("tensor {name} has dtype {d:?}; expected F32 or F64"))),
        };
        out.insert(name, ndarray::ArrayD::from_shape_vec(view.shape().to_vec(), vals).map_err(|e| bad(&e))?);
    }
    Ok((out, meta))
}

/// The model's configuration as JSON.
pub fn config_json(c: &ModelConfig) -> String {
    serde_json::json!({"cell": c.cell.name(), "vocab": c.vocab, "hidden": c.hidden, "layers": c.layers, "dropout": c.dropout}).to_string()
}

/// Saves a model: tensors under PyTorch's names, `format`, `config` (JSON) and `vocab` (a JSON
/// array of one-character strings) in the metadata, plus `extra`.
pub fn save_model<F: Float>(path: &Path, model: &mut CharModel<F>, vocab: &Vocab, extra: &Meta) -> Result<()> {
    let mut tensors = Vec::new();
    model.visit(&mut |n, s, p, _| tensors.push((n.to_string(), s.to_vec(), p.to_vec())));
    let mut meta = extra.clone();
    meta.insert("format".into(), MODEL_FORMAT.into());
    meta.insert("config".into(), config_json(&model.config));
    let chars: Vec<String> = vocab.chars().iter().map(|c| c.to_string()).collect();
    meta.insert("vocab".into(), serde_json::to_string(&chars).expect("strings"));
    write_atomic(path, &serialize(&tensors, &meta)?)
}

/// Loads a model saved by [`save_model`] (or a PyTorch `state_dict` saved with the same names
/// and metadata), checking every tensor's shape against the configuration.
pub fn load_model<F: Float>(path: &Path) -> Result<(CharModel<F>, Vocab, Meta)> {
    let (t, meta) = read_tensors(path)?;
    let what = |m: &str| Error::Io(format!("{} is not a recurrent model checkpoint: {m}", path.display()));
    let cfg: serde_json::Value = serde_json::from_str(meta.get("config").ok_or_else(|| what("no 'config' metadata"))?)
        .map_err(|e| what(&e.to_string()))?;
    let chars: Vec<String> = serde_json::from_str(meta.get("vocab").ok_or_else(|| what("no 'vocab' metadata"))?)
        .map_err(|e| what(&e.to_string()))?;
    let chars: Vec<char> = chars.iter().filter_map(|s| s.chars().next()).collect();
    let cell = CellKind::parse(cfg["cell"].as_str().unwrap_or("?")).map_err(|e| what(&e.to_string()))?;
    let rc = infer_config(cell, &t, "rnn.").map_err(|e| what(&e.to_string()))?;
    let config = ModelConfig {
        cell,
        vocab: chars.len(),
        hidden: rc.hidden_size,
        layers: rc.num_layers,
        dropout: cfg["dropout"].as_f64().unwrap_or(0.0),
    };
    if rc.input_size != chars.len() || rc.bidirectional {
        return Err(what(&format!(
            "rnn.weight_ih_l0 has input size {} but the vocabulary has {} characters",
            rc.input_size,
            chars.len()
        )));
    }
    let rnn = recurrent_from_tensors::<F>(&config.recurrent(), &t, "rnn.")?;
    let w = take::<ndarray::Ix2>(&t, "head.weight", &[config.vocab, config.hidden], "the head (V, H)")?;
    let b = take::<ndarray::Ix1>(&t, "head.bias", &[config.vocab], "the head (V,)")?;
    let head = Linear::from_weights(w.mapv(F::c), b.mapv(F::c));
    Ok((CharModel::from_parts(config, rnn, head), Vocab::from_chars(chars), meta))
}

/// Copies `src[name]` into `dst` (a flat tensor of `shape`), with a named error on mismatch.
pub fn restore_into<F: Float>(src: &Tensors, name: &str, shape: &[usize], dst: &mut [F]) -> Result<()> {
    let a = src.get(name).ok_or_else(|| {
        Error::Missing(format!("{name} in the training state: the run was saved by another version or architecture"))
    })?;
    if a.shape() != shape {
        return Err(Error::shape(name, a.shape(), format!("the model expects {}", fmt_shape(shape))));
    }
    dst.iter_mut().zip(a.iter()).for_each(|(d, &s)| *d = F::c(s));
    Ok(())
}
