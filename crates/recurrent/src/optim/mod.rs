//! Optimizers as flat loops over [`Parameters`], gradient clipping, and their saved state.
//!
//! Update rules (g the gradient, lr the learning rate):
//! * SGD: `p −= lr·g`; momentum `v = μv + g; p −= lr·v` (PyTorch).
//! * Adagrad (min-char-rnn): `m += g²; p −= lr·g/√(m + ε)`, ε = 1e-8 inside the root.
//! * RMSProp (char-rnn, PyTorch): `m = αm + (1−α)g²; p −= lr·g/(√m + ε)`.
//! * Adam (PyTorch): `m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
//!   p −= lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.

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
}

impl<F: Float> Optimizer<F> {
    /// A fresh optimizer; buffers are made on the first step.
    pub fn new(rule: Rule, lr: f64) -> Self {
        Optimizer { rule, lr, steps: 0, moments: vec![Vec::new(); rule.slots()] }
    }

    /// One update of every parameter from its gradient.
    pub fn step(&mut self, model: &mut impl Parameters<F>) {
        if self.moments.iter().any(|m| m.is_empty()) {
            for slot in self.moments.iter_mut() {
                model.visit(&mut |_, _, p, _| slot.push(vec![F::zero(); p.len()]));
            }
        }
        self.steps += 1;
        let (lr, rule, t) = (F::c(self.lr), self.rule, self.steps as f64);
        let (mut m0, mut m1) = match self.moments.split_first_mut() {
            Some((a, rest)) => (Some(a), rest.first_mut()),
            None => (None, None),
        };
        let mut i = 0;
        model.visit(&mut |_, _, p, g| {
            match rule {
                Rule::Sgd => p.iter_mut().zip(g.iter()).for_each(|(p, &g)| *p -= lr * g),
                Rule::Momentum(mu) => {
                    let (mu, v) = (F::c(mu), &mut m0.as_deref_mut().expect("slot")[i]);
                    for ((p, &g), v) in p.iter_mut().zip(g.iter()).zip(v.iter_mut()) {
                        *v = mu * *v + g;
                        *p -= lr * *v;
                    }
                }
                Rule::Adagrad { eps } => {
                    let (eps, m) = (F::c(eps), &mut m0.as_deref_mut().expect("slot")[i]);
                    for ((p, &g), m) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()) {
                        *m += g * g;
                        *p -= lr * g / (*m + eps).sqrt();
                    }
                }
                Rule::RmsProp { alpha, eps } => {
                    let (a, eps, m) = (F::c(alpha), F::c(eps), &mut m0.as_deref_mut().expect("slot")[i]);
                    for ((p, &g), m) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()) {
                        *m = a * *m + (F::one() - a) * g * g;
                        *p -= lr * g / (m.sqrt() + eps);
                    }
                }
                Rule::Adam { beta1, beta2, eps } => {
                    let (b1, b2, eps) = (F::c(beta1), F::c(beta2), F::c(eps));
                    let (c1, c2) = (F::c(1.0 / (1.0 - beta1.powf(t))), F::c(1.0 / (1.0 - beta2.powf(t))));
                    let m = &mut m0.as_deref_mut().expect("slot")[i];
                    let v = &mut m1.as_deref_mut().expect("slot")[i];
                    for (((p, &g), m), v) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
                        *m = b1 * *m + (F::one() - b1) * g;
                        *v = b2 * *v + (F::one() - b2) * g * g;
                        *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
                    }
                }
            }
            i += 1;
        });
    }
}

/// The global L2 norm of every gradient.
pub fn grad_norm<F: Float>(model: &mut impl Parameters<F>) -> f64 {
    let mut s = 0.0;
    model.visit(&mut |_, _, _, g| s += g.iter().map(|v| v.f64() * v.f64()).sum::<f64>());
    s.sqrt()
}

/// Clamps every gradient entry to `[−c, c]` (min-char-rnn, char-rnn).
pub fn clip_elementwise<F: Float>(model: &mut impl Parameters<F>, c: f64) {
    let (lo, hi) = (F::c(-c), F::c(c));
    // Plain comparisons (not f32::max/min, whose NaN rules block vectorisation).
    model.visit(&mut |_, _, _, g| {
        g.iter_mut().for_each(|v| {
            *v = if *v > hi {
                hi
            } else if *v < lo {
                lo
            } else {
                *v
            }
        })
    });
}

/// Scales all gradients by `max_norm / (norm + 1e-6)` when their global norm exceeds
/// `max_norm` (PyTorch's `clip_grad_norm_`). Returns the norm before clipping.
pub fn clip_global_norm<F: Float>(model: &mut impl Parameters<F>, max_norm: f64) -> f64 {
    let norm = grad_norm(model);
    if norm > max_norm {
        let s = F::c(max_norm / (norm + 1e-6));
        model.visit(&mut |_, _, _, g| g.iter_mut().for_each(|v| *v *= s));
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
