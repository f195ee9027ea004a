//! The classic mistakes of a hand-written backward through time, computed on purpose so that
//! `recurrent grads --layout course` can hand them to `scripts/compare_grads.py`, which names
//! the mistake whose numbers a learner's gradients match:
//! - `no_da_prev`: the gradient flowing back from step t+1 into `a⟨t⟩` is dropped, so each step
//!   sees only `da[:, :, t]`;
//! - `no_dc_prev` (LSTM): the cell-state gradient is not carried back (`dc_next = 0` each step);
//! - `no_recurrence` (LSTM): neither is carried (what the course's earlier versions printed).
//!
//! Each agrees with the true gradient only at the last step; they differ from each other before.

use super::lstm::{lstm_cell_backward, LstmCaches};
use super::rnn::{rnn_cell_backward, RnnCaches};
use super::{standard, Grads};
use crate::error::Result;
use ndarray::{s, Array2, Array3, ArrayD, ArrayView3};

/// `dx` and `da0` and the summed weight gradients of a walk back from step `T − 1` in which the
/// step's own backward `step(t, da_in, dc_in)` gets `da[:, :, t]` plus, when `carry_da`, the
/// `da_prev` of step t+1, and, when `carry_dc`, its `dc_prev`.
fn walk(
    da: ArrayView3<'_, f64>,
    n_x: usize,
    carry_da: bool,
    carry_dc: bool,
    mut step: impl FnMut(usize, Array2<f64>, Array2<f64>) -> Result<Grads>,
) -> Result<Grads> {
    let (n_a, m, t_x) = da.dim();
    let mut dx = Array3::zeros((n_x, m, t_x));
    let mut sums = Grads::new();
    let (mut da_prev, mut dc_prev) = (Array2::zeros((n_a, m)), Array2::zeros((n_a, m)));
    for t in (0..t_x).rev() {
        let mut da_in = da.slice(s![.., .., t]).to_owned();
        if carry_da {
            da_in += &da_prev;
        }
        let dc_in = if carry_dc { dc_prev.clone() } else { Array2::zeros((n_a, m)) };
        let g = step(t, da_in, dc_in)?;
        dx.slice_mut(s![.., .., t]).assign(&g["dxt"]);
        for (k, v) in g.iter().filter(|(k, _)| k.starts_with("dW") || k.starts_with("db")) {
            *sums.entry(k.clone()).or_insert_with(|| ArrayD::zeros(v.shape())) += v;
        }
        da_prev = g["da_prev"].clone().into_dimensionality().expect("2-d");
        if let Some(dc) = g.get("dc_prev") {
            dc_prev = dc.clone().into_dimensionality().expect("2-d");
        }
    }
    sums.insert("dx".into(), dx.into_dyn());
    sums.insert("da0".into(), da_prev.into_dyn());
    Ok(standard(sums))
}

/// The RNN's mistake: `no_da_prev`, by name.
pub fn rnn(da: ArrayView3<'_, f64>, caches: &RnnCaches) -> Result<Vec<(&'static str, Grads)>> {
    let n_x = caches.x.dim().0;
    let g = walk(da, n_x, false, false, |t, da_in, _| rnn_cell_backward(da_in.view(), &caches.caches[t]))?;
    Ok(vec![("no_da_prev", g)])
}

/// The LSTM's three mistakes, by name.
pub fn lstm(da: ArrayView3<'_, f64>, caches: &LstmCaches) -> Result<Vec<(&'static str, Grads)>> {
    let n_x = caches.x.dim().0;
    let mut out = Vec::new();
    for (name, carry_da, carry_dc) in
        [("no_da_prev", false, true), ("no_dc_prev", true, false), ("no_recurrence", false, false)]
    {
        let g = walk(da, n_x, carry_da, carry_dc, |t, da_in, dc_in| {
            lstm_cell_backward(da_in.view(), dc_in.view(), &caches.caches[t])
        })?;
        out.push((name, g));
    }
    Ok(out)
}
