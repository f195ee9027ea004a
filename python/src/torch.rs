//! `recurrent._core.TorchStack`: the library's [`Recurrent`] stack (PyTorch's `nn.RNN` /
//! `nn.LSTM` / `nn.GRU`, its forward and its hand-written BPTT) for `recurrent.torch`, in
//! float32 or float64.
//!
//! One object holds one forward's activations until its backward: `recurrent.torch` keeps a
//! small pool of them, hands one to each forward that needs a backward, and takes it back once
//! the backward has run. The weights are copied in at each forward (the layers keep them in
//! the layout their kernels read); the input is read where numpy holds it; the outputs and
//! gradients are new arrays handed to numpy (and from there to torch) without a copy. The
//! interpreter lock is released while the stack runs.

use ndarray::{s, Array3, ArrayView2, ArrayView3, Axis};
use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use recurrent::parallel::Helper;
use recurrent::{CellKind, CellParams, Float, Input, Parameters, Recurrent, RecurrentConfig, State};

/// The stack in the module's dtype.
enum Stack {
    F32(Shards<f32>),
    F64(Shards<f64>),
}

/// One stack and its activations, plus a helper thread for the products' second half.
#[pyclass(module = "recurrent._core")]
pub struct TorchStack {
    stack: Stack,
    /// Created at the first call asking for two threads.
    helper: Option<Helper>,
    /// `"float32"` or `"float64"`.
    dtype: &'static str,
}

fn value_err(e: recurrent::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A float array of the stack's dtype, or a `TypeError`-like message naming it.
fn view<'py, F: Float + numpy::Element>(
    a: &Bound<'py, PyAny>,
    what: &str,
    dtype: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, F>> {
    a.extract::<PyReadonlyArrayDyn<'py, F>>()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a {dtype} array, like the module's parameters")))
}

fn three<'a, F>(a: ndarray::ArrayViewD<'a, F>, what: &str) -> PyResult<ArrayView3<'a, F>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality().map_err(|_| PyValueError::new_err(format!("{what} must be 3-d; it is {shape:?}")))
}

/// Copies the module's parameters into the stack: `weights` holds, for each layer and
/// direction (`layer·D + direction`), `weight_ih, weight_hh, bias_ih, bias_hh`, a bias `None`
/// when the module has none (`bias=False`: zero).
fn load<F: Float + numpy::Element>(r: &mut Recurrent<F>, weights: &Bound<'_, PyList>, dtype: &str) -> PyResult<()> {
    let want = 4 * r.layers.len();
    if weights.len() != want {
        return Err(PyValueError::new_err(format!("{} weights were given; this stack takes {want}", weights.len())));
    }
    let d = r.config.directions();
    for (i, layer) in r.layers.iter_mut().enumerate() {
        let names = CellParams::<F>::names(i / d, i % d == 1);
        let shapes = layer.params.shapes();
        for (j, dst) in layer.params.tensors_mut().into_iter().enumerate() {
            let item = weights.get_item(4 * i + j)?;
            if item.is_none() {
                dst.fill(F::zero());
                continue;
            }
            let a = view::<F>(&item, &names[j], dtype)?;
            let a = a.as_array();
            if a.shape() != shapes[j].as_slice() {
                return Err(PyValueError::new_err(format!(
                    "{} is {:?}; this stack needs {:?}",
                    names[j],
                    a.shape(),
                    shapes[j]
                )));
            }
            for (o, v) in dst.iter_mut().zip(a.iter()) {
                *o = *v;
            }
        }
    }
    Ok(())
}

/// The state `(L·D, B, H)` from the arrays `h` and, for the LSTM, `c` (named as given in
/// messages; `None` for both: zeros).
fn state<F: Float + numpy::Element>(
    r: &Recurrent<F>,
    (h, c): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
    (h_name, c_name): (&str, &str),
    dtype: &str,
    b: usize,
) -> PyResult<Option<State<F>>> {
    if h.is_none() && c.is_none() {
        return Ok(None);
    }
    let mut s = State::zeros(&r.config, b);
    if let Some(h) = h {
        s.h = three(view::<F>(h, h_name, dtype)?.as_array(), h_name)?.to_owned();
    }
    if let (Some(c), true) = (c, r.config.kind.has_cell_state()) {
        s.c = Some(three(view::<F>(c, c_name, dtype)?.as_array(), c_name)?.to_owned());
    }
    Ok(Some(s))
}

/// Sequences of a state's batch `lo..hi` (axis 1).
fn state_part<F: Float>(s: &State<F>, lo: usize, hi: usize) -> State<F> {
    State {
        h: s.h.slice(s![.., lo..hi, ..]).to_owned(),
        c: s.c.as_ref().map(|c| c.slice(s![.., lo..hi, ..]).to_owned()),
    }
}

/// Two states of batch parts joined on the batch axis.
fn state_join<F: Float>(a: State<F>, b: State<F>) -> State<F> {
    let cat = |x: &Array3<F>, y: &Array3<F>| ndarray::concatenate(Axis(1), &[x.view(), y.view()]).expect("same sizes");
    State { h: cat(&a.h, &b.h), c: a.c.as_ref().zip(b.c.as_ref()).map(|(x, y)| cat(x, y)) }
}

/// The stack's shards: one, or two over halves of the batch on two threads (as `recurrent
/// train` shards a batch), when two threads are allowed and a step's recurrent product is large
/// enough to be worth a hand-off. `split` is the first shard's batch in the last forward.
struct Shards<F> {
    parts: Vec<Recurrent<F>>,
    split: Option<usize>,
}

/// Runs `a` and `b` at once: on PyTorch's OpenMP team when it is loaded (see
/// [`crate::gomp`]), else on the caller and the helper (in turn without one).
fn both<RA: Send, RB: Send>(
    helper: Option<&Helper>,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    if crate::gomp::available() {
        return crate::gomp::both(a, b);
    }
    match helper {
        Some(h) => h.install(|| recurrent::parallel::join(a, b)),
        None => (a(), b()),
    }
}

/// Runs `run` over the whole batch `0..b` on the first stack, or over `0..k` and `k..b` on the
/// two shards at once when `split` is `Some(k)`, their results put together by `join`.
fn on_shards<F: Float, R: Send>(
    sh: &mut Shards<F>,
    helper: Option<&Helper>,
    b: usize,
    split: Option<usize>,
    run: &(dyn Fn(&mut Recurrent<F>, usize, usize) -> recurrent::Result<R> + Sync),
    join: impl FnOnce(R, R) -> R,
) -> recurrent::Result<R> {
    match split {
        None => {
            let r = &mut sh.parts[0];
            // With PyTorch's team spinning beside it, a helper thread of ours would only
            // compete for its core.
            match helper.filter(|_| !crate::gomp::available()) {
                Some(h) => h.install(|| run(r, 0, b)),
                None => run(r, 0, b),
            }
        }
        Some(k) => {
            let (p0, p1) = sh.parts.split_at_mut(1);
            let (a, c) = both(helper, || run(&mut p0[0], 0, k), || run(&mut p1[0], k, b));
            Ok(join(a?, c?))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn forward<'py, F: Float + numpy::Element>(
    py: Python<'py>,
    sh: &mut Shards<F>,
    helper: Option<&Helper>,
    dtype: &str,
    weights: &Bound<'py, PyList>,
    x: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    masks: Option<&Bound<'py, PyList>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    load(&mut sh.parts[0], weights, dtype)?;
    let xa = view::<F>(x, "the input", dtype)?;
    let xv = three(xa.as_array(), "the input")?;
    let r0 = &sh.parts[0];
    let (cfg, out_size) = (r0.config.clone(), r0.output_size());
    let bax = if cfg.batch_first { 0 } else { 1 };
    let b = xv.shape()[bax];
    let s0 = state(r0, (h0, c0), ("h_0", "c_0"), dtype, b)?;
    if let Some(s0) = &s0 {
        r0.check_state("h0", s0, b).map_err(value_err)?;
    }
    let ms: Vec<PyReadonlyArrayDyn<'py, F>> = match masks {
        Some(l) => l.iter().map(|m| view::<F>(&m, "a dropout mask", dtype)).collect::<PyResult<_>>()?,
        None => Vec::new(),
    };
    let mv: Vec<ArrayView2<'_, F>> = ms
        .iter()
        .map(|m| {
            let shape = m.as_array().shape().to_vec();
            m.as_array()
                .into_dimensionality()
                .map_err(|_| PyValueError::new_err(format!("a dropout mask must be 2-d (T·B, D·H); it is {shape:?}")))
        })
        .collect::<PyResult<_>>()?;
    let masked = masks.is_some();
    let macs = b * cfg.kind.gates() * cfg.hidden_size * cfg.hidden_size;
    // Below `SHARE_MIN_MACS` per step one thread runs it all (as `recurrent train` does).
    let helper = helper.filter(|_| macs >= recurrent::parallel::SHARE_MIN_MACS);
    let split = (helper.is_some() && b >= 2).then_some(b.div_ceil(2));
    if split.is_some() {
        if sh.parts.len() < 2 {
            let copy = cfg.init_with(CellParams::zeros).map_err(value_err)?;
            sh.parts.push(copy);
        }
        let (first, rest) = sh.parts.split_at_mut(1);
        for (dst, src) in rest[0].layers.iter_mut().zip(&first[0].layers) {
            for (d, s) in dst.params.tensors_mut().into_iter().zip(src.params.tensors()) {
                d.copy_from_slice(s);
            }
        }
    }
    sh.split = split;
    let (y, s) = py
        .allow_threads(|| -> recurrent::Result<(Array3<F>, State<F>)> {
            // One shard's forward: its sequences of x, of the state and of the masks' rows.
            let run = |r: &mut Recurrent<F>, lo: usize, hi: usize| -> recurrent::Result<(Array3<F>, State<F>)> {
                let whole = lo == 0 && hi == b;
                let xp = xv.slice_axis(Axis(bax), (lo..hi).into());
                let sp = s0.as_ref().map(|s| if whole { s.clone() } else { state_part(s, lo, hi) });
                let mp: Vec<ndarray::Array2<F>> = if whole {
                    Vec::new()
                } else {
                    mv.iter()
                        .map(|m| {
                            let t = m.nrows() / b;
                            let m3 = m.into_shape_with_order((t, b, out_size)).expect("(T·B, D·H) rows");
                            m3.slice(s![.., lo..hi, ..])
                                .as_standard_layout()
                                .into_owned()
                                .into_shape_with_order((t * (hi - lo), out_size))
                                .expect("rows")
                        })
                        .collect()
                };
                let mviews: Vec<ArrayView2<'_, F>> =
                    if whole { mv.iter().map(|m| m.view()).collect() } else { mp.iter().map(|m| m.view()).collect() };
                let (t, bb) = if masked {
                    r.forward_rows_masked(Input::Dense(xp), sp.as_ref(), &mviews)?
                } else {
                    r.forward_rows(Input::Dense(xp), sp.as_ref(), None)?
                };
                // One copy out of the stack's rows, laid out batch-first when asked.
                let rows = r.output_rows().into_shape_with_order((t, bb, r.output_size())).expect("T·B rows");
                let y = if r.config.batch_first {
                    rows.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
                } else {
                    rows.to_owned()
                };
                Ok((y, r.final_state()))
            };
            on_shards(sh, helper, b, split, &run, |(ya, sa), (yc, sc)| {
                let y = ndarray::concatenate(Axis(bax), &[ya.view(), yc.view()]).expect("same sizes");
                (y, state_join(sa, sc))
            })
        })
        .map_err(value_err)?;
    let mut out = vec![y.into_dyn().into_pyarray(py).into_any(), s.h.into_dyn().into_pyarray(py).into_any()];
    if let Some(c) = s.c {
        out.push(c.into_dyn().into_pyarray(py).into_any());
    }
    Ok(out)
}

fn backward<'py, F: Float + numpy::Element>(
    py: Python<'py>,
    sh: &mut Shards<F>,
    helper: Option<&Helper>,
    dtype: &str,
    dy: &Bound<'py, PyAny>,
    dh: Option<&Bound<'py, PyAny>>,
    dc: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let dya = view::<F>(dy, "the output's gradient", dtype)?;
    let dyv = three(dya.as_array(), "the output's gradient")?;
    let bax = if sh.parts[0].config.batch_first { 0 } else { 1 };
    let b = dyv.shape()[bax];
    let ds = state(&sh.parts[0], (dh, dc), ("h_n's gradient", "c_n's gradient"), dtype, b)?;
    let split = sh.split.filter(|&k| k < b);
    let c = &sh.parts[0].config;
    let helper =
        helper.filter(|_| b * c.kind.gates() * c.hidden_size * c.hidden_size >= recurrent::parallel::SHARE_MIN_MACS);
    let (dx, ds0) = py
        .allow_threads(|| {
            let run = |r: &mut Recurrent<F>, lo: usize, hi: usize| {
                let dyp = dyv.slice_axis(Axis(bax), (lo..hi).into());
                let dsp = ds.as_ref().map(|s| if lo == 0 && hi == b { s.clone() } else { state_part(s, lo, hi) });
                r.zero_grad();
                r.backward(dyp, dsp.as_ref())
            };
            on_shards(sh, helper, b, split, &run, |(dxa, sa), (dxc, sc)| {
                let dx = dxa
                    .zip(dxc)
                    .map(|(x, y)| ndarray::concatenate(Axis(bax), &[x.view(), y.view()]).expect("same sizes"));
                (dx, state_join(sa, sc))
            })
        })
        .map_err(|e| match e {
            recurrent::Error::Config(m) if m.starts_with("backward needs a forward first") => PyRuntimeError::new_err(
                "recurrent.torch: this stack holds no forward's activations (a backward used them): run the forward again",
            ),
            e => value_err(e),
        })?;
    let list = PyList::empty(py);
    let second = split.map(|_| &sh.parts[1]);
    for (i, layer) in sh.parts[0].layers.iter().enumerate() {
        let other = second.map(|r| r.layers[i].grads.tensors());
        for (j, (g, shape)) in layer.grads.tensors().into_iter().zip(layer.grads.shapes()).enumerate() {
            // Two shards: their sums added, as `recurrent train` adds its shards' gradients.
            let v: Vec<F> = match &other {
                Some(o) => g.iter().zip(o[j]).map(|(a, b)| *a + *b).collect(),
                None => g.to_vec(),
            };
            let a = ndarray::ArrayD::from_shape_vec(shape, v).expect("shape of the tensor");
            list.append(a.into_pyarray(py))?;
        }
    }
    let dx = dx.expect("dense input gives dx");
    let mut out = vec![dx.into_dyn().into_pyarray(py).into_any(), ds0.h.into_dyn().into_pyarray(py).into_any()];
    out.push(match ds0.c {
        Some(c) => c.into_dyn().into_pyarray(py).into_any(),
        None => py.None().into_bound(py),
    });
    out.push(list.into_any());
    Ok(out)
}

/// The stack's helper thread when `threads ≥ 2` (made at the first such call), else none.
fn helper_for(slot: &mut Option<Helper>, threads: usize) -> Option<&Helper> {
    if threads < 2 {
        return None;
    }
    Some(slot.get_or_insert_with(Helper::new))
}

#[pymethods]
impl TorchStack {
    /// A stack of `mode` (`"RNN_TANH"`, `"LSTM"` or `"GRU"`, `nn.RNNBase`'s names) with zero
    /// weights (each forward copies the module's in), in `dtype` (`"float32"` or `"float64"`).
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: &str,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        dropout: f64,
        batch_first: bool,
        dtype: &str,
    ) -> PyResult<TorchStack> {
        let kind = match mode {
            "RNN_TANH" => CellKind::Rnn,
            "LSTM" => CellKind::Lstm,
            "GRU" => CellKind::Gru,
            m => {
                return Err(PyValueError::new_err(format!(
                    "mode {m:?} is not one recurrent runs: RNN_TANH, LSTM or GRU (use torch.nn for the others)"
                )))
            }
        };
        let cfg = RecurrentConfig::new(kind, input_size, hidden_size)
            .with_layers(num_layers)
            .with_bidirectional(bidirectional)
            .with_dropout(dropout)
            .with_batch_first(batch_first);
        let (stack, dtype) = match dtype {
            "float32" => (
                Stack::F32(Shards { parts: vec![cfg.init_with(CellParams::zeros).map_err(value_err)?], split: None }),
                "float32",
            ),
            "float64" => (
                Stack::F64(Shards { parts: vec![cfg.init_with(CellParams::zeros).map_err(value_err)?], split: None }),
                "float64",
            ),
            d => {
                return Err(PyValueError::new_err(format!(
                    "dtype {d} is not supported: recurrent runs float32 and float64"
                )))
            }
        };
        Ok(TorchStack { stack, helper: None, dtype })
    }

    /// The dtype's name.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// Runs the stack: `weights` as [`load`] takes them, `x` `(T, B, I)` (or batch-first),
    /// optional `h0`, `c0` `(L·D, B, H)`, the dropout `masks` (training with dropout) or
    /// `None`, on `threads` threads (two at most are used). Returns `[output, h_n]` or
    /// `[output, h_n, c_n]`; the activations stay here for [`TorchStack::backward`].
    #[pyo3(signature = (weights, x, h0, c0, masks, threads))]
    #[allow(clippy::too_many_arguments)]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        weights: &Bound<'py, PyList>,
        x: &Bound<'py, PyAny>,
        h0: Option<&Bound<'py, PyAny>>,
        c0: Option<&Bound<'py, PyAny>>,
        masks: Option<&Bound<'py, PyList>>,
        threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let helper = helper_for(&mut self.helper, threads);
        match &mut self.stack {
            Stack::F32(r) => forward(py, r, helper, self.dtype, weights, x, h0, c0, masks),
            Stack::F64(r) => forward(py, r, helper, self.dtype, weights, x, h0, c0, masks),
        }
    }

    /// Backpropagation through time for the last forward: `dy` like its output, optional `dh`,
    /// `dc` like its final state. Returns `[dx, dh0, dc0 or None, [dW…]]`, the weight gradients
    /// in [`load`]'s order (a bias's gradient too when the module has none: it is not used).
    #[pyo3(signature = (dy, dh, dc, threads))]
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        dy: &Bound<'py, PyAny>,
        dh: Option<&Bound<'py, PyAny>>,
        dc: Option<&Bound<'py, PyAny>>,
        threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let helper = helper_for(&mut self.helper, threads);
        match &mut self.stack {
            Stack::F32(r) => backward(py, r, helper, self.dtype, dy, dh, dc),
            Stack::F64(r) => backward(py, r, helper, self.dtype, dy, dh, dc),
        }
    }
}
