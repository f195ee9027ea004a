//! Safe code cannot reach undefined behaviour through the public products: a view whose
//! strides would wrap the bounds check around, a slice too short, overlapping output rows — each
//! refused with a panic when the view is made or the product called, on every kernel set this
//! CPU runs. Empty products (`k = 0`) leave `C ← β·C` without forming a pointer into an empty
//! slice (this test passes under Miri: `cargo +nightly miri test --test misuse`).

use recurrent::backend::{with_isa, Isa};
use recurrent::linalg::{MatMut, MatRef};
use recurrent::Float;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` under every kernel set this CPU supports.
fn each_set(f: impl Fn(Isa)) {
    for isa in Isa::ALL {
        if isa.supported() {
            with_isa(isa, || f(isa)).expect("supported");
        } else {
            println!("kernel set {isa} skipped: this CPU lacks its instructions");
        }
    }
}

/// Whether `f` panics (a refusal), with the panic's message kept quiet.
fn refused(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

// The example: rows `usize::MAX − 14` apart. `(rows − 1)·ld + cols` wraps to 1 in
// unchecked arithmetic, which passed the old check; the view is refused when it is made.
#[test]
fn strides_that_wrap_are_refused_when_the_view_is_made() {
    let mut c = vec![0f32; 32];
    assert!(refused(|| {
        let _ = MatMut::with_ld(&mut c, 2, 16, usize::MAX - 14);
    }));
    let a = vec![0f32; 32];
    assert!(refused(|| {
        let _ = MatRef::with_ld(&a, 2, 16, usize::MAX - 14);
    }));
    assert!(refused(|| {
        let _ = MatRef::with_strides(&a, 3, 3, usize::MAX / 2, 1);
    }));
    // Too short, and overlapping output rows.
    assert!(refused(|| {
        let _ = MatRef::new(&a, 3, 11);
    }));
    assert!(refused(|| {
        let _ = MatMut::with_ld(&mut c, 2, 16, 8);
    }));
    assert!(refused(|| {
        let _ = MatRef::new(&a, 2, 16).row_range(1, 2);
    }));
    assert!(refused(|| {
        let _ = MatRef::new(&a, 2, 16).row_range(usize::MAX, 2);
    }));
}

// Products whose shapes do not chain, or whose vectors are too short, panic on every set.
#[test]
fn products_that_do_not_fit_panic_on_every_kernel_set() {
    each_set(|isa| {
        let a = vec![1f32; 6 * 32];
        let b = vec![1f32; 32 * 16];
        let mut c = vec![0f32; 6 * 16];
        assert!(
            refused(|| f32::gemm(MatRef::new(&a, 6, 32), MatRef::new(&b, 16, 32), MatMut::new(&mut c, 6, 16), false)),
            "{isa}: shapes that do not chain"
        );
        let mut y = vec![0f32; 5];
        assert!(refused(|| f32::gemv(MatRef::new(&a, 6, 32), &b[..32], &mut y, false)), "{isa}: gemv y too short");
        let mut y = vec![0f32; 6];
        assert!(refused(|| f32::gemv(MatRef::new(&a, 6, 32), &b[..31], &mut y, false)), "{isa}: gemv x too short");
        let mut y = vec![0f32; 16];
        assert!(
            refused(|| f32::vecmat(&a[..31], MatRef::new(&b, 32, 16), &mut y, false, false)),
            "{isa}: vecmat x too short"
        );
        let mut packed = Vec::new();
        f32::pack_b(MatRef::new(&b, 32, 16), &mut packed);
        assert!(
            refused(|| f32::gemm_packed(MatRef::new(&a, 6, 32), &packed[..100], 16, MatMut::new(&mut c, 6, 16), false)),
            "{isa}: packed B too short"
        );
    });
}

// `k = 0`: C ← β·C (zeroed, or kept when accumulating), on the in-place, packed and blocked
// routes and the vector products, with empty operand slices.
#[test]
fn empty_products_scale_c_on_every_kernel_set() {
    each_set(|isa| {
        for (m, n) in [(6, 32), (1, 16), (7, 17), (200, 200)] {
            for acc in [false, true] {
                let want = if acc { 3.0 } else { 0.0 };
                let mut c = vec![3f32; m * n];
                f32::gemm(MatRef::new(&[], m, 0), MatRef::new(&[], 0, n), MatMut::new(&mut c, m, n), acc);
                assert!(c.iter().all(|&v| v == want), "{isa} gemm ({m},{n},0) acc={acc}");
                let mut packed = Vec::new();
                f32::pack_b(MatRef::new(&[], 0, n), &mut packed);
                let mut c = vec![3f32; m * n];
                f32::gemm_packed(MatRef::new(&[], m, 0), &packed, n, MatMut::new(&mut c, m, n), acc);
                assert!(c.iter().all(|&v| v == want), "{isa} gemm_packed ({m},{n},0) acc={acc}");
                let mut c = vec![3f32; m * n];
                let bt = MatRef::new(&[], n, 0).t();
                f32::gemm(MatRef::new(&[], m, 0), bt, MatMut::new(&mut c, m, n), acc);
                assert!(c.iter().all(|&v| v == want), "{isa} gemm Bᵀ ({m},{n},0) acc={acc}");
                let mut y = vec![3f32; m];
                f32::gemv(MatRef::new(&[], m, 0), &[], &mut y, acc);
                assert!(y.iter().all(|&v| v == want), "{isa} gemv ({m},0) acc={acc}");
                let mut y = vec![3f32; n];
                f32::vecmat(&[], MatRef::new(&[], 0, n), &mut y, acc, false);
                assert!(y.iter().all(|&v| v == want), "{isa} vecmat (0,{n}) acc={acc}");
            }
        }
    });
}

// f64's products (the reference path, ndarray's GEMM) on empty operands: no rows (an empty part
// of a split, as a transposed row range with its data trimmed to nothing, which once panicked
// in the backward of a 2-layer stack split over two threads), no columns, and k = 0.
#[test]
fn empty_products_in_f64() {
    for acc in [false, true] {
        let want = if acc { 3.0 } else { 0.0 };
        let (rows, gh, h) = (30, 64, 64);
        let dg = vec![1f64; rows * gh];
        let hs = vec![1f64; rows * h];
        let mut none: Vec<f64> = Vec::new();
        let at = MatRef::new(&dg, rows, gh).t().row_range(gh, 0);
        f64::gemm(at, MatRef::new(&hs, rows, h), MatMut::new(&mut none, 0, h), acc);
        let mut c: Vec<f64> = Vec::new();
        f64::gemm(MatRef::new(&dg[..5 * 4], 5, 4), MatRef::new(&[], 4, 0), MatMut::new(&mut c, 5, 0), acc);
        let mut c = vec![3f64; 6 * 7];
        f64::gemm(MatRef::new(&[], 6, 0), MatRef::new(&[], 0, 7), MatMut::new(&mut c, 6, 7), acc);
        assert!(c.iter().all(|&v| v == want), "f64 gemm (6,7,0) acc={acc}");
    }
}

// Views with rows further apart than their width, at the edges: each product reads only what
// the view names (the gaps hold NaN, which would show) on every set.
#[test]
fn strided_views_read_only_their_entries() {
    each_set(|isa| {
        for (m, n, k) in [(1, 1, 1), (7, 33, 5), (13, 16, 64)] {
            let (lda, ldc) = (k + 3, n + 5);
            let mut a = vec![f32::NAN; (m - 1) * lda + k];
            for i in 0..m {
                for p in 0..k {
                    a[i * lda + p] = (i + 2 * p) as f32 % 7.0 - 3.0;
                }
            }
            let b: Vec<f32> = (0..k * n).map(|x| (x % 5) as f32 - 2.0).collect();
            let mut c = vec![f32::NAN; (m - 1) * ldc + n];
            f32::gemm(MatRef::with_ld(&a, m, k, lda), MatRef::new(&b, k, n), MatMut::with_ld(&mut c, m, n, ldc), false);
            for i in 0..m {
                for j in 0..n {
                    // Small integers: exact in f32 whatever the order of the sum.
                    let want: f32 = (0..k).map(|p| a[i * lda + p] * b[p * n + j]).sum();
                    assert_eq!(c[i * ldc + j], want, "{isa} ({m},{n},{k}) entry ({i},{j})");
                }
                if i + 1 < m {
                    assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|v| v.is_nan()), "{isa}: a gap was written");
                }
            }
        }
    });
}
