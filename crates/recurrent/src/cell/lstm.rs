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
        assert!((h[0] - 0.5 * 0.5f64.tanh()).abs() < 1e-15); // a few ulp: Miri perturbs tanh's last bits
        assert!((h[0] - 0.2310585786300049).abs() < 1e-15);
    }

    // One step of a batch of 2 × 3 units against PyTorch float64 (the constants below are printed
    // by `scripts/cell_reference.py`). The pre-activations differ from gate to gate, so a swapped
    // gate order fails.
    #[test]
    fn step_matches_pytorch() {
        // LSTM (gates i, f, g, o): pre-activations, c_prev, upstream dh and dc; PyTorch's
        // activations, c, h, and the gradients of the pre-activations and of c_prev.
        const PRE: [f64; 24] = [
            -2.1,
            -1.73,
            -1.36,
            -0.9900000000000002,
            -0.6200000000000001,
            -0.25,
            0.11999999999999966,
            0.48999999999999977,
            0.8599999999999999,
            1.23,
            1.5999999999999996,
            1.9700000000000006,
            2.34,
            -2.290000000000001,
            -1.92,
            -1.5500000000000007,
            -1.1799999999999997,
            -0.8100000000000005,
            -0.4399999999999995,
            -0.07000000000000028,
            0.3000000000000007,
            0.6699999999999999,
            1.040000000000001,
            1.4100000000000001,
        ];
        const C_PREV: [f64; 6] =
            [0.8999999999999999, 0.29000000000000004, -0.31999999999999984, -0.9300000000000002, -1.54, -2.15];
        const DH: [f64; 6] =
            [0.2999999999999998, 1.13, 1.96, -2.210000000000001, -1.3800000000000008, -0.5500000000000007];
        const DC: [f64; 6] =
            [-0.7, -0.29000000000000004, 0.1200000000000001, 0.5300000000000002, 0.94, 1.3499999999999996];
        const ACT: [f64; 24] = [
            0.10909682119561293,
            0.15058757974584394,
            0.20424030228409176,
            0.2709120776506935,
            0.34978145142617295,
            0.43782349911420193,
            0.11942729853438555,
            0.45421643268225886,
            0.6962576726866814,
            0.7738185742694538,
            0.8320183851339245,
            0.8776111131769512,
            0.9121360851706988,
            0.09195454993100427,
            0.12786156631908133,
            0.17508626816403972,
            0.23505219623623536,
            0.30789049569821175,
            -0.41364444218713475,
            -0.06988589031642926,
            0.29131261245159157,
            0.6615031592029523,
            0.7388500060842492,
            0.8037659436342208,
        ];
        const C: [f64; 6] = [
            0.256850008519705,
            0.16983597419200258,
            0.002100357820601473,
            -0.5401302515417474,
            -0.36840670779437723,
            -0.6247168788345913,
        ];
        const H: [f64; 6] = [
            0.19449688973318496,
            0.13996351901552714,
            0.0018432946544421538,
            -0.3261783145044176,
            -0.2605165103330248,
            -0.44561077534952537,
        ];
        const DPRE: [f64; 24] = [
            -0.005600951196298581,
            0.036229248644562055,
            0.2082270803836167,
            -0.08577611165610954,
            0.04112849829367922,
            -0.14493242707973208,
            -0.051890610784211685,
            0.0745293582508527,
            0.19363435673241938,
            0.013197475146002577,
            0.02656776667962062,
            0.0004421736104543413,
            0.019110872568874872,
            -0.0002751402224938672,
            0.03390815942768915,
            0.07743311029257521,
            -0.013055713418327102,
            -0.47822143532342193,
            -0.43585698432119074,
            0.004314502131660752,
            0.12213653629851501,
            0.24400682708171523,
            0.09388676142202247,
            0.04809420550392559,
        ];
        const DC_PREV: [f64; 6] = [
            -0.13072057266002696,
            0.21811498337029664,
            0.8056434836933339,
            -0.10093347425728712,
            0.011082764005875661,
            0.3213777201245389,
        ];
        let mut gates = PRE;
        let (mut c, mut tc, mut h) = ([0.0f64; 6], [0.0f64; 6], [0.0f64; 6]);
        forward_step(&mut gates, &C_PREV, &mut c, &mut tc, &mut h, 3);
        let act = gates;
        let mut dc = DC;
        backward_step(&DH, &mut dc, &mut gates, &C_PREV, &tc, 3);
        for (name, got, want) in [
            ("activations", &act[..], &ACT[..]),
            ("c", &c[..], &C[..]),
            ("h", &h[..], &H[..]),
            ("dpre", &gates[..], &DPRE[..]),
            ("dc_prev", &dc[..], &DC_PREV[..]),
        ] {
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-15, "{name}: largest difference {worst:e}");
        }
    }
}
