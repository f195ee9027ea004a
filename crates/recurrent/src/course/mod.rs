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
    let a = p
        .get(name)
        .ok_or_else(|| Error::Missing(format!("parameters[\"{name}\"] ({})", fmt_shape(&[rows, cols]))))?;
    if a.dim() != (rows, cols) {
        return Err(Error::shape(
            name,
            a.shape(),
            format!("{why} expects {}", fmt_shape(&[rows, cols])),
        ));
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

/// `Σ_m` of `(n, m)` as a `(n, 1)` column, like `np.sum(·, axis=1, keepdims=True)`.
pub(crate) fn sum_cols(a: ArrayView2<'_, f64>) -> Array2<f64> {
    a.sum_axis(Axis(1)).insert_axis(Axis(1))
}
