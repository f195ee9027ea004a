//! Gradient checking by centred finite differences in `f64`.
//!
//! Every tensor a model exposes (its parameters, its input, its initial state) is perturbed one
//! element at a time by `±ε`; `(L(θ+ε) − L(θ−ε)) / 2ε` is compared with the hand-written
//! gradient. A tensor's error is `max|analytic − numeric| / max(max|analytic|, max|numeric|)`:
//! the largest difference relative to the tensor's own scale, which stays meaningful for the
//! many entries that are near zero (entry-wise ratios of two round-off errors are not).

use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use crate::layer::Parameters;
use crate::loss::{softmax_cross_entropy, Reduction};
use crate::rng::NumpyRng;
use crate::{Linear, Result};
use ndarray::{Array2, Array3, ArrayD, IxDyn};

/// The tolerance every check in this project must pass.
pub const TOLERANCE: f64 = 1e-6;

/// A scalar function of some named tensors whose gradient is known analytically.
pub trait Checkable {
    /// Calls `f(name, shape, values)` for every checked tensor, always in the same order.
    fn visit_inputs(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [f64]));
    /// The loss at the current values.
    fn loss(&mut self) -> f64;
    /// The analytic gradients, one per tensor in [`Checkable::visit_inputs`] order.
    fn gradients(&mut self) -> Vec<Vec<f64>>;
}

/// The outcome for one tensor.
#[derive(Clone, Debug)]
pub struct TensorCheck {
    /// Its name (`weight_ih_l0`, `x`, `h0`, ...).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// The scale-relative error defined in the module docs.
    pub rel_error: f64,
    /// The largest absolute difference.
    pub abs_error: f64,
    /// The largest analytic gradient magnitude (to show the gradient is not all zero).
    pub max_grad: f64,
}

impl TensorCheck {
    /// Whether the error is below `tol` (an all-zero gradient passes only if both are zero).
    pub fn passed(&self, tol: f64) -> bool {
        self.rel_error < tol || (self.max_grad == 0.0 && self.abs_error == 0.0)
    }
}

/// Every tensor's outcome.
#[derive(Clone, Debug)]
pub struct Report {
    /// In the order of [`Checkable::visit_inputs`].
    pub tensors: Vec<TensorCheck>,
    /// The tolerance applied.
    pub tolerance: f64,
}

impl Report {
    /// Whether every tensor passed.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.passed(self.tolerance))
    }

    /// The worst tensor's relative error.
    pub fn max_error(&self) -> f64 {
        self.tensors.iter().map(|t| t.rel_error).fold(0.0, f64::max)
    }

    /// A table, one row per tensor, and a verdict line.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<24} {:<14} {:>12} {:>12} {:>11}  result\n",
            "tensor", "shape", "rel. error", "abs. error", "max |grad|"
        );
        for t in &self.tensors {
            let ok = if t.passed(self.tolerance) { "pass" } else { "FAIL" };
            s += &format!(
                "{:<24} {:<14} {:>12.3e} {:>12.3e} {:>11.3e}  {ok}\n",
                t.name,
                crate::error::fmt_shape(&t.shape),
                t.rel_error,
                t.abs_error,
                t.max_grad
            );
        }
        let n_fail = self.tensors.iter().filter(|t| !t.passed(self.tolerance)).count();
        s += &if n_fail == 0 {
            format!(
                "PASS: all {} tensors below {:.0e} (largest {:.3e})\n",
                self.tensors.len(),
                self.tolerance,
                self.max_error()
            )
        } else {
            format!("FAIL: {n_fail} of {} tensors at or above {:.0e}\n", self.tensors.len(), self.tolerance)
        };
        s
    }
}

/// Checks every tensor of `m` with step `eps` against `tol`.
pub fn check(m: &mut impl Checkable, eps: f64, tol: f64) -> Report {
    let analytic = m.gradients();
    let mut meta = Vec::new();
    m.visit_inputs(&mut |n, s, _| meta.push((n.to_string(), s.to_vec())));
    let mut tensors = Vec::new();
    for (ti, ((name, shape), ana)) in meta.into_iter().zip(analytic).enumerate() {
        let mut num = vec![0.0; ana.len()];
        for (j, nj) in num.iter_mut().enumerate() {
            let orig = nudge(m, ti, j, None);
            nudge(m, ti, j, Some(orig + eps));
            let lp = m.loss();
            nudge(m, ti, j, Some(orig - eps));
            let lm = m.loss();
            nudge(m, ti, j, Some(orig));
            *nj = (lp - lm) / (2.0 * eps);
        }
        let abs_error = ana.iter().zip(&num).map(|(a, n)| (a - n).abs()).fold(0.0, f64::max);
        let max_grad = ana.iter().fold(0.0f64, |m, a| m.max(a.abs()));
        let scale = num.iter().fold(max_grad, |m, a| m.max(a.abs()));
        let rel_error = if scale > 0.0 { abs_error / scale } else { 0.0 };
        tensors.push(TensorCheck { name, shape, rel_error, abs_error, max_grad });
    }
    Report { tensors, tolerance: tol }
}

/// Sets element `j` of tensor `ti` to `v` (when given) and returns its previous value.
fn nudge(m: &mut impl Checkable, ti: usize, j: usize, v: Option<f64>) -> f64 {
    let (mut k, mut old) = (0, 0.0);
    m.visit_inputs(&mut |_, _, vals| {
        if k == ti {
            old = vals[j];
            if let Some(v) = v {
                vals[j] = v;
            }
        }
        k += 1;
    });
    old
}

/// A recurrent stack with an optional linear head, on a fixed input, as a scalar loss:
/// with a head, softmax cross-entropy of `head(y)` against `targets`; without one,
/// `Σ y ⊙ dy`. Both add `Σ h_n ⊙ dh_n (+ Σ c_n ⊙ dc_n)` so the final-state path is checked too.
/// The checked tensors are every parameter, `x`, `h0` and (LSTM) `c0`.
#[derive(Clone, Debug)]
pub struct SeqProblem {
    /// The stack.
    pub rnn: Recurrent<f64>,
    /// The head, `(V, D·H)`.
    pub head: Option<Linear<f64>>,
    /// `(T, B, I)`, or `(B, T, I)` when batch-first.
    pub x: Array3<f64>,
    /// The initial state.
    pub h0: State<f64>,
    /// `T·B` targets for the head, in the order of `y`'s rows (time-major).
    pub targets: Vec<usize>,
    /// Probe weights on `y`, shape of `y`.
    pub dy: Array3<f64>,
    /// Probe weights on the final state.
    pub dstate: State<f64>,
    /// How the cross-entropy is reduced.
    pub reduction: Reduction,
    /// When set, dropout is on with masks drawn from `NumpyRng::new(seed)` at every evaluation.
    pub dropout_seed: Option<u32>,
}

impl SeqProblem {
    /// Everything random from `seed`: weights by PyTorch's init, `x`, `h0`, `c0` and probes
    /// standard normal, targets uniform. `vocab = Some(V)` adds a head with `V` classes.
    pub fn random(cfg: &RecurrentConfig, t: usize, b: usize, vocab: Option<usize>, seed: u32) -> Result<Self> {
        let mut rng = NumpyRng::new(seed);
        let rnn = cfg.init::<f64>(&mut rng)?;
        let head = vocab.map(|v| Linear::new(rnn.output_size(), v, &mut rng));
        let (d0, d1) = if cfg.batch_first { (b, t) } else { (t, b) };
        let mut randn3 = |s: (usize, usize, usize)| Array3::from_shape_simple_fn(s, || rng.standard_normal());
        let x = randn3((d0, d1, cfg.input_size));
        let dy = randn3((d0, d1, rnn.output_size()));
        let mut h0 = State::zeros(cfg, b);
        let mut dstate = State::zeros(cfg, b);
        for s in [&mut h0, &mut dstate] {
            s.h.mapv_inplace(|_| rng.standard_normal());
            if let Some(c) = s.c.as_mut() {
                c.mapv_inplace(|_| rng.standard_normal());
            }
        }
        let targets = (0..t * b).map(|_| (rng.random_sample() * vocab.unwrap_or(1) as f64) as usize).collect();
        Ok(SeqProblem { rnn, head, x, h0, targets, dy, dstate, reduction: Reduction::Mean, dropout_seed: None })
    }

    /// Forward; returns the loss and, when `grad`, runs backward leaving gradients in the
    /// parameters and returning `(dx, dh0)`.
    pub fn run(&mut self, grad: bool) -> (f64, Option<(Array3<f64>, State<f64>)>) {
        let mut rng = self.dropout_seed.map(NumpyRng::new);
        let (y, hn) = self
            .rnn
            .forward(Input::Dense(self.x.view()), Some(&self.h0), rng.as_mut())
            .expect("shapes checked at construction");
        let mut loss = (&hn.h * &self.dstate.h).sum();
        if let (Some(c), Some(dc)) = (&hn.c, &self.dstate.c) {
            loss += (c * dc).sum();
        }
        let dy = match &mut self.head {
            None => {
                loss += (&y * &self.dy).sum();
                self.dy.clone()
            }
            Some(head) => {
                let rows = self.rnn.output_rows().to_owned();
                let mut logits = Array2::zeros((rows.nrows(), head.output()));
                head.forward(rows.view(), &mut logits);
                loss += softmax_cross_entropy(&mut logits, &self.targets, self.reduction);
                if !grad {
                    return (loss, None);
                }
                head.zero_grad();
                let mut drows = Array2::zeros(rows.raw_dim());
                head.backward(rows.view(), logits.view(), Some(drows.view_mut()));
                let (t, b) = (self.rnn.output_rows().nrows() / self.h0.h.shape()[1], self.h0.h.shape()[1]);
                let d3 = drows.into_shape_with_order((t, b, self.rnn.output_size())).expect("T·B rows");
                if self.rnn.config.batch_first {
                    d3.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
                } else {
                    d3
                }
            }
        };
        if !grad {
            return (loss, None);
        }
        self.rnn.zero_grad();
        let (dx, dh0) = self.rnn.backward(dy.view(), Some(&self.dstate)).expect("shapes match the forward");
        (loss, Some((dx.expect("dense input"), dh0)))
    }
}

impl Checkable for SeqProblem {
    fn visit_inputs(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [f64])) {
        self.rnn.visit(&mut |n, s, p, _| f(n, s, p));
        if let Some(h) = self.head.as_mut() {
            h.visit(&mut |n, s, p, _| f(&format!("head.{n}"), s, p));
        }
        let xs = self.x.shape().to_vec();
        f("x", &xs, self.x.as_slice_mut().expect("standard layout"));
        let hs = self.h0.h.shape().to_vec();
        f("h0", &hs, self.h0.h.as_slice_mut().expect("standard layout"));
        if let Some(c) = self.h0.c.as_mut() {
            f("c0", &hs, c.as_slice_mut().expect("standard layout"));
        }
    }

    fn loss(&mut self) -> f64 {
        self.run(false).0
    }

    fn gradients(&mut self) -> Vec<Vec<f64>> {
        let (_, g) = self.run(true);
        let (dx, dh0) = g.expect("asked for gradients");
        let mut out = Vec::new();
        self.rnn.visit(&mut |_, _, _, g| out.push(g.to_vec()));
        if let Some(h) = self.head.as_mut() {
            h.visit(&mut |_, _, _, g| out.push(g.to_vec()));
        }
        out.push(dx.iter().copied().collect());
        out.push(dh0.h.iter().copied().collect());
        if let Some(c) = dh0.c {
            out.push(c.iter().copied().collect());
        }
        out
    }
}

/// Reshapes a flat gradient into an n-d array.
pub fn to_array(shape: &[usize], v: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape matches length")
}
