//! Checkpoints as safetensors: a character model's weights under PyTorch's names (`rnn.*` as in
//! `nn.RNN`/`nn.LSTM`/`nn.GRU`, `head.weight`, `head.bias`), its configuration and vocabulary in
//! the metadata; and plain named-tensor files for the training state. Every write goes to a
//! temporary file in the same folder, is synced, then renamed over the target, so a kill at any
//! moment leaves the previous file whole. Every file carries the SHA-256 of its tensor bytes
//! (`data_sha256`) and is refused on load when they no longer match (a flipped bit, a file cut
//! or patched by hand); files without it (written by PyTorch) are read unchecked.

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
/// The temporary file is `.NAME.tmp-PID` beside `path`; it is removed when the write fails (a
/// full disk), and [`remove_stale_temporaries`] removes those a killed process left.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_keeping(path, None, bytes)
}

/// [`write_atomic`], and the file `path` held until now is kept as `previous` (renamed just
/// before the new one is renamed into place). A kill at any moment leaves `path` whole, or —
/// between the two renames — no `path` and `previous` whole: a reader falls back to it.
pub fn write_atomic_keeping(path: &Path, previous: Option<&Path>, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::file(format!("cannot write {}: {e}", path.display()), e);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        // A new file (O_EXCL: never through a link a stranger left under the temporary name).
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        if let Some(prev) = previous.filter(|_| path.exists()) {
            std::fs::rename(path, prev)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Removes the temporary files (`.NAME.tmp-PID`, PID a number) that writers of the files
/// `names` killed mid-write left in `dir`, and nothing else (not a link, not another program's
/// `.notes.tmp-2024`); call it only while no other process writes there. Returns how many were
/// removed.
pub fn remove_stale_temporaries(dir: &Path, names: &[&str]) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let stale = |n: &str| {
        names.iter().any(|name| {
            n.strip_prefix('.')
                .and_then(|r| r.strip_prefix(name))
                .and_then(|r| r.strip_prefix(".tmp-"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    entries
        .flatten()
        .filter(|e| stale(&e.file_name().to_string_lossy()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// The hex SHA-256 of the tensor bytes of serialised safetensors `bytes` (what follows the
/// header, which the metadata is part of).
fn data_sha256(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let start = usize::try_from(n).ok()?.checked_add(8)?;
    Some(sha256_hex(bytes.get(start..)?))
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn to_bytes<F: Float>(v: &[F]) -> (Dtype, Vec<u8>) {
    if std::mem::size_of::<F>() == 4 {
        (Dtype::F32, v.iter().flat_map(|x| (x.f64() as f32).to_le_bytes()).collect())
    } else {
        (Dtype::F64, v.iter().flat_map(|x| x.f64().to_le_bytes()).collect())
    }
}

/// Serialises named flat tensors `(name, shape, values)` with metadata into safetensors bytes,
/// adding `data_sha256`, the checksum of the tensor bytes.
pub fn serialize<F: Float>(tensors: &[(String, Vec<usize>, Vec<F>)], meta: &Meta) -> Result<Vec<u8>> {
    let bytes: Vec<(Dtype, Vec<u8>)> = tensors.iter().map(|(_, _, v)| to_bytes(v)).collect();
    let views = || -> Vec<(String, TensorView<'_>)> {
        tensors
            .iter()
            .zip(&bytes)
            .map(|((n, s, _), (dt, b))| (n.clone(), TensorView::new(*dt, s.clone(), b).expect("sizes agree")))
            .collect()
    };
    let mut info: HashMap<String, String> = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let fail = |e: safetensors::SafeTensorError| Error::Io(format!("cannot serialise tensors: {e}"));
    // The tensor bytes do not depend on the metadata (offsets count from the end of the
    // header), so the checksum of a first serialisation holds for the second.
    let first = safetensors::tensor::serialize(views(), &Some(info.clone())).map_err(fail)?;
    info.insert("data_sha256".into(), data_sha256(&first).expect("a header"));
    safetensors::tensor::serialize(views(), &Some(info)).map_err(fail)
}

/// The most header a checkpoint may have: names, shapes, offsets and the metadata (a vocabulary
/// of 65,536 characters takes under 1 MB).
const MAX_HEADER: u64 = 16 << 20;

/// The bytes of a safetensors file, refused before they are read when its header (whose length
/// the first 8 bytes declare) is larger than [`MAX_HEADER`]: its metadata would be parsed whole.
fn read_checkpoint_bytes(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = crate::files::memory_limit();
    let md = std::fs::metadata(path).map_err(|e| Error::file(format!("cannot read {}: {e}", path.display()), e))?;
    if md.is_file() && md.len() >= 8 {
        let mut head = [0u8; 8];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .map_err(|e| Error::file(format!("cannot read {}: {e}", path.display()), e))?;
        let n = u64::from_le_bytes(head);
        let looks_safetensors = n < md.len();
        if looks_safetensors && n > MAX_HEADER {
            return Err(Error::Io(format!(
                "{} has a {} header, more than a checkpoint's (at most {}: names, shapes and a vocabulary): it is not a recurrent checkpoint, or it is damaged",
                path.display(),
                crate::files::human(n),
                crate::files::human(MAX_HEADER)
            )));
        }
    }
    crate::files::read_regular(path, limit, "a checkpoint")
}

/// The checkpoint `path` names: a file is itself; a run folder gives its `best.safetensors`,
/// else its `last.safetensors`, with a line saying which (for a person to read).
///
/// # Errors
/// [`Error::Config`] when a folder holds neither.
pub fn resolve(path: &Path) -> Result<(std::path::PathBuf, Option<String>)> {
    if !path.is_dir() {
        return Ok((path.to_path_buf(), None));
    }
    for (name, what) in [("best.safetensors", "its best checkpoint"), ("last.safetensors", "its last checkpoint")] {
        let p = path.join(name);
        if p.is_file() {
            return Ok((p.clone(), Some(format!("using {} ({what})", p.display()))));
        }
    }
    Err(Error::Config(format!(
        "{} is a folder without a checkpoint (best.safetensors or last.safetensors): give a run folder that has trained a step, or a .safetensors file",
        path.display()
    )))
}

/// Reads a safetensors file: every tensor as `f64` (from F32 or F64) and the metadata.
pub fn read_tensors(path: &Path) -> Result<(Tensors, Meta)> {
    let bytes = read_checkpoint_bytes(path)?;
    // A safetensors file is an 8-byte header length and then its JSON header: byte 8 is `{`.
    // Only a file that is not that is taken for a torch.save zip or pickle (a header length
    // whose low byte is 0x80 starts a safetensors file with a pickle's first byte: one state
    // file in 32 or so, since the header is padded to 8 bytes).
    if bytes.len() < 9 || bytes[8] != b'{' {
        if bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80) {
            return Err(Error::Io(format!("{} is a torch.save file (a pickle), not safetensors: save the weights with safetensors.torch.save_file(model.state_dict(), \"model.safetensors\"), then convert them with `recurrent import`", path.display())));
        }
        return Err(Error::Io(format!("{} is not a checkpoint (a .safetensors file written by `recurrent train` or `recurrent import`): give one, or a run folder", path.display())));
    }
    let bad = |e: &dyn std::fmt::Display| {
        Error::Io(format!("{} is not a valid checkpoint ({e}): it is truncated or corrupt; use another checkpoint (e.g. best.safetensors) or retrain", path.display()))
    };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(&e))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e))?;
    let meta: Meta = header.metadata().clone().unwrap_or_default().into_iter().collect();
    if let Some(want) = meta.get("data_sha256") {
        if data_sha256(&bytes).as_ref() != Some(want) {
            return Err(Error::Io(format!("{} is damaged: its tensor data no longer matches the checksum written with it; use another checkpoint (e.g. best.safetensors, or an earlier copy) or retrain", path.display())));
        }
    }
    let mut out = Tensors::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let vals: Vec<f64> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4")) as f64).collect(),
            Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect(),
            d => return Err(Error::Io(format!("{} holds {name} as {d:?}: recurrent reads F32 and F64 tensors; save them as float32, e.g. save_file({{k: v.float() for k, v in model.state_dict().items()}}, path)", path.display()))),
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
    write_atomic(path, &model_bytes(model, vocab, extra)?)
}

/// The bytes [`save_model`] writes (to write one checkpoint to several files).
pub fn model_bytes<F: Float>(model: &mut CharModel<F>, vocab: &Vocab, extra: &Meta) -> Result<Vec<u8>> {
    let mut tensors = Vec::new();
    model.visit(&mut |n, s, p, _| tensors.push((n.to_string(), s.to_vec(), p.to_vec())));
    let mut meta = extra.clone();
    meta.insert("format".into(), MODEL_FORMAT.into());
    meta.insert("config".into(), config_json(&model.config));
    let chars: Vec<String> = vocab.chars().iter().map(|c| c.to_string()).collect();
    meta.insert("vocab".into(), serde_json::to_string(&chars).expect("strings"));
    serialize(&tensors, &meta)
}

/// Loads a model saved by [`save_model`] (or a PyTorch `state_dict` saved with the same names
/// and metadata), checking every tensor's shape against the configuration. Every refusal names
/// the file, the cause and the fix.
pub fn load_model<F: Float>(path: &Path) -> Result<(CharModel<F>, Vocab, Meta)> {
    let (t, meta) = read_tensors(path)?;
    let (model, vocab) = model_from_tensors(path, &t, &meta)?;
    Ok((model, vocab, meta))
}

/// [`load_model`] on tensors and metadata already read from `path` (named in the messages).
pub fn model_from_tensors<F: Float>(path: &Path, t: &Tensors, meta: &Meta) -> Result<(CharModel<F>, Vocab)> {
    let what = |m: &str| Error::Io(format!("{} is not a recurrent model checkpoint: {m}", path.display()));
    let plain = "it has no 'config' metadata; a PyTorch state_dict is converted with `recurrent import`";
    let cfg: serde_json::Value =
        serde_json::from_str(meta.get("config").ok_or_else(|| what(plain))?).map_err(|e| what(&e.to_string()))?;
    // The vocabulary's size is believed only as far as the head's tensor (whose bytes are there)
    // bears it out: a list longer than the head has rows is refused before it is parsed.
    let rows = t.get("head.bias").map(|b| b.len());
    let vocab_json = meta.get("vocab").ok_or_else(|| what("no 'vocab' metadata"))?;
    if let Some(rows) = rows.filter(|&r| vocab_json.len() > 16 * r + 16) {
        return Err(what(&format!(
            "its 'vocab' metadata ({} bytes) lists more characters than its head (head.bias) has rows ({rows})",
            vocab_json.len()
        )));
    }
    let items: Vec<String> = serde_json::from_str(vocab_json)
        .map_err(|e| what(&format!("its 'vocab' metadata is not a list of strings ({e})")))?;
    let vocab = Vocab::from_strings(&items).map_err(|e| what(&e.to_string()))?;
    let cell = CellKind::parse(cfg["cell"].as_str().unwrap_or("?")).map_err(|e| what(&e.to_string()))?;
    if t.keys().any(|k| k.starts_with("rnn.") && k.ends_with("_reverse")) {
        return Err(what("its rnn.* tensors are bidirectional (…_reverse): a character model predicts the next character from the past, so it has one direction"));
    }
    if !t.contains_key("rnn.bias_ih_l0") && t.contains_key("rnn.weight_ih_l0") {
        return Err(what("it has no rnn.bias_ih_l0 (a module saved with bias=False?): convert it with `recurrent import`, which fills zero biases"));
    }
    let rc = infer_config(cell, t, "rnn.").map_err(|e| what(&e.to_string()))?;
    let config = ModelConfig {
        cell,
        vocab: vocab.len(),
        hidden: rc.hidden_size,
        layers: rc.num_layers,
        dropout: cfg["dropout"].as_f64().unwrap_or(0.0),
    };
    if rc.input_size != vocab.len() {
        return Err(what(&format!(
            "rnn.weight_ih_l0 has input size {} but the vocabulary has {} characters (an embedding in front? convert with `recurrent import`, which folds it in)",
            rc.input_size,
            vocab.len()
        )));
    }
    for (name, a) in t {
        let weight = name.starts_with("rnn.") || name.starts_with("head.");
        if weight && !a.iter().all(|v| v.is_finite()) {
            return Err(Error::Io(format!("{} holds NaN or infinite weights (in {name}): the model diverged before it was saved; use another checkpoint (e.g. best.safetensors) or retrain with a lower --lr", path.display())));
        }
    }
    let in_file = |e: Error| what(&e.to_string());
    let rnn = recurrent_from_tensors::<F>(&config.recurrent(), t, "rnn.").map_err(in_file)?;
    let w =
        take::<ndarray::Ix2>(t, "head.weight", &[config.vocab, config.hidden], "the head (V, H)").map_err(in_file)?;
    let b = take::<ndarray::Ix1>(t, "head.bias", &[config.vocab], "the head (V,)").map_err(in_file)?;
    let head = Linear::from_weights(w.mapv(F::c), b.mapv(F::c));
    Ok((CharModel::from_parts(config, rnn, head), vocab))
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

#[cfg(test)]
mod tests {
    // A safetensors file whose header length has 0x80 as its low byte starts with a pickle's
    // first byte; it is still a checkpoint (a resumed run once fell back to the state before
    // it, about one save in 32). A real pickle's start is still refused as one.
    #[test]
    fn a_header_length_ending_in_0x80_is_not_a_pickle() {
        let d = tempfile::tempdir().unwrap();
        let json = |pad: usize| format!("{{\"__metadata__\":{{\"pad\":\"{}\"}}}}", "x".repeat(pad));
        let pad = 0x80 - json(0).len();
        let header = json(pad);
        assert_eq!(header.len(), 0x80);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        assert_eq!(bytes[0], 0x80);
        let path = d.path().join("a.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let (tensors, meta) = super::read_tensors(&path).expect("a safetensors file");
        assert!(tensors.is_empty());
        assert_eq!(meta.get("pad").map(String::len), Some(pad));
        let pickle = d.path().join("b.pt");
        std::fs::write(&pickle, b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01").unwrap();
        let e = super::read_tensors(&pickle).unwrap_err().to_string();
        assert!(e.contains("is a torch.save file (a pickle)"), "{e}");
    }
}
