//! Hot kernels for `f32`, each in the kernel sets [`crate::backend`] chooses from: the GEMMs of
//! `gemm` (one 6×16 micro-kernel reached three ways — operands in place for the small
//! products, B packed once per sequence for the per-step recurrent product, both packed block
//! by block for the large products over all steps — plus a vector–matrix and a matrix–vector
//! product), and vectorised `tanh`, `sigmoid` and `exp`. Each has AVX-512 and AVX2+FMA versions
//! chosen at run time and a portable version with the same arithmetic; `f64` (the checking
//! precision) never comes here. Dependencies run one way: `backend` (the choice) ← `kernels`
//! ← `float`/`linalg` (the products the layers call) and `measure`.

pub mod act;
pub mod gemm;

use crate::backend::{active, Isa};

/// Whether the [`active`] kernel set has AVX2 and FMA (AVX2 or AVX-512).
#[inline]
pub fn has_avx2_fma() -> bool {
    active() >= Isa::Avx2
}

/// Runs `f` compiled for the [`active`] kernel set: AVX-512 (16 lanes), AVX2+FMA (8 lanes), or
/// as built for the baseline target.
///
/// The element-wise loops of the cells and the optimizers are plain Rust; the crate is built
/// for baseline x86-64 (SSE2, four lanes), so without this they never use wider registers.
/// `f` is inlined into a copy of this function compiled with the wider instruction set, which
/// lets the loops inside it vectorise eight or sixteen lanes wide. Only the instruction
/// selection changes: Rust never fuses `a * b + c` on its own, and a sum over a loop keeps its
/// written order, so results are bit-for-bit those of the baseline build.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match active() {
        Isa::Avx512 => {
            /// # Safety
            /// The CPU has AVX2, FMA and AVX-512 F/VL/BW/DQ.
            #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
            unsafe fn run<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: the active set is only ever one the CPU supports (see `backend`).
            return unsafe { run(f) };
        }
        Isa::Avx2 => {
            /// # Safety
            /// The CPU has AVX2 and FMA.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn run<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: as above: the CPU has AVX2 and FMA.
            return unsafe { run(f) };
        }
        Isa::Portable => {}
    }
    f()
}

/// `dst (cols, rows) = srcᵀ` for a row-major `src (rows, cols)`: weights turned for a product
/// that wants them the other way round (`W_hhᵀ`, the head's `Wᵀ`), once per sequence. 8×8
/// tiles, turned in registers with AVX, and a scalar loop over the edges.
pub fn transpose<T: Copy + 'static>(rows: usize, cols: usize, src: &[T], dst: &mut [T]) {
    transpose_ld(rows, cols, src, dst, rows)
}

/// [`transpose`] into a `dst` whose rows are `ldd ≥ rows` apart (entries between `rows` and
/// `ldd` are left as they are).
pub fn transpose_ld<T: Copy + 'static>(rows: usize, cols: usize, src: &[T], dst: &mut [T], ldd: usize) {
    assert!(ldd >= rows, "destination rows narrower than the source has rows");
    let need = if cols == 0 { 0 } else { (cols - 1) * ldd + rows };
    assert!(src.len() >= rows * cols && dst.len() >= need, "transpose operands too short");
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: T is f32 (checked), AVX is present, and every tile lies inside both slices.
        unsafe {
            let (s, d) = (src.as_ptr() as *const f32, dst.as_mut_ptr() as *mut f32);
            for i in (0..r8).step_by(8) {
                for j in (0..c8).step_by(8) {
                    tile8(s.add(i * cols + j), cols, d.add(j * ldd + i), ldd);
                }
            }
        }
        edges(rows, cols, r8, c8, src, dst, ldd);
        return;
    }
    edges(rows, cols, 0, cols, src, dst, ldd);
}

/// The entries of `transpose_ld` outside the `r8 × c8` block of whole tiles (all of them when
/// `r8 = 0`).
fn edges<T: Copy>(rows: usize, cols: usize, r8: usize, c8: usize, src: &[T], dst: &mut [T], ldd: usize) {
    for i in 0..rows {
        let from = if i < r8 { c8 } else { 0 };
        for j in from..cols {
            dst[j * ldd + i] = src[i * cols + j];
        }
    }
}

/// Makes `buf` hold `len` values starting at a 64-byte boundary (a cache line) and returns the
/// offset of that start. Rows laid out there, `ld` a multiple of 16 `f32`s apart, start every
/// 256- or 512-bit load on a boundary of its own size, so no load straddles two cache lines (a
/// row-vector product over min-char-rnn's `W_hh` runs about 10% faster than from a
/// 16-byte-aligned, 100-wide layout).
pub fn aligned<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> usize {
    let size = std::mem::size_of::<T>().max(1);
    buf.resize(len + 64 / size, T::default());
    let misalign = buf.as_ptr() as usize % 64;
    if misalign == 0 {
        0
    } else {
        (64 - misalign) / size
    }
}

/// The leading dimension for rows of `n` values laid out at an [`aligned`] start for
/// [`gemm::vecmat`]: `n` rounded up to the active set's vector width (16 lanes with AVX-512,
/// else 8), so every row starts on a boundary of that width.
pub fn vector_ld(n: usize) -> usize {
    n.next_multiple_of(if active() == Isa::Avx512 { 16 } else { 8 })
}

/// One 8×8 tile: `d[c·ldd + r] = s[r·lds + c]`.
///
/// # Safety
/// The CPU has AVX; eight rows of eight values lie at `s` (rows `lds` apart) and at `d` (rows
/// `ldd` apart).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn tile8(s: *const f32, lds: usize, d: *mut f32, ldd: usize) {
    // SAFETY: the caller guarantees the instructions this function enables and, for memory, that every address used below lies inside its operands.
    unsafe {
        use std::arch::x86_64::*;
        let r: [__m256; 8] = core::array::from_fn(|k| _mm256_loadu_ps(s.add(k * lds)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (k, v) in out.iter().enumerate() {
            _mm256_storeu_ps(d.add(k * ldd), *v);
        }
    }
}

/// This core's f32 multiply-add peak in GFLOP/s with the kernels of `isa`, measured for about
/// `seconds` (see [`crate::measure::fma_peak_gflops`]); 0 for the portable set.
pub fn fma_peak_gflops(isa: Isa, seconds: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        /// Twelve chains of 8-lane FMAs: two FMA units × a latency of up to 6 cycles.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn chains8(n: usize) -> f32 {
            // SAFETY: the caller guarantees the instructions this function enables and, for memory, that every address used below lies inside its operands.
            unsafe {
                let mut a = [_mm256_set1_ps(1.0); 12];
                let (x, y) = (_mm256_set1_ps(std::hint::black_box(0.999_999)), _mm256_set1_ps(1e-6));
                for _ in 0..n {
                    for v in a.iter_mut() {
                        *v = _mm256_fmadd_ps(*v, x, y);
                    }
                }
                let mut s = [0.0f32; 8];
                _mm256_storeu_ps(s.as_mut_ptr(), a.iter().fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v)));
                s[0]
            }
        }
        /// Twenty-four chains of 16-lane FMAs (the same latency cover with twice the registers).
        ///
        /// # Safety
        /// The CPU has AVX-512F.
        #[target_feature(enable = "avx512f")]
        unsafe fn chains16(n: usize) -> f32 {
            let mut a = [_mm512_set1_ps(1.0); 24];
            let (x, y) = (_mm512_set1_ps(std::hint::black_box(0.999_999)), _mm512_set1_ps(1e-6));
            for _ in 0..n {
                for v in a.iter_mut() {
                    *v = _mm512_fmadd_ps(*v, x, y);
                }
            }
            _mm512_reduce_add_ps(a.iter().fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v)))
        }
        let (flops_per_rep, run): (usize, unsafe fn(usize) -> f32) = match isa {
            Isa::Portable => return 0.0,
            Isa::Avx2 => (12 * 16, chains8),
            Isa::Avx512 => (24 * 32, chains16),
        };
        assert!(isa.supported(), "the CPU cannot run {isa}");
        // Rounds of five million repetitions (10–20 ms), the fastest kept: on a shared machine
        // the mean would mix the core's peak with the neighbours' bursts.
        let n = 5_000_000;
        let (t0, mut best) = (std::time::Instant::now(), 0f64);
        while t0.elapsed().as_secs_f64() < seconds || best == 0.0 {
            let r0 = std::time::Instant::now();
            // SAFETY: the CPU supports `isa` (asserted above), whose features `run` enables.
            std::hint::black_box(unsafe { run(std::hint::black_box(n)) });
            best = best.max((n * flops_per_rep) as f64 / r0.elapsed().as_secs_f64() / 1e9);
        }
        best
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, seconds);
        0.0
    }
}

/// `Σ f(v)` in `f64` over `LANES` running sums (then added in lane order, then the tail), so the
/// loop vectorises where a single running sum could not (its order is fixed by IEEE rules).
#[inline(always)]
pub fn lane_sum<const LANES: usize, T: Copy>(v: &[T], f: impl Fn(T) -> f64) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f(x);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod layout_tests {
    // Every entry lands where the definition says, for shapes with and without whole tiles.
    #[test]
    fn transpose_moves_every_entry() {
        // Under Miri (which interprets every operation) the shapes up to 65 × 128.
        let shapes = [(1, 1), (8, 8), (100, 100), (65, 128), (13, 21), (512, 2048), (3, 17)];
        for &(r, c) in shapes.iter().filter(|&&(r, c)| !cfg!(miri) || r * c <= 65 * 128) {
            let src: Vec<f32> = (0..r * c).map(|q| q as f32).collect();
            let mut dst = vec![-1.0f32; r * c];
            super::transpose(r, c, &src, &mut dst);
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(dst[j * r + i], src[i * c + j], "({r},{c}) at ({i},{j})");
                }
            }
            let src64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
            let mut dst64 = vec![0.0f64; r * c];
            super::transpose(r, c, &src64, &mut dst64);
            assert!(dst64.iter().zip(&dst).all(|(a, &b)| *a == b as f64));
            // Into wider rows: the entries land `ldd` apart and the gaps keep their values.
            let ldd = r.next_multiple_of(8) + 3;
            let mut wide = vec![-1.0f32; c * ldd];
            super::transpose_ld(r, c, &src, &mut wide, ldd);
            for j in 0..c {
                assert_eq!(&wide[j * ldd..j * ldd + r], &dst[j * r..(j + 1) * r], "({r},{c}) ld {ldd} row {j}");
                assert!(wide[j * ldd + r..(j + 1) * ldd].iter().all(|&v| v == -1.0), "gap of row {j}");
            }
        }
    }

    // The offset `aligned` returns starts `len` values on a 64-byte boundary, inside the buffer.
    #[test]
    fn aligned_starts_on_a_boundary() {
        for len in [0, 1, 7, 100, 10_400] {
            for start in 0..8 {
                // Vectors of several lengths first, so the allocator hands out varied addresses.
                let mut buf = vec![0.0f32; start];
                let off = super::aligned(&mut buf, len);
                assert_eq!(buf[off..].as_ptr() as usize % 64, 0);
                assert!(buf.len() >= off + len);
                let mut b64 = vec![0.0f64; start];
                let off = super::aligned(&mut b64, len);
                assert_eq!(b64[off..].as_ptr() as usize % 64, 0);
                assert!(b64.len() >= off + len);
            }
        }
    }
}
