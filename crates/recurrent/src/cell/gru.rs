//! The GRU cell, PyTorch's gate order r, z, n, with the reset gate applied to `W_hn h + b_hn`:
//! `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
//! `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
//!
//! Because `r` multiplies only the hidden side of `n`, the input-side and hidden-side
//! pre-activation gradients differ in the `n` block, so backward writes both.

use super::{BackwardStep, Cell, CellKind, ForwardStep, Gru};
use crate::Float;

impl Cell for Gru {
    const KIND: CellKind = CellKind::Gru;

    /// The hidden side stays apart: `hproj = b_hh + h_{t-1} · W_hhᵀ`, of which the reset gate
    /// multiplies the `n` block; `aux` keeps `W_hn h_{t-1} + b_hn`.
    #[inline(always)]
    fn forward_step<F: Float>(s: ForwardStep<'_, F>, recurrent: impl FnOnce(&[F], &mut [F])) {
        for row in s.hproj.chunks_exact_mut(s.bias_hh.len().max(1)) {
            row.copy_from_slice(s.bias_hh);
        }
        recurrent(s.h_prev, s.hproj);
        forward_step(s.gates, s.hproj, s.h_prev, s.h, s.aux, s.hidden);
    }

    /// Writes the hidden side's gradient to `dgh` and leaves the direct path `z ⊙ dh` in `dh`.
    #[inline(always)]
    fn backward_step<F: Float>(s: BackwardStep<'_, F>) {
        backward_step(s.dh, s.gates, s.aux, s.h_prev, s.dgh, s.hidden);
    }
}

/// One step forward for a batch.
///
/// * `gates`: `(B, 3H)`, in: `W_ih x_t + b_ih`; out: the activations `[r | z | n]`.
/// * `hproj`: `(B, 3H)`, `W_hh h_{t-1} + b_hh`.
/// * `h_prev`: `(B, H)`; `h`: `(B, H)`, written.
/// * `hn`: `(B, H)`, written: `W_hn h_{t-1} + b_hn`, kept for backward.
#[inline(always)]
pub fn forward_step<F: Float>(gates: &mut [F], hproj: &[F], h_prev: &[F], h: &mut [F], hn: &mut [F], hidden: usize) {
    let hs = hidden;
    let one = F::one();
    for (b, (g, hp)) in gates.chunks_exact_mut(3 * hs).zip(hproj.chunks_exact(3 * hs)).enumerate() {
        let rg = b * hs..(b + 1) * hs;
        let (hprev, h, hn) = (&h_prev[rg.clone()], &mut h[rg.clone()], &mut hn[rg]);
        let (rz, n) = g.split_at_mut(2 * hs);
        for (x, &y) in rz.iter_mut().zip(&hp[..2 * hs]) {
            *x += y;
        }
        F::sigmoid_slice(rz);
        hn.copy_from_slice(&hp[2 * hs..]);
        for j in 0..hs {
            n[j] += rz[j] * hn[j];
        }
        F::tanh_slice(n);
        let z = &rz[hs..];
        for j in 0..hs {
            h[j] = (one - z[j]) * n[j] + z[j] * hprev[j];
        }
    }
}

/// One step backward, in place on the gate buffer.
///
/// * `dh`: `(B, H)`, in: `∂L/∂h_t`; out: the direct part of `∂L/∂h_{t-1}`, `dh ⊙ z` (the caller
///   adds `dgh · W_hh`).
/// * `gates`: `(B, 3H)`, in: `[r | z | n]` saved by forward; out: the gradient of the input-side
///   pre-activations `W_ih x + b_ih`.
/// * `hn`, `h_prev`: `(B, H)`, saved by forward.
/// * `dgh`: `(B, 3H)`, written: gradient of the hidden-side pre-activations `W_hh h + b_hh`.
#[inline(always)]
pub fn backward_step<F: Float>(dh: &mut [F], gates: &mut [F], hn: &[F], h_prev: &[F], dgh: &mut [F], hidden: usize) {
    let hs = hidden;
    let one = F::one();
    for (b, (g, dhh)) in gates.chunks_exact_mut(3 * hs).zip(dgh.chunks_exact_mut(3 * hs)).enumerate() {
        let rg = b * hs..(b + 1) * hs;
        let (dh, hn, hp) = (&mut dh[rg.clone()], &hn[rg.clone()], &h_prev[rg]);
        // Disjoint blocks, so the loop below vectorises.
        let (gr, rest) = g.split_at_mut(hs);
        let (gz, gn) = rest.split_at_mut(hs);
        let (hr, rest) = dhh.split_at_mut(hs);
        let (hz, hnn) = rest.split_at_mut(hs);
        for j in 0..hs {
            let (r, z, n) = (gr[j], gz[j], gn[j]);
            let d = dh[j];
            let dn_pre = d * (one - z) * (one - n * n);
            let dz_pre = d * (hp[j] - n) * z * (one - z);
            let dr_pre = dn_pre * hn[j] * r * (one - r);
            gr[j] = dr_pre;
            gz[j] = dz_pre;
            gn[j] = dn_pre;
            hr[j] = dr_pre;
            hz[j] = dz_pre;
            hnn[j] = dn_pre * r;
            dh[j] = d * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // All pre-activations 0: r = z = ½, n = tanh(0) = 0, so h' = ½·h_prev (hand calculation).
    #[test]
    fn zero_preactivations_keep_half_the_state() {
        let mut g = [0.0f64; 3];
        let (mut h, mut hn) = ([0.0], [0.0]);
        forward_step(&mut g, &[0.0; 3], &[0.8], &mut h, &mut hn, 1);
        assert_eq!(h[0], 0.4);
        assert_eq!(g, [0.5, 0.5, 0.0]);
    }
}
