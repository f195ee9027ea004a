//! The AVX-512 kernels: [`super::avx2`]'s with 32 registers of 16 lanes. One block keeps 24
//! registers of C, in one of two shapes ([`Tile`]): six rows × 64 columns (four 16-column panels
//! of B at once, so each broadcast entry of A feeds four multiply-adds), or twelve rows × 32
//! columns (half as much of B read per multiply-add, which Intel's cores with two FMA ports
//! need to keep both busy). Full panels load and store plainly; only the last columns' vectors
//! are masked with `k` registers (a zero-masked load costs a vector port on Intel's cores). Each
//! entry of C is summed exactly as in [`super::avx2`] (one fused multiply-add per term, `k`
//! ascending, from C or zero), whatever the tile, so the two sets give the same bits.

use super::{even_blocks, Ops, MR};
use crate::backend::Tile;
use std::arch::x86_64::*;

/// Vectors of 16 columns per row of a block.
const NV: usize = 4;

/// The lanes below `n` set (all 16 from `n ≥ 16`).
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// `C (m, n) (+)= A (m, k) · B (k, n)` over the operands `o` describes, in blocks of `tile`
/// (the tall tile only where there are twelve rows or more).
///
/// # Safety
/// The CPU has AVX-512F; `o` describes operands that hold what [`super::run`] checks for
/// `m, n, k`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gemm(m: usize, n: usize, k: usize, o: Ops, tile: Tile) {
    let tall = tile == Tile::Tall && m >= 2 * MR;
    let mut j = 0;
    // Column panels outer, so a strip of B stays in cache while every row block of A passes
    // over it. SAFETY (all calls below): every block reads rows < m, columns < n (lanes
    // beyond n masked off), depth < k of the operands the caller vouched for.
    if tall {
        while j + 32 <= n {
            unsafe { tall_panel((m, n), k, o, j) };
            j += 32;
        }
    }
    while j + 16 * NV <= n {
        unsafe { panel::<NV, false>((m, n), k, o, j, [0xFFFF; NV]) };
        j += 16 * NV;
    }
    // The last n % 64 columns: as many vectors as they need, the last one masked; one
    // vector gets twice the rows per block.
    if j < n {
        let rest = n - j;
        let masks = |v: usize| lanes(rest.saturating_sub(16 * v));
        match rest.div_ceil(16) {
            1 => unsafe { narrow_panel((m, n), k, o, j, masks(0)) },
            2 => unsafe { panel::<2, true>((m, n), k, o, j, [masks(0), masks(1)]) },
            3 => unsafe { panel::<3, true>((m, n), k, o, j, [masks(0), masks(1), masks(2)]) },
            _ => unsafe { panel::<NV, true>((m, n), k, o, j, core::array::from_fn(masks)) },
        }
    }
}

/// Asks for the lines of C that the next block accumulates onto, one block ahead, as
/// [`super::avx2`]'s `prefetch_next` does: the lines [`super::next_c_lines`] names for blocks
/// `width` columns wide, the next panel's first `first` rows. Only when the tuning asks for it
/// (`o.pf`); only prefetched, never read.
#[target_feature(enable = "avx512f")]
#[inline]
fn prefetch_next(o: Ops, n: usize, (j, width): (usize, usize), next: (usize, usize), first: usize) {
    if let Some((start, rows)) = super::next_c_lines(&o, n, (j, width), next, first) {
        prefetch_rows(start, rows, o.ldc, width);
    }
}

/// Asks for every line of `rows` rows of C (`ldc` apart) from `start`, `width ≥ 1` columns
/// each. A prefetch reads nothing and never faults, whatever the address: one per 16 columns
/// and one at the last, so an unaligned row's every line is asked for.
#[target_feature(enable = "avx512f")]
#[inline]
fn prefetch_rows(start: *const f32, rows: usize, ldc: usize, width: usize) {
    for q in 0..rows {
        let row = start.wrapping_add(q * ldc);
        for col in (0..width).step_by(16) {
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(col) as *const i8);
        }
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(width - 1) as *const i8);
    }
}

/// Every row block of A against the 32 columns of B from `j` (all inside n), in blocks of up
/// to twelve rows, as even as possible.
#[target_feature(enable = "avx512f")]
unsafe fn tall_panel((m, n): (usize, usize), k: usize, o: Ops, j: usize) {
    let (blocks, rows) = even_blocks(m, 2 * MR);
    let mut i = 0;
    for q in 0..blocks {
        let r = rows(q);
        prefetch_next(o, n, (j, 32), (i + r, rows(q + 1)), rows(0));
        // SAFETY: rows i..i+r < m and columns j..j+32 ≤ n, as the caller's.
        by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |N| unsafe {
            block::<N, 2, false>(k, o, i, j, [0xFFFF; 2])
        });
        i += r;
    }
}

/// Every row block of A against the `16·V` columns of B from `j`, rows cut as in
/// [`super::avx2`]'s `panel`.
#[target_feature(enable = "avx512f")]
unsafe fn panel<const V: usize, const MASKED: bool>(
    (m, n): (usize, usize),
    k: usize,
    o: Ops,
    j: usize,
    masks: [__mmask16; V],
) {
    let (blocks, rows) = even_blocks(m, MR);
    let mut i = 0;
    for q in 0..blocks {
        let r = rows(q);
        prefetch_next(o, n, (j, 16 * V), (i + r, rows(q + 1)), rows(0));
        // SAFETY: rows i..i+r < m, as the caller's.
        by_count!(r, [1, 2, 3, 4, 5], MR, |N| unsafe { block::<N, V, MASKED>(k, o, i, j, masks) });
        i += r;
    }
}

/// A last panel of at most 16 columns: one vector per row, blocks of up to 12 rows.
#[target_feature(enable = "avx512f")]
unsafe fn narrow_panel((m, n): (usize, usize), k: usize, o: Ops, j: usize, mask: __mmask16) {
    let (blocks, rows) = even_blocks(m, 2 * MR);
    let mut i = 0;
    for q in 0..blocks {
        let r = rows(q);
        prefetch_next(o, n, (j, 16), (i + r, rows(q + 1)), rows(0));
        // SAFETY: rows i..i+r < m, as the caller's.
        by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |N| unsafe { block::<N, 1, true>(k, o, i, j, [mask]) });
        i += r;
    }
}

/// `C[i..i+R, j..j+16V] (+)= A[i..i+R, 0..k] · B[0..k, j..j+16V]`. With `MASKED`, lanes outside
/// `masks` are neither read nor written; without it every lane is, with plain loads and stores
/// (`masks` unused): on Intel's cores a zero-masked load takes a vector port besides the load
/// port, which the multiply-adds need (measured on a Xeon: 78 % of the peak masked, 89 % plain,
/// B in L1). B's pointer moves with `wrapping_add`, so the step past its last row is never an
/// out-of-bounds offset.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn block<const R: usize, const V: usize, const MASKED: bool>(
    k: usize,
    o: Ops,
    i: usize,
    j: usize,
    masks: [__mmask16; V],
) {
    // SAFETY (every access): rows i..i+R, the 16·V columns from j (masked beyond n when
    // MASKED; all inside n otherwise) and depth < k lie inside the operands, as the caller
    // guarantees.
    unsafe {
        let load =
            |v: usize, p: *const f32| if MASKED { _mm512_maskz_loadu_ps(masks[v], p) } else { _mm512_loadu_ps(p) };
        let (a, c) = (o.a.add(i * o.ars), o.c.add(i * o.ldc + j));
        let rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * o.ars));
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        if o.acc {
            for (r, row) in acc.iter_mut().enumerate() {
                for (v, x) in row.iter_mut().enumerate() {
                    *x = load(v, c.add(r * o.ldc + 16 * v));
                }
            }
        }
        let (mut bp, mut off) = (o.b.add(j / 16 * o.bps), 0usize);
        for _ in 0..k {
            let bv: [__m512; V] = core::array::from_fn(|v| load(v, bp.add(v * o.bps)));
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
                let p = c.add(r * o.ldc + 16 * v);
                if MASKED {
                    _mm512_mask_storeu_ps(p, masks[v], *x)
                } else {
                    _mm512_storeu_ps(p, *x)
                }
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
pub unsafe fn vecmat(n: usize, k: usize, x: &[f32], b: &[f32], ldb: usize, y: &mut [f32], acc: bool, backwards: bool) {
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

/// Steps of the depth between a line of a packed panel being asked for and being read in
/// [`packed_block`]: 16 steps are 2 KB of `B` (32 floats a step) and 768 bytes of `A`.
const AHEAD: usize = 16;

/// One `r × 12`-packed micro-panel of `A` (`a[p·12 + i]` = row `i`, depth `p`; `r ≤ 12` rows
/// used) against every `kk × 32` micro-panel of a packed block of `B` (`b`, panels `32·kk`
/// apart, zero-padded past `n` columns): `C[0..r, 0..n] (+)= A·B`, C row-major (`ldc`). With
/// `next_c`, the lines of C that the next panel (or, after the last, the block at `next_c`)
/// accumulates onto are prefetched one panel ahead: `r` rows, 32 columns.
///
/// # Safety
/// The CPU has AVX-512F; `a` holds `12·kk` floats, `b` holds `⌈n/32⌉·32·kk`, `c` holds rows
/// `0..r` of `ldc` floats up to column `n`; `1 ≤ r ≤ 12`, `n ≥ 1`, `kk ≥ 1`. A prefetch
/// address is never read, so `next_c` may point anywhere.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn packed_12x32(
    (r, n, kk): (usize, usize, usize),
    a: *const f32,
    b: *const f32,
    (c, ldc): (*mut f32, usize),
    acc: bool,
    next_c: Option<*const f32>,
) {
    let panels = n.div_ceil(32);
    for jp in 0..panels {
        let j = jp * 32;
        let w = (n - j).min(32);
        if let Some(after) = next_c {
            let next = if jp + 1 < panels { (c as *const f32).wrapping_add(j + 32) } else { after };
            if !next.is_null() {
                prefetch_rows(next, r, ldc, 32);
            }
        }
        // SAFETY: panel jp of B lies inside `b` (jp < ⌈n/32⌉); C's columns j..j+w < n of rows
        // 0..r lie inside `c`, as the caller guarantees; lanes past w are masked off C.
        unsafe {
            let (bp, cp) = (b.add(jp * 32 * kk), c.add(j));
            if w == 32 {
                by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |R| packed_block::<R, false>(
                    kk,
                    a,
                    bp,
                    (cp, ldc),
                    acc,
                    [0xFFFF; 2]
                ))
            } else {
                let masks = [lanes(w), lanes(w.saturating_sub(16))];
                by_count!(r, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 12, |R| packed_block::<R, true>(
                    kk,
                    a,
                    bp,
                    (cp, ldc),
                    acc,
                    masks
                ))
            }
        }
    }
}

/// `C[0..R, 0..32] (+)= A·B` for packed micro-panels: `a[p·12 + i]`, `b[p·32 + j]`. The
/// depth runs in groups of four steps, each group asking for the lines of both panels
/// [`AHEAD`] steps on (two of `B` a step, three of `A` a group), then the last `kk % 4` steps.
/// Each entry starts from C (`acc`) or zero and takes one multiply-add per step, in order: the
/// bits of every other block. With `MASKED`, C's lanes outside `masks` are neither read nor
/// written (B is read whole: its panel is zero-padded to 32 columns).
///
/// # Safety
/// The CPU has AVX-512F; `a` holds `12·kk` floats, `b` holds `32·kk`, C's rows `0..R` hold the
/// lanes of `masks` (all 32 without `MASKED`) at `ldc` apart; `kk ≥ 1`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn packed_block<const R: usize, const MASKED: bool>(
    kk: usize,
    a: *const f32,
    b: *const f32,
    (c, ldc): (*mut f32, usize),
    acc: bool,
    masks: [__mmask16; 2],
) {
    // SAFETY (every access): depth < kk of the two panels, rows < R and the lanes of `masks`
    // (all without MASKED) of C, as the caller guarantees. Prefetches and the pointers they
    // take are formed with `wrapping_add` and never read.
    unsafe {
        let mut s = [[_mm512_setzero_ps(); 2]; R];
        if acc {
            for (i, row) in s.iter_mut().enumerate() {
                for (v, x) in row.iter_mut().enumerate() {
                    let p = c.add(i * ldc + 16 * v);
                    *x = if MASKED { _mm512_maskz_loadu_ps(masks[v], p) } else { _mm512_loadu_ps(p) };
                }
            }
        }
        let (mut ap, mut bp) = (a, b);
        let step = |s: &mut [[__m512; 2]; R], ap: *const f32, bp: *const f32| {
            let (b0, b1) = (_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16)));
            for (i, row) in s.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(i));
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        };
        for _ in 0..kk / 4 {
            let (fa, fb) = (ap.wrapping_add(12 * AHEAD), bp.wrapping_add(32 * AHEAD));
            for line in 0..8 {
                _mm_prefetch::<_MM_HINT_T0>(fb.wrapping_add(16 * line) as *const i8);
            }
            for line in 0..3 {
                _mm_prefetch::<_MM_HINT_T0>(fa.wrapping_add(16 * line) as *const i8);
            }
            for u in 0..4 {
                step(&mut s, ap.add(12 * u), bp.add(32 * u));
            }
            ap = ap.add(48);
            bp = bp.add(128);
        }
        for _ in 0..kk % 4 {
            step(&mut s, ap, bp);
            ap = ap.wrapping_add(12);
            bp = bp.wrapping_add(32);
        }
        for (i, row) in s.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let p = c.add(i * ldc + 16 * v);
                if MASKED {
                    _mm512_mask_storeu_ps(p, masks[v], *x)
                } else {
                    _mm512_storeu_ps(p, *x)
                }
            }
        }
    }
}
