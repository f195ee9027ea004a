//! `C (m, n) = β·C + A (m, k) · B (k, n)` for `f32` operands, around one AVX2+FMA micro-kernel
//! that keeps a 6×16 block of C in 12 registers, broadcasts A one entry at a time and streams
//! rows of B. Three ways in:
//! - [`gemm`]: both operands read in place, for the small products (min-char-rnn's);
//! - [`gemm_packed`]: B packed once in 16-column panels ([`pack_b`]) and reused at every step
//!   (the per-step recurrent product, A = the batch's hidden states);
//! - [`gemm_blocked`]: blocked for the caches and packed block by block, for the products over
//!   all steps (weight gradients, input projections, the head's products).
//!
//! Plus [`vecmat`] and [`gemv`] for a single row or column.

/// Calls a kernel monomorphised for a count known only at run time: `$body` with the const
/// `$c` set to the arm's value, `$last` for any count not listed.
macro_rules! by_count {
    ($n:expr, [$($k:literal),+], $last:expr, |$c:ident| $body:expr) => {
        match $n {
            $($k => {
                const $c: usize = $k;
                $body
            })+
            _ => {
                const $c: usize = $last;
                $body
            }
        }
    };
}

/// A matrix argument: a slice and its strides. `B` must have unit column stride (its rows are
/// streamed); `A` may have any strides (its entries are broadcast one at a time), so `Aᵀ` of a
/// row-major matrix is `Mat { rs: 1, cs: ld }`.
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Elements between two rows.
    pub rs: usize,
    /// Elements between two columns (must be 1 for `B`).
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with leading dimension `ld`.
    pub fn rows(data: &'a [f32], ld: usize) -> Self {
        Mat { data, rs: ld, cs: 1 }
    }
}

/// `C = β·C + A·B` with `β ∈ {0, 1}` (`accumulate`); `C` row-major with leading dimension `ldc`.
///
/// # Panics
/// When a slice is too short for its shape, or `B` has a non-unit column stride.
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    run(m, n, k, a, b, false, c, ldc, accumulate)
}

/// `B (k, n)` repacked in 16-column panels, each `k × 16` contiguous and zero-padded: the layout
/// [`gemm_packed`] streams. Done once per sequence for the recurrent weights.
#[cfg(test)]
pub fn pack_b(k: usize, n: usize, b: &[f32], ldb: usize) -> Vec<f32> {
    let mut out = Vec::new();
    pack_b_to(k, n, Mat::rows(b, ldb), &mut out);
    out
}

/// [`pack_b`] into a buffer kept by the caller (resized to fit), from a `B` of any strides:
/// `Mat { rs: 1, cs: ld }` packs the transpose of a row-major matrix without laying it out
/// first.
///
/// # Panics
/// When `b` is too short for its shape.
pub fn pack_b_to(k: usize, n: usize, b: Mat<'_>, out: &mut Vec<f32>) {
    out.clear();
    out.resize(n.div_ceil(16) * 16 * k, 0.0);
    if k > 0 && n > 0 {
        assert!(b.data.len() > (k - 1) * b.rs + (n - 1) * b.cs, "B too short");
        pack_b_into(k, n, &b, (0, 0), out);
    }
}

/// [`gemm`] with `B` given as [`pack_b`] made it.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    packed: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(packed.len() >= n.div_ceil(16) * 16 * k, "packed B too short");
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        return run(m, n, k, a, Mat::rows(packed, 16), true, c, ldc, accumulate);
    }
    // Portable path: row by row, each panel's 16 columns updated together (a loop the compiler
    // vectorises for the baseline target).
    for i in 0..m {
        let crow = &mut c[i * ldc..i * ldc + n];
        if !accumulate {
            crow.fill(0.0);
        }
        for (q, cq) in crow.chunks_mut(16).enumerate() {
            let panel = &packed[q * 16 * k..(q + 1) * 16 * k];
            for (p, brow) in panel.chunks_exact(16).enumerate() {
                let av = a.data[i * a.rs + p * a.cs];
                cq.iter_mut().zip(brow).for_each(|(cv, &bv)| *cv += av * bv);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    packed: bool,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(b.cs == 1, "B must have unit column stride");
    let a_need = if k == 0 { 0 } else { (m - 1) * a.rs + (k - 1) * a.cs + 1 };
    let b_need = if k == 0 {
        0
    } else if packed {
        n.div_ceil(16) * 16 * k
    } else {
        (k - 1) * b.rs + n
    };
    assert!(
        a.data.len() >= a_need && b.data.len() >= b_need && c.len() >= (m - 1) * ldc + n,
        "gemm operands too short"
    );
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        // SAFETY: the active set is one the CPU supports; bounds were checked above and every
        // access below is within rows < m, columns < n, depth < k of the checked slices.
        return unsafe { simd_gemm(m, n, k, a, b, packed, c, ldc, accumulate) };
    }
    assert!(!packed, "packed operands take the AVX2 path or gemm_packed's own loop");
    plain(m, n, k, a, b, c, ldc, accumulate)
}

/// The micro-kernel GEMM of the active set (AVX-512 or AVX2; both sum each entry in the same
/// order, so they give the same bits).
///
/// # Safety
/// The active set is AVX2 or AVX-512, and the operands hold `m × k`, `k × n` (or packed) and
/// `m × n` entries at their strides, as [`run`] checks.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn simd_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    packed: bool,
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    // SAFETY: the caller's contract; the CPU runs the active set.
    unsafe {
        if super::active() == super::Isa::Avx512 {
            avx512::gemm(m, n, k, a, b, packed, c, ldc, acc)
        } else {
            avx2::gemm(m, n, k, a, b, packed, c, ldc, acc)
        }
    }
}

/// Depth of one block of a [`gemm_blocked`] product: a 16-column panel of `B` this deep (16 KB)
/// stays in L1 while a row block of `A` passes over it.
const KC: usize = 256;
/// Columns of one packed block of `B` (`KC × NC`, 256 KB): it stays in L2 while every row block
/// of `A` passes over it.
const NC: usize = 256;

thread_local! {
    /// Per-thread packing buffers of [`gemm_blocked`]: one block of `B`, `CHUNK` row blocks of `A`.
    static PACKED: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// [`gemm`] for operands too large for the caches (weight gradients over all steps, input
/// projections, the head's products over all rows). `B` is packed `KC × NC` at a time into
/// 16-column panels that stay in L2, and each row block of `A` into a `6 × KC` micro-panel
/// that stays in L1 while it passes over all of them, so the micro-kernel streams both
/// operands from contiguous memory whatever their strides (`Aᵀ` of a row-major matrix, whose
/// rows lie a power of two apart, included). A row-major `A` is read in place (six contiguous
/// rows); any other `A` is packed, each element once per `NC` columns of `B`, and each element
/// of `B` is packed once. Uses per-thread buffers (352 KB), allocated once.
///
/// Measured on a Zen 3 core (f32 FMA peak 102 GFLOP/s): 85–90 GFLOP/s at 1024³ (`recurrent
/// bench --config gemm`), where ndarray's (matrixmultiply's 8×8 kernel) reached 84–86.
///
/// Unlike [`gemm`], `B` may have any strides (`Bᵀ` of a row-major matrix included: its blocks
/// are packed column by column).
///
/// # Panics
/// When a slice is too short for its shape.
#[allow(clippy::too_many_arguments)]
pub fn gemm_blocked(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() && k > 0 && m > 0 && n > 0 {
        let a_need = (m - 1) * a.rs + (k - 1) * a.cs + 1;
        let b_need = (k - 1) * b.rs + (n - 1) * b.cs + 1;
        assert!(
            a.data.len() >= a_need && b.data.len() >= b_need && c.len() >= (m - 1) * ldc + n,
            "gemm operands too short"
        );
        return PACKED.with(|bufs| {
            let (bp, ap) = &mut *bufs.borrow_mut();
            bp.resize(KC * NC, 0.0);
            ap.resize(CHUNK * MR_BLOCKED * KC, 0.0);
            // Six-row blocks, and a last one or two of 3–5 rows: a block of fewer than six rows
            // runs the micro-kernel with fewer accumulators, so there are as few as possible.
            let rem = m % MR_BLOCKED;
            let (full, tail) = match (m / MR_BLOCKED, rem) {
                (0, _) => (0, [m, 0]),
                (f, 0) => (f, [0, 0]),
                (f, r) if r >= 4 => (f, [r, 0]),
                (f, r) => (f - 1, [(MR_BLOCKED + r).div_ceil(2), (MR_BLOCKED + r) / 2]),
            };
            let blocks = full + tail.iter().filter(|&&t| t > 0).count();
            let rows_of = |q: usize| if q < full { MR_BLOCKED } else { tail[q - full] };
            let start_of = |q: usize| if q <= full { q * MR_BLOCKED } else { full * MR_BLOCKED + tail[0] };
            for p0 in (0..k).step_by(KC) {
                let kk = KC.min(k - p0);
                for j0 in (0..n).step_by(NC) {
                    let nn = NC.min(n - j0);
                    pack_b_into(kk, nn, &b, (p0, j0), bp);
                    for q0 in (0..blocks).step_by(CHUNK) {
                        let q1 = (q0 + CHUNK).min(blocks);
                        // Row-major A is read in place; any other layout is packed CHUNK row
                        // blocks at a time.
                        let in_place = a.cs == 1;
                        if !in_place {
                            let mut rows = [0; CHUNK];
                            rows.iter_mut().zip(q0..q1).for_each(|(r, q)| *r = rows_of(q));
                            pack_a_chunk(&a, start_of(q0), &rows[..q1 - q0], (p0, kk), ap);
                        }
                        for q in q0..q1 {
                            let (i0, r) = (start_of(q), rows_of(q));
                            let am = if in_place {
                                Mat { data: &a.data[i0 * a.rs + p0..], rs: a.rs, cs: 1 }
                            } else {
                                Mat { data: &ap[(q - q0) * MR_BLOCKED * kk..], rs: 1, cs: MR_BLOCKED }
                            };
                            // SAFETY: the active set has AVX2 and FMA; A's rows i0..i0+r and columns
                            // p0..p0+kk lie in its checked slice (in place) or in the packed
                            // chunk, B's block holds kk × ⌈nn/16⌉·16 elements, and C's rows
                            // i0..i0+r, columns j0..j0+nn lie within the slice checked above.
                            unsafe {
                                simd_gemm(
                                    r,
                                    nn,
                                    kk,
                                    am,
                                    Mat::rows(bp, 16),
                                    true,
                                    &mut c[i0 * ldc + j0..],
                                    ldc,
                                    accumulate || p0 > 0,
                                )
                            };
                        }
                    }
                }
            }
        });
    }
    if b.cs == 1 {
        return run(m, n, k, a, b, false, c, ldc, accumulate);
    }
    // Portable path with a strided B: one dot product per entry.
    for i in 0..m {
        for j in 0..n {
            let s = (0..k).fold(0.0f32, |s, p| s + a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs]);
            let cij = &mut c[i * ldc + j];
            *cij = if accumulate { *cij + s } else { s };
        }
    }
}

/// Rows of a packed micro-panel of `A` in [`gemm_blocked`] (the micro-kernel's row count).
const MR_BLOCKED: usize = 6;

/// Row blocks packed together in [`gemm_blocked`] (96 rows: each column of `Aᵀ` is read as
/// 384 contiguous bytes).
const CHUNK: usize = 16;

/// Row blocks of `A` from row `i0`, `rows[q]` rows each, columns `p0..p0+kk`, each as a
/// micro-panel `out[q·6·kk + p·6 + r] = A[start(q) + r, p0 + p]`: column by column, as the
/// micro-kernel broadcasts it.
fn pack_a_chunk(a: &Mat<'_>, i0: usize, rows: &[usize], (p0, kk): (usize, usize), out: &mut [f32]) {
    let panel = MR_BLOCKED * kk;
    let total: usize = rows.iter().sum();
    if a.rs == 1 {
        // Aᵀ of a row-major matrix: each column of A is a contiguous run over the chunk.
        let full = rows.iter().all(|&r| r == MR_BLOCKED);
        for p in 0..kk {
            let src = &a.data[i0 + (p0 + p) * a.cs..][..total];
            // The columns lie far apart (a power of two for the weight gradients' dGᵀ), a
            // stride the hardware prefetchers do not follow: ask for the one eight ahead.
            #[cfg(target_arch = "x86_64")]
            if p + 8 < kk {
                let ahead = a.data[i0 + (p0 + p + 8) * a.cs..].as_ptr();
                for line in (0..total).step_by(16) {
                    // SAFETY: a prefetch never faults; the address is inside A's slice.
                    unsafe {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            ahead.add(line) as *const i8
                        )
                    };
                }
            }
            if full {
                for (qi, s6) in src.chunks_exact(MR_BLOCKED).enumerate() {
                    let d: &mut [f32; MR_BLOCKED] =
                        (&mut out[qi * panel + p * MR_BLOCKED..][..MR_BLOCKED]).try_into().expect("six");
                    d.copy_from_slice(s6);
                }
            } else {
                let mut at = 0;
                for (qi, &r) in rows.iter().enumerate() {
                    out[qi * panel + p * MR_BLOCKED..][..r].copy_from_slice(&src[at..at + r]);
                    at += r;
                }
            }
        }
    } else {
        let mut i = i0;
        for (qi, &r) in rows.iter().enumerate() {
            for rr in 0..r {
                let row = (i + rr) * a.rs + p0 * a.cs;
                for p in 0..kk {
                    out[qi * panel + p * MR_BLOCKED + rr] = a.data[row + p * a.cs];
                }
            }
            i += r;
        }
    }
}

/// Rows `p0..p0+k`, columns `j0..j0+n` of `B` packed as [`pack_b`] lays them out, into a buffer
/// that is already long enough.
fn pack_b_into(k: usize, n: usize, b: &Mat<'_>, (p0, j0): (usize, usize), out: &mut [f32]) {
    let src = &b.data[p0 * b.rs + j0 * b.cs..];
    for p in 0..n.div_ceil(16) {
        let w = (n - p * 16).min(16);
        let panel = &mut out[p * 16 * k..(p + 1) * 16 * k];
        let at = p * 16 * b.cs;
        if b.cs == 1 && w == 16 {
            for (row, o) in panel.chunks_exact_mut(16).enumerate() {
                let s: &[f32; 16] = src[at + row * b.rs..][..16].try_into().expect("sixteen");
                o.copy_from_slice(s);
            }
        } else if b.cs == 1 {
            for (row, o) in panel.chunks_exact_mut(16).enumerate() {
                o[..w].copy_from_slice(&src[at + row * b.rs..][..w]);
                o[w..].fill(0.0);
            }
        } else {
            // Strided columns (Bᵀ of a row-major matrix when b.rs = 1): column by column.
            if w < 16 {
                panel.fill(0.0);
            }
            for jj in 0..w {
                let col = at + jj * b.cs;
                for (row, o) in panel.chunks_exact_mut(16).enumerate() {
                    o[jj] = src[col + row * b.rs];
                }
            }
        }
    }
}

/// `y (m) = β·y + A (m, k) · x (k)` for a row-major `A` with leading dimension `lda`: one
/// contiguous dot product per row, four rows at a time. The `B = 1` case of the per-step
/// product (min-char-rnn, sampling), where packing would cost more than the product.
pub fn gemv(m: usize, k: usize, a: &[f32], lda: usize, x: &[f32], y: &mut [f32], accumulate: bool) {
    if m == 0 {
        return;
    }
    assert!(a.len() >= (m - 1) * lda + k && x.len() >= k && y.len() >= m, "gemv operands too short");
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present; bounds checked above.
        return unsafe { avx2::gemv(m, k, a, lda, x, y, accumulate) };
    }
    for (i, yi) in y.iter_mut().take(m).enumerate() {
        let s = a[i * lda..i * lda + k].iter().zip(x).fold(0.0f32, |s, (&w, &v)| s + w * v);
        *yi = if accumulate { *yi + s } else { s };
    }
}

/// `y (n) = β·y + x (k) · B (k, n)` for a row-major `B` with leading dimension `ldb`: a row
/// vector times a matrix, the `B = 1` case of a per-step product whose weights lie as `B`
/// (`dh = dG · W_hh` in backward, `h · W_hhᵀ` once `W_hhᵀ` is laid out). Up to 64 columns at a
/// time stay in registers while the rows of `B` stream past, so every multiply-add has its own
/// accumulator chain and no horizontal sums are needed.
///
/// With `backwards`, the column blocks and the rows of `B` are visited in the opposite order.
/// A caller alternating the direction from one call to the next finds the most recently read
/// part of `B` still in L1 at the start of each call, where a fixed order evicts each line just
/// before it is needed again whenever `B` is a little larger than L1 (min-char-rnn's 40 KB
/// `W_hh`). Only the order of the sums over `k` changes.
#[allow(clippy::too_many_arguments)]
pub fn vecmat(n: usize, k: usize, x: &[f32], b: &[f32], ldb: usize, y: &mut [f32], accumulate: bool, backwards: bool) {
    if n == 0 {
        return;
    }
    assert!(x.len() >= k && y.len() >= n && (k == 0 || b.len() >= (k - 1) * ldb + n), "vecmat operands too short");
    #[cfg(target_arch = "x86_64")]
    match super::active() {
        // SAFETY: the CPU has AVX-512 (the active set is always supported); bounds checked above.
        super::Isa::Avx512 => return unsafe { avx512::vecmat(n, k, x, b, ldb, y, accumulate, backwards) },
        // SAFETY: AVX2 and FMA are present; bounds checked above.
        super::Isa::Avx2 => return unsafe { avx2::vecmat(n, k, x, b, ldb, y, accumulate, backwards) },
        super::Isa::Portable => {}
    }
    // Portable path: row after row of B added into y (contiguous, so it vectorises).
    let y = &mut y[..n];
    if !accumulate {
        y.fill(0.0);
    }
    for q in 0..k {
        let p = if backwards { k - 1 - q } else { q };
        let xv = x[p];
        y.iter_mut().zip(&b[p * ldb..p * ldb + n]).for_each(|(yj, &bv)| *yj += xv * bv);
    }
}

#[allow(clippy::too_many_arguments)]
fn plain(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    for i in 0..m {
        let crow = &mut c[i * ldc..i * ldc + n];
        if !accumulate {
            crow.fill(0.0);
        }
        for p in 0..k {
            let av = a.data[i * a.rs + p * a.cs];
            for (cv, &bv) in crow.iter_mut().zip(&b.data[p * b.rs..p * b.rs + n]) {
                *cv += av * bv;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Mat;
    use std::arch::x86_64::*;

    const MR: usize = 6;

    /// Pointers and strides of one call.
    #[derive(Clone, Copy)]
    struct Ops {
        a: *const f32,
        ars: usize,
        acs: usize,
        b: *const f32,
        ldb: usize,
        /// Elements from one 16-column panel of B to the next: 16 when B is row-major, 16·k
        /// when it is packed panel by panel (see [`super::pack_b`]).
        bps: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    }

    /// # Safety
    /// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: Mat<'_>,
        b: Mat<'_>,
        packed: bool,
        c: &mut [f32],
        ldc: usize,
        acc: bool,
    ) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
        unsafe {
            let (ldb, bps) = if packed { (16, 16 * k) } else { (b.rs, 16) };
            let o = Ops {
                a: a.data.as_ptr(),
                ars: a.rs,
                acs: a.cs,
                b: b.data.as_ptr(),
                ldb,
                bps,
                c: c.as_mut_ptr(),
                ldc,
                acc,
            };
            let n16 = n / 16 * 16;
            // Column panels outer, so a 16-wide strip of B stays in cache while every row block of
            // A passes over it.
            let mut j = 0;
            let all = _mm256_set1_epi32(-1);
            while j < n16 {
                panel::<false>(m, k, o, j, (all, all));
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
                    narrow_panel(m, k, o, j, masks.0);
                } else {
                    panel::<true>(m, k, o, j, masks);
                }
            }
        }
    }

    /// [`panel`] for a last panel of at most 8 columns (lanes outside `mask` neither read nor
    /// written): one accumulator vector per row, rows cut into even blocks of at most 12.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow_panel(m: usize, k: usize, o: Ops, j: usize, mask: __m256i) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
        unsafe {
            let blocks = m.div_ceil(2 * MR);
            let (base, extra) = (m / blocks, m % blocks);
            let mut i = 0;
            for q in 0..blocks {
                let r = base + usize::from(q < extra);
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
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
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
    /// full block takes.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel<const MASKED: bool>(m: usize, k: usize, o: Ops, j: usize, masks: (__m256i, __m256i)) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
        unsafe {
            let blocks = m.div_ceil(MR);
            let (base, extra) = (m / blocks, m % blocks);
            let mut i = 0;
            for q in 0..blocks {
                let r = base + usize::from(q < extra);
                by_count!(r, [1, 2, 3, 4, 5], MR, |N| block::<N, MASKED>(k, o, i, j, masks));
                i += r;
            }
        }
    }

    /// # Safety
    /// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemv(m: usize, k: usize, a: &[f32], lda: usize, x: &[f32], y: &mut [f32], acc: bool) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
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
    pub unsafe fn vecmat(
        n: usize,
        k: usize,
        x: &[f32],
        b: &[f32],
        ldb: usize,
        y: &mut [f32],
        acc: bool,
        backwards: bool,
    ) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
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
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
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
            for pp in 0..k {
                let p = if backwards { k - 1 - pp } else { pp };
                let row = b.add(p * ldb);
                let xv = _mm256_broadcast_ss(&*x.add(p));
                for (v, sv) in s.iter_mut().enumerate().take(V - 1) {
                    *sv = _mm256_fmadd_ps(xv, _mm256_loadu_ps(row.add(8 * v)), *sv);
                }
                s[V - 1] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(row.add(8 * (V - 1)), mask), s[V - 1]);
            }
            for (v, sv) in s.iter().enumerate().take(V - 1) {
                _mm256_storeu_ps(y.add(8 * v), *sv);
            }
            _mm256_maskstore_ps(y.add(8 * (V - 1)), mask, s[V - 1]);
        }
    }

    /// `C[i..i+R, j..j+16] (+)= A[i..i+R, 0..k] · B[0..k, j..j+16]`; with `MASKED`, lanes outside
    /// `masks` are neither read nor written (the last, narrower panel). Row pointers of A and a
    /// running offset keep every access a single base-plus-index address.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA, and every pointer and stride describes operands that hold the rows, columns and depth the call reads and writes (checked by the safe entry points in `super`).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize, const MASKED: bool>(
        k: usize,
        o: Ops,
        i: usize,
        j: usize,
        masks: (__m256i, __m256i),
    ) {
        // SAFETY: the caller guarantees AVX2+FMA and operands that hold every row, column and depth index used below.
        unsafe {
            let load = |p: *const f32, m: __m256i| if MASKED { _mm256_maskload_ps(p, m) } else { _mm256_loadu_ps(p) };
            let store = |p: *mut f32, m: __m256i, v: __m256| {
                if MASKED {
                    _mm256_maskstore_ps(p, m, v)
                } else {
                    _mm256_storeu_ps(p, v)
                }
            };
            let (m0, m1) = masks;
            let (a, c) = (o.a.add(i * o.ars), o.c.add(i * o.ldc + j));
            let rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * o.ars));
            let mut lo = [_mm256_setzero_ps(); R];
            let mut hi = [_mm256_setzero_ps(); R];
            if o.acc {
                for r in 0..R {
                    lo[r] = load(c.add(r * o.ldc), m0);
                    hi[r] = load(c.add(r * o.ldc + 8), m1);
                }
            }
            let (mut bp, mut off) = (o.b.add(j / 16 * o.bps), 0usize);
            for _ in 0..k {
                let b0 = load(bp, m0);
                let b1 = load(bp.add(8), m1);
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*rows[r].add(off));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
                bp = bp.wrapping_add(o.ldb);
                off += o.acs;
            }
            for r in 0..R {
                store(c.add(r * o.ldc), m0, lo[r]);
                store(c.add(r * o.ldc + 8), m1, hi[r]);
            }
        }
    }
}

/// The AVX-512 kernels: [`avx2`]'s with 32 registers of 16 lanes. A block of six rows keeps
/// `6 × 64` entries of C in 24 registers (four 16-column panels of B at once), so each broadcast
/// entry of A feeds four multiply-adds (two with AVX2's `6 × 16`); tails run the same kernel
/// with fewer vectors, masked with `k` registers. Each entry of C is summed exactly as in
/// [`avx2`] (one fused multiply-add per term, `k` ascending, from C or zero), so the two give the
/// same bits.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Mat;
    use std::arch::x86_64::*;

    const MR: usize = 6;
    /// Vectors of 16 columns per row of a block.
    const NV: usize = 4;

    /// Pointers and strides of one call (as in [`super::avx2`]).
    #[derive(Clone, Copy)]
    struct Ops {
        a: *const f32,
        ars: usize,
        acs: usize,
        b: *const f32,
        ldb: usize,
        /// Elements from one 16-column panel of B to the next: 16 when B is row-major, 16·k
        /// when it is packed panel by panel (see [`super::pack_b`]).
        bps: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    }

    /// The lanes below `n` set (all 16 from `n ≥ 16`).
    #[inline(always)]
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; the operands hold what [`super::run`] checks for `m, n, k`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: Mat<'_>,
        b: Mat<'_>,
        packed: bool,
        c: &mut [f32],
        ldc: usize,
        acc: bool,
    ) {
        let (ldb, bps) = if packed { (16, 16 * k) } else { (b.rs, 16) };
        let o =
            Ops { a: a.data.as_ptr(), ars: a.rs, acs: a.cs, b: b.data.as_ptr(), ldb, bps, c: c.as_mut_ptr(), ldc, acc };
        let mut j = 0;
        // Column panels outer, so a strip of B stays in cache while every row block of A passes
        // over it. SAFETY (all calls below): every block reads rows < m, columns < n (lanes
        // beyond n masked off), depth < k of the operands the caller vouched for.
        while j + 16 * NV <= n {
            unsafe { panel::<NV>(m, k, o, j, [0xFFFF; NV]) };
            j += 16 * NV;
        }
        // The last n % 64 columns: as many vectors as they need, the last one masked; one
        // vector gets twice the rows per block.
        if j < n {
            let rest = n - j;
            let masks = |v: usize| lanes(rest.saturating_sub(16 * v));
            match rest.div_ceil(16) {
                1 => unsafe { narrow_panel(m, k, o, j, masks(0)) },
                2 => unsafe { panel::<2>(m, k, o, j, [masks(0), masks(1)]) },
                3 => unsafe { panel::<3>(m, k, o, j, [masks(0), masks(1), masks(2)]) },
                _ => unsafe { panel::<NV>(m, k, o, j, core::array::from_fn(masks)) },
            }
        }
    }

    /// Every row block of A against the `16·V` columns of B from `j`, rows cut as in
    /// [`super::avx2`]'s `panel`.
    #[target_feature(enable = "avx512f")]
    unsafe fn panel<const V: usize>(m: usize, k: usize, o: Ops, j: usize, masks: [__mmask16; V]) {
        let blocks = m.div_ceil(MR);
        let (base, extra) = (m / blocks, m % blocks);
        let mut i = 0;
        for q in 0..blocks {
            let r = base + usize::from(q < extra);
            // SAFETY: rows i..i+r < m, as the caller's.
            by_count!(r, [1, 2, 3, 4, 5], MR, |N| unsafe { block::<N, V>(k, o, i, j, masks) });
            i += r;
        }
    }

    /// A last panel of at most 16 columns: one vector per row, blocks of up to 12 rows.
    #[target_feature(enable = "avx512f")]
    unsafe fn narrow_panel(m: usize, k: usize, o: Ops, j: usize, mask: __mmask16) {
        let blocks = m.div_ceil(2 * MR);
        let (base, extra) = (m / blocks, m % blocks);
        let mut i = 0;
        for q in 0..blocks {
            let r = base + usize::from(q < extra);
            // SAFETY: rows i..i+r < m, as the caller's.
            by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |N| unsafe { block::<N, 1>(k, o, i, j, [mask]) });
            i += r;
        }
    }

    /// `C[i..i+R, j..j+16V] (+)= A[i..i+R, 0..k] · B[0..k, j..j+16V]`, lanes outside `masks`
    /// neither read nor written (a masked load or store of all 16 lanes costs what a plain one
    /// does). B's pointer moves with `wrapping_add`, so the step past its last row is never an
    /// out-of-bounds offset.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const R: usize, const V: usize>(k: usize, o: Ops, i: usize, j: usize, masks: [__mmask16; V]) {
        // SAFETY (every access): rows i..i+R, the 16·V columns from j (masked beyond n) and
        // depth < k lie inside the operands, as the caller guarantees.
        unsafe {
            let (a, c) = (o.a.add(i * o.ars), o.c.add(i * o.ldc + j));
            let rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * o.ars));
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            if o.acc {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (v, x) in row.iter_mut().enumerate() {
                        *x = _mm512_maskz_loadu_ps(masks[v], c.add(r * o.ldc + 16 * v));
                    }
                }
            }
            let (mut bp, mut off) = (o.b.add(j / 16 * o.bps), 0usize);
            for _ in 0..k {
                let bv: [__m512; V] = core::array::from_fn(|v| _mm512_maskz_loadu_ps(masks[v], bp.add(v * o.bps)));
                for r in 0..R {
                    let av = _mm512_set1_ps(*rows[r].add(off));
                    for v in 0..V {
                        acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
                    }
                }
                bp = bp.wrapping_add(o.ldb);
                off += o.acs;
            }
            for (r, row) in acc.iter().enumerate() {
                for (v, x) in row.iter().enumerate() {
                    _mm512_mask_storeu_ps(c.add(r * o.ldc + 16 * v), masks[v], *x);
                }
            }
        }
    }

    /// `y (n) = β·y + x (k) · B (k, n)` as [`super::avx2`]'s `vecmat`: column blocks of at most
    /// 24 vectors of 16 (24 accumulators, the broadcast and spares fill the 32 registers), as
    /// even as possible (n = 100 is one block of 7).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds `k`, `y` holds `n`, `b` holds `k` rows `ldb` apart of `n`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn vecmat(
        n: usize,
        k: usize,
        x: &[f32],
        b: &[f32],
        ldb: usize,
        y: &mut [f32],
        acc: bool,
        backwards: bool,
    ) {
        let nv = n.div_ceil(16);
        let blocks = nv.div_ceil(24);
        for qq in 0..blocks {
            let q = if backwards { blocks - 1 - qq } else { qq };
            let (v0, v1) = (nv * q / blocks, nv * (q + 1) / blocks);
            // SAFETY: column v0·16 < n, inside `b`'s rows and `y`.
            let (xp, bp, yp) = unsafe { (x.as_ptr(), b.as_ptr().add(v0 * 16), y.as_mut_ptr().add(v0 * 16)) };
            let cols = (n - v0 * 16).min((v1 - v0) * 16);
            let d = (k, xp, bp, ldb, yp, cols, acc, backwards);
            // SAFETY: the block's `cols` columns and `k` rows lie inside the operands.
            by_count!(
                v1 - v0,
                [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
                24,
                |N| unsafe { vm_block::<N>(d) }
            )
        }
    }

    /// `y[0..cols] (+)= x[0..k] · B[0..k, 0..cols]` with `V` vectors of accumulators, the last
    /// one masked to the `cols − 16(V−1)` columns that exist.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::type_complexity)]
    unsafe fn vm_block<const V: usize>(
        (k, x, b, ldb, y, cols, acc, backwards): (usize, *const f32, *const f32, usize, *mut f32, usize, bool, bool),
    ) {
        // SAFETY (every access): columns < cols of rows < k of B, entries < k of x, < cols of y.
        unsafe {
            let mask = lanes(cols - 16 * (V - 1));
            let mut s = [_mm512_setzero_ps(); V];
            if acc {
                for (v, sv) in s.iter_mut().enumerate().take(V - 1) {
                    *sv = _mm512_loadu_ps(y.add(16 * v));
                }
                s[V - 1] = _mm512_maskz_loadu_ps(mask, y.add(16 * (V - 1)));
            }
            for pp in 0..k {
                let p = if backwards { k - 1 - pp } else { pp };
                let row = b.add(p * ldb);
                let xv = _mm512_set1_ps(*x.add(p));
                for (v, sv) in s.iter_mut().enumerate().take(V - 1) {
                    *sv = _mm512_fmadd_ps(xv, _mm512_loadu_ps(row.add(16 * v)), *sv);
                }
                s[V - 1] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mask, row.add(16 * (V - 1))), s[V - 1]);
            }
            for (v, sv) in s.iter().enumerate().take(V - 1) {
                _mm512_storeu_ps(y.add(16 * v), *sv);
            }
            _mm512_mask_storeu_ps(y.add(16 * (V - 1)), mask, s[V - 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // gemm_blocked against a plain f64 triple loop, over shapes that cross the KC = 256 and
    // NC = 256 block edges and leave every row tail (m % 6 from 0 to 5, m < 6), with A laid out
    // row-major in a wider array (read in place), as the transpose of a row-major matrix
    // (packed column by column), and with neither stride 1 (packed element by element).
    #[test]
    fn blocked_matches_a_plain_product() {
        let mut rng = crate::NumpyRng::new(11);
        for &(m, n, k) in &[
            (1, 300, 600),
            (5, 17, 257),
            (6, 256, 256),
            (7, 513, 40),
            (8, 31, 300),
            (9, 16, 1),
            (10, 270, 520),
            (11, 8, 3),
            (100, 40, 700),
        ] {
            let b: Vec<f32> = (0..k * (n + 5)).map(|_| rng.standard_normal() as f32).collect();
            let bt: Vec<f32> = (0..n * k).map(|q| b[(q % k) * (n + 5) + q / k]).collect();
            // A (m, k) stored three ways: row-major with 3 spare columns; transposed; and with
            // rows 2 apart and columns 2m apart.
            let a: Vec<f64> = (0..m * k).map(|_| rng.standard_normal()).collect();
            let wide: Vec<f32> = (0..m * (k + 3))
                .map(|q| if q % (k + 3) < k { a[q / (k + 3) * k + q % (k + 3)] as f32 } else { f32::NAN })
                .collect();
            let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m] as f32).collect();
            let mut sparse = vec![f32::NAN; 2 * m * k];
            for i in 0..m {
                for p in 0..k {
                    sparse[2 * i + p * 2 * m] = a[i * k + p] as f32;
                }
            }
            let layouts = [
                Mat { data: &wide, rs: k + 3, cs: 1 },
                Mat { data: &at, rs: 1, cs: m },
                Mat { data: &sparse, rs: 2, cs: 2 * m },
            ];
            for (li, am) in layouts.into_iter().enumerate() {
                for acc in [false, true] {
                    // C with a leading dimension wider than n, its spare columns marked.
                    let ldc = n + 2;
                    let mut c: Vec<f32> =
                        (0..m * ldc).map(|q| if q % ldc < n { q as f32 * 1e-3 } else { -7.0 }).collect();
                    let c0 = c.clone();
                    // B row-major (n + 5 wide) for even layouts of A, given as the transpose of a
                    // row-major (n, k) matrix for the others.
                    let bm = if acc == (li % 2 == 0) { Mat::rows(&b, n + 5) } else { Mat { data: &bt, rs: 1, cs: k } };
                    gemm_blocked(m, n, k, Mat { data: am.data, rs: am.rs, cs: am.cs }, bm, &mut c, ldc, acc);
                    for i in 0..m {
                        for j in 0..ldc {
                            let got = c[i * ldc + j] as f64;
                            if j >= n {
                                assert_eq!(got, -7.0, "column {j} beyond n written ({m},{n},{k}) layout {li}");
                                continue;
                            }
                            let mut s = if acc { c0[i * ldc + j] as f64 } else { 0.0 };
                            for p in 0..k {
                                s += a[i * k + p] as f32 as f64 * b[p * (n + 5) + j] as f64;
                            }
                            let tol = 1e-5 * (k as f64).sqrt() * (1.0 + s.abs());
                            assert!(
                                (got - s).abs() < tol,
                                "({m},{n},{k}) layout {li} acc={acc} at ({i},{j}): {got} vs {s}"
                            );
                        }
                    }
                }
            }
        }
    }

    // Against a plain f64 triple loop, over shapes that exercise every tail (rows % 6, cols % 16).
    #[test]
    fn matches_a_plain_product() {
        let mut rng = crate::NumpyRng::new(3);
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 100, 100),
            (7, 33, 5),
            (32, 512, 128),
            (13, 65, 40),
            (6, 16, 0),
            (400, 1, 100),
            (7, 1, 13),
            (2, 100, 100),
            (1, 2048, 9),
            (1, 61, 3),
            (25, 65, 100),
            (65, 100, 25),
            (29, 24, 7),
            (12, 8, 5),
            (13, 3, 4),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.standard_normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.standard_normal() as f32).collect();
            for acc in [false, true] {
                let mut c: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
                let c0 = c.clone();
                gemm(m, n, k, Mat::rows(&a, k), Mat::rows(&b, n), &mut c, n, acc);
                // The same product with A given as the transpose of a (k, m) matrix.
                let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
                let mut c2 = c0.clone();
                gemm(m, n, k, Mat { data: &at, rs: 1, cs: m }, Mat::rows(&b, n), &mut c2, n, acc);
                assert_eq!(c, c2, "transposed A, ({m},{n},{k})");
                let mut c3 = c0.clone();
                gemm_packed(m, n, k, Mat::rows(&a, k), &pack_b(k, n, &b, n), &mut c3, n, acc);
                assert_eq!(c, c3, "packed B, ({m},{n},{k})");
                // x·B for each row x of A, as a row vector times a matrix.
                for i in 0..m {
                    let y = c0[i * n..(i + 1) * n].to_vec();
                    for backwards in [false, true] {
                        let mut y = y.clone();
                        vecmat(n, k, &a[i * k..(i + 1) * k], &b, n, &mut y, acc, backwards);
                        for (u, v) in y.iter().zip(&c[i * n..(i + 1) * n]) {
                            assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "vecmat ({n},{k})");
                        }
                    }
                }
                if n == 1 {
                    // A·b as a matrix-vector product with A row-major.
                    let mut y = c0.clone();
                    gemv(m, k, &a, k, &b, &mut y, acc);
                    for (u, v) in y.iter().zip(&c) {
                        assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "gemv ({m},{k})");
                    }
                }
                for i in 0..m {
                    for j in 0..n {
                        let mut s = if acc { c0[i * n + j] as f64 } else { 0.0 };
                        for p in 0..k {
                            s += a[i * k + p] as f64 * b[p * n + j] as f64;
                        }
                        assert!(
                            (c[i * n + j] as f64 - s).abs() < 1e-4 * (1.0 + s.abs()),
                            "({m},{n},{k}) acc={acc} at ({i},{j})"
                        );
                    }
                }
            }
        }
    }
}
