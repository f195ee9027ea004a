//! `recurrent._core`: the library for Python. The course's functions over numpy arrays (f64),
//! the classic mistakes the checker compares against, and the character model (load, sample,
//! score, train through the library's `Session`). The Python modules (`recurrent/*.py`) shape
//! the course's dicts and cache tuples around these; every library error becomes `ValueError`
//! (shapes, sizes, settings) or `OSError` (files), and PyO3 turns a Rust panic into an
//! exception instead of aborting the interpreter.

use ndarray::{Array2, Array3, ArrayD};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use recurrent::course::{self, Grads, LstmCache, LstmCaches, Params, RnnCache, RnnCaches};
use recurrent::train::config::{Preset, RunConfig};
use recurrent::train::session::{Control, Observer, Options, Out, Outcome, Session, StepReport};
use std::path::PathBuf;

mod gomp;
mod torch;

/// A library error as the Python exception a caller expects.
fn py_err(e: recurrent::Error) -> PyErr {
    match e {
        recurrent::Error::Io(_) | recurrent::Error::File { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// An n-d float64 array from Python (the Python side converts dtype and order first).
fn arr(a: &PyReadonlyArrayDyn<'_, f64>) -> ArrayD<f64> {
    a.as_array().to_owned()
}

fn two(name: &str, a: ArrayD<f64>) -> PyResult<Array2<f64>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| PyValueError::new_err(format!("{name} must be 2-d, e.g. (n_a, m); it is {shape:?}")))
}

fn three(name: &str, a: ArrayD<f64>) -> PyResult<Array3<f64>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| PyValueError::new_err(format!("{name} must be 3-d, e.g. (n_x, m, T_x); it is {shape:?}")))
}

/// The course's `parameters` dict (name → 2-d float64 array).
fn params(d: &Bound<'_, PyDict>) -> PyResult<Params> {
    let mut p = Params::new();
    for (k, v) in d.iter() {
        let name: String = k.extract()?;
        let a: PyReadonlyArrayDyn<'_, f64> = v
            .extract()
            .map_err(|_| PyValueError::new_err(format!("parameters[{name:?}] must be a float64 numpy array")))?;
        p.insert(name.clone(), two(&format!("parameters[{name:?}]"), arr(&a))?);
    }
    Ok(p)
}

fn to_py<'py>(py: Python<'py>, a: ArrayD<f64>) -> Bound<'py, PyArrayDyn<f64>> {
    a.into_pyarray(py)
}

fn grads_dict<'py>(py: Python<'py>, g: Grads) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in g {
        d.set_item(k, to_py(py, v))?;
    }
    Ok(d)
}

fn get2(t: &Bound<'_, PyTuple>, i: usize, name: &str) -> PyResult<Array2<f64>> {
    let a: PyReadonlyArrayDyn<'_, f64> = t.get_item(i)?.extract()?;
    two(name, arr(&a))
}

/// `(a_next, a_prev, xt, parameters)`, as the course's `rnn_cell_forward` builds it.
fn rnn_cache(t: &Bound<'_, PyTuple>) -> PyResult<RnnCache> {
    if t.len() != 4 {
        return Err(PyValueError::new_err(format!(
            "an RNN cache is (a_next, a_prev, xt, parameters); this one has {} items",
            t.len()
        )));
    }
    Ok(RnnCache {
        a_next: get2(t, 0, "cache's a_next")?,
        a_prev: get2(t, 1, "cache's a_prev")?,
        xt: get2(t, 2, "cache's xt")?,
        parameters: params(t.get_item(3)?.downcast()?)?,
    })
}

/// `(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)`.
fn lstm_cache(t: &Bound<'_, PyTuple>) -> PyResult<LstmCache> {
    if t.len() != 10 {
        return Err(PyValueError::new_err(format!(
            "an LSTM cache is (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters); this one has {} items",
            t.len()
        )));
    }
    let g = |i: usize, n: &str| get2(t, i, n);
    Ok(LstmCache {
        a_next: g(0, "a_next")?,
        c_next: g(1, "c_next")?,
        a_prev: g(2, "a_prev")?,
        c_prev: g(3, "c_prev")?,
        ft: g(4, "ft")?,
        it: g(5, "it")?,
        cct: g(6, "cct")?,
        ot: g(7, "ot")?,
        xt: g(8, "xt")?,
        parameters: params(t.get_item(9)?.downcast()?)?,
    })
}

/// `caches = (list of step caches, x)`.
fn seq<'py, C>(
    caches: &Bound<'py, PyTuple>,
    one: impl Fn(&Bound<'py, PyTuple>) -> PyResult<C>,
) -> PyResult<(Vec<C>, Array3<f64>)> {
    if caches.len() != 2 {
        return Err(PyValueError::new_err(
            "caches is (list of the steps' caches, x), as the course's forward returns it",
        ));
    }
    let list = caches.get_item(0)?;
    let list: &Bound<'py, PyList> = list.downcast()?;
    let steps = list.iter().map(|c| one(c.downcast::<PyTuple>()?)).collect::<PyResult<Vec<C>>>()?;
    let x: PyReadonlyArrayDyn<'_, f64> = caches.get_item(1)?.extract()?;
    Ok((steps, three("caches' x", arr(&x))?))
}

#[pyfunction]
fn rnn_cell_forward<'py>(
    py: Python<'py>,
    xt: PyReadonlyArrayDyn<'py, f64>,
    a_prev: PyReadonlyArrayDyn<'py, f64>,
    parameters: &Bound<'py, PyDict>,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>)> {
    let (xt, a_prev, p) = (two("xt", arr(&xt))?, two("a_prev", arr(&a_prev))?, params(parameters)?);
    let (a, y, _) = course::rnn_cell_forward(xt.view(), a_prev.view(), &p).map_err(py_err)?;
    Ok((to_py(py, a.into_dyn()), to_py(py, y.into_dyn())))
}

#[pyfunction]
fn rnn_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f64>,
    a0: PyReadonlyArrayDyn<'py, f64>,
    parameters: &Bound<'py, PyDict>,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>)> {
    let (x, a0, p) = (three("x", arr(&x))?, two("a0", arr(&a0))?, params(parameters)?);
    let (a, y, _) = course::rnn_forward(x.view(), a0.view(), &p).map_err(py_err)?;
    Ok((to_py(py, a.into_dyn()), to_py(py, y.into_dyn())))
}

#[pyfunction]
fn rnn_cell_backward<'py>(
    py: Python<'py>,
    da_next: PyReadonlyArrayDyn<'py, f64>,
    cache: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyDict>> {
    let g = course::rnn_cell_backward(two("da_next", arr(&da_next))?.view(), &rnn_cache(cache)?).map_err(py_err)?;
    grads_dict(py, g)
}

#[pyfunction]
fn rnn_backward<'py>(
    py: Python<'py>,
    da: PyReadonlyArrayDyn<'py, f64>,
    caches: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyDict>> {
    let (steps, x) = seq(caches, rnn_cache)?;
    let c = RnnCaches { caches: steps, x };
    grads_dict(py, course::rnn_backward(three("da", arr(&da))?.view(), &c).map_err(py_err)?)
}

type Three<'py> = (Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>);

/// `(a_next, c_next, yt_pred)` and the gates `(ft, it, cct, ot)` for the cache.
#[pyfunction]
fn lstm_cell_forward<'py>(
    py: Python<'py>,
    xt: PyReadonlyArrayDyn<'py, f64>,
    a_prev: PyReadonlyArrayDyn<'py, f64>,
    c_prev: PyReadonlyArrayDyn<'py, f64>,
    parameters: &Bound<'py, PyDict>,
) -> PyResult<(Three<'py>, Vec<Bound<'py, PyArrayDyn<f64>>>)> {
    let (xt, a_prev, c_prev) = (two("xt", arr(&xt))?, two("a_prev", arr(&a_prev))?, two("c_prev", arr(&c_prev))?);
    let p = params(parameters)?;
    let (a, c, y, cache) = course::lstm_cell_forward(xt.view(), a_prev.view(), c_prev.view(), &p).map_err(py_err)?;
    let gates = [cache.ft, cache.it, cache.cct, cache.ot].into_iter().map(|g| to_py(py, g.into_dyn())).collect();
    Ok(((to_py(py, a.into_dyn()), to_py(py, c.into_dyn()), to_py(py, y.into_dyn())), gates))
}

#[pyfunction]
fn lstm_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f64>,
    a0: PyReadonlyArrayDyn<'py, f64>,
    parameters: &Bound<'py, PyDict>,
) -> PyResult<(Three<'py>, Vec<Vec<Bound<'py, PyArrayDyn<f64>>>>)> {
    let (x, a0, p) = (three("x", arr(&x))?, two("a0", arr(&a0))?, params(parameters)?);
    let (a, y, c, caches) = course::lstm_forward(x.view(), a0.view(), &p).map_err(py_err)?;
    let steps = caches
        .caches
        .into_iter()
        .map(|k| {
            [k.a_next, k.c_next, k.a_prev, k.c_prev, k.ft, k.it, k.cct, k.ot, k.xt]
                .into_iter()
                .map(|g| to_py(py, g.into_dyn()))
                .collect()
        })
        .collect();
    Ok(((to_py(py, a.into_dyn()), to_py(py, y.into_dyn()), to_py(py, c.into_dyn())), steps))
}

#[pyfunction]
fn lstm_cell_backward<'py>(
    py: Python<'py>,
    da_next: PyReadonlyArrayDyn<'py, f64>,
    dc_next: PyReadonlyArrayDyn<'py, f64>,
    cache: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyDict>> {
    let (da, dc) = (two("da_next", arr(&da_next))?, two("dc_next", arr(&dc_next))?);
    grads_dict(py, course::lstm_cell_backward(da.view(), dc.view(), &lstm_cache(cache)?).map_err(py_err)?)
}

#[pyfunction]
fn lstm_backward<'py>(
    py: Python<'py>,
    da: PyReadonlyArrayDyn<'py, f64>,
    caches: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyDict>> {
    let (steps, x) = seq(caches, lstm_cache)?;
    let c = LstmCaches { caches: steps, x };
    grads_dict(py, course::lstm_backward(three("da", arr(&da))?.view(), &c).map_err(py_err)?)
}

/// The classic mistakes' gradients for these caches and `da`: a list of (name, gradients).
#[pyfunction]
fn mistakes<'py>(
    py: Python<'py>,
    cell: &str,
    da: PyReadonlyArrayDyn<'py, f64>,
    caches: &Bound<'py, PyTuple>,
) -> PyResult<Vec<(String, Bound<'py, PyDict>)>> {
    let da = three("da", arr(&da))?;
    let list = match cell {
        "rnn" => {
            let (steps, x) = seq(caches, rnn_cache)?;
            course::mistakes::rnn(da.view(), &RnnCaches { caches: steps, x }).map_err(py_err)?
        }
        "lstm" => {
            let (steps, x) = seq(caches, lstm_cache)?;
            course::mistakes::lstm(da.view(), &LstmCaches { caches: steps, x }).map_err(py_err)?
        }
        c => return Err(PyValueError::new_err(format!("unknown cell {c:?}: use 'rnn' or 'lstm'"))),
    };
    list.into_iter().map(|(n, g)| Ok((n.to_string(), grads_dict(py, g)?))).collect()
}

/// min-char-rnn's `lossFun(inputs, targets, hprev)` computed by the library (a tanh RNN over
/// one-hot tokens, a linear head, the summed cross-entropy, BPTT through the window): `(loss,
/// dWxh, dWhh, dWhy, dbh, dby, h_last)` in min-char-rnn's shapes (`bh`, `by`, `hprev` columns),
/// before min-char-rnn's clipping to ±5 (the Python side applies it).
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn min_char_rnn<'py>(
    py: Python<'py>,
    wxh: PyReadonlyArrayDyn<'py, f64>,
    whh: PyReadonlyArrayDyn<'py, f64>,
    why: PyReadonlyArrayDyn<'py, f64>,
    bh: PyReadonlyArrayDyn<'py, f64>,
    by: PyReadonlyArrayDyn<'py, f64>,
    inputs: Vec<usize>,
    targets: Vec<usize>,
    hprev: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<(f64, Vec<Bound<'py, PyArrayDyn<f64>>>)> {
    use recurrent::layer::Parameters;
    let (wxh, whh, why) = (two("Wxh", arr(&wxh))?, two("Whh", arr(&whh))?, two("Why", arr(&why))?);
    let (h, v) = wxh.dim();
    let col = |name: &str, a: ArrayD<f64>, n: usize| -> PyResult<ndarray::Array1<f64>> {
        if a.len() != n {
            return Err(PyValueError::new_err(format!("{name} has shape {:?} but should be ({n}, 1)", a.shape())));
        }
        Ok(a.into_iter().collect())
    };
    let (bh, by, h0) = (col("bh", arr(&bh), h)?, col("by", arr(&by), v)?, col("hprev", arr(&hprev), h)?);
    if inputs.is_empty() || inputs.len() != targets.len() || inputs.iter().chain(&targets).any(|&i| i >= v) {
        return Err(PyValueError::new_err(format!(
            "inputs and targets must be lists of the same length of token indices below vocab_size = {v}"
        )));
    }
    let mut t = recurrent::interop::Tensors::new();
    t.insert("rnn.weight_ih_l0".into(), wxh.into_dyn());
    t.insert("rnn.weight_hh_l0".into(), whh.into_dyn());
    t.insert("rnn.bias_ih_l0".into(), bh.into_dyn());
    t.insert("rnn.bias_hh_l0".into(), ndarray::Array1::<f64>::zeros(h).into_dyn());
    let rc = recurrent::RecurrentConfig::new(recurrent::CellKind::Rnn, v, h);
    let rnn = recurrent::interop::recurrent_from_tensors::<f64>(&rc, &t, "rnn.").map_err(py_err)?;
    let head = recurrent::Linear::from_weights(why, by);
    let mc =
        recurrent::model::ModelConfig { cell: recurrent::CellKind::Rnn, vocab: v, hidden: h, layers: 1, dropout: 0.0 };
    let mut model = recurrent::model::CharModel::from_parts(mc, rnn, head);
    let x = Array2::from_shape_vec((inputs.len(), 1), inputs).expect("(T, 1)");
    let state = recurrent::State { h: h0.into_shape_with_order((1, 1, h)).expect("(1, 1, H)"), c: None };
    let (loss, last) =
        model.forward_loss(x.view(), &targets, Some(&state), recurrent::Reduction::Sum, None).map_err(py_err)?;
    model.backward().map_err(py_err)?;
    let mut g = std::collections::BTreeMap::new();
    model.visit(&mut |name, shape, _, grad| {
        g.insert(name.to_string(), ArrayD::from_shape_vec(shape.to_vec(), grad.to_vec()).expect("shape"));
    });
    let column = |a: &ArrayD<f64>| a.clone().into_shape_with_order(ndarray::IxDyn(&[a.len(), 1])).expect("column");
    let out = vec![
        g["rnn.weight_ih_l0"].clone(),
        g["rnn.weight_hh_l0"].clone(),
        g["head.weight"].clone(),
        column(&g["rnn.bias_ih_l0"]),
        column(&g["head.bias"]),
        last.h.into_shape_with_order(ndarray::IxDyn(&[h, 1])).expect("column"),
    ];
    Ok((loss, out.into_iter().map(|a| to_py(py, a)).collect()))
}

/// The batch-first SimpleRNN (`h_t = tanh(x_t @ W_x + h_{t−1} @ W_h + b)`, many-to-one):
/// `h_last`, then the gradients of `Σ h_last ⊙ dh_last`: `(h_last, dx, dh0, dW_x, dW_h, db)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn simple_rnn<'py>(
    py: Python<'py>,
    w_x: PyReadonlyArrayDyn<'py, f64>,
    w_h: PyReadonlyArrayDyn<'py, f64>,
    b: PyReadonlyArrayDyn<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    h0: PyReadonlyArrayDyn<'py, f64>,
    dh_last: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Vec<Bound<'py, PyArrayDyn<f64>>>> {
    let (w_x, w_h) = (two("W_x", arr(&w_x))?, two("W_h", arr(&w_h))?);
    let b: Vec<f64> = arr(&b).into_iter().collect();
    let mut m = course::simple_rnn::SimpleRnn::new(w_x.view(), w_h.view(), &b).map_err(py_err)?;
    let h = m.forward(three("x", arr(&x))?.view(), two("h0", arr(&h0))?.view()).map_err(py_err)?;
    let g = m.backward(two("dh", arr(&dh_last))?.view()).map_err(py_err)?;
    Ok([h.into_dyn(), g.dx.into_dyn(), g.dh0.into_dyn(), g.dw_x.into_dyn(), g.dw_h.into_dyn(), g.db.into_dyn()]
        .into_iter()
        .map(|a| to_py(py, a))
        .collect())
}

/// A character model: a checkpoint's weights and vocabulary.
#[pyclass(module = "recurrent._core")]
struct Model {
    model: recurrent::model::CharModel<f32>,
    vocab: recurrent::data::Vocab,
    /// The checkpoint it came from.
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl Model {
    /// Loads a checkpoint, or a run folder's best (else last) checkpoint.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Model> {
        let (ck, _) = recurrent::checkpoint::resolve(&path).map_err(py_err)?;
        let (model, vocab, _) = recurrent::checkpoint::load_model::<f32>(&ck).map_err(py_err)?;
        Ok(Model { model, vocab, path: ck.display().to_string() })
    }

    /// The vocabulary, in token order.
    #[getter]
    fn vocab(&self) -> String {
        self.vocab.chars().iter().collect()
    }

    /// `{"cell", "layers", "hidden", "vocab"}`.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.model.config;
        let d = PyDict::new(py);
        d.set_item("cell", c.cell.name())?;
        d.set_item("layers", c.layers)?;
        d.set_item("hidden", c.hidden)?;
        d.set_item("vocab", c.vocab)?;
        Ok(d)
    }

    /// `length` characters after `prime`, as `recurrent sample` draws them (the same seed gives
    /// the same text).
    #[pyo3(signature = (prime="", length=200, temperature=1.0, top_k=None, seed=0, top_p=None))]
    fn sample(
        &mut self,
        prime: &str,
        length: usize,
        temperature: f64,
        top_k: Option<usize>,
        seed: u32,
        top_p: Option<f64>,
    ) -> PyResult<String> {
        if top_k == Some(0) {
            return Err(PyValueError::new_err("top_k is 0: give at least 1, or None"));
        }
        let opts = recurrent::sample::SampleOptions { length, temperature, top_k, top_p };
        let mut rng = recurrent::NumpyRng::new(seed);
        let mut out = String::new();
        recurrent::sample::sample(&mut self.model, &self.vocab, prime, opts, &mut rng, |c| {
            out.push(c);
            true
        })
        .map_err(py_err)?;
        Ok(out)
    }

    /// The mean loss in nats per character of `text`, as `recurrent eval` reports it.
    fn evaluate(&mut self, text: &str) -> PyResult<f64> {
        let tokens = recurrent::data::Tokens::encode(&self.vocab, text.as_bytes().to_vec()).map_err(py_err)?;
        self.model.nats_per_char(&tokens, &mut |_, _| {}).map_err(py_err)
    }
}

/// Calls the Python callback after each step; `False` from it stops the run (saved).
struct Callback<'py> {
    py: Python<'py>,
    f: Option<Bound<'py, PyAny>>,
    error: Option<PyErr>,
}

impl Observer for Callback<'_> {
    fn step(&mut self, r: &StepReport) -> Control {
        let Some(f) = &self.f else { return Control::Continue };
        let d = PyDict::new(self.py);
        let set = || -> PyResult<()> {
            d.set_item("step", r.step)?;
            d.set_item("total", r.total)?;
            d.set_item("epoch", r.epoch)?;
            d.set_item("loss", r.loss)?;
            d.set_item("smooth_loss", r.smooth)?;
            Ok(())
        };
        match set().and_then(|()| f.call1((d,))) {
            Ok(v) if v.is_instance_of::<pyo3::types::PyBool>() && !v.is_truthy().unwrap_or(true) => Control::Stop,
            Ok(_) => Control::Continue,
            Err(e) => {
                self.error = Some(e);
                Control::Stop
            }
        }
    }
}

/// Trains as `recurrent train` does, through the library's `Session`: `config` (a dict: a
/// `preset` and any of `config.json`'s keys), the text as a string (`text`) or a file
/// (`text_file`, or the bundled tiny-shakespeare when neither), `out` a folder (or `None`: in
/// memory), `resume` a run folder to continue. Returns `(outcome, folder, steps, best_val)`.
#[pyfunction]
#[pyo3(signature = (config, text=None, text_file=None, out=None, resume=None, callback=None))]
fn train<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    text: Option<String>,
    text_file: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    callback: Option<Bound<'py, PyAny>>,
) -> PyResult<(String, Option<String>, usize, Option<f64>)> {
    let json: String = py.import("json")?.call_method1("dumps", (config,))?.extract()?;
    let mut changes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&json).map_err(|e| PyValueError::new_err(format!("config must be a dict: {e}")))?;
    let (cfg, threads_asked) = match &resume {
        Some(dir) => (Session::saved_config(dir).map_err(py_err)?, false),
        None => {
            let preset = changes.remove("preset").unwrap_or_else(|| "default".into());
            let preset: Preset = serde_json::from_value(preset.clone()).map_err(|_| {
                PyValueError::new_err(format!(
                    "unknown preset {preset}: use default, char-rnn, min-char-rnn or shakespeare"
                ))
            })?;
            let name = text_file.clone().unwrap_or_else(|| {
                if text.is_some() {
                    "<string>".into()
                } else {
                    recurrent::train::text::default_corpus()
                }
            });
            (RunConfig::preset(preset, name), changes.contains_key("threads"))
        }
    };
    let cfg = merge(cfg, changes)?;
    let opts = Options {
        out: out.map_or(if resume.is_some() { Out::Auto } else { Out::Memory }, Out::Dir),
        text: text.map(String::into_bytes),
        threads_asked,
        ..Options::default()
    };
    let mut s = match &resume {
        Some(dir) => Session::resume(dir, cfg, opts),
        None => Session::new(cfg, opts),
    }
    .map_err(py_err)?;
    let mut cb = Callback { py, f: callback, error: None };
    let outcome = s.run(&mut cb).map_err(py_err)?;
    if let Some(e) = cb.error {
        return Err(e);
    }
    let what = match outcome {
        Outcome::Done => "done".to_string(),
        Outcome::AlreadyDone => "already done".to_string(),
        Outcome::EarlyStopped { step, .. } => format!("stopped early at step {step}"),
        Outcome::Interrupted { .. } => "stopped".to_string(),
        Outcome::Diverged { step, reason } => format!("diverged at step {step}: {reason}"),
    };
    Ok((what, s.folder().map(|p| p.display().to_string()), s.progress().step, s.progress().best_val))
}

/// `cfg` with every key of `changes` replaced; an unknown key or a value of the wrong type is a
/// `ValueError` naming it.
fn merge(cfg: RunConfig, changes: serde_json::Map<String, serde_json::Value>) -> PyResult<RunConfig> {
    let mut v = serde_json::to_value(&cfg).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let obj = v.as_object_mut().expect("a RunConfig is an object");
    for (k, val) in changes {
        if !obj.contains_key(&k) {
            let keys: Vec<&String> = obj.keys().collect();
            return Err(PyValueError::new_err(format!("unknown setting {k:?}: use one of {keys:?}")));
        }
        obj.insert(k, val);
    }
    serde_json::from_value(v).map_err(|e| PyValueError::new_err(format!("bad setting: {e}")))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rnn_cell_forward, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_forward, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_cell_backward, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_backward, m)?)?;
    m.add_function(wrap_pyfunction!(lstm_cell_forward, m)?)?;
    m.add_function(wrap_pyfunction!(lstm_forward, m)?)?;
    m.add_function(wrap_pyfunction!(lstm_cell_backward, m)?)?;
    m.add_function(wrap_pyfunction!(lstm_backward, m)?)?;
    m.add_function(wrap_pyfunction!(mistakes, m)?)?;
    m.add_function(wrap_pyfunction!(min_char_rnn, m)?)?;
    m.add_function(wrap_pyfunction!(simple_rnn, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<torch::TorchStack>()?;
    Ok(())
}
