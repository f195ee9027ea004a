//! `rnn_cell_forward`, `rnn_forward`, `rnn_cell_backward`, `rnn_backward` in the course's layout:
//! `a⟨t⟩ = tanh(Wax x⟨t⟩ + Waa a⟨t−1⟩ + ba)`, `ŷ⟨t⟩ = softmax(Wya a⟨t⟩ + by)`.

use super::{add_col, param, rows, softmax, standard, sum_cols, Grads, Params};
use crate::cell::rnn as kernel;
use crate::error::{Error, Result};
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3};

/// What `rnn_cell_forward` keeps for `rnn_cell_backward`: `(a_next, a_prev, xt, parameters)`.
#[derive(Clone, Debug)]
pub struct RnnCache {
    /// `(n_a, m)`.
    pub a_next: Array2<f64>,
    /// `(n_a, m)`.
    pub a_prev: Array2<f64>,
    /// `(n_x, m)`.
    pub xt: Array2<f64>,
    /// The parameters used.
    pub parameters: Params,
}

/// What `rnn_forward` returns as `caches`: one cache per step and `x`.
#[derive(Clone, Debug)]
pub struct RnnCaches {
    /// One per time step.
    pub caches: Vec<RnnCache>,
    /// `(n_x, m, T_x)`.
    pub x: Array3<f64>,
}

/// Sizes `(n_a, n_x, n_y)` from `Waa`, `Wax`, `Wya`, checking the five parameters and `x_rows`.
fn sizes(p: &Params, n_x: usize, what_x: &str, x_shape: &[usize]) -> Result<(usize, usize, usize)> {
    let waa = p.get("Waa").ok_or_else(|| Error::Missing("parameters[\"Waa\"] (n_a, n_a)".into()))?;
    let n_a = waa.nrows();
    let wax = param(p, "Wax", n_a, p.get("Wax").map_or(n_x, |w| w.ncols()), "Waa (n_a, n_a) with this n_a")?;
    if wax.ncols() != n_x {
        return Err(Error::shape(what_x, x_shape, format!("Wax expects n_x = {}", wax.ncols())));
    }
    param(p, "Waa", n_a, n_a, "a square Waa")?;
    param(p, "ba", n_a, 1, "n_a = Waa's rows")?;
    let n_y = p.get("Wya").map_or(0, |w| w.nrows());
    param(p, "Wya", n_y, n_a, "n_a = Waa's rows")?;
    param(p, "by", n_y, 1, "n_y = Wya's rows")?;
    Ok((n_a, n_x, n_y))
}

/// One step. `xt (n_x, m)`, `a_prev (n_a, m)` → `a_next (n_a, m)`, `yt_pred (n_y, m)`, cache.
pub fn rnn_cell_forward(
    xt: ArrayView2<'_, f64>,
    a_prev: ArrayView2<'_, f64>,
    parameters: &Params,
) -> Result<(Array2<f64>, Array2<f64>, RnnCache)> {
    let (n_a, _, _) = sizes(parameters, xt.nrows(), "xt", xt.shape())?;
    if a_prev.dim() != (n_a, xt.ncols()) {
        return Err(Error::shape("a_prev", a_prev.shape(), format!("(n_a, m) = ({n_a}, {}) is expected", xt.ncols())));
    }
    let p = parameters;
    // The whole pre-activation, then the library's RNN kernel: rows (m, n_a) for the kernel.
    let pre = rows((add_col(p["Wax"].dot(&xt), &p["ba"]) + p["Waa"].dot(&a_prev)).view());
    let mut h = Array2::zeros(pre.raw_dim());
    kernel::forward_step(pre.as_slice().expect("std"), h.as_slice_mut().expect("std"));
    let a_next = h.t().as_standard_layout().into_owned();
    let yt_pred = softmax(add_col(p["Wya"].dot(&a_next), &p["by"]).view());
    let cache =
        RnnCache { a_next: a_next.clone(), a_prev: a_prev.to_owned(), xt: xt.to_owned(), parameters: p.clone() };
    Ok((a_next, yt_pred, cache))
}

/// All steps. `x (n_x, m, T_x)`, `a0 (n_a, m)` → `a (n_a, m, T_x)`, `y_pred (n_y, m, T_x)`, caches.
pub fn rnn_forward(
    x: ArrayView3<'_, f64>,
    a0: ArrayView2<'_, f64>,
    parameters: &Params,
) -> Result<(Array3<f64>, Array3<f64>, RnnCaches)> {
    let (n_x, m, t_x) = x.dim();
    let (n_a, _, n_y) = sizes(parameters, n_x, "x", x.shape())?;
    let mut a = Array3::zeros((n_a, m, t_x));
    let mut y = Array3::zeros((n_y, m, t_x));
    let mut caches = Vec::with_capacity(t_x);
    let mut a_next = a0.to_owned();
    for t in 0..t_x {
        let (an, yt, c) = rnn_cell_forward(x.slice(s![.., .., t]), a_next.view(), parameters)?;
        a.slice_mut(s![.., .., t]).assign(&an);
        y.slice_mut(s![.., .., t]).assign(&yt);
        caches.push(c);
        a_next = an;
    }
    Ok((a, y, RnnCaches { caches, x: x.to_owned() }))
}

/// One step back. `da_next (n_a, m)` → `dxt (n_x, m)`, `da_prev (n_a, m)`, `dWax (n_a, n_x)`,
/// `dWaa (n_a, n_a)`, `dba (n_a, 1)`.
pub fn rnn_cell_backward(da_next: ArrayView2<'_, f64>, cache: &RnnCache) -> Result<Grads> {
    if da_next.dim() != cache.a_next.dim() {
        return Err(Error::shape(
            "da_next",
            da_next.shape(),
            format!("a_next is {}", crate::error::fmt_shape(cache.a_next.shape())),
        ));
    }
    let p = &cache.parameters;
    // dtanh (m, n_a) = da_next ⊙ (1 − a_next²), from the library's kernel; back to (n_a, m).
    let (dh, h) = (rows(da_next), rows(cache.a_next.view()));
    let mut dpre = Array2::zeros(dh.raw_dim());
    kernel::backward_step(dh.as_slice().expect("std"), h.as_slice().expect("std"), dpre.as_slice_mut().expect("std"));
    let dtanh = dpre.t();
    let mut g = Grads::new();
    g.insert("dxt".into(), p["Wax"].t().dot(&dtanh).into_dyn()); // (n_x, n_a)(n_a, m)
    g.insert("da_prev".into(), p["Waa"].t().dot(&dtanh).into_dyn()); // (n_a, n_a)(n_a, m)
    g.insert("dWax".into(), dtanh.dot(&cache.xt.t()).into_dyn()); // (n_a, m)(m, n_x)
    g.insert("dWaa".into(), dtanh.dot(&cache.a_prev.t()).into_dyn()); // (n_a, m)(m, n_a)
    g.insert("dba".into(), sum_cols(dtanh).into_dyn()); // (n_a, 1)
    Ok(standard(g))
}

/// Back through time. `da (n_a, m, T)`, the upstream gradient of `a⟨t⟩` for the first
/// `T ≤ T_x` steps (the course takes `T` from `da`) → `dx (n_x, m, T)`, `da0 (n_a, m)`, `dWax`,
/// `dWaa`, `dba` summed over the steps.
pub fn rnn_backward(da: ArrayView3<'_, f64>, caches: &RnnCaches) -> Result<Grads> {
    let (n_x, m, t_x) = caches.x.dim();
    let n_a = caches.caches.first().map_or(0, |c| c.a_next.nrows());
    let t_x_given = t_x;
    let t_x = da.dim().2;
    if (da.dim().0, da.dim().1) != (n_a, m) || t_x > t_x_given || t_x == 0 {
        return Err(Error::shape(
            "da",
            da.shape(),
            format!("the forward pass had a of shape ({n_a}, {m}, {t_x_given}); give ({n_a}, {m}, T) for the first T ≤ {t_x_given} steps"),
        ));
    }
    let mut dx = Array3::zeros((n_x, m, t_x));
    let (mut dwax, mut dwaa, mut dba) = (Array2::zeros((n_a, n_x)), Array2::zeros((n_a, n_a)), Array2::zeros((n_a, 1)));
    let mut da_prevt = Array2::zeros((n_a, m));
    for t in (0..t_x).rev() {
        // Two paths reach a⟨t⟩: the upstream da[:, :, t] and the recurrence from step t+1.
        let g = rnn_cell_backward((&da.slice(s![.., .., t]) + &da_prevt).view(), &caches.caches[t])?;
        dx.slice_mut(s![.., .., t]).assign(&g["dxt"]);
        dwax += &g["dWax"];
        dwaa += &g["dWaa"];
        dba += &g["dba"];
        da_prevt = g["da_prev"].clone().into_dimensionality().expect("2-d");
    }
    let mut out = Grads::new();
    out.insert("dx".into(), dx.into_dyn());
    out.insert("da0".into(), da_prevt.into_dyn());
    out.insert("dWax".into(), dwax.into_dyn());
    out.insert("dWaa".into(), dwaa.into_dyn());
    out.insert("dba".into(), dba.into_dyn());
    Ok(standard(out))
}
