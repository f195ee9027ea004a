//! The tanh RNN cell: `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`.

use super::{BackwardStep, Cell, CellKind, ForwardStep, Rnn};
use crate::Float;

impl Cell for Rnn {
    const KIND: CellKind = CellKind::Rnn;

    /// The recurrent product goes straight into the pre-activations.
    #[inline(always)]
    fn forward_step<F: Float>(s: ForwardStep<'_, F>, recurrent: impl FnOnce(&[F], &mut [F])) {
        recurrent(s.h_prev, s.gates);
        forward_step(s.gates, s.h);
    }

    #[inline(always)]
    fn backward_step<F: Float>(s: BackwardStep<'_, F>) {
        backward_step(s.dh, s.h, s.gates);
    }
}

/// One step forward for a batch.
///
/// * `pre`: `(B, H)`, the whole pre-activation `W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`.
/// * `h`: `(B, H)`, written: `h_t = tanh(pre)`.
#[inline(always)]
pub fn forward_step<F: Float>(pre: &[F], h: &mut [F]) {
    h.copy_from_slice(pre);
    F::tanh_slice(h);
}

/// One step backward: the pre-activation gradient from the gradient reaching `h_t`.
///
/// * `dh`: `(B, H)`, `∂L/∂h_t`, already the sum of the output path and the path from `t+1`.
/// * `h`: `(B, H)`, `h_t` saved by the forward step (`tanh' = 1 − h²`).
/// * `dpre`: `(B, H)`, written: `∂L/∂(W_ih x + b_ih + W_hh h + b_hh)`.
///
/// The caller turns `dpre` into `∂L/∂h_{t-1} = dpre · W_hh` and the weight gradients.
#[inline(always)]
pub fn backward_step<F: Float>(dh: &[F], h: &[F], dpre: &mut [F]) {
    for ((d, &g), &h) in dpre.iter_mut().zip(dh).zip(h) {
        *d = g * (F::one() - h * h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // tanh(0.5 + 0.25) = tanh(0.75) = 0.6351489523872873 (hand: (e^1.5 − 1)/(e^1.5 + 1)).
    #[test]
    fn forward_is_tanh_of_sum() {
        let mut h = [0.0f64];
        forward_step(&[0.5 + 0.25], &mut h);
        assert!((h[0] - 0.6351489523872873).abs() < 1e-15);
        let mut d = [0.0f64];
        backward_step(&[2.0], &h, &mut d);
        assert!((d[0] - 2.0 * (1.0 - h[0] * h[0])).abs() < 1e-15);
    }

    // One step of a batch of 2 × 3 units against PyTorch float64 (the constants below are printed
    // by `scripts/cell_reference.py`): every value of h and of the pre-activation gradient.
    #[test]
    fn step_matches_pytorch() {
        // RNN: pre-activations, upstream dh; PyTorch's h and the gradient of the pre-activations.
        const PRE: [f64; 6] =
            [-1.7, -0.99, -0.28000000000000025, 0.4299999999999997, 1.1399999999999997, 1.8499999999999996];
        const DH: [f64; 6] = [0.20000000000000018, -0.7, -1.6, -2.5, 1.5999999999999996, 0.7000000000000002];
        const H: [f64; 6] = [
            -0.935409070603099,
            -0.7573623242165263,
            -0.2729050805631329,
            0.40532130868946276,
            0.8144140937656859,
            0.9517459571646616,
        ];
        const DPRE: [f64; 6] = [
            0.025001974126689343,
            -0.2984816169001389,
            -1.480836507204528,
            -2.089286591805653,
            0.5387674942013065,
            0.06592574311450553,
        ];
        let mut h = [0.0f64; 6];
        forward_step(&PRE, &mut h);
        let mut d = [0.0f64; 6];
        backward_step(&DH, &h, &mut d);
        for (name, got, want) in [("h", &h[..], &H[..]), ("dpre", &d[..], &DPRE[..])] {
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-15, "{name}: largest difference {worst:e}");
        }
    }
}
