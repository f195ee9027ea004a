//! The LSTM cell, PyTorch's gate order i, f, g, o:
//! `[i; f; g; o] = W_ih x + b_ih + W_hh h + b_hh`, `i, f, o = σ(·)`, `g = tanh(·)`,
//! `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`.
//!
//! Buffers hold `B` rows; a gate row is `[i | f | g | o]`, each block `H` wide.

use super::{BackwardStep, Cell, CellKind, ForwardStep, Lstm};
use crate::Float;

impl Cell for Lstm {
    const KIND: CellKind = CellKind::Lstm;

    /// The recurrent product goes straight into the four gates' pre-activations; `aux` keeps
    /// `tanh(c_t)`.
    #[inline(always)]
    fn forward_step<F: Float>(s: ForwardStep<'_, F>, recurrent: impl FnOnce(&[F], &mut [F])) {
        recurrent(s.h_prev, s.gates);
        forward_step(s.gates, s.c_prev, s.c, s.aux, s.h, s.hidden);
    }

    #[inline(always)]
    fn backward_step<F: Float>(s: BackwardStep<'_, F>) {
        backward_step(s.dh, s.dc, s.gates, s.c_prev, s.aux, s.hidden);
    }
}

/// One step forward for a batch: vectorised passes over each row's gate blocks.
///
/// * `gates`: `(B, 4H)`, in: the whole pre-activations `W_ih x + b_ih + W_hh h + b_hh`;
///   out: the activations `[i | f | g | o]`.
/// * `c_prev`: `(B, H)`; `c`, `tanh_c`, `h`: `(B, H)`, written.
#[inline(always)]
pub fn forward_step<F: Float>(
    gates: &mut [F],
    c_prev: &[F],
    c: &mut [F],
    tanh_c: &mut [F],
    h: &mut [F],
    hidden: usize,
) {
    let hs = hidden;
    for (b, g) in gates.chunks_exact_mut(4 * hs).enumerate() {
        let r = b * hs..(b + 1) * hs;
        let (ifg, o) = g.split_at_mut(3 * hs);
        let (i_f, gg) = ifg.split_at_mut(2 * hs);
        F::sigmoid_slice(i_f);
        F::tanh_slice(gg);
        F::sigmoid_slice(o);
        let (i, f) = i_f.split_at(hs);
        let (cp, c, tc, h) = (&c_prev[r.clone()], &mut c[r.clone()], &mut tanh_c[r.clone()], &mut h[r]);
        for j in 0..hs {
            c[j] = f[j] * cp[j] + i[j] * gg[j];
        }
        tc.copy_from_slice(c);
        F::tanh_slice(tc);
        for j in 0..hs {
            h[j] = o[j] * tc[j];
        }
    }
}

/// One step backward, in place: each gate activation is replaced by its pre-activation
/// gradient (the activation is not needed after this step, so no second buffer is kept).
///
/// * `dh`: `(B, H)`, `∂L/∂h_t` (output path plus the path from `t+1`).
/// * `dc`: `(B, H)`, in: `∂L/∂c_t` from step `t+1`; out: `∂L/∂c_{t-1}`.
/// * `gates`: `(B, 4H)`, in: the activations `[i | f | g | o]` saved by forward; out: the
///   gradient of the four pre-activations.
/// * `c_prev`, `tanh_c`: `(B, H)`, saved by the forward step.
#[inline(always)]
pub fn backward_step<F: Float>(dh: &[F], dc: &mut [F], gates: &mut [F], c_prev: &[F], tanh_c: &[F], hidden: usize) {
    let hs = hidden;
    let one = F::one();
    for (b, g) in gates.chunks_exact_mut(4 * hs).enumerate() {
        let r = b * hs..(b + 1) * hs;
        let (dh, dc, cp, tc) = (&dh[r.clone()], &mut dc[r.clone()], &c_prev[r.clone()], &tanh_c[r]);
        // Four disjoint blocks, so the loop below vectorises.
        let (gi, rest) = g.split_at_mut(hs);
        let (gf, rest) = rest.split_at_mut(hs);
        let (gg, go) = rest.split_at_mut(hs);
        for j in 0..hs {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let dct = dc[j] + dh[j] * o * (one - tc[j] * tc[j]);
            gi[j] = dct * g * i * (one - i);
            gf[j] = dct * cp[j] * f * (one - f);
            gg[j] = dct * i * (one - g * g);
            go[j] = dh[j] * tc[j] * o * (one - o);
            dc[j] = dct * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // With all pre-activations 0: i = f = o = σ(0) = 1/2, g = tanh(0) = 0, so
    // c' = ½·c_prev = 0.5 and h' = ½·tanh(0.5) = 0.2310585786300049 (hand calculation).
    #[test]
    fn zero_preactivations_halve_the_cell() {
        let mut gates = [0.0f64; 4];
        let (mut c, mut tc, mut h) = ([0.0], [0.0], [0.0]);
        forward_step(&mut gates, &[1.0], &mut c, &mut tc, &mut h, 1);
        assert_eq!(c[0], 0.5);
        assert!((h[0] - 0.5 * 0.5f64.tanh()).abs() < 1e-16);
        assert!((h[0] - 0.2310585786300049).abs() < 1e-15);
    }
}
