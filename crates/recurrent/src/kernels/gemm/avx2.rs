//! The AVX2+FMA kernels: a block of six rows keeps `6 × 16` entries of C in twelve 8-lane
//! registers, broadcasts A one entry at a time and streams rows of B; tails are masked with
//! `vmaskmov`.
//!
//! The module contract, which every `unsafe fn` here has and every `unsafe` block inside one
//! relies on ("the module contract"): the CPU has AVX2 and FMA, and the pointers and strides
//! handed in describe operands that hold every row, column and depth index the call reads or
//! writes, with `k ≥ 1` (the safe entry points in `super` check the bounds in checked
//! arithmetic and handle `k = 0` before any pointer is formed).

use super::Ops;
use std::arch::x86_64::*;

use super::{even_blocks, MR};

/// `C (m, n) (+)= A (m, k) · B (k, n)` over the operands `o` describes.
///
/// # Safety
/// The CPU has AVX2 and FMA, and `o`'s pointers and strides describe operands that hold the
/// rows, columns and depth the call reads and writes (checked by the safe entry points in
/// `super`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemm(m: usize, n: usize, k: usize, o: Ops) {
    // SAFETY: the module contract.
    unsafe {
        let n16 = n / 16 * 16;
        // Column panels outer, so a 16-wide strip of B stays in cache while every row block of
        // A passes over it.
        let mut j = 0;
        let all = _mm256_set1_epi32(-1);
        while j < n16 {
            panel::<false>((m, n), k, o, j, all);
            j += 16;
        }
        // The last n % 16 columns: the same kernel with masked loads and stores, or, when they
        // fit one vector, a kernel one vector wide with twice the rows per block (a 16-wide
        // panel would spend half its multiply-adds on lanes that are thrown away).
        if j < n {
            let rest = (n - j) as i32;
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let masks = (
                _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lane),
                _mm256_cmpgt_epi32(_mm256_set1_epi32(rest - 8), lane),
            );
            if rest <= 8 {
                narrow_panel((m, n), k, o, j, masks.0);
            } else {
                // 9–15 columns: the first vector is whole, only the second is masked.
                panel::<true>((m, n), k, o, j, masks.1);
            }
        }
    }
}

/// Asks for the lines of C that the block after the one starting now accumulates onto, one
/// block ahead, so that its first load finds them in L1 rather than waiting on L3 (a step's
/// rows of the gates, written by the input projection over all steps, have left L2 by the
/// time the step runs): the lines [`super::next_c_lines`] names for a 16-column panel, the
/// next panel's first `min(m, 6)` rows. Only prefetched, never read.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn prefetch_next(o: Ops, (m, n): (usize, usize), j: usize, next: (usize, usize)) {
    let Some((first, rows)) = super::next_c_lines(&o, n, (j, 16), next, m.min(MR)) else {
        return;
    };
    for q in 0..rows {
        let row = first.wrapping_add(q * o.ldc);
        // A prefetch reads nothing and never faults, whatever the address; the two cover the
        // 16 columns' one or two lines.
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(15) as *const i8);
    }
}

/// [`panel`] for a last panel of at most 8 columns (lanes outside `mask` neither read nor
/// written): one accumulator vector per row, rows cut into even blocks of at most 12.
///
/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
unsafe fn narrow_panel((m, n): (usize, usize), k: usize, o: Ops, j: usize, mask: __m256i) {
    // SAFETY: the module contract.
    unsafe {
        let (blocks, rows) = even_blocks(m, 2 * MR);
        let mut i = 0;
        for q in 0..blocks {
            let r = rows(q);
            prefetch_next(o, (m, n), j, (i + r, rows(q + 1)));
            by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |N| narrow_block::<N>(k, o, i, j, mask));
            i += r;
        }
    }
}

/// `C[i..i+R, j..j+8] (+)= A[i..i+R, 0..k] · B[0..k, j..j+8]`, lanes outside `mask`
/// neither read nor written.
///
/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn narrow_block<const R: usize>(k: usize, o: Ops, i: usize, j: usize, mask: __m256i) {
    // SAFETY: the module contract.
    unsafe {
        let (a, c) = (o.a.add(i * o.ars), o.c.add(i * o.ldc + j));
        let rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * o.ars));
        let mut acc = [_mm256_setzero_ps(); R];
        if o.acc {
            for (r, v) in acc.iter_mut().enumerate() {
                *v = _mm256_maskload_ps(c.add(r * o.ldc), mask);
            }
        }
        let (mut bp, mut off) = (o.b.add(j / 16 * o.bps), 0usize);
        for _ in 0..k {
            let b0 = _mm256_maskload_ps(bp, mask);
            for r in 0..R {
                acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*rows[r].add(off)), b0, acc[r]);
            }
            bp = bp.wrapping_add(o.ldb);
            off += o.acs;
        }
        for (r, v) in acc.iter().enumerate() {
            _mm256_maskstore_ps(c.add(r * o.ldc), mask, *v);
        }
    }
}

/// Every row block of A against the 16-column panel of B starting at column `j`.
///
/// The rows are cut into `⌈m/6⌉` blocks as even as possible (32 → 6,6,5,5,5,5; 25 → five
/// of 5) rather than 6-row blocks and a remainder: a block of `R ≥ 4` rows has `2R ≥ 8`
/// independent accumulators, enough to keep both FMA units busy through their 4-cycle
/// latency, while a 1- or 2-row remainder waits on its few chains for nearly as long as a
/// full block takes. A masked panel's blocks have at most five rows: its mask takes a register,
/// and with six rows' twelve accumulators the compiler spilled them to the stack.
///
/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
unsafe fn panel<const MASKED: bool>((m, n): (usize, usize), k: usize, o: Ops, j: usize, mask: __m256i) {
    // SAFETY: the module contract.
    unsafe {
        let (blocks, rows) = even_blocks(m, if MASKED { MR - 1 } else { MR });
        let mut i = 0;
        for q in 0..blocks {
            let r = rows(q);
            prefetch_next(o, (m, n), j, (i + r, rows(q + 1)));
            if MASKED {
                by_count!(r, [1, 2, 3, 4], 5, |N| block::<N, true>(k, o, i, j, mask));
            } else {
                by_count!(r, [1, 2, 3, 4, 5], MR, |N| block::<N, false>(k, o, i, j, mask));
            }
            i += r;
        }
    }
}

/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemv(m: usize, k: usize, a: &[f32], lda: usize, x: &[f32], y: &mut [f32], acc: bool) {
    // SAFETY: the module contract.
    unsafe {
        let (ap, xp) = (a.as_ptr(), x.as_ptr());
        let k8 = k / 8 * 8;
        let hsum = |v: __m256| {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
        };
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(4);
            let mut acc4 = [_mm256_setzero_ps(); 4];
            let mut p = 0;
            while p < k8 {
                let xv = _mm256_loadu_ps(xp.add(p));
                for (r, a4) in acc4.iter_mut().enumerate().take(rows) {
                    *a4 = _mm256_fmadd_ps(_mm256_loadu_ps(ap.add((i + r) * lda + p)), xv, *a4);
                }
                p += 8;
            }
            for (r, a4) in acc4.iter().enumerate().take(rows) {
                let mut s = hsum(*a4);
                for q in k8..k {
                    s = (*ap.add((i + r) * lda + q)).mul_add(*xp.add(q), s);
                }
                y[i + r] = if acc { y[i + r] + s } else { s };
            }
            i += rows;
        }
    }
}

/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn vecmat(n: usize, k: usize, x: &[f32], b: &[f32], ldb: usize, y: &mut [f32], acc: bool, backwards: bool) {
    // SAFETY: the module contract.
    unsafe {
        // Column blocks of at most 13 vectors (13 accumulators, the broadcast and a spare fill
        // the 16 registers), as even as possible: n = 100 is one block of 13.
        let nv = n.div_ceil(8);
        let blocks = nv.div_ceil(13);
        for qq in 0..blocks {
            let q = if backwards { blocks - 1 - qq } else { qq };
            let (v0, v1) = (nv * q / blocks, nv * (q + 1) / blocks);
            let (xp, bp, yp) = (x.as_ptr(), b.as_ptr().add(v0 * 8), y.as_mut_ptr().add(v0 * 8));
            let cols = (n - v0 * 8).min((v1 - v0) * 8);
            let d = (k, xp, bp, ldb, yp, cols, acc, backwards);
            by_count!(v1 - v0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 13, |N| vm_block::<N>(d))
        }
    }
}

/// `y[0..cols] (+)= x[0..k] · B[0..k, 0..cols]` with `V` vectors of accumulators, the last
/// one masked to the `cols − 8(V−1)` columns that exist.
///
/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn vm_block<const V: usize>(
    (k, x, b, ldb, y, cols, acc, backwards): (usize, *const f32, *const f32, usize, *mut f32, usize, bool, bool),
) {
    // SAFETY: the module contract.
    unsafe {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((cols - 8 * (V - 1)) as i32), lane);
        let mut s = [_mm256_setzero_ps(); V];
        if acc {
            for (v, sv) in s.iter_mut().enumerate().take(V - 1) {
                *sv = _mm256_loadu_ps(y.add(8 * v));
            }
            s[V - 1] = _mm256_maskload_ps(y.add(8 * (V - 1)), mask);
        }
        // The rows in the order asked for, by pointers that step one row each time: no
        // multiply and no choice of direction inside the loop. `wrapping_offset`, so the step
        // past the last row read is never an out-of-bounds offset.
        let (mut row, mut xp, step) =
            if backwards { (b.add((k - 1) * ldb), x.add(k - 1), -1isize) } else { (b, x, 1isize) };
        let row_step = step * ldb as isize;
        for _ in 0..k {
            let xv = _mm256_broadcast_ss(&*xp);
            for (v, sv) in s.iter_mut().enumerate().take(V - 1) {
                *sv = _mm256_fmadd_ps(xv, _mm256_loadu_ps(row.add(8 * v)), *sv);
            }
            s[V - 1] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(row.add(8 * (V - 1)), mask), s[V - 1]);
            row = row.wrapping_offset(row_step);
            xp = xp.wrapping_offset(step);
        }
        for (v, sv) in s.iter().enumerate().take(V - 1) {
            _mm256_storeu_ps(y.add(8 * v), *sv);
        }
        _mm256_maskstore_ps(y.add(8 * (V - 1)), mask, s[V - 1]);
    }
}

/// `C[i..i+R, j..j+16] (+)= A[i..i+R, 0..k] · B[0..k, j..j+16]`; with `MASKED` (a last panel of
/// 9–15 columns), the first 8 columns are whole and the second vector's lanes outside `mask` are
/// neither read nor written (`mask` is unused otherwise): one mask register, not two. Row
/// pointers of A and a running offset keep every access a single base-plus-index address.
///
/// # Safety
/// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block<const R: usize, const MASKED: bool>(k: usize, o: Ops, i: usize, j: usize, mask: __m256i) {
    // SAFETY: the module contract.
    unsafe {
        // The second vector of a row: masked in the last panel, plain otherwise.
        let load1 = |p: *const f32| if MASKED { _mm256_maskload_ps(p, mask) } else { _mm256_loadu_ps(p) };
        let store1 = |p: *mut f32, v: __m256| {
            if MASKED {
                _mm256_maskstore_ps(p, mask, v)
            } else {
                _mm256_storeu_ps(p, v)
            }
        };
        let (a, c) = (o.a.add(i * o.ars), o.c.add(i * o.ldc + j));
        let rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * o.ars));
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        if o.acc {
            for r in 0..R {
                lo[r] = _mm256_loadu_ps(c.add(r * o.ldc));
                hi[r] = load1(c.add(r * o.ldc + 8));
            }
        }
        let (mut bp, mut off) = (o.b.add(j / 16 * o.bps), 0usize);
        for _ in 0..k {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = load1(bp.add(8));
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*rows[r].add(off));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
            bp = bp.wrapping_add(o.ldb);
            off += o.acs;
        }
        for r in 0..R {
            _mm256_storeu_ps(c.add(r * o.ldc), lo[r]);
            store1(c.add(r * o.ldc + 8), hi[r]);
        }
    }
}
