//! The GEMM entry points against plain f64 loops in the active kernel set (every set: `kernels::tests`).

use super::*;
use crate::backend::GemmTuning;

// gemm_blocked against a plain f64 triple loop, over shapes that cross the KC = 256 and
// NC = 256 block edges and leave every row tail (m % 6 from 0 to 5, m < 6), with A laid out
// row-major in a wider array (read in place), as the transpose of a row-major matrix
// (packed column by column), and with neither stride 1 (packed element by element).
#[test]
fn blocked_matches_a_plain_product() {
    let mut rng = crate::NumpyRng::new(11);
    // Under Miri (which interprets every operation) only small shapes with row and column
    // tails.
    let all: &[(usize, usize, usize)] = &[
        (1, 300, 600),
        (5, 17, 257),
        (6, 256, 256),
        (7, 513, 40),
        (8, 31, 300),
        (9, 16, 1),
        (10, 270, 520),
        (11, 8, 3),
        (100, 40, 700),
    ];
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) { &[(5, 17, 9), (9, 16, 1), (11, 8, 3)] } else { all };
    for &(m, n, k) in shapes {
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
        // The default blocks, and (with AVX-512; the AVX2 kernels take 6) the 12 × 32 packed
        // path at its default blocks and at blocks small enough to cut every shape above into
        // several slices of depth (with 1–3 steps past the unrolled fours), columns and chunks.
        let d = crate::backend::GemmTuning::for_this_cpu();
        let tunings =
            [d, GemmTuning { mr: 12, ..d }, GemmTuning { mr: 12, kc: 48, nc: 64, prefetch_c: Some(true), ..d }];
        for (li, am) in layouts.into_iter().enumerate() {
            for (acc, t) in [false, true].into_iter().flat_map(|acc| tunings.iter().map(move |t| (acc, *t))) {
                // C with a leading dimension wider than n, its spare columns marked.
                let ldc = n + 2;
                let mut c: Vec<f32> = (0..m * ldc).map(|q| if q % ldc < n { q as f32 * 1e-3 } else { -7.0 }).collect();
                let c0 = c.clone();
                // B row-major (n + 5 wide) for even layouts of A, given as the transpose of a
                // row-major (n, k) matrix for the others.
                let bm = if acc == (li % 2 == 0) { Mat::rows(&b, n + 5) } else { Mat { data: &bt, rs: 1, cs: k } };
                crate::backend::with_gemm_tuning(t, || {
                    gemm_blocked(m, n, k, Mat { data: am.data, rs: am.rs, cs: am.cs }, bm, &mut c, ldc, acc)
                });
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
                            "({m},{n},{k}) layout {li} acc={acc} {} at ({i},{j}): {got} vs {s}",
                            t.describe()
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
    let all: &[(usize, usize, usize)] = &[
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
    ];
    // Under Miri (which interprets every operation) the small shapes only.
    for &(m, n, k) in all.iter().filter(|&&(m, n, k)| !cfg!(miri) || m * n * k < 20_000) {
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
