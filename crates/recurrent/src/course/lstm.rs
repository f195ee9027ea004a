//! `lstm_cell_forward`, `lstm_forward`, `lstm_cell_backward`, `lstm_backward` in the course's
//! layout. With `concat = [a_prev; xt]`: `Γf = σ(Wf concat + bf)`, `Γu = σ(Wi concat + bi)`,
//! `c̃ = tanh(Wc concat + bc)`, `Γo = σ(Wo concat + bo)`, `c = Γf ⊙ c_prev + Γu ⊙ c̃`,
//! `a = Γo ⊙ tanh(c)`, `ŷ = softmax(Wy a + by)`. In PyTorch's names Γu is `i`, c̃ is `g`, and
//! `Wf = [W_hf | W_if]`, `bf = b_if + b_hf`; the gate arithmetic is the library's LSTM kernel.

use super::{add_col, param, rows, softmax, standard, sum_cols, Grads, Params};
use crate::cell::lstm as kernel;
use crate::error::{fmt_shape, Error, Result};
use ndarray::{concatenate, s, Array2, Array3, ArrayView2, ArrayView3, Axis};

/// What `lstm_cell_forward` keeps: `(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt,
/// parameters)`, every array `(n_a, m)` but `xt (n_x, m)`.
#[derive(Clone, Debug)]
pub struct LstmCache {
    /// The new hidden state a⟨t⟩.
    pub a_next: Array2<f64>,
    /// The new cell state c⟨t⟩.
    pub c_next: Array2<f64>,
    /// The previous hidden state a⟨t−1⟩.
    pub a_prev: Array2<f64>,
    /// The previous cell state c⟨t−1⟩.
    pub c_prev: Array2<f64>,
    /// Forget gate Γf.
    pub ft: Array2<f64>,
    /// Update gate Γu (PyTorch's i).
    pub it: Array2<f64>,
    /// Candidate c̃ (PyTorch's g).
    pub cct: Array2<f64>,
    /// Output gate Γo.
    pub ot: Array2<f64>,
    /// The input x⟨t⟩.
    pub xt: Array2<f64>,
    /// The parameters the step ran with.
    pub parameters: Params,
}

/// What `lstm_forward` returns as `caches`: one cache per step and `x`.
#[derive(Clone, Debug)]
pub struct LstmCaches {
    /// One per time step.
    pub caches: Vec<LstmCache>,
    /// `(n_x, m, T_x)`.
    pub x: Array3<f64>,
}

const GATES: [(&str, &str); 4] = [("Wi", "bi"), ("Wf", "bf"), ("Wc", "bc"), ("Wo", "bo")]; // PyTorch order i, f, g, o

fn sizes(p: &Params, n_x: usize, what_x: &str, x_shape: &[usize]) -> Result<(usize, usize)> {
    let wf = p.get("Wf").ok_or_else(|| Error::Missing("parameters[\"Wf\"] (n_a, n_a + n_x)".into()))?;
    let n_a = wf.nrows();
    if wf.ncols() != n_a + n_x {
        let n_x_w = wf.ncols().saturating_sub(n_a);
        return Err(Error::shape(
            what_x,
            x_shape,
            format!("Wf {} expects n_x = {n_x_w} (Wf is (n_a, n_a + n_x))", fmt_shape(wf.shape())),
        ));
    }
    for (w, b) in GATES {
        param(p, w, n_a, n_a + n_x, "(n_a, n_a + n_x) from Wf")?;
        param(p, b, n_a, 1, "n_a from Wf")?;
    }
    let n_y = p.get("Wy").map_or(0, |w| w.nrows());
    param(p, "Wy", n_y, n_a, "n_a from Wf")?;
    param(p, "by", n_y, 1, "n_y from Wy")?;
    Ok((n_a, n_y))
}

/// One step. `xt (n_x, m)`, `a_prev`, `c_prev (n_a, m)` → `a_next`, `c_next (n_a, m)`,
/// `yt_pred (n_y, m)`, cache.
pub fn lstm_cell_forward(
    xt: ArrayView2<'_, f64>,
    a_prev: ArrayView2<'_, f64>,
    c_prev: ArrayView2<'_, f64>,
    parameters: &Params,
) -> Result<(Array2<f64>, Array2<f64>, Array2<f64>, LstmCache)> {
    let p = parameters;
    let (n_a, _) = sizes(p, xt.nrows(), "xt", xt.shape())?;
    let m = xt.ncols();
    for (name, a) in [("a_prev", a_prev.shape().to_vec()), ("c_prev", c_prev.shape().to_vec())] {
        if a != [n_a, m] {
            return Err(Error::shape(name, &a, format!("(n_a, m) = ({n_a}, {m}) is expected")));
        }
    }
    let concat = concatenate(Axis(0), &[a_prev.view(), xt.view()]).expect("same m"); // (n_a + n_x, m)
                                                                                     // Pre-activations as kernel rows (m, 4·n_a) = [i | f | g | o]; the recurrent part is
                                                                                     // already inside `concat`, so the kernel's separate recurrent projection is zero.
    let pre: Vec<Array2<f64>> = GATES.iter().map(|(w, b)| rows(add_col(p[*w].dot(&concat), &p[*b]).view())).collect();
    let mut gates = concatenate(Axis(1), &[pre[0].view(), pre[1].view(), pre[2].view(), pre[3].view()])
        .expect("(m, 4n_a)")
        .as_standard_layout()
        .into_owned();
    let (mut c, mut tc, mut h) = (Array2::zeros((m, n_a)), Array2::zeros((m, n_a)), Array2::zeros((m, n_a)));
    let cp = rows(c_prev);
    let sl = |a: &Array2<f64>| a.as_slice().expect("std").to_vec();
    kernel::forward_step(
        gates.as_slice_mut().expect("std"),
        &sl(&cp),
        c.as_slice_mut().expect("std"),
        tc.as_slice_mut().expect("std"),
        h.as_slice_mut().expect("std"),
        n_a,
    );
    let gate = |k: usize| gates.slice(s![.., k * n_a..(k + 1) * n_a]).t().as_standard_layout().into_owned();
    let (a_next, c_next) = (h.t().as_standard_layout().into_owned(), c.t().as_standard_layout().into_owned());
    let yt = softmax(add_col(p["Wy"].dot(&a_next), &p["by"]).view());
    let cache = LstmCache {
        a_next: a_next.clone(),
        c_next: c_next.clone(),
        a_prev: a_prev.to_owned(),
        c_prev: c_prev.to_owned(),
        it: gate(0),
        ft: gate(1),
        cct: gate(2),
        ot: gate(3),
        xt: xt.to_owned(),
        parameters: p.clone(),
    };
    Ok((a_next, c_next, yt, cache))
}

/// What [`lstm_forward`] returns: `a`, `y`, `c` and the caches.
pub type LstmForward = (Array3<f64>, Array3<f64>, Array3<f64>, LstmCaches);

/// All steps from `a0` and a zero cell state. `x (n_x, m, T_x)` → `a (n_a, m, T_x)`,
/// `y (n_y, m, T_x)`, `c (n_a, m, T_x)`, caches.
pub fn lstm_forward(x: ArrayView3<'_, f64>, a0: ArrayView2<'_, f64>, parameters: &Params) -> Result<LstmForward> {
    lstm_forward_from(x, a0, None, parameters)
}

/// [`lstm_forward`] from a given cell state `c0 (n_a, m)` (the course starts from zeros).
pub fn lstm_forward_from(
    x: ArrayView3<'_, f64>,
    a0: ArrayView2<'_, f64>,
    c0: Option<ArrayView2<'_, f64>>,
    parameters: &Params,
) -> Result<LstmForward> {
    let (n_x, m, t_x) = x.dim();
    let (n_a, n_y) = sizes(parameters, n_x, "x", x.shape())?;
    let (mut a, mut y, mut c) =
        (Array3::zeros((n_a, m, t_x)), Array3::zeros((n_y, m, t_x)), Array3::zeros((n_a, m, t_x)));
    let mut caches = Vec::with_capacity(t_x);
    let c_start = c0.map_or_else(|| Array2::zeros((n_a, m)), |c| c.to_owned());
    let (mut a_next, mut c_next) = (a0.to_owned(), c_start);
    for t in 0..t_x {
        let (an, cn, yt, cache) = lstm_cell_forward(x.slice(s![.., .., t]), a_next.view(), c_next.view(), parameters)?;
        a.slice_mut(s![.., .., t]).assign(&an);
        c.slice_mut(s![.., .., t]).assign(&cn);
        y.slice_mut(s![.., .., t]).assign(&yt);
        caches.push(cache);
        (a_next, c_next) = (an, cn);
    }
    Ok((a, y, c, LstmCaches { caches, x: x.to_owned() }))
}

/// One step back. `da_next`, `dc_next (n_a, m)` → `dxt (n_x, m)`, `da_prev`, `dc_prev (n_a, m)`,
/// `dWf, dWi, dWc, dWo (n_a, n_a + n_x)`, `dbf, dbi, dbc, dbo (n_a, 1)`.
pub fn lstm_cell_backward(
    da_next: ArrayView2<'_, f64>,
    dc_next: ArrayView2<'_, f64>,
    cache: &LstmCache,
) -> Result<Grads> {
    let n_a = cache.a_next.nrows();
    for (name, d) in [("da_next", da_next.shape().to_vec()), ("dc_next", dc_next.shape().to_vec())] {
        if d != cache.a_next.shape() {
            return Err(Error::shape(name, &d, format!("a_next is {}", fmt_shape(cache.a_next.shape()))));
        }
    }
    let p = &cache.parameters;
    let acts = concatenate(Axis(1), &[cache.it.t(), cache.ft.t(), cache.cct.t(), cache.ot.t()])
        .expect("(m, 4n_a)")
        .as_standard_layout()
        .into_owned();
    let tanh_c = rows(cache.c_next.mapv(f64::tanh).view());
    let (dh, mut dc, cp) = (rows(da_next), rows(dc_next), rows(cache.c_prev.view()));
    let mut dpre = acts; // the kernel turns the activations into pre-activation gradients
    let sl = |a: &Array2<f64>| a.as_slice().expect("std").to_vec();
    kernel::backward_step(
        &sl(&dh),
        dc.as_slice_mut().expect("std"),
        dpre.as_slice_mut().expect("std"),
        &sl(&cp),
        &sl(&tanh_c),
        n_a,
    );
    let concat = concatenate(Axis(0), &[cache.a_prev.view(), cache.xt.view()]).expect("same m");
    let mut g = Grads::new();
    let mut dconcat = Array2::<f64>::zeros(concat.raw_dim());
    for (k, (w, b)) in GATES.iter().enumerate() {
        let dz = dpre.slice(s![.., k * n_a..(k + 1) * n_a]).t().as_standard_layout().into_owned(); // (n_a, m)
        g.insert(format!("d{w}"), dz.dot(&concat.t()).into_dyn()); // (n_a, m)(m, n_a + n_x)
        g.insert(format!("d{b}"), sum_cols(dz.view()).into_dyn());
        dconcat += &p[*w].t().dot(&dz); // (n_a + n_x, n_a)(n_a, m)
    }
    g.insert("da_prev".into(), dconcat.slice(s![..n_a, ..]).to_owned().into_dyn());
    g.insert("dxt".into(), dconcat.slice(s![n_a.., ..]).to_owned().into_dyn());
    g.insert("dc_prev".into(), dc.t().as_standard_layout().into_owned().into_dyn());
    Ok(standard(g))
}

/// Back through time, as the course's `lstm_backward`: `da (n_a, m, T)`, the upstream gradient
/// of `a⟨t⟩` for the first `T ≤ T_x` steps (the course takes `T` from `da`) → `dx (n_x, m, T)`,
/// `da0 (n_a, m)`, and the eight weight and bias gradients summed over the steps: the gradients
/// of `Σ_{t<T} a⟨t⟩ ⊙ da[:, :, t]` (later steps cannot change earlier ones). At each step the
/// gradient reaching `a⟨t⟩` is `da[:, :, t]` plus `da_prev` from step `t+1`, and the cell-state
/// gradient `dc_prev` flows back as well.
pub fn lstm_backward(da: ArrayView3<'_, f64>, caches: &LstmCaches) -> Result<Grads> {
    let mut g = lstm_backward_from(da, None, caches)?;
    g.remove("dc0");
    Ok(g)
}

/// [`lstm_backward`] with an upstream gradient `dc (n_a, m)` of the last cell state
/// `c⟨T−1⟩` too (the course's `dc_next` of a one-step sequence); also returns `dc0`, the gradient
/// of the initial cell state.
pub fn lstm_backward_from(
    da: ArrayView3<'_, f64>,
    dc: Option<ArrayView2<'_, f64>>,
    caches: &LstmCaches,
) -> Result<Grads> {
    let (n_x, m, t_x) = caches.x.dim();
    let n_a = caches.caches.first().map_or(0, |c| c.a_next.nrows());
    let t = da.dim().2;
    if (da.dim().0, da.dim().1) != (n_a, m) || t > t_x || t == 0 {
        return Err(Error::shape(
            "da",
            da.shape(),
            format!("the forward pass had a of shape ({n_a}, {m}, {t_x}); give ({n_a}, {m}, T) for the first T ≤ {t_x} steps"),
        ));
    }
    if let Some(dc) = dc.filter(|d| d.dim() != (n_a, m)) {
        return Err(Error::shape("dc", dc.shape(), format!("c is ({n_a}, {m}) at every step")));
    }
    let mut dx = Array3::zeros((n_x, m, t));
    let mut sums: Grads = Grads::new();
    let mut da_prevt = Array2::zeros((n_a, m));
    let mut dc_prevt = dc.map_or_else(|| Array2::zeros((n_a, m)), |d| d.to_owned());
    for t in (0..t).rev() {
        let g = lstm_cell_backward((&da.slice(s![.., .., t]) + &da_prevt).view(), dc_prevt.view(), &caches.caches[t])?;
        dx.slice_mut(s![.., .., t]).assign(&g["dxt"]);
        for (w, b) in GATES {
            for k in [format!("d{w}"), format!("d{b}")] {
                let e = sums.entry(k.clone()).or_insert_with(|| ndarray::ArrayD::zeros(g[&k].shape()));
                *e += &g[&k];
            }
        }
        da_prevt = g["da_prev"].clone().into_dimensionality().expect("2-d");
        dc_prevt = g["dc_prev"].clone().into_dimensionality().expect("2-d");
    }
    sums.insert("dx".into(), dx.into_dyn());
    sums.insert("da0".into(), da_prevt.into_dyn());
    sums.insert("dc0".into(), dc_prevt.into_dyn());
    Ok(standard(sums))
}
