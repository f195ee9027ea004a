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
pub mod replay;
pub mod rnn;
pub mod simple_rnn;

pub use lstm::{lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward, LstmCache, LstmCaches};
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

/// `recurrent grads --layout course`: a learner's case in the course's names and layout —
/// `Wax, Waa, ba` (RNN) or `Wf, bf, Wi, bi, Wc, bc, Wo, bo` (LSTM), `x (n_x, m, T_x)`, `a0 (n_a,
/// m)`, upstream `da (n_a, m, T_x)` — gives `a` and the course's gradients: `dx, da0, dWax, dWaa,
/// dba`, or `dx, da0, dWf, dbf, dWi, dbi, dWc, dbc, dWo, dbo`. Biases may be `(n,)` or `(n, 1)`;
/// the output weights (`Wya, by` / `Wy, by`) are optional, since backward does not use them.
pub fn grads_for_case(kind: crate::CellKind, case: &crate::interop::Tensors) -> Result<crate::interop::Tensors> {
    use crate::CellKind;
    let get3 = |n: &str, why: &str| -> Result<ndarray::Array3<f64>> {
        let a = case.get(n).ok_or_else(|| Error::Missing(format!("{n}: expected {why}")))?;
        a.clone().into_dimensionality().map_err(|_| Error::shape(n, a.shape(), format!("it must be 3-d {why}")))
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
    let x = get3("x", "(n_x, m, T_x)")?;
    let a0 = p.get("a0").cloned().ok_or_else(|| Error::Missing("a0: expected (n_a, m)".into()))?;
    let da = get3("da", "(n_a, m, T_x)")?;
    let n_a = a0.nrows();
    let (wy, by) = if kind == CellKind::Lstm { ("Wy", "by") } else { ("Wya", "by") };
    if !p.contains_key(wy) {
        p.insert(wy.into(), Array2::zeros((1, n_a)));
        p.insert(by.into(), Array2::zeros((1, 1)));
    }
    let (a, g) = match kind {
        CellKind::Rnn => {
            let (a, _, caches) = rnn_forward(x.view(), a0.view(), &p)?;
            (a, rnn_backward(da.view(), &caches)?)
        }
        CellKind::Lstm => {
            let (a, _, _, caches) = lstm_forward(x.view(), a0.view(), &p)?;
            (a, lstm_backward(da.view(), &caches)?)
        }
        CellKind::Gru => {
            return Err(Error::Config(
                "the course layout has rnn and lstm only: use --cell rnn or lstm, or the PyTorch layout for gru".into(),
            ))
        }
    };
    let mut out: crate::interop::Tensors = g.into_iter().collect();
    out.insert("a".into(), a.into_dyn());
    Ok(out)
}
