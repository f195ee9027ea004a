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
}
