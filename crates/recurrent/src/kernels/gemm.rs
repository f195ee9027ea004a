//! `C (m, n) = β·C + A (m, k) · B (k, n)` for row-major `f32` operands read in place, sized for
//! the per-step products of a recurrent layer (m = batch, one of n, k = hidden or gates). The
//! AVX2+FMA micro-kernel keeps a 6×16 block of C in 12 registers and streams B rows; nothing is
//! packed, so the recurrent weights are used where they lie at every step.

/// Row-major matrix arguments: pointer-free slices with leading dimensions.
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Elements between the starts of two rows.
    pub ld: usize,
}

/// `C = β·C + A·B` with `β ∈ {0, 1}` (`accumulate`).
///
/// # Panics
/// When a slice is too short for its shape.
pub fn gemm(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.data.len() >= (m - 1) * a.ld + k
            && (k == 0 || b.data.len() >= (k - 1) * b.ld + n)
            && c.len() >= (m - 1) * ldc + n,
        "gemm operands too short"
    );
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present; bounds were checked above and every access below is
        // within rows < m, columns < n, depth < k of the checked slices.
        return unsafe { avx2::gemm(m, n, k, a, b, c, ldc, accumulate) };
    }
    plain(m, n, k, a, b, c, ldc, accumulate)
}

fn plain(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    for i in 0..m {
        let crow = &mut c[i * ldc..i * ldc + n];
        if !accumulate {
            crow.fill(0.0);
        }
        for p in 0..k {
            let av = a.data[i * a.ld + p];
            for (cv, &bv) in crow.iter_mut().zip(&b.data[p * b.ld..p * b.ld + n]) {
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

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, c: &mut [f32], ldc: usize, acc: bool) {
        let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
        let n16 = n / 16 * 16;
        // Column panels outer, so a 16-wide strip of B stays in cache while every row block of
        // A passes over it.
        let mut j = 0;
        while j < n16 {
            let mut i = 0;
            while i + MR <= m {
                block::<MR>(
                    k,
                    ap.add(i * a.ld),
                    a.ld,
                    bp.add(j),
                    b.ld,
                    cp.add(i * ldc + j),
                    ldc,
                    acc,
                );
                i += MR;
            }
            rows_tail(
                m - i,
                k,
                ap.add(i * a.ld),
                a.ld,
                bp.add(j),
                b.ld,
                cp.add(i * ldc + j),
                ldc,
                acc,
            );
            j += 16;
        }
        if j < n {
            // The last n % 16 columns: scalar, exact same sums.
            for i in 0..m {
                for jj in j..n {
                    let mut s = if acc { *cp.add(i * ldc + jj) } else { 0.0 };
                    for p in 0..k {
                        s = (*ap.add(i * a.ld + p)).mul_add(*bp.add(p * b.ld + jj), s);
                    }
                    *cp.add(i * ldc + jj) = s;
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_tail(
        rows: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    ) {
        match rows {
            0 => {}
            1 => block::<1>(k, a, lda, b, ldb, c, ldc, acc),
            2 => block::<2>(k, a, lda, b, ldb, c, ldc, acc),
            3 => block::<3>(k, a, lda, b, ldb, c, ldc, acc),
            4 => block::<4>(k, a, lda, b, ldb, c, ldc, acc),
            _ => block::<5>(k, a, lda, b, ldb, c, ldc, acc),
        }
    }

    /// `C[0..R, 0..16] (+)= A[0..R, 0..k] · B[0..k, 0..16]`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        if acc {
            for r in 0..R {
                lo[r] = _mm256_loadu_ps(c.add(r * ldc));
                hi[r] = _mm256_loadu_ps(c.add(r * ldc + 8));
            }
        }
        for p in 0..k {
            let b0 = _mm256_loadu_ps(b.add(p * ldb));
            let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
        }
        for r in 0..R {
            _mm256_storeu_ps(c.add(r * ldc), lo[r]);
            _mm256_storeu_ps(c.add(r * ldc + 8), hi[r]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.standard_normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.standard_normal() as f32).collect();
            for acc in [false, true] {
                let mut c: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
                let c0 = c.clone();
                gemm(
                    m,
                    n,
                    k,
                    Mat { data: &a, ld: k },
                    Mat { data: &b, ld: n },
                    &mut c,
                    n,
                    acc,
                );
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
