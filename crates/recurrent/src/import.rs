//! PyTorch → recurrent: a character model's `state_dict` as PyTorch code names it — an
//! `nn.RNN`/`nn.LSTM`/`nn.GRU` under any prefix (`rnn.`, `lstm.`, …), optionally an
//! `nn.Embedding` before it and an `nn.Linear` after it — turned into a [`CharModel`].
//!
//! - The recurrent module is the one with a `weight_ih_l0`; its cell comes from the gate count
//!   (`weight_hh_l0` is `(G·H, H)`: G = 1 tanh RNN, 3 GRU, 4 LSTM). A `nonlinearity='relu'` RNN
//!   cannot be told from its weights: tanh is assumed.
//! - An `nn.Embedding (V, E)` is folded into the first layer: a one-hot token `e_v` gives
//!   `W_ih · Emb[v] = (W_ih · Embᵀ) e_v`, so `weight_ih_l0 ← W_ih · Embᵀ`, exactly.
//! - `bias=False` modules get zero biases (the same function).
//! - What cannot be represented is refused in words: `proj_size` (`weight_hr_l0`), two
//!   directions (a next-character model reads forward), several recurrent modules.
//! - `batch_first` leaves no trace in the weights and does not matter for them.

use crate::cell::CellKind;
use crate::error::{fmt_shape, Error, Result};
use crate::interop::{recurrent_from_tensors, Tensors};
use crate::layer::linear::Linear;
use crate::model::{CharModel, ModelConfig};
use ndarray::{ArrayD, Ix2};

/// Names to use when the guesses do not fit (`--embedding`, `--head`).
#[derive(Clone, Debug, Default)]
pub struct ImportNames {
    /// The embedding's weight tensor, e.g. `encoder.weight`.
    pub embedding: Option<String>,
    /// The output layer's prefix, e.g. `decoder.` (its `weight` and optional `bias`).
    pub head: Option<String>,
}

/// An imported model and what was done to fit it, one line each.
#[derive(Debug)]
pub struct Imported {
    /// The model, in `f32` as `recurrent train` writes it.
    pub model: CharModel<f32>,
    /// What the import did (e.g. "folded the embedding encoder.weight (65, 32) into …").
    pub notes: Vec<String>,
}

/// Turns `t` into a character model over `vocab` characters; `cell`, when given, must agree
/// with the weights.
///
/// # Errors
/// [`Error::Config`] naming the tensor and the fix for everything listed in the module docs.
pub fn from_state_dict(t: &Tensors, vocab: usize, cell: Option<CellKind>, names: &ImportNames) -> Result<Imported> {
    let mut notes = Vec::new();
    let prefixes: Vec<String> =
        t.keys().filter_map(|k| k.strip_suffix("weight_ih_l0")).map(String::from).collect::<Vec<_>>();
    let prefix = match prefixes.as_slice() {
        [p] => p.clone(),
        [] => {
            return Err(Error::Config(
                "no recurrent module found (no tensor named …weight_ih_l0): save the state_dict of a model with an nn.RNN, nn.LSTM or nn.GRU".into(),
            ))
        }
        many => {
            return Err(Error::Config(format!(
                "several recurrent modules ({}): recurrent's character model has one stack; save that module's state_dict with the embedding and the output layer",
                many.join(", ")
            )))
        }
    };
    if t.contains_key(&format!("{prefix}weight_hr_l0")) {
        return Err(Error::Config(format!(
            "{prefix}weight_hr_l0 is present: the LSTM was made with proj_size > 0, which recurrent does not have; retrain without proj_size"
        )));
    }
    if t.keys().any(|k| k.starts_with(&prefix) && k.ends_with("_reverse")) {
        return Err(Error::Config(format!(
            "{prefix} is bidirectional (…_reverse tensors): a character model predicts the next character from the past only, so it has one direction; retrain with bidirectional=False"
        )));
    }
    let two = |name: &str| -> Result<ndarray::Array2<f64>> {
        let a = t.get(name).ok_or_else(|| Error::Missing(name.to_string()))?;
        a.clone().into_dimensionality::<Ix2>().map_err(|_| Error::shape(name, a.shape(), "it must be 2-d"))
    };
    let wih0 = two(&format!("{prefix}weight_ih_l0"))?;
    let whh0 = two(&format!("{prefix}weight_hh_l0"))?;
    let hidden = whh0.ncols();
    let kind = match whh0.nrows() / hidden.max(1) {
        1 => CellKind::Rnn,
        3 => CellKind::Gru,
        4 => CellKind::Lstm,
        _ => {
            return Err(Error::shape(
                format!("{prefix}weight_hh_l0"),
                whh0.shape(),
                "it must be (G·H, H) with G = 1 (RNN), 3 (GRU) or 4 (LSTM)",
            ))
        }
    };
    if whh0.nrows() != kind.gates() * hidden {
        return Err(Error::shape(format!("{prefix}weight_hh_l0"), whh0.shape(), "it must be (G·H, H)"));
    }
    if let Some(c) = cell.filter(|&c| c != kind) {
        return Err(Error::Config(format!(
            "--cell {c} but {prefix}weight_hh_l0 {} has the {} gates of a {kind}: leave --cell out or give {kind}",
            fmt_shape(whh0.shape()),
            kind.gates()
        )));
    }
    let layers = (0..).take_while(|l| t.contains_key(&format!("{prefix}weight_ih_l{l}"))).count();
    // The output layer: named, or the one 2-d `….weight` of V rows and H columns outside the stack.
    let head_prefix = match &names.head {
        Some(h) => h.clone(),
        None => {
            let found: Vec<String> = t
                .iter()
                .filter(|(k, a)| {
                    !k.starts_with(&prefix)
                        && k.ends_with("weight")
                        && a.shape() == [vocab, hidden]
                        && !is_embedding_name(k)
                })
                .map(|(k, _)| k.trim_end_matches("weight").to_string())
                .collect();
            match found.as_slice() {
                [h] => h.clone(),
                [] => {
                    return Err(Error::Config(format!(
                        "no output layer found: no 2-d …weight of shape ({vocab}, {hidden}) (vocabulary × hidden) outside {prefix}; check the vocabulary, or name the layer with --head PREFIX (e.g. --head fc.)"
                    )))
                }
                many => {
                    return Err(Error::Config(format!(
                        "several candidate output layers ({}): name one with --head PREFIX",
                        many.join(", ")
                    )))
                }
            }
        }
    };
    let hw = two(&format!("{head_prefix}weight"))?;
    if hw.dim() != (vocab, hidden) {
        return Err(Error::shape(
            format!("{head_prefix}weight"),
            hw.shape(),
            format!("the output layer must be (V, H) = ({vocab}, {hidden}): is the vocabulary the one the model was trained with?"),
        ));
    }
    let hb = match t.get(&format!("{head_prefix}bias")) {
        Some(b) if b.shape() == [vocab] => b.clone().into_dimensionality().expect("1-d"),
        Some(b) => return Err(Error::shape(format!("{head_prefix}bias"), b.shape(), format!("it must be ({vocab},)"))),
        None => {
            notes.push(format!("{head_prefix}bias is absent (bias=False): zeros"));
            ndarray::Array1::zeros(vocab)
        }
    };
    // The first layer's input: one-hot (I = V), or an embedding to fold in.
    let mut ours = Tensors::new();
    let input = wih0.ncols();
    let wih0 = if input == vocab && names.embedding.is_none() {
        wih0
    } else {
        let emb_name = match &names.embedding {
            Some(e) => e.clone(),
            None => {
                let found: Vec<&String> = t
                    .iter()
                    .filter(|(k, a)| !k.starts_with(&prefix) && a.shape() == [vocab, input] && is_embedding_name(k))
                    .map(|(k, _)| k)
                    .collect();
                match found.as_slice() {
                    [e] => (*e).clone(),
                    _ => {
                        return Err(Error::Config(format!(
                            "{prefix}weight_ih_l0 takes inputs of size {input}, not the vocabulary's {vocab}, and no embedding ({vocab}, {input}) was found: name it with --embedding NAME (e.g. --embedding encoder.weight), or check the vocabulary"
                        )))
                    }
                }
            }
        };
        let emb = two(&emb_name)?;
        if emb.dim() != (vocab, input) {
            return Err(Error::shape(
                &emb_name,
                emb.shape(),
                format!(
                    "the embedding must be (V, E) = ({vocab}, {input}) for this vocabulary and {prefix}weight_ih_l0"
                ),
            ));
        }
        notes.push(format!(
            "folded the embedding {emb_name} {} into weight_ih_l0: {} · {}ᵀ = {}",
            fmt_shape(emb.shape()),
            fmt_shape(&[kind.gates() * hidden, input]),
            fmt_shape(emb.shape()),
            fmt_shape(&[kind.gates() * hidden, vocab])
        ));
        wih0.dot(&emb.t())
    };
    ours.insert("weight_ih_l0".into(), wih0.into_dyn());
    let gh = kind.gates() * hidden;
    for l in 0..layers {
        for w in ["weight_ih", "weight_hh"] {
            if l > 0 || w == "weight_hh" {
                let k = format!("{prefix}{w}_l{l}");
                ours.insert(format!("{w}_l{l}"), t.get(&k).ok_or_else(|| Error::Missing(k.clone()))?.clone());
            }
        }
        let (bi, bh) = (format!("{prefix}bias_ih_l{l}"), format!("{prefix}bias_hh_l{l}"));
        match (t.get(&bi), t.get(&bh)) {
            (Some(a), Some(b)) => {
                ours.insert(format!("bias_ih_l{l}"), a.clone());
                ours.insert(format!("bias_hh_l{l}"), b.clone());
            }
            (None, None) => {
                if l == 0 {
                    notes.push(format!("{prefix} has no biases (bias=False): zeros"));
                }
                ours.insert(format!("bias_ih_l{l}"), ArrayD::zeros(vec![gh]));
                ours.insert(format!("bias_hh_l{l}"), ArrayD::zeros(vec![gh]));
            }
            (Some(_), None) => return Err(Error::Missing(format!("{bh} (while {bi} is present)"))),
            (None, Some(_)) => return Err(Error::Missing(format!("{bi} (while {bh} is present)"))),
        }
    }
    let config = ModelConfig { cell: kind, vocab, hidden, layers, dropout: 0.0 };
    let rnn = recurrent_from_tensors::<f32>(&config.recurrent(), &ours, "")?;
    let head = Linear::from_weights(hw.mapv(|v| v as f32), hb.mapv(|v| v as f32));
    notes.insert(0, format!("{kind} {layers}×{hidden} from {prefix}*, output layer {head_prefix}*"));
    Ok(Imported { model: CharModel::from_parts(config, rnn, head), notes })
}

/// Names PyTorch code gives an `nn.Embedding`.
fn is_embedding_name(k: &str) -> bool {
    k.contains("emb") || k == "encoder.weight" || k.starts_with("wte.")
}
