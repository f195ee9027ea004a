//! The per-step recurrent products of the loop over time — `h_{t-1} · W_hhᵀ` forward and
//! `dG_h · W_hh` backward — and the layout of `W_hh` each pass gives them, laid out once per pass:
//!
//! - a batch (`B > 1`): `W_hhᵀ` (forward) or `W_hh` (backward) packed in the micro-kernel's
//!   16-column panels ([`Float::pack_b`]), for [`Float::gemm_packed`];
//! - one sequence over several steps: rows padded to the vector width and aligned
//!   ([`crate::kernels::aligned`]), for the row-vector product [`Float::vecmat`], which reads
//!   them in alternating order from step to step so that the part read last is still in L1;
//! - a single step of one sequence (sampling): `W_hh` read in place by [`Float::gemv`], since
//!   laying it out would cost as much as the product.
//!
//! One buffer serves both passes in turn (each pass lays out its own operand), so nothing is
//! allocated once the first pass has sized it.

use crate::linalg::{MatMut, MatRef};
use crate::Float;

/// With one sequence, the number of steps from which `W_hhᵀ` is laid out once per forward
/// for [`Float::vecmat`] rather than read in place by [`Float::gemv`] at every step.
const VECMAT_MIN_STEPS: usize = 4;

/// How the current pass reads `W_hh`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Layout {
    /// In place, by [`Float::gemv`].
    #[default]
    InPlace,
    /// Packed panels from `off` (a 64-byte boundary), by [`Float::gemm_packed`].
    Packed { off: usize },
    /// Padded aligned rows from `off`, `ld` apart, by [`Float::vecmat`].
    Rows { off: usize, ld: usize },
}

/// `W_hh` laid out for the pass under way, and the products that read it.
#[derive(Clone, Debug, Default)]
pub(super) struct RecurrentProduct<F> {
    buf: Vec<F>,
    /// Where the panels are packed before they are copied to a cache-line boundary of `buf`.
    tmp: Vec<F>,
    layout: Layout,
}

impl<F: Float> RecurrentProduct<F> {
    /// Before a forward pass of `t` steps of `b` rows: lays out `W_hhᵀ (H, G·H)` from
    /// `whh (G·H, H)`.
    pub fn prepare_forward(&mut self, whh: &[F], (h, gh): (usize, usize), (t, b): (usize, usize)) {
        self.layout = if b > 1 {
            // W_hhᵀ packed straight from W_hh read as a strided matrix (no transposed copy).
            F::pack_b(MatRef::new(whh, gh, h).t(), &mut self.tmp);
            self.aligned_panels()
        } else if t >= VECMAT_MIN_STEPS {
            let ld = crate::kernels::vector_ld(gh);
            let off = crate::kernels::aligned(&mut self.buf, h * ld);
            crate::kernels::transpose_ld(gh, h, whh, &mut self.buf[off..], ld);
            Layout::Rows { off, ld }
        } else {
            Layout::InPlace
        };
    }

    /// The panels in `tmp` copied to a 64-byte boundary of `buf`: every 16-lane load of a panel
    /// then lies in one cache line (`gemm_packed` at 32 × 512 × 2048 measured 136 GFLOP/s
    /// from an aligned start, 117 from glibc's usual 16-byte one, on the Intel Xeon of the
    /// README).
    fn aligned_panels(&mut self) -> Layout {
        let n = self.tmp.len();
        let off = crate::kernels::aligned(&mut self.buf, n);
        self.buf[off..off + n].copy_from_slice(&self.tmp);
        Layout::Packed { off }
    }

    /// `out (B, G·H) += h_prev (B, H) · W_hhᵀ` at step `ti` of a forward pass.
    #[inline(always)]
    pub fn forward(&self, whh: &[F], (h, gh): (usize, usize), b: usize, ti: usize, h_prev: &[F], out: &mut [F]) {
        match self.layout {
            // A large batch's rows in two halves on two threads when a helper is free.
            Layout::Packed { off } => crate::parallel::rows_in_two(b, gh * h, out, gh, |r, out| {
                let x = MatRef::new(&h_prev[r.start * h..r.end * h], r.len(), h);
                F::gemm_packed(x, &self.buf[off..], gh, MatMut::new(out, r.len(), gh), true)
            }),
            // Alternate the reading order step by step, so W_hhᵀ is partly still in L1.
            Layout::Rows { off, ld } => {
                F::vecmat(h_prev, MatRef::with_ld(&self.buf[off..], h, gh, ld), out, true, ti % 2 == 1)
            }
            Layout::InPlace => F::gemv(MatRef::new(whh, gh, h), h_prev, out, true),
        }
    }

    /// Before a backward pass over `b` rows: lays out `W_hh (G·H, H)`.
    pub fn prepare_backward(&mut self, whh: &[F], (h, gh): (usize, usize), b: usize) {
        self.layout = if b > 1 {
            F::pack_b(MatRef::new(whh, gh, h), &mut self.tmp);
            self.aligned_panels()
        } else {
            // W_hh's rows copied padded and aligned, as the forward lays out W_hhᵀ.
            let ld = crate::kernels::vector_ld(h);
            let off = crate::kernels::aligned(&mut self.buf, gh * ld);
            for (d, r) in self.buf[off..].chunks_mut(ld).zip(whh.chunks_exact(h)) {
                d[..h].copy_from_slice(r);
            }
            Layout::Rows { off, ld }
        };
    }

    /// `dh (B, H) (+)= dg (B, G·H) · W_hh` at step `ti` of a backward pass (`+=` when
    /// `accumulate`: the GRU's direct path is already in `dh`).
    #[inline(always)]
    pub fn backward(&self, (h, gh): (usize, usize), b: usize, ti: usize, dg: &[F], dh: &mut [F], accumulate: bool) {
        match self.layout {
            Layout::Packed { off } => crate::parallel::rows_in_two(b, gh * h, dh, h, |r, dh| {
                let dg = MatRef::new(&dg[r.start * gh..r.end * gh], r.len(), gh);
                F::gemm_packed(dg, &self.buf[off..], h, MatMut::new(dh, r.len(), h), accumulate)
            }),
            Layout::Rows { off, ld } => {
                F::vecmat(dg, MatRef::with_ld(&self.buf[off..], gh, h, ld), dh, accumulate, ti % 2 == 1)
            }
            Layout::InPlace => unreachable!("prepare_backward lays W_hh out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The packed panels start on a cache line for the forward and the backward, whatever
    // address the allocator gave the buffer, and hold what `pack_b` packs.
    #[test]
    fn packed_panels_start_on_a_cache_line() {
        for (h, gh, b) in [(100, 400, 2), (128, 512, 32), (7, 21, 3)] {
            let whh: Vec<f32> = (0..gh * h).map(|x| x as f32).collect();
            let mut p = RecurrentProduct::<f32>::default();
            let mut want = Vec::new();
            p.prepare_forward(&whh, (h, gh), (5, b));
            f32::pack_b(MatRef::new(&whh, gh, h).t(), &mut want);
            let Layout::Packed { off } = p.layout else { panic!("packed for a batch") };
            assert_eq!(p.buf[off..].as_ptr() as usize % 64, 0);
            assert_eq!(&p.buf[off..off + want.len()], &want[..]);
            p.prepare_backward(&whh, (h, gh), b);
            f32::pack_b(MatRef::new(&whh, gh, h), &mut want);
            let Layout::Packed { off } = p.layout else { panic!("packed for a batch") };
            assert_eq!(p.buf[off..].as_ptr() as usize % 64, 0);
            assert_eq!(&p.buf[off..off + want.len()], &want[..]);
        }
    }
}
