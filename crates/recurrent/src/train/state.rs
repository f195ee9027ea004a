//! The training state saved beside a checkpoint (`last.state.safetensors`), so that a resumed
//! run continues bit for bit: the weights, optimizer moments and step count, learning rate, the
//! carried hidden state, the data position (and which text it refers to), both random
//! generators, the smoothed loss and the clock.
//!
//! The file is one atomic unit: it holds the weights itself (under the checkpoint's names, with
//! its `config` and `vocab` metadata, so [`crate::checkpoint::load_model`] reads it), and a run
//! resumes from it alone. Files of format 1 (before the weights moved in) hold no weights; they
//! resume with the `last.safetensors` of the same step.

use crate::checkpoint::{config_json, read_tensors, restore_into, serialize, write_atomic_keeping, Meta};
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::layer::Parameters;
use crate::model::CharModel;
use crate::optim::Optimizer;
use crate::rng::{NumpyRng, RngState};
use crate::{CellKind, State};
use serde_json::{json, Value};
use std::path::Path;

/// Where a run stands between two updates.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Updates done.
    pub step: usize,
    /// Epochs completed.
    pub epoch: usize,
    /// The next training window within the epoch.
    pub window: usize,
    /// The state carried into the next window (`None` at an epoch start).
    pub carry: Option<State<f32>>,
    /// Dropout masks come from here.
    pub rng_dropout: NumpyRng,
    /// Printed samples come from here.
    pub rng_sample: NumpyRng,
    /// The smoothed training loss.
    pub smooth: f64,
    /// The best validation loss so far.
    pub best_val: Option<f64>,
    /// Validations in a row since the last new best (early stopping's count).
    pub stale_evals: usize,
    /// Seconds of training so far, over every session of the run.
    pub elapsed: f64,
    /// The first step's training loss (a loss past three times it is an explosion, as in
    /// char-rnn); `None` before the first step.
    pub first_loss: Option<f64>,
    /// The text the data position refers to; `None` in files of format 1.
    pub data: Option<DataId>,
}

/// Which text a saved data position refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataId {
    /// The SHA-256 of the text's bytes, in hex.
    pub sha256: String,
    /// Its length in characters.
    pub chars: usize,
}

impl DataId {
    /// The identity of UTF-8 text `bytes` of `chars` characters.
    pub fn of(bytes: &[u8], chars: usize) -> Self {
        DataId { sha256: crate::checkpoint::sha256_hex(bytes), chars }
    }
}

/// The format written by [`save`].
pub const STATE_FORMAT: &str = "recurrent-train-state/2";

fn rng_json(r: &NumpyRng) -> Value {
    let s = r.state();
    json!({"key": s.key, "pos": s.pos, "gauss": s.gauss})
}

fn rng_from(v: &Value) -> Option<NumpyRng> {
    let key: Vec<u32> = v["key"].as_array()?.iter().filter_map(|x| x.as_u64().map(|x| x as u32)).collect();
    NumpyRng::from_state(&RngState { key, pos: v["pos"].as_u64()? as usize, gauss: v["gauss"].as_f64() })
}

/// Writes the state of a run atomically: `model`'s weights with their `vocab` and the `extra`
/// metadata (as a checkpoint holds them), its optimizer and its progress. The file `path` held
/// until now becomes `previous` when given (see [`crate::checkpoint::write_atomic_keeping`]).
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn save(
    path: &Path,
    previous: Option<&Path>,
    p: &Progress,
    opt: &Optimizer<f32>,
    model: &mut CharModel<f32>,
    vocab: &Vocab,
    extra: &Meta,
) -> Result<()> {
    let mut names = Vec::new();
    let mut shapes = Vec::new();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    model.visit(&mut |n, s, w, _| {
        names.push(n.to_string());
        shapes.push(s.to_vec());
        tensors.push((n.to_string(), s.to_vec(), w.to_vec()));
    });
    for (slot, bufs) in opt.moments.iter().enumerate() {
        for ((n, s), b) in names.iter().zip(&shapes).zip(bufs) {
            tensors.push((format!("opt.{slot}.{n}"), s.clone(), b.clone()));
        }
    }
    if let Some(c) = &p.carry {
        tensors.push(("carry.h".into(), c.h.shape().to_vec(), c.h.iter().copied().collect()));
        if let Some(cc) = &c.c {
            tensors.push(("carry.c".into(), cc.shape().to_vec(), cc.iter().copied().collect()));
        }
    }
    let st = json!({
        "step": p.step, "epoch": p.epoch, "window": p.window, "smooth": p.smooth, "best_val": p.best_val, "stale_evals": p.stale_evals,
        "elapsed_s": p.elapsed, "lr": opt.lr, "optimizer_steps": opt.steps, "optimizer": opt.rule.name(),
        "moment_slots": opt.moments.len(),
        "rng_dropout": rng_json(&p.rng_dropout), "rng_sample": rng_json(&p.rng_sample),
        "first_loss": p.first_loss,
        "data": p.data.as_ref().map(|d| json!({"sha256": d.sha256, "chars": d.chars})),
    });
    let mut meta = extra.clone();
    meta.insert("format".into(), STATE_FORMAT.into());
    meta.insert("config".into(), config_json(&model.config));
    let chars: Vec<String> = vocab.chars().iter().map(|c| c.to_string()).collect();
    meta.insert("vocab".into(), serde_json::to_string(&chars).expect("strings"));
    meta.insert("state".into(), st.to_string());
    write_atomic_keeping(path, previous, &serialize(&tensors, &meta)?)
}

/// Reads the state back into `opt` (whose rule must be the saved one) and returns the progress.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read or was not written by [`save`];
/// [`Error::Config`] when it was saved with another optimizer; the errors of
/// [`restore_into`] when a moment's tensor does not fit `model`.
pub fn load<M: Parameters<f32>>(
    path: &Path,
    opt: &mut Optimizer<f32>,
    model: &mut M,
    kind: CellKind,
) -> Result<Progress> {
    let (t, meta) = read(path)?;
    load_from(path, &t, &meta, opt, model, kind)
}

/// Reads a training state's tensors and metadata (checksum verified), for [`load_from`] and
/// [`crate::checkpoint::model_from_tensors`].
///
/// # Errors
/// [`Error::Io`] when it cannot be read or is damaged.
pub fn read(path: &Path) -> Result<(crate::interop::Tensors, Meta)> {
    read_tensors(path).map_err(|e| Error::Io(format!("the training state cannot be resumed: {e}")))
}

/// [`load`] on what [`read`] read from `path` (named in the messages).
///
/// # Errors
/// As [`load`].
pub fn load_from<M: Parameters<f32>>(
    path: &Path,
    t: &crate::interop::Tensors,
    meta: &Meta,
    opt: &mut Optimizer<f32>,
    model: &mut M,
    kind: CellKind,
) -> Result<Progress> {
    let bad = || {
        Error::Io(format!("{} is not a training state written by recurrent: start a new run instead", path.display()))
    };
    let st: Value = serde_json::from_str(meta.get("state").ok_or_else(bad)?).map_err(|_| bad())?;
    let num = |k: &str| st[k].as_u64().map(|v| v as usize).ok_or_else(bad);
    if st["optimizer"].as_str() != Some(opt.rule.name()) {
        return Err(Error::Config(format!(
            "the run in {} used optimizer {}, not {}: leave --optimizer out when resuming",
            path.display(),
            st["optimizer"],
            opt.rule.name()
        )));
    }
    opt.lr = st["lr"].as_f64().ok_or_else(bad)?;
    opt.steps = st["optimizer_steps"].as_u64().ok_or_else(bad)?;
    let slots = num("moment_slots")?;
    opt.moments = vec![Vec::new(); slots];
    for (slot, bufs) in opt.moments.iter_mut().enumerate() {
        let mut err = Ok(());
        model.visit(&mut |n, s, p, _| {
            let mut v = vec![0f32; p.len()];
            if err.is_ok() {
                err = restore_into(t, &format!("opt.{slot}.{n}"), s, &mut v);
            }
            bufs.push(v);
        });
        err.map_err(|e| {
            Error::Config(format!(
                "{} belongs to another model ({e}): resume a run with its own folder, or start a new run with --init-from",
                path.display()
            ))
        })?;
    }
    let three_d =
        |a: &ndarray::ArrayD<f64>| a.mapv(|v| v as f32).into_dimensionality::<ndarray::Ix3>().map_err(|_| bad());
    let carry = match t.get("carry.h") {
        None => None,
        Some(h) => {
            let c = match (kind.has_cell_state(), t.get("carry.c")) {
                (true, Some(c)) => Some(three_d(c)?),
                (true, None) => return Err(bad()),
                (false, _) => None,
            };
            Some(State { h: three_d(h)?, c })
        }
    };
    Ok(Progress {
        step: num("step")?,
        epoch: num("epoch")?,
        window: num("window")?,
        carry,
        rng_dropout: rng_from(&st["rng_dropout"]).ok_or_else(bad)?,
        rng_sample: rng_from(&st["rng_sample"]).ok_or_else(bad)?,
        smooth: st["smooth"].as_f64().ok_or_else(bad)?,
        best_val: st["best_val"].as_f64(),
        stale_evals: st["stale_evals"].as_u64().unwrap_or(0) as usize,
        elapsed: st["elapsed_s"].as_f64().unwrap_or(0.0),
        first_loss: st["first_loss"].as_f64(),
        data: st["data"]["sha256"]
            .as_str()
            .zip(st["data"]["chars"].as_u64())
            .map(|(h, n)| DataId { sha256: h.to_string(), chars: n as usize }),
    })
}

/// Whether a state file with metadata `meta` holds the weights (format 2 and later).
pub fn holds_weights(meta: &Meta) -> bool {
    meta.get("format").is_some_and(|f| f != "recurrent-train-state/1")
}
