//! `C (m, n) = β·C + A (m, k) · B (k, n)` for `f32` operands, around one micro-kernel that keeps
//! a block of C in registers: 6×16 in twelve 8-lane registers with AVX2+FMA (`avx2`); 6×64 or
//! 12×32 (`RECURRENT_GEMM`'s `tile`) in twenty-four 16-lane registers with AVX-512 (`avx512`).
//! It broadcasts A one entry at a time and streams rows of B. Every block sums each entry in the
//! same order, so all give the same bits. Three ways in:
//! - [`gemm`]: both operands read in place, for the small products (min-char-rnn's);
//! - [`gemm_packed`]: B packed once in 16-column panels ([`pack_b_to`]) and reused at every step
//!   (the per-step recurrent product, A = the batch's hidden states);
//! - [`gemm_blocked`]: blocked for the caches and packed block by block, for the products over
//!   all steps (weight gradients, input projections, the head's products).
//!
//! Plus [`vecmat`] and [`gemv`] for a single row or column. Every entry point checks its
//! operands' bounds in checked arithmetic ([`span`]) and handles `k = 0` (`C ← β·C`) before a
//! pointer is formed; only then does it call the `unsafe` kernels, whose contract is written
//! once at the top of each module.

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
#[derive(Clone, Copy)]
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

/// Rows of C one micro-kernel call keeps in registers (its 6×16 block): a caller that cuts a
/// product by rows cuts at multiples of this, so every part runs whole blocks.
pub const MR: usize = 6;

/// The elements a `rows × cols` view at strides `(rs, cs)` spans, `(rows − 1)·rs + (cols −
/// 1)·cs + 1` (0 when empty), or `None` when that overflows: every bounds check below is this,
/// in checked arithmetic, so no stride can wrap a check around (release builds have no
/// overflow checks).
pub fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

/// Whether `len` elements hold a `rows × cols` view at strides `(rs, cs)`.
fn holds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    span(rows, cols, rs, cs).is_some_and(|s| s <= len)
}

/// Elements of `B (k, n)` packed in 16-column panels ([`pack_b_to`]); `None` on overflow.
fn packed_len(k: usize, n: usize) -> Option<usize> {
    n.div_ceil(16).checked_mul(16)?.checked_mul(k)
}

/// `C ← β·C` for a product with nothing to add (`k = 0`), before any pointer is formed.
fn scale_only(m: usize, n: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
    if accumulate {
        return;
    }
    for i in 0..m {
        c[i * ldc..i * ldc + n].fill(0.0);
    }
}

/// Which of the GEMMs below suits a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// [`gemm`]: operands read in place.
    InPlace,
    /// [`gemm_blocked`]: blocked for the caches and packed.
    Blocked,
}

/// The GEMM for `(m, k) · (k, n)`, from the thresholds measured for these kernels. Large
/// products go to the packing GEMM, which blocks them for the caches: every dimension large (big
/// weight gradients and input projections), a long reduction (the head's weight gradient over
/// T·B rows: streamed unpacked, its operands leave the caches), or a large output (the head's
/// input gradient: unpacked, A is read once per 16 columns); so does a B that is not row-major
/// (`X · W_ihᵀ`: its blocks are packed column by column). The per-step products, and
/// min-char-rnn's small ones, stay in place.
pub fn route(m: usize, n: usize, k: usize, b_row_major: bool) -> Route {
    let large = (m > 96 && n > 96 && k > 96) || (m >= 16 && n >= 16 && (k >= 512 || (k >= 16 && m * n >= 2048 * 128)));
    if large || !b_row_major {
        Route::Blocked
    } else {
        Route::InPlace
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
    assert!(holds(b.data.len(), k, n, b.rs, b.cs), "B too short");
    out.resize(packed_len(k, n).expect("B fits in memory"), 0.0);
    if k > 0 && n > 0 {
        pack_b_into::<16>(k, n, &b, (0, 0), out);
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
    assert!(packed_len(k, n).is_some_and(|l| packed.len() >= l), "packed B too short");
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
    let b_ok =
        if packed { packed_len(k, n).is_some_and(|l| b.data.len() >= l) } else { holds(b.data.len(), k, n, b.rs, 1) };
    assert!(holds(a.data.len(), m, k, a.rs, a.cs) && b_ok && holds(c.len(), m, n, ldc, 1), "gemm operands too short");
    if k == 0 {
        return scale_only(m, n, c, ldc, accumulate);
    }
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        // SAFETY: the active set is one the CPU supports; bounds were checked above and every
        // access below is within rows < m, columns < n, depth < k of the checked slices.
        let t = crate::backend::gemm_tuning();
        return unsafe {
            simd_gemm(m, n, k, a, b, packed, c, ldc, accumulate, (t.tile, t.kb, t.prefetch_c), std::ptr::null())
        };
    }
    assert!(!packed, "packed operands take the AVX2 path or gemm_packed's own loop");
    plain(m, n, k, a, b, c, ldc, accumulate)
}

/// Pointers and strides of one call of a micro-kernel module ([`avx2`], [`avx512`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Ops {
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    ldb: usize,
    /// Elements from one 16-column panel of B to the next: 16 when B is row-major, 16·k
    /// when it is packed panel by panel (see [`pack_b_to`]).
    bps: usize,
    c: *mut f32,
    ldc: usize,
    acc: bool,
    /// C of the rows the caller runs next, at the same columns (null: none), set by
    /// [`gemm_blocked`]: the AVX2 kernels ask for the lines of C one block ahead (the next row
    /// block's, the next panel's, then this pointer's), so that the accumulating load at the
    /// start of a block finds them in L1 rather than waiting on L3. Only prefetched, never
    /// read. The AVX-512 kernels do so only when `pf` says (`RECURRENT_GEMM=pf=1`).
    next_c: *const f32,
    /// Whether the kernels prefetch C at all ([`crate::backend::GemmTuning::prefetch_c`], each
    /// set's default resolved).
    pf: bool,
}

/// `m ≥ 1` rows cut into `⌈m / most⌉` blocks as even as possible: the count, and the rows of
/// block `q` (0 from `q = count` on, so "the block after the last" has none).
#[cfg(target_arch = "x86_64")]
#[inline]
fn even_blocks(m: usize, most: usize) -> (usize, impl Fn(usize) -> usize) {
    let blocks = m.div_ceil(most);
    let (base, extra) = (m / blocks, m % blocks);
    (blocks, move |q: usize| if q < blocks { base + usize::from(q < extra) } else { 0 })
}

/// The lines of C that the block after the one starting now accumulates onto, for either
/// kernel set's prefetch (blocks `width` columns wide, a panel of `n` columns): the first of
/// rows `i..i + r` at column `j` when the panel has a next block (`r > 0`), else the first
/// `first` rows of the next panel (column `j + width`), else those at `o.next_c`; `None` when
/// there is no next block or the tuning turns prefetching off. As `(first row, rows)`, the rows
/// `o.ldc` apart; only ever prefetched.
#[cfg(target_arch = "x86_64")]
#[inline]
fn next_c_lines(
    o: &Ops,
    n: usize,
    (j, width): (usize, usize),
    (i, r): (usize, usize),
    first: usize,
) -> Option<(*const f32, usize)> {
    if !o.pf {
        None
    } else if r > 0 {
        Some(((o.c as *const f32).wrapping_add(i * o.ldc + j), r))
    } else if j + width < n {
        Some(((o.c as *const f32).wrapping_add(j + width), first))
    } else if !o.next_c.is_null() {
        Some((o.next_c, first))
    } else {
        None
    }
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
    (tile, kb, pf): (crate::backend::Tile, usize, Option<bool>),
    next_c: *const f32,
) {
    let wide = super::active() == super::Isa::Avx512;
    // One description of the operands for either kernel set: B's rows `ldb` apart, and its
    // 16-column panels `bps` apart (16 row-major, 16·k packed panel by panel).
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
        next_c,
        // C is prefetched by default with AVX2 (measured), not with AVX-512 (measured only on
        // AMD's Zen 5, whose `GemmTuning::for_this_cpu` says `pf=1`).
        pf: pf.unwrap_or(!wide),
    };
    // In parts of depth `kb` (all of `k` when `kb` is 0 or at least `k`): within a part, every
    // row block passes over one slice of B while it is still in L1, and C is read back and added
    // to from the second part on. Storing an f32 sum and loading it again changes nothing, so
    // the parts give the bits of one pass.
    let kb = if kb == 0 { k } else { kb };
    let mut p0 = 0;
    while p0 < k {
        let kk = kb.min(k - p0);
        // SAFETY: the caller's contract; the CPU runs the active set. p0 < k, so depth p0 is
        // inside A's columns and B's rows (packed: row p0 of every panel, each 16·k long); the
        // part covers depths p0..p0+kk ≤ k.
        unsafe {
            let part = Ops { a: o.a.add(p0 * o.acs), b: o.b.add(p0 * o.ldb), acc: o.acc || p0 > 0, ..o };
            if wide {
                avx512::gemm(m, n, kk, part, tile)
            } else {
                avx2::gemm(m, n, kk, part)
            }
        }
        p0 += kk;
    }
}

// The blocking of [`gemm_blocked`] comes from [`crate::backend::GemmTuning`]: `kc` deep (a
// 16-column panel of `B` this deep stays in L1 while a row block of `A` passes over it) and
// `nc` columns (a packed `kc × nc` block of `B` stays in L2 while every row block of `A` passes
// over it); by default 256 × 256 (256 KB), or 384 × 512 from 2 MB of L2 up.

thread_local! {
    /// Per-thread packing buffers of [`gemm_blocked`]: one block of `B`, `CHUNK` row blocks of `A`.
    static PACKED: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// [`gemm`] for operands too large for the caches (weight gradients over all steps, input
/// projections, the head's products over all rows). `B` is packed `kc × nc` at a time into
/// 16-column panels that stay in L2, and each row block of `A` into a `6 × kc` micro-panel
/// that stays in L1 while it passes over all of them, so the micro-kernel streams both
/// operands from contiguous memory whatever their strides (`Aᵀ` of a row-major matrix, whose
/// rows lie a power of two apart, included). A row-major `A` is read in place (six contiguous
/// rows); any other `A` is packed, each element once per `nc` columns of `B`, and each element
/// of `B` is packed once. Uses per-thread buffers of `kc·(nc + 96)` floats (352 KB at 256 × 256),
/// allocated once.
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
        assert!(
            holds(a.data.len(), m, k, a.rs, a.cs)
                && holds(b.data.len(), k, n, b.rs, b.cs)
                && holds(c.len(), m, n, ldc, 1),
            "gemm operands too short"
        );
        return PACKED.with(|bufs| {
            let (bp, ap) = &mut *bufs.borrow_mut();
            let t = crate::backend::gemm_tuning();
            // The tuning's blocks as `RECURRENT_GEMM` allows them (a `GemmTuning` built in
            // code may hold anything): kc ≥ 16, nc a multiple of 64, panels 16 or 64 wide.
            let (kc, nc, wide_panels) = (t.kc.max(16), t.nc.max(64).next_multiple_of(64), t.nr == 64);
            if t.mr == 12 && super::active() == super::Isa::Avx512 {
                let pf = t.prefetch_c.unwrap_or(false);
                // SAFETY: the active set is AVX-512 (always one the CPU runs); m, n, k ≥ 1 and
                // the three operands' bounds were checked above; kc and nc sanitised just now.
                return unsafe { blocked_12x32(m, n, k, &a, &b, (c, ldc), accumulate, (kc, nc, pf), (bp, ap)) };
            }
            bp.resize(kc * nc, 0.0);
            ap.resize(CHUNK * MR_BLOCKED * kc, 0.0);
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
            for p0 in (0..k).step_by(kc) {
                let kk = kc.min(k - p0);
                for j0 in (0..n).step_by(nc) {
                    let nn = nc.min(n - j0);
                    if wide_panels {
                        pack_b_into::<64>(kk, nn, &b, (p0, j0), bp);
                    } else {
                        pack_b_into::<16>(kk, nn, &b, (p0, j0), bp);
                    }
                    for q0 in (0..blocks).step_by(CHUNK) {
                        let q1 = (q0 + CHUNK).min(blocks);
                        // Row-major A is read in place unless the tuning says to pack it; any
                        // other layout is packed CHUNK row blocks at a time.
                        let in_place = a.cs == 1 && !t.pack_a;
                        if !in_place {
                            let mut rows = [0; CHUNK];
                            rows.iter_mut().zip(q0..q1).for_each(|(r, q)| *r = rows_of(q));
                            pack_a_chunk::<MR_BLOCKED>(&a, start_of(q0), &rows[..q1 - q0], (p0, kk), ap);
                        }
                        // C of the next row block, or of the first one of the next column
                        // block (or of the next depth's sweep): prefetched, never read.
                        let cp = c.as_ptr();
                        let next_c = |q: usize| {
                            let row = (q + 1 < blocks).then(|| start_of(q + 1));
                            next_block_c(cp, ldc, row, (j0, nn, n), (p0, kk, k))
                        };
                        for q in q0..q1 {
                            let (i0, r) = (start_of(q), rows_of(q));
                            let am = if in_place {
                                Mat { data: &a.data[i0 * a.rs + p0..], rs: a.rs, cs: 1 }
                            } else {
                                Mat { data: &ap[(q - q0) * MR_BLOCKED * kk..], rs: 1, cs: MR_BLOCKED }
                            };
                            let knobs = (crate::backend::Tile::Wide, 0, t.prefetch_c);
                            // One call over the block's 16-column panels, or one per 64-column
                            // panel, each a row-major kk × 64 matrix.
                            let step = if wide_panels { 64 } else { nn };
                            for jp in (0..nn).step_by(step) {
                                let (w, panel) = if wide_panels {
                                    ((nn - jp).min(64), Mat::rows(&bp[jp * kk..(jp + 64) * kk], 64))
                                } else {
                                    (nn, Mat::rows(bp, 16))
                                };
                                // The next panel's lines of C for these rows, after the last
                                // those of the block the caller runs next.
                                let ahead =
                                    if jp + step < nn { cp.wrapping_add(i0 * ldc + j0 + jp + step) } else { next_c(q) };
                                // SAFETY: the active set has AVX2 and FMA; A's rows i0..i0+r and
                                // columns p0..p0+kk lie in its checked slice (in place) or in the
                                // packed chunk; B's block holds kk × ⌈nn/16⌉·16 elements in
                                // 16-column panels, or ⌈nn/64⌉ panels kk × 64, the one read
                                // here zero-padded past w columns; C's rows i0..i0+r, columns
                                // j0+jp..j0+jp+w lie within the slice checked above.
                                unsafe {
                                    simd_gemm(
                                        r,
                                        w,
                                        kk,
                                        am,
                                        panel,
                                        !wide_panels,
                                        &mut c[i0 * ldc + j0 + jp..],
                                        ldc,
                                        accumulate || p0 > 0,
                                        knobs,
                                        ahead,
                                    )
                                };
                            }
                        }
                    }
                }
            }
        });
    }
    if b.cs == 1 {
        return run(m, n, k, a, b, false, c, ldc, accumulate);
    }
    // Portable path with a strided B: one dot product per entry (indexing checks every access).
    for i in 0..m {
        for j in 0..n {
            let s = (0..k).fold(0.0f32, |s, p| s + a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs]);
            let cij = &mut c[i * ldc + j];
            *cij = if accumulate { *cij + s } else { s };
        }
    }
}

/// Rows of a packed micro-panel of `A` in [`gemm_blocked`] (the micro-kernel's row count).
const MR_BLOCKED: usize = MR;

/// Where the blocked GEMM's next call starts accumulating onto C, to prefetch it (never read):
/// row `next_row` (the next row block's first, if any) at column `j0`, else the next column
/// block's first row (column `j0 + nn`), else the next depth slice's (column 0), else null.
#[cfg(target_arch = "x86_64")]
fn next_block_c(
    c: *const f32,
    ldc: usize,
    next_row: Option<usize>,
    (j0, nn, n): (usize, usize, usize),
    (p0, kk, k): (usize, usize, usize),
) -> *const f32 {
    match next_row {
        Some(i) => c.wrapping_add(i * ldc + j0),
        None if j0 + nn < n => c.wrapping_add(j0 + nn),
        None if p0 + kk < k => c,
        None => std::ptr::null(),
    }
}

/// Rows of a packed micro-panel of `A` in [`blocked_12x32`].
#[cfg(target_arch = "x86_64")]
const MR_TALL: usize = 12;

/// Row blocks [`blocked_12x32`] packs together (96 rows, as [`CHUNK`] six-row blocks are).
#[cfg(target_arch = "x86_64")]
const CHUNK_TALL: usize = CHUNK * MR_BLOCKED / MR_TALL;

/// [`gemm_blocked`] with AVX-512 and `mr=12` (`GemmTuning::mr`): BLIS's loops with its
/// `sgemm_skx` micro-tile, transposed for a row-major C. For each `kc`-deep slice of the
/// depth and each `nc` columns of `B`, that block of `B` is packed into `kc × 32` micro-panels;
/// then 96 rows of `A` at a time are packed into `12 × kc` micro-panels (as even as possible:
/// 2048 rows are 171 blocks of 12 or 11), and each passes over every panel of the block,
/// the `12 × 32` block of C kept in registers meanwhile ([`avx512::packed_12x32`]). Both
/// operands are read as one contiguous stream each, whatever their layout. Each entry of C is
/// summed as everywhere else (from C, or zero at the first slice when not accumulating, then
/// one multiply-add per step of the depth, in order), so the bits are the other paths'.
///
/// # Safety
/// The CPU runs AVX-512; `m, n, k ≥ 1`; `a` and `b` hold `m × k` and `k × n` at their strides
/// and `c` holds `m × n` at `ldc` ([`gemm_blocked`] checks all three); `kc ≥ 16` and `nc` is a
/// multiple of 64.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn blocked_12x32(
    m: usize,
    n: usize,
    k: usize,
    a: &Mat<'_>,
    b: &Mat<'_>,
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
    (kc, nc, pf): (usize, usize, bool),
    (bp, ap): (&mut Vec<f32>, &mut Vec<f32>),
) {
    bp.resize(kc * nc, 0.0);
    ap.resize(CHUNK_TALL * MR_TALL * kc, 0.0);
    let (blocks, rows_of) = even_blocks(m, MR_TALL);
    let (base, extra) = (m / blocks, m % blocks);
    let start_of = |q: usize| q * base + q.min(extra);
    for p0 in (0..k).step_by(kc) {
        let kk = kc.min(k - p0);
        for j0 in (0..n).step_by(nc) {
            let nn = nc.min(n - j0);
            pack_b_into::<32>(kk, nn, b, (p0, j0), bp);
            for q0 in (0..blocks).step_by(CHUNK_TALL) {
                let q1 = (q0 + CHUNK_TALL).min(blocks);
                let mut rows = [0; CHUNK_TALL];
                rows.iter_mut().zip(q0..q1).for_each(|(r, q)| *r = rows_of(q));
                pack_a_chunk::<MR_TALL>(a, start_of(q0), &rows[..q1 - q0], (p0, kk), ap);
                for q in q0..q1 {
                    let (i0, r) = (start_of(q), rows_of(q));
                    // C of the block the kernel runs after this one's last panel: the next row
                    // block's, else the next column block's or the next slice's first rows.
                    let row = (q + 1 < blocks).then(|| start_of(q + 1));
                    let next_c = next_block_c(c.as_ptr(), ldc, row, (j0, nn, n), (p0, kk, k));
                    let panel = &ap[(q - q0) * MR_TALL * kk..][..MR_TALL * kk];
                    let cb = &mut c[i0 * ldc + j0..];
                    // SAFETY: the CPU runs AVX-512 (this function's contract). The A panel holds
                    // 12·kk floats with this block's r ≤ 12 rows in its first r slots of each
                    // group of 12; B's block holds ⌈nn/32⌉ panels of kk × 32 (kc·nc ≥ that, as
                    // nc is a multiple of 64 and nn ≤ nc), zero-padded past nn; C's rows
                    // i0..i0+r, columns j0..j0+nn lie inside the m × n checked by the caller,
                    // so `cb` holds r − 1 rows of ldc and nn more.
                    unsafe {
                        avx512::packed_12x32(
                            (r, nn, kk),
                            panel.as_ptr(),
                            bp.as_ptr(),
                            (cb.as_mut_ptr(), ldc),
                            accumulate || p0 > 0,
                            pf.then_some(next_c),
                        )
                    };
                }
            }
        }
    }
}

/// Row blocks packed together in [`gemm_blocked`] (96 rows: each column of `Aᵀ` is read as
/// 384 contiguous bytes).
const CHUNK: usize = 16;

/// Row blocks of `A` from row `i0`, `rows[q] ≤ P` rows each, columns `p0..p0+kk`, each as a
/// micro-panel `out[q·P·kk + p·P + r] = A[start(q) + r, p0 + p]`: column by column, as the
/// micro-kernel broadcasts it (`P` = 6, or 12 for the AVX-512 `mr=12` path; the slots of a
/// block's missing rows are left as they were, and never read).
fn pack_a_chunk<const P: usize>(a: &Mat<'_>, i0: usize, rows: &[usize], (p0, kk): (usize, usize), out: &mut [f32]) {
    let panel = P * kk;
    let total: usize = rows.iter().sum();
    if a.rs == 1 {
        // Aᵀ of a row-major matrix: each column of A is a contiguous run over the chunk.
        let full = rows.iter().all(|&r| r == P);
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
                for (qi, s6) in src.chunks_exact(P).enumerate() {
                    let d: &mut [f32; P] = (&mut out[qi * panel + p * P..][..P]).try_into().expect("a whole group");
                    d.copy_from_slice(s6);
                }
            } else {
                let mut at = 0;
                for (qi, &r) in rows.iter().enumerate() {
                    out[qi * panel + p * P..][..r].copy_from_slice(&src[at..at + r]);
                    at += r;
                }
            }
        }
    } else if a.cs == 1 {
        // A row-major A (packed when the tuning asks, `pa=1`, or for `mr=12`): each block's rows
        // as slices, their entries interleaved column by column into contiguous groups of P.
        let mut i = i0;
        for (qi, &r) in rows.iter().enumerate() {
            let dst = &mut out[qi * panel..(qi + 1) * panel];
            let src: [&[f32]; P] =
                core::array::from_fn(|rr| if rr < r { &a.data[(i + rr) * a.rs + p0..][..kk] } else { &[] });
            if r == P {
                for (p, d) in dst.chunks_exact_mut(P).enumerate() {
                    for (rr, dv) in d.iter_mut().enumerate() {
                        *dv = src[rr][p];
                    }
                }
            } else {
                for (p, d) in dst.chunks_exact_mut(P).enumerate() {
                    for (rr, dv) in d.iter_mut().enumerate().take(r) {
                        *dv = src[rr][p];
                    }
                }
            }
            i += r;
        }
    } else {
        let mut i = i0;
        for (qi, &r) in rows.iter().enumerate() {
            for rr in 0..r {
                let row = (i + rr) * a.rs + p0 * a.cs;
                for p in 0..kk {
                    out[qi * panel + p * P + rr] = a.data[row + p * a.cs];
                }
            }
            i += r;
        }
    }
}

/// Rows `p0..p0+k`, columns `j0..j0+n` of `B` packed in panels `W` columns wide, each `k × W`
/// contiguous and zero-padded past the last column ([`pack_b`]'s layout when `W` is 16), into
/// a buffer that is already long enough (`⌈n/W⌉·W·k`).
fn pack_b_into<const W: usize>(k: usize, n: usize, b: &Mat<'_>, (p0, j0): (usize, usize), out: &mut [f32]) {
    let src = &b.data[p0 * b.rs + j0 * b.cs..];
    for p in 0..n.div_ceil(W) {
        let w = (n - p * W).min(W);
        let panel = &mut out[p * W * k..(p + 1) * W * k];
        let at = p * W * b.cs;
        if b.cs == 1 && w == W {
            for (row, o) in panel.chunks_exact_mut(W).enumerate() {
                let s: &[f32; W] = src[at + row * b.rs..][..W].try_into().expect("a whole panel row");
                o.copy_from_slice(s);
            }
        } else if b.cs == 1 {
            for (row, o) in panel.chunks_exact_mut(W).enumerate() {
                o[..w].copy_from_slice(&src[at + row * b.rs..][..w]);
                o[w..].fill(0.0);
            }
        } else {
            // Strided columns (Bᵀ of a row-major matrix when b.rs = 1): column by column.
            if w < W {
                panel.fill(0.0);
            }
            for jj in 0..w {
                let col = at + jj * b.cs;
                for (row, o) in panel.chunks_exact_mut(W).enumerate() {
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
    assert!(holds(a.len(), m, k, lda, 1) && x.len() >= k && y.len() >= m, "gemv operands too short");
    if k == 0 {
        return scale_only(m, 1, y, 1, accumulate);
    }
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
    assert!(x.len() >= k && y.len() >= n && holds(b.len(), k, n, ldb, 1), "vecmat operands too short");
    if k == 0 {
        return scale_only(1, n, y, n, accumulate);
    }
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
mod avx2;

#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;
