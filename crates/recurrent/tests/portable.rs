//! The portable kernels, forced with `RECURRENT_PORTABLE` on a machine that has AVX2 (every other
//! test runs the AVX2 versions). Expected values: plain f64 loops written here, the exact
//! functions of `f64`, and the f64 model (itself checked against finite differences in
//! `gradcheck.rs`). This binary holds one test so that the variable is set before any kernel
//! asks which version to run.

mod common;

use recurrent::kernels::gemm::{gemm, gemm_packed, gemv, pack_b, vecmat, Mat};
use recurrent::kernels::{act, has_avx2_fma, transpose};
use recurrent::{CellKind, NumpyRng};

#[test]
fn portable_kernels_match_plain_loops() {
    std::env::set_var("RECURRENT_PORTABLE", "1");
    assert!(!has_avx2_fma(), "the variable must switch the AVX2 kernels off");

    let mut rng = NumpyRng::new(11);
    for &(m, n, k) in &[(1, 100, 100), (7, 33, 5), (32, 65, 40), (13, 1, 9)] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.standard_normal() as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.standard_normal() as f32).collect();
        let c0: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
        let close = |got: &[f32], i: usize, j: usize, what: &str| {
            let want = c0[i * n + j] as f64 + (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>();
            let g = got[i * n + j] as f64;
            assert!((g - want).abs() < 1e-4 * (1.0 + want.abs()), "{what} ({m},{n},{k}) at ({i},{j}): {g} vs {want}");
        };
        let mut c = c0.clone();
        gemm(m, n, k, Mat::rows(&a, k), Mat::rows(&b, n), &mut c, n, true);
        let mut cp = c0.clone();
        gemm_packed(m, n, k, Mat::rows(&a, k), &pack_b(k, n, &b, n), &mut cp, n, true);
        for i in 0..m {
            for j in 0..n {
                close(&c, i, j, "gemm");
                close(&cp, i, j, "gemm_packed");
            }
            for backwards in [false, true] {
                let mut y = c0.clone();
                vecmat(n, k, &a[i * k..(i + 1) * k], &b, n, &mut y[i * n..(i + 1) * n], true, backwards);
                for j in 0..n {
                    close(&y, i, j, "vecmat");
                }
            }
        }
        if n == 1 {
            let mut y = c0.clone();
            gemv(m, k, &a, k, &b, &mut y, true);
            for i in 0..m {
                close(&y, i, 0, "gemv");
            }
        }
    }

    let (r, c) = (13, 21);
    let src: Vec<f32> = (0..r * c).map(|q| q as f32).collect();
    let mut dst = vec![0.0f32; r * c];
    transpose(r, c, &src, &mut dst);
    assert!((0..r * c).all(|q| dst[(q % c) * r + q / c] == src[q]), "transpose");

    let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 1e-2).collect();
    for (name, f, exact, tol) in [
        ("tanh", act::tanh as fn(&mut [f32]), f64::tanh as fn(f64) -> f64, 3e-7),
        ("sigmoid", act::sigmoid, |x: f64| 1.0 / (1.0 + (-x).exp()), 3e-7),
        ("exp", act::exp, f64::exp, 5e-7),
    ] {
        let mut v = xs.clone();
        f(&mut v);
        for (&y, &x) in v.iter().zip(&xs) {
            let e = exact(x as f64);
            let err = if name == "exp" { ((y as f64 - e) / e).abs() } else { (y as f64 - e).abs() };
            assert!(err < tol, "{name}({x}) = {y}, exact {e}");
        }
    }

    // The whole model in f32 through the portable paths against the f64 model, at B = 1 (the
    // row-vector products) and B = 8.
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for (t, b) in [(25, 1), (16, 8)] {
            common::f32_model_matches_f64(kind, 11, t, b);
        }
    }
}
