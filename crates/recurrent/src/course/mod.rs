//! The numpy course "Building your Recurrent Neural Network - Step by Step", function for
//! function: its names, its column layout — `x (n_x, m, T_x)`, states `(n_a, m)`, predictions
//! `(n_y, m)` — its parameter map (`Wax, Waa, Wya, ba, by`; LSTM `Wf, bf, Wi, bi, Wc, bc, Wo, bo,
//! Wy, by`, each gate weight `(n_a, n_a + n_x)` acting on `[a_prev; x_t]`), caches returned by
//! forward and consumed by backward, and its gradient names.
//!
//! The nonlinear part of every step is the library's own cell kernel (`cell::rnn`,
//! `cell::lstm`): only the matrix products are written here, in the course's layout (the kernels
//! see `(m, n_a)` rows, the transpose of the course's columns). The sequence backward passes
//! really walk back through time: the gradient reaching `a⟨t⟩` is `da[:, :, t]` plus what flows
//! back from step `t+1` (and, for the LSTM, the cell-state gradient too).

pub mod lstm;
pub mod mistakes;
pub mod replay;
pub mod rnn;
pub mod simple_rnn;

pub use lstm::{
    lstm_backward, lstm_backward_from, lstm_cell_backward, lstm_cell_forward, lstm_forward, lstm_forward_from,
    LstmCache, LstmCaches, LstmForward,
};
pub use rnn::{rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward, RnnCache, RnnCaches};

use crate::error::{fmt_shape, Error, Result};
use ndarray::{Array2, ArrayD, ArrayView2, Axis};
use std::collections::BTreeMap;

/// The course's `parameters` dictionary: name → 2-d array (biases are `(n, 1)` columns).
pub type Params = BTreeMap<String, Array2<f64>>;

/// The course's `gradients` dictionary: name → array.
pub type Grads = BTreeMap<String, ArrayD<f64>>;

/// The course's `softmax`: `e^(x − max x) / Σ_columns`.
pub fn softmax(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let m = x.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e = x.mapv(|v| (v - m).exp());
    let s = e.sum_axis(Axis(0));
    e / &s
}

/// The course's `sigmoid`: `1 / (1 + e^−x)`.
pub fn sigmoid(x: ArrayView2<'_, f64>) -> Array2<f64> {
    x.mapv(|v| 1.0 / (1.0 + (-v).exp()))
}

/// `parameters[name]`, which must be `(rows, cols)`; `why` explains the sizes in words.
pub(crate) fn param<'a>(p: &'a Params, name: &str, rows: usize, cols: usize, why: &str) -> Result<&'a Array2<f64>> {
    let a =
        p.get(name).ok_or_else(|| Error::Missing(format!("parameters[\"{name}\"] ({})", fmt_shape(&[rows, cols]))))?;
    if a.dim() != (rows, cols) {
        return Err(Error::shape(name, a.shape(), format!("{why} expects {}", fmt_shape(&[rows, cols]))));
    }
    Ok(a)
}

/// Row-major `(m, n)` copy of a course `(n, m)` array: the layout the cell kernels read.
pub(crate) fn rows(a: ArrayView2<'_, f64>) -> Array2<f64> {
    a.t().as_standard_layout().into_owned()
}

/// Adds the column `b (n, 1)` to every column of `a (n, m)`.
pub(crate) fn add_col(mut a: Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    a += b;
    a
}

/// Every array of a gradient map in standard (C) layout, as numpy would hand it back.
pub(crate) fn standard(mut g: Grads) -> Grads {
    for v in g.values_mut() {
        if !v.is_standard_layout() {
            *v = v.as_standard_layout().into_owned();
        }
    }
    g
}

/// `Σ_m` of `(n, m)` as a `(n, 1)` column, like `np.sum(·, axis=1, keepdims=True)`.
pub(crate) fn sum_cols(a: ArrayView2<'_, f64>) -> Array2<f64> {
    a.sum_axis(Axis(1)).insert_axis(Axis(1))
}

/// `recurrent grads --layout course`: a learner's case in the course's names and layout gives the
/// course's gradients. Parameters: `Wax, Waa, ba` (RNN) or `Wf, bf, Wi, bi, Wc, bc, Wo, bo`
/// (LSTM); biases may be `(n,)` or `(n, 1)`, and the output weights (`Wya, by` / `Wy, by`) are
/// optional. The upstream gradient is `da`, the loss's gradient with respect to the hidden
/// states, or `dy`, its gradient with respect to the output's logits `Wya·a⟨t⟩ + by` (`Wy`
/// for the LSTM; `ŷ − y` for the softmax cross-entropy of the course's language model), which
/// needs `Wya, by` and also gives `dWya, dby` (`dWy, dby`); given both, `da` adds to
/// `Wyaᵀ·dy` — the backward of the course's dinosaur-name model. Then either
/// - a sequence: `x (n_x, m, T_x)`, `a0 (n_a, m)`, upstream `da (n_a, m, T)` (or `dy (n_y, m, T)`) for the first
///   `T ≤ T_x` steps (as the course's `lstm_backward` takes `T` from `da`), and for the LSTM
///   optional `c0` and `dc` (the gradient of the last cell state), giving `a`, `dx (n_x, m, T)`,
///   `da0` (and `dc0` when `c0` or `dc` is given) and the weight gradients; or
/// - one step, under the cell functions' names: `xt (n_x, m)`, `a_prev`, (`c_prev`), `da_next`,
///   (`dc_next`), giving `a_next`, `dxt`, `da_prev`, (`dc_prev`) and the weight gradients.
///
/// For a sequence starting from a zero cell state, the gradients of the classic mistakes
/// ([`mistakes`]) come too, as `_NAME.dx`, `_NAME.da0`, … (names starting with `_` are for
/// `scripts/compare_grads.py`'s diagnosis, not to compare).
pub fn grads_for_case(kind: crate::CellKind, case: &crate::interop::Tensors) -> Result<crate::interop::Tensors> {
    use crate::CellKind;
    use ndarray::{Array3, Axis};
    let one_step = ["xt", "a_prev", "da_next"].iter().any(|k| case.contains_key(*k));
    let [xn, a0n, c0n, dan, dcn] =
        if one_step { ["xt", "a_prev", "c_prev", "da_next", "dc_next"] } else { ["x", "a0", "c0", "da", "dc"] };
    // x and da: 3-d for a sequence, 2-d for one step (a sequence of one).
    let seq = |n: &str, rows: &str| -> Result<Array3<f64>> {
        let a = case.get(n).ok_or_else(|| {
            Error::Missing(if one_step {
                format!("{n}: expected ({rows}, m)")
            } else {
                format!("{n}: expected ({rows}, m, T_x)")
            })
        })?;
        let want = if one_step { 2 } else { 3 };
        if a.ndim() != want {
            let what = if one_step {
                format!("it must be 2-d ({rows}, m)")
            } else {
                format!("it must be 3-d ({rows}, m, T_x)")
            };
            return Err(Error::shape(n, a.shape(), what));
        }
        let a = if one_step { a.clone().insert_axis(Axis(2)) } else { a.clone() };
        Ok(a.into_dimensionality().expect("3-d"))
    };
    let state = |n: &str| -> Result<Option<Array2<f64>>> {
        match case.get(n) {
            None => Ok(None),
            Some(a) => a
                .clone()
                .into_dimensionality()
                .map(Some)
                .map_err(|_| Error::shape(n, a.shape(), "it must be 2-d (n_a, m)")),
        }
    };
    let mut p = Params::new();
    for (k, v) in case {
        let v2 = match v.ndim() {
            1 => v.clone().into_shape_with_order((v.len(), 1)).expect("column"),
            2 => v.clone().into_dimensionality().expect("2-d"),
            _ => continue,
        };
        p.insert(k.clone(), v2);
    }
    let x = seq(xn, "n_x")?;
    let a0 = state(a0n)?.ok_or_else(|| Error::Missing(format!("{a0n}: expected (n_a, m)")))?;
    let n_a = a0.nrows();
    let (wy, by) = if kind == CellKind::Lstm { ("Wy", "by") } else { ("Wya", "by") };
    // dy: the output layer's backward first, dWya = Σ_t dy⟨t⟩·a⟨t⟩ᵀ (once a is known),
    // dby = Σ_t Σ_m dy⟨t⟩, and its part of da, Wyaᵀ·dy⟨t⟩.
    let dyn_ = if one_step { "dyt" } else { "dy" };
    let dy = match case.get(dyn_).or_else(|| case.get("dy")) {
        None => None,
        Some(_) => {
            let name = if case.contains_key(dyn_) { dyn_ } else { "dy" };
            let dy = seq(name, "n_y")?;
            let w = p.get(wy).ok_or_else(|| {
                Error::Missing(format!("{wy} (n_y, n_a) and {by} (n_y, 1): {name} needs the output layer"))
            })?;
            if !p.contains_key(by) {
                return Err(Error::Missing(format!("{by} (n_y, 1): {name} needs the output layer")));
            }
            if w.ncols() != n_a || dy.shape()[0] != w.nrows() || dy.shape()[1] != a0.ncols() {
                return Err(Error::shape(
                    name,
                    dy.shape(),
                    format!(
                        "it must be ({}, {}, T): {wy} is {}",
                        w.nrows(),
                        a0.ncols(),
                        crate::error::fmt_shape(w.shape())
                    ),
                ));
            }
            Some(dy)
        }
    };
    let da = match (&dy, case.contains_key(dan)) {
        (Some(dy), given) => {
            let w = &p[wy];
            let mut da = Array3::<f64>::zeros((n_a, dy.shape()[1], dy.shape()[2]));
            for t in 0..dy.shape()[2] {
                da.index_axis_mut(Axis(2), t).assign(&w.t().dot(&dy.index_axis(Axis(2), t)));
            }
            if given {
                let extra = seq(dan, "n_a")?;
                if extra.shape() != da.shape() {
                    return Err(Error::shape(
                        dan,
                        extra.shape(),
                        format!("it must match Wyaᵀ·dy: {}", crate::error::fmt_shape(da.shape())),
                    ));
                }
                da += &extra;
            }
            da
        }
        (None, _) => seq(dan, "n_a")?,
    };
    let (c0, dc) = (state(c0n)?, state(dcn)?);
    if !p.contains_key(wy) {
        p.insert(wy.into(), Array2::zeros((1, n_a)));
        p.insert(by.into(), Array2::zeros((1, 1)));
    }
    let plain = !one_step && c0.is_none() && dc.is_none();
    let (a, mut g, wrong) = match kind {
        CellKind::Rnn => {
            if let Some(n) = [c0n, dcn].into_iter().find(|n| case.contains_key(*n)) {
                return Err(Error::Config(format!(
                    "{n} is given but an rnn has no cell state: remove it, or use --cell lstm"
                )));
            }
            let (a, _, caches) = rnn_forward(x.view(), a0.view(), &p)?;
            let wrong = if one_step { Vec::new() } else { mistakes::rnn(da.view(), &caches)? };
            (a, rnn_backward(da.view(), &caches)?, wrong)
        }
        CellKind::Lstm => {
            let (a, _, _, caches) = lstm::lstm_forward_from(x.view(), a0.view(), c0.as_ref().map(|c| c.view()), &p)?;
            let mut g = lstm::lstm_backward_from(da.view(), dc.as_ref().map(|d| d.view()), &caches)?;
            if plain {
                g.remove("dc0");
            }
            let wrong = if plain { mistakes::lstm(da.view(), &caches)? } else { Vec::new() };
            (a, g, wrong)
        }
        CellKind::Gru => {
            return Err(Error::Config(
                "the course layout has rnn and lstm only: use --cell rnn or lstm, or the PyTorch layout for gru".into(),
            ))
        }
    };
    if one_step {
        let squeeze = |a: ndarray::ArrayD<f64>| a.index_axis_move(Axis(2), 0);
        for (from, to) in [("dx", "dxt"), ("da0", "da_prev"), ("dc0", "dc_prev")] {
            if let Some(v) = g.remove(from) {
                g.insert(to.into(), if from == "dx" { squeeze(v) } else { v });
            }
        }
    }
    let mut out: crate::interop::Tensors = g.into_iter().collect();
    if let Some(dy) = &dy {
        let (n_y, t_len) = (dy.shape()[0], dy.shape()[2]);
        let mut dw = Array2::<f64>::zeros((n_y, n_a));
        let mut db = Array2::<f64>::zeros((n_y, 1));
        for t in 0..t_len {
            let dyt = dy.index_axis(Axis(2), t);
            dw += &dyt.dot(&a.index_axis(Axis(2), t).t());
            db += &sum_cols(dyt);
        }
        out.insert(format!("d{wy}"), dw.into_dyn());
        out.insert(format!("d{by}"), db.into_dyn());
    }
    for (name, grads) in wrong {
        out.extend(grads.into_iter().map(|(k, v)| (format!("_{name}.{k}"), v)));
    }
    if one_step {
        out.insert("a_next".into(), a.index_axis_move(Axis(2), 0).into_dyn());
    } else {
        out.insert("a".into(), a.into_dyn());
    }
    Ok(out)
}
