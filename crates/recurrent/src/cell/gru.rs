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

    // One step of a batch of 2 × 3 units against PyTorch float64 (the constants below are printed
    // by `scripts/cell_reference.py`). The pre-activations differ from gate to gate and from one
    // side to the other, so a swapped gate order or side fails.
    #[test]
    fn step_matches_pytorch() {
        // GRU (gates r, z, n): input-side and hidden-side pre-activations, h_prev, upstream dh;
        // PyTorch's activations and h, the gradients of both sides, and the direct path z ⊙ dh.
        const GI: [f64; 18] = [
            -1.9,
            -1.3699999999999999,
            -0.8399999999999999,
            -0.3099999999999996,
            0.2200000000000002,
            0.7500000000000004,
            1.2800000000000002,
            1.8100000000000005,
            2.34,
            -2.129999999999999,
            -1.5999999999999996,
            -1.0700000000000003,
            -0.5399999999999991,
            -0.009999999999999787,
            0.5199999999999996,
            1.0500000000000007,
            1.58,
            2.1099999999999994,
        ];
        const HP: [f64; 18] = [
            1.2999999999999998,
            0.8300000000000001,
            0.3600000000000003,
            -0.10999999999999988,
            -0.5799999999999998,
            -1.0499999999999996,
            -1.5199999999999998,
            -1.99,
            -2.46,
            2.0700000000000003,
            1.6000000000000005,
            1.13,
            0.6600000000000001,
            0.1900000000000004,
            -0.28000000000000025,
            -0.75,
            -1.2199999999999998,
            -1.6899999999999995,
        ];
        const H_PREV: [f64; 6] =
            [-0.8, -0.51, -0.2200000000000002, 0.06999999999999984, 0.3599999999999999, 0.6499999999999999];
        const DH: [f64; 6] = [0.6000000000000001, -0.16999999999999993, -0.94, -1.71, -2.48, 1.75];
        const ACT: [f64; 18] = [
            0.35434369377420455,
            0.3681875822638984,
            0.38225212523075114,
            0.3965167501352738,
            0.41095956594133504,
            0.42555748318834125,
            0.6299888071665838,
            0.792198195027243,
            0.8852780849128064,
            0.48500449838059023,
            0.5000000000000002,
            0.51499550161941,
            0.5299640517645721,
            0.5448788923735802,
            0.5597136492671928,
            0.5955653547013267,
            0.7487042869693087,
            0.8453579139631238,
        ];
        const H: [f64; 6] = [
            0.06297429261907322,
            0.2570473900292573,
            0.41491872487408266,
            0.317034609856727,
            0.5369075256246094,
            0.7360134230255975,
        ];
        const DGI: [f64; 18] = [
            -0.07594263255182378,
            0.017263933357469365,
            0.06784104250147319,
            -0.2053102571757611,
            0.05358832861868576,
            0.25398274971137164,
            0.21838155529442624,
            -0.03729317679287666,
            -0.11678746650015587,
            0.09716292925451338,
            0.15127945540780752,
            -0.0928148546387672,
            0.22387228132943493,
            0.23905507800492226,
            -0.08425005205333498,
            -0.5186688113492353,
            -0.49599821445182807,
            0.21987790075966923,
        ];
        const DHP: [f64; 18] = [
            -0.07594263255182378,
            0.017263933357469365,
            0.06784104250147319,
            -0.2053102571757611,
            0.05358832861868576,
            0.25398274971137164,
            0.07738212695518269,
            -0.013730884598309382,
            -0.044642257269999736,
            0.09716292925451338,
            0.15127945540780752,
            -0.0928148546387672,
            0.22387228132943493,
            0.23905507800492226,
            -0.08425005205333498,
            -0.25155670667409286,
            -0.24799910722591414,
            0.1132361297967487,
        ];
        const DH_DIRECT: [f64; 6] = [
            0.23791005008116434,
            -0.06986312621002692,
            -0.40002403419704075,
            -0.9062385285174183,
            -1.351299653086479,
            0.9794988862175874,
        ];
        let mut gates = GI;
        let (mut h, mut hn) = ([0.0f64; 6], [0.0f64; 6]);
        forward_step(&mut gates, &HP, &H_PREV, &mut h, &mut hn, 3);
        let act = gates;
        let (mut dh, mut dgh) = (DH, [0.0f64; 18]);
        backward_step(&mut dh, &mut gates, &hn, &H_PREV, &mut dgh, 3);
        for (name, got, want) in [
            ("activations", &act[..], &ACT[..]),
            ("h", &h[..], &H[..]),
            ("dgi", &gates[..], &DGI[..]),
            ("dgh", &dgh[..], &DHP[..]),
            ("dh direct", &dh[..], &DH_DIRECT[..]),
        ] {
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-15, "{name}: largest difference {worst:e}");
        }
    }
}
