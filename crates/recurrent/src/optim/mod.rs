//! Optimizers as flat loops over [`Parameters`], gradient clipping, and their saved state.
//!
//! Update rules (g the gradient, lr the learning rate):
//! * SGD: `p −= lr·g`; momentum `v = μv + g; p −= lr·v` (PyTorch).
//! * Adagrad (min-char-rnn): `m += g²; p −= lr·g/√(m + ε)`, ε = 1e-8 inside the root.
//! * RMSProp (char-rnn, PyTorch): `m = αm + (1−α)g²; p −= lr·g/(√m + ε)`.
//! * Adam (PyTorch): `m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
//!   p −= lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
//! * Decoupled weight decay (AdamW, Loshchilov & Hutter; PyTorch's `AdamW`), with any rule:
//!   `p ← p·(1 − lr·λ)` before the rule's update, on weight matrices only (tensors of two or
//!   more dimensions; biases are not decayed, as in nanoGPT and AWD-LSTM).

use crate::error::{Error, Result};
use crate::layer::Parameters;
use crate::Float;

/// Which update rule, with its constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Plain gradient descent.
    Sgd,
    /// Heavy-ball momentum `μ`.
    Momentum(f64),
    /// Adagrad with `ε` inside the square root.
    Adagrad {
        /// ε.
        eps: f64,
    },
    /// RMSProp.
    RmsProp {
        /// Decay α.
        alpha: f64,
        /// ε.
        eps: f64,
    },
    /// Adam.
    Adam {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε.
        eps: f64,
    },
}

impl Rule {
    /// Parses `sgd`, `momentum`, `adagrad`, `rmsprop`, `adam` with the usual constants
    /// (RMSProp α = 0.99 as PyTorch; presets override).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sgd" => Rule::Sgd,
            "momentum" => Rule::Momentum(0.9),
            "adagrad" => Rule::Adagrad { eps: 1e-8 },
            "rmsprop" => Rule::RmsProp { alpha: 0.99, eps: 1e-8 },
            "adam" => Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            _ => {
                return Err(Error::Config(format!(
                    "unknown optimizer '{s}': use adam, adagrad, rmsprop, momentum or sgd"
                )))
            }
        })
    }

    /// The name `parse` accepts.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd => "sgd",
            Rule::Momentum(_) => "momentum",
            Rule::Adagrad { .. } => "adagrad",
            Rule::RmsProp { .. } => "rmsprop",
            Rule::Adam { .. } => "adam",
        }
    }

    fn slots(&self) -> usize {
        match self {
            Rule::Sgd => 0,
            Rule::Adam { .. } => 2,
            _ => 1,
        }
    }
}

/// An optimizer: a rule, a learning rate, a step count, and per-tensor moment buffers.
#[derive(Clone, Debug)]
pub struct Optimizer<F> {
    /// The update rule.
    pub rule: Rule,
    /// The current learning rate.
    pub lr: f64,
    /// Updates done so far (Adam's bias correction uses it).
    pub steps: u64,
    /// `slots × tensors` moment buffers, in [`Parameters::visit`] order (`m`, then `v` for Adam).
    pub moments: Vec<Vec<Vec<F>>>,
    /// Decoupled weight decay λ (0 = none), see [`Optimizer::with_weight_decay`].
    pub weight_decay: f64,
    /// Whether each step leaves the gradients at zero (see [`Optimizer::zeroing_grads`]).
    zero_grads: bool,
    /// Per tensor in visit order: whether weight decay applies (a matrix), found on the first
    /// update with decay.
    decayed: Vec<bool>,
}

impl<F: Float> Optimizer<F> {
    /// A fresh optimizer; buffers are made on the first step.
    pub fn new(rule: Rule, lr: f64) -> Self {
        Optimizer {
            rule,
            lr,
            steps: 0,
            moments: vec![Vec::new(); rule.slots()],
            weight_decay: 0.0,
            zero_grads: false,
            decayed: Vec::new(),
        }
    }

    /// Decoupled weight decay λ: every update first scales each weight matrix by `1 − lr·λ`
    /// (AdamW with Adam; biases are left alone). `0` is none.
    pub fn with_weight_decay(mut self, lambda: f64) -> Self {
        self.weight_decay = lambda;
        self
    }

    /// Makes every step also set each gradient to zero right after using it, in the same pass
    /// (a training loop's next `zero_grad` then has nothing to do, see
    /// [`Parameters::grads_now_zero`]). The updates are unchanged. With a helper thread this
    /// also keeps each half of a tensor's gradient in the cache of the core that updates it.
    pub fn zeroing_grads(mut self, on: bool) -> Self {
        self.zero_grads = on;
        self
    }

    /// One update of every parameter from its gradient.
    pub fn step(&mut self, model: &mut impl Parameters<F>) {
        self.step_clipped(model, Clip::default());
    }

    /// Clips the gradients as `clip` says and updates every parameter, in one pass over each
    /// tensor (the global norm, when asked for, needs one read-only pass first). The same
    /// arithmetic, in the same order, as [`clip_global_norm`], then [`clip_elementwise`], then
    /// [`Optimizer::step`], except that the gradients are left as they were. Returns the
    /// global gradient norm before clipping when `clip.norm` asked for it.
    pub fn step_clipped(&mut self, model: &mut impl Parameters<F>, clip: Clip) -> Option<f64> {
        let norm = (clip.norm > 0.0).then(|| grad_norm(model));
        let scale = norm.filter(|&n| n > clip.norm).map(|n| F::c(clip.norm / (n + 1e-6)));
        let clamp = (clip.value > 0.0).then(|| (F::c(-clip.value), F::c(clip.value)));
        match (scale, clamp) {
            (None, None) => self.update(model, |g| g),
            (Some(s), None) => self.update(model, move |g| g * s),
            (None, Some((lo, hi))) => self.update(model, move |g| clamp_to(g, lo, hi)),
            (Some(s), Some((lo, hi))) => self.update(model, move |g| clamp_to(g * s, lo, hi)),
        }
        norm
    }

    /// The update with each gradient entry first mapped by `prep` (scale, clamp).
    fn update(&mut self, model: &mut impl Parameters<F>, prep: impl Fn(F) -> F + Copy + Send + Sync) {
        if self.moments.iter().any(|m| m.is_empty()) {
            for slot in self.moments.iter_mut() {
                model.visit_values(&mut |p, _| slot.push(vec![F::zero(); p.len()]));
            }
        }
        if self.weight_decay != 0.0 && self.decayed.is_empty() {
            let d = &mut self.decayed;
            model.visit(&mut |_, shape, _, _| d.push(shape.len() >= 2));
        }
        self.steps += 1;
        let (lr, rule, t, zero) = (F::c(self.lr), self.rule, self.steps as f64, self.zero_grads);
        let shrink = F::c(1.0 - self.lr * self.weight_decay);
        let decayed = &self.decayed;
        let (mut m0, mut m1) = match self.moments.split_first_mut() {
            Some((a, rest)) => (Some(a), rest.first_mut()),
            None => (None, None),
        };
        let mut i = 0;
        model.visit_values(&mut |p, g| {
            let m = m0.as_deref_mut().map(|s| &mut s[i][..]);
            let v = m1.as_deref_mut().map(|s| &mut s[i][..]);
            let decay = decayed.get(i).copied().unwrap_or(false);
            // One tensor's loop in eight-lane code (see `kernels::wide`).
            let run = |p: &mut [F], g: &mut [F], m: Option<&mut [F]>, v: Option<&mut [F]>| {
                crate::kernels::wide(
                    #[inline(always)]
                    || {
                        if decay {
                            p.iter_mut().for_each(|x| *x *= shrink);
                        }
                        update_tensor(rule, lr, t, p, g, m, v, prep)
                    },
                );
                if zero {
                    g.fill(F::zero());
                }
            };
            if p.len() >= PAR_MIN_LEN && crate::parallel::available() {
                // Element-wise, so two halves on two threads give the same values.
                let half = (p.len() / 2).next_multiple_of(8);
                let (p0, p1) = p.split_at_mut(half);
                let (g0, g1) = g.split_at_mut(half);
                let (m0, m1) = split_opt(m, half);
                let (v0, v1) = split_opt(v, half);
                crate::parallel::join(|| run(p0, g0, m0, v0), || run(p1, g1, m1, v1));
            } else {
                run(p, g, m, v);
            }
            i += 1;
        });
        if zero {
            model.grads_now_zero();
        }
    }
}

/// Tensors from this many entries are updated in two halves on two threads when a
/// [`crate::parallel::Helper`] is installed (min-char-rnn's three weight matrices have 6,500 and
/// 10,000; a hand-off costs about as much as updating 500 entries).
const PAR_MIN_LEN: usize = 4096;

/// An optional slice cut at `at`.
fn split_opt<F>(s: Option<&mut [F]>, at: usize) -> (Option<&mut [F]>, Option<&mut [F]>) {
    match s {
        Some(s) => {
            let (a, b) = s.split_at_mut(at);
            (Some(a), Some(b))
        }
        None => (None, None),
    }
}

/// Gradient clipping done inside [`Optimizer::step_clipped`]; `0` switches each off.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clip {
    /// Scale every gradient by `norm / (‖g‖ + 1e-6)` when the global norm `‖g‖` exceeds it
    /// (PyTorch's `clip_grad_norm_`).
    pub norm: f64,
    /// Then clamp every entry to `[−value, value]` (min-char-rnn, char-rnn).
    pub value: f64,
}

/// `v` clamped to `[lo, hi]` by plain comparisons (not `f32::max`/`min`, whose NaN rules block
/// vectorisation).
#[inline(always)]
fn clamp_to<F: Float>(v: F, lo: F, hi: F) -> F {
    if v > hi {
        hi
    } else if v < lo {
        lo
    } else {
        v
    }
}

/// One tensor's update; `m`, `v` are its moment slots (`m` for every rule but SGD, `v` for Adam).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn update_tensor<F: Float>(
    rule: Rule,
    lr: F,
    t: f64,
    p: &mut [F],
    g: &[F],
    m: Option<&mut [F]>,
    v: Option<&mut [F]>,
    prep: impl Fn(F) -> F,
) {
    match rule {
        Rule::Sgd => p.iter_mut().zip(g).for_each(|(p, &g)| *p -= lr * prep(g)),
        Rule::Momentum(mu) => {
            let (mu, v) = (F::c(mu), m.expect("slot"));
            for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                *v = mu * *v + prep(g);
                *p -= lr * *v;
            }
        }
        Rule::Adagrad { eps } => {
            let (eps, m) = (F::c(eps), m.expect("slot"));
            for ((p, &g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
                let g = prep(g);
                *m += g * g;
                *p -= lr * g / (*m + eps).sqrt();
            }
        }
        Rule::RmsProp { alpha, eps } => {
            let (a, eps, m) = (F::c(alpha), F::c(eps), m.expect("slot"));
            for ((p, &g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
                let g = prep(g);
                *m = a * *m + (F::one() - a) * g * g;
                *p -= lr * g / (m.sqrt() + eps);
            }
        }
        Rule::Adam { beta1, beta2, eps } => {
            let (b1, b2, eps) = (F::c(beta1), F::c(beta2), F::c(eps));
            let (c1, c2) = (F::c(1.0 / (1.0 - beta1.powf(t))), F::c(1.0 / (1.0 - beta2.powf(t))));
            let (m, v) = (m.expect("slot"), v.expect("slot"));
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = prep(g);
                *m = b1 * *m + (F::one() - b1) * g;
                *v = b2 * *v + (F::one() - b2) * g * g;
                *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
            }
        }
    }
}

/// The global L2 norm of every gradient.
pub fn grad_norm<F: Float>(model: &mut impl Parameters<F>) -> f64 {
    let mut s = 0.0;
    model.visit_values(&mut |_, g| {
        s += crate::kernels::wide(
            #[inline(always)]
            || crate::kernels::lane_sum::<8, F>(g, |v| v.f64() * v.f64()),
        )
    });
    s.sqrt()
}

/// Clamps every gradient entry to `[−c, c]` (min-char-rnn, char-rnn).
pub fn clip_elementwise<F: Float>(model: &mut impl Parameters<F>, c: f64) {
    let (lo, hi) = (F::c(-c), F::c(c));
    model.visit_values(&mut |_, g| {
        crate::kernels::wide(
            #[inline(always)]
            || g.iter_mut().for_each(|v| *v = clamp_to(*v, lo, hi)),
        )
    });
}

/// Scales all gradients by `max_norm / (norm + 1e-6)` when their global norm exceeds
/// `max_norm` (PyTorch's `clip_grad_norm_`). Returns the norm before clipping.
pub fn clip_global_norm<F: Float>(model: &mut impl Parameters<F>, max_norm: f64) -> f64 {
    let norm = grad_norm(model);
    if norm > max_norm {
        let s = F::c(max_norm / (norm + 1e-6));
        model.visit_values(&mut |_, g| g.iter_mut().for_each(|v| *v *= s));
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Linear;
    use ndarray::array;

    fn one_param(p: f64, g: f64) -> Linear<f64> {
        let mut l = Linear::from_weights(array![[p]], array![0.0]);
        l.dweight[[0, 0]] = g;
        l
    }

    // Adam's first step moves every parameter by lr·sign(g) (bias correction makes m̂ = g,
    // v̂ = g²): 1 − 0.1·1 = 0.9 (hand calculation, up to ε).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let mut l = one_param(1.0, 3.0);
        let mut o = Optimizer::new(Rule::parse("adam").unwrap(), 0.1);
        o.step(&mut l);
        assert!((l.weight[[0, 0]] - 0.9).abs() < 1e-8);
    }

    // Adagrad: m = 4, p = 1 − 0.5·2/√(4 + 1e-8) = 0.5 (hand).
    #[test]
    fn adagrad_by_hand() {
        let mut l = one_param(1.0, 2.0);
        let mut o = Optimizer::new(Rule::Adagrad { eps: 1e-8 }, 0.5);
        o.step(&mut l);
        assert!((l.weight[[0, 0]] - 0.5).abs() < 1e-9);
    }

    // RMSProp α = 0.95: m = 0.05·4 = 0.2, p = 1 − 0.1·2/(√0.2 + 1e-8) ≈ 1 − √0.2 = 0.5527864045
    // (hand; ε moves it by 0.2/0.2·1e-8 = 1e-8).
    #[test]
    fn rmsprop_by_hand() {
        let mut l = one_param(1.0, 2.0);
        let mut o = Optimizer::new(Rule::RmsProp { alpha: 0.95, eps: 1e-8 }, 0.1);
        o.step(&mut l);
        assert!((l.weight[[0, 0]] - (1.0 - 0.2 / (0.2f64.sqrt() + 1e-8))).abs() < 1e-12);
        assert!((l.weight[[0, 0]] - 0.5527864045).abs() < 2e-8);
    }

    // The fused path must be the separate one, bit for bit: clip by norm, clamp, update, for
    // every rule, in f32 (whose update loops run eight lanes wide) and f64, over several steps.
    #[test]
    fn step_clipped_is_clip_then_step() {
        fn check<F: Float>() {
            let mut rng = crate::NumpyRng::new(5);
            let w = ndarray::Array2::from_shape_simple_fn((7, 19), || F::c(rng.standard_normal()));
            for rule in ["sgd", "momentum", "adagrad", "rmsprop", "adam"] {
                for (norm, value) in [(0.0, 0.0), (2.0, 0.0), (0.0, 0.3), (2.0, 0.3), (1e6, 0.0)] {
                    let mut a = Linear::from_weights(w.clone(), ndarray::Array1::zeros(7));
                    let mut b = a.clone();
                    let mut oa = Optimizer::new(Rule::parse(rule).unwrap(), 0.1);
                    let mut ob = oa.clone();
                    for step in 0..3 {
                        let g = ndarray::Array2::from_shape_simple_fn((7, 19), || F::c(rng.standard_normal()));
                        a.dweight.assign(&g);
                        b.dweight.assign(&g);
                        a.dbias.fill(F::c(step as f64 - 1.0));
                        b.dbias.fill(F::c(step as f64 - 1.0));
                        let na = (norm > 0.0).then(|| clip_global_norm(&mut a, norm));
                        if value > 0.0 {
                            clip_elementwise(&mut a, value);
                        }
                        oa.step(&mut a);
                        let nb = ob.step_clipped(&mut b, Clip { norm, value });
                        assert_eq!(na, nb, "{rule}: the norm");
                        assert_eq!(a.weight, b.weight, "{rule} norm {norm} value {value} step {step}");
                        assert_eq!(a.bias, b.bias, "{rule} norm {norm} value {value} step {step}");
                    }
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }

    // AdamW (PyTorch's order): w = 1·(1 − 0.1·0.5) = 0.95, then Adam's first step −0.1·sign(g)
    // = 0.85 (hand calculation, up to ε); the bias (a vector) is not decayed: 2 − 0.1 = 1.9.
    #[test]
    fn weight_decay_shrinks_matrices_only() {
        let mut l = Linear::<f64>::from_weights(array![[1.0]], array![2.0]);
        l.dweight[[0, 0]] = 3.0;
        l.dbias[0] = 3.0;
        let mut o = Optimizer::new(Rule::parse("adam").unwrap(), 0.1).with_weight_decay(0.5);
        o.step(&mut l);
        assert!((l.weight[[0, 0]] - 0.85).abs() < 1e-8, "{}", l.weight[[0, 0]]);
        assert!((l.bias[0] - 1.9).abs() < 1e-8, "{}", l.bias[0]);
        // SGD with decay λ: w ← w(1 − lrλ) − lr·g = 0.85·0.95 − 0.1·3 = 0.5075 (hand).
        let mut s = Optimizer::new(Rule::Sgd, 0.1).with_weight_decay(0.5);
        s.step(&mut l);
        assert!((l.weight[[0, 0]] - 0.5075).abs() < 1e-8, "{}", l.weight[[0, 0]]);
    }

    // Gradients (3, 4) have norm 5; clipping to 1 scales them by 1/(5 + 1e-6).
    #[test]
    fn global_norm_clip_by_hand() {
        let mut l = one_param(0.0, 3.0);
        l.dbias[0] = 4.0;
        assert_eq!(clip_global_norm(&mut l, 1.0), 5.0);
        assert!((l.dweight[[0, 0]] - 3.0 / (5.0 + 1e-6)).abs() < 1e-15);
        clip_elementwise(&mut l, 0.1);
        assert_eq!(l.dbias[0], 0.1);
    }
}
