//! Every kernel set this CPU runs (portable, AVX2, AVX-512), each forced in turn on the test's
//! thread with `backend::with_isa`: the products against plain f64 loops written here (odd
//! shapes, every tail), the activations against the exact functions of `f64` (NaN and ±∞
//! included), the whole model against the f64 model (itself checked by finite differences in
//! `gradcheck.rs`), and the sets against each other. A set this CPU lacks is reported as skipped
//! in the test's output (`cargo test -- --nocapture` shows it).

mod common;

use recurrent::backend::{with_isa, Isa};
use recurrent::kernels::act;
use recurrent::kernels::gemm::{gemm, gemm_blocked, gemm_packed, pack_b, vecmat, Mat};
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer, Rule};
use recurrent::{CellKind, NumpyRng, Reduction};

/// Runs `f` under every kernel set this CPU supports; says which were skipped and why.
fn each_set(what: &str, f: impl Fn(Isa)) {
    for isa in Isa::ALL {
        if !isa.supported() {
            println!("{what}: kernel set {isa} skipped: this CPU lacks its instructions");
            continue;
        }
        with_isa(isa, || f(isa)).expect("supported");
        println!("{what}: kernel set {isa} ran");
    }
}

/// `(m, n, k)` with every row tail of the 6-row blocks, column tails of 1 to 4 vectors of 8 and
/// 16 lanes on both sides of the masks (the AVX-512 block is 64 columns wide), `k = 0` and depths across the blocked GEMM's 256.
const SHAPES: [(usize, usize, usize); 18] = [
    (1, 1, 1),
    (1, 100, 100),
    (2, 15, 7),
    (3, 16, 9),
    (4, 17, 3),
    (5, 31, 12),
    (6, 32, 0),
    (7, 33, 5),
    (8, 47, 16),
    (9, 48, 33),
    (11, 49, 2),
    (12, 65, 40),
    (13, 129, 17),
    (25, 64, 100),
    (32, 512, 128),
    (65, 100, 300),
    (3, 63, 4),
    (7, 127, 20),
];

fn rand(rng: &mut NumpyRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.standard_normal() as f32).collect()
}

/// `C0 + A·B` in f64 at `(i, j)`.
fn want(a: &[f32], b: &[f32], c0: &[f32], (n, k): (usize, usize), i: usize, j: usize) -> f64 {
    c0[i * n + j] as f64 + (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>()
}

/// Every product of the kernel set, each in its own output, for one shape.
fn all_products(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c0: &[f32]) -> Vec<(&'static str, Vec<f32>)> {
    let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
    let mut out = Vec::new();
    let mut c = c0.to_vec();
    gemm(m, n, k, Mat::rows(a, k), Mat::rows(b, n), &mut c, n, true);
    out.push(("gemm", c));
    let mut c = c0.to_vec();
    gemm(m, n, k, Mat { data: &at, rs: 1, cs: m }, Mat::rows(b, n), &mut c, n, true);
    out.push(("gemm, A transposed", c));
    let mut c = c0.to_vec();
    gemm_packed(m, n, k, Mat::rows(a, k), &pack_b(k, n, b, n), &mut c, n, true);
    out.push(("gemm_packed", c));
    let mut c = c0.to_vec();
    gemm_blocked(m, n, k, Mat { data: &at, rs: 1, cs: m }, Mat::rows(b, n), &mut c, n, true);
    out.push(("gemm_blocked", c));
    for backwards in [false, true] {
        let mut c = c0.to_vec();
        for i in 0..m {
            vecmat(n, k, &a[i * k..(i + 1) * k], b, n, &mut c[i * n..(i + 1) * n], true, backwards);
        }
        out.push((if backwards { "vecmat backwards" } else { "vecmat" }, c));
    }
    out
}

#[test]
fn products_match_plain_loops_in_every_set() {
    each_set("products", |isa| {
        let mut rng = NumpyRng::new(5);
        for &(m, n, k) in &SHAPES {
            let (a, b, c0) = (rand(&mut rng, m * k), rand(&mut rng, k * n), rand(&mut rng, m * n));
            for (name, c) in all_products(m, n, k, &a, &b, &c0) {
                for i in 0..m {
                    for j in 0..n {
                        let w = want(&a, &b, &c0, (n, k), i, j);
                        let g = c[i * n + j] as f64;
                        let tol = 2e-6 * (k as f64 + 1.0).sqrt() * (1.0 + w.abs());
                        assert!((g - w).abs() <= tol, "{isa} {name} ({m},{n},{k}) at ({i},{j}): {g} vs {w}");
                    }
                }
            }
        }
    });
}

// The AVX2 and AVX-512 products add the same terms in the same order with the same fused
// multiply-adds, so they must agree bit for bit; the portable set rounds each product before
// adding it (no hardware FMA) and agrees to f32 rounding, checked against f64 above.
#[test]
fn avx2_and_avx512_give_the_same_bits() {
    if !Isa::Avx512.supported() {
        println!("avx2 vs avx512: skipped: this CPU lacks AVX-512 F/VL/BW/DQ");
        return;
    }
    let mut rng = NumpyRng::new(6);
    for &(m, n, k) in &SHAPES {
        let (a, b, c0) = (rand(&mut rng, m * k), rand(&mut rng, k * n), rand(&mut rng, m * n));
        let run = |isa| with_isa(isa, || all_products(m, n, k, &a, &b, &c0)).unwrap();
        for ((name, x), (_, y)) in run(Isa::Avx2).iter().zip(&run(Isa::Avx512)) {
            let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{name} ({m},{n},{k}) differs between avx2 and avx512");
        }
    }
    let xs: Vec<f32> = (-3000..3000).map(|i| i as f32 * 7e-3).chain([f32::NAN, f32::INFINITY, -0.0]).collect();
    for f in [act::tanh as fn(&mut [f32]), act::sigmoid, act::exp] {
        let run = |isa| {
            let mut v = xs.clone();
            with_isa(isa, || f(&mut v)).unwrap();
            v
        };
        let (x, y) = (run(Isa::Avx2), run(Isa::Avx512));
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "an activation differs");
    }
    // Twelve training steps of each cell: the same losses and weights, bit for bit.
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for b in [1, 8] {
            let run = |isa| with_isa(isa, || train_a_little(kind, b)).unwrap();
            let (x, y) = (run(Isa::Avx2), run(Isa::Avx512));
            assert!(x == y, "{kind} B={b}: training differs between avx2 and avx512");
        }
    }
}

/// Twelve Adam steps of a small model on fixed tokens: every loss, then every weight, as bits.
fn train_a_little(kind: CellKind, b: usize) -> Vec<u64> {
    let (v, t) = (13, 9);
    let mc = ModelConfig { cell: kind, vocab: v, hidden: 37, layers: 2, dropout: 0.0 };
    let mut m = CharModel::<f32>::new(mc, Init::PyTorch, &mut NumpyRng::new(3)).unwrap();
    let mut opt = Optimizer::new(Rule::parse("adam").unwrap(), 2e-3);
    let mut bits = Vec::new();
    for s in 0..12 {
        let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 7 + j * 3 + s) % v);
        let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + s) % v).collect();
        use recurrent::Parameters;
        m.zero_grad();
        let (loss, _) = m.forward_loss(x.view(), &y, None, Reduction::Mean, None).unwrap();
        m.backward().unwrap();
        opt.step_clipped(&mut m, Clip { norm: 5.0, value: 0.0 });
        bits.push(loss.to_bits());
    }
    use recurrent::Parameters;
    m.visit(&mut |_, _, p, _| bits.extend(p.iter().map(|w| w.to_bits() as u64)));
    bits
}

// NaN stays NaN, tanh and sigmoid saturate at ±∞, exp(+∞) = +∞ and exp(−∞) = 0, in every set,
// at every position of a vector (the vector body and the tails).
#[test]
fn activations_at_the_edges_in_every_set() {
    each_set("activations", |isa| {
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e30, -1e30, 89.0, -88.0];
        for len in 1..=40 {
            for (si, &sv) in specials.iter().enumerate() {
                let pos = (si * 7) % len;
                let mut xs: Vec<f32> = (0..len).map(|i| i as f32 * 0.37 - 5.0).collect();
                xs[pos] = sv;
                for (name, f, exact) in [
                    ("tanh", act::tanh as fn(&mut [f32]), f64::tanh as fn(f64) -> f64),
                    ("sigmoid", act::sigmoid, |x: f64| 1.0 / (1.0 + (-x).exp())),
                    ("exp", act::exp, f64::exp),
                ] {
                    let mut v = xs.clone();
                    f(&mut v);
                    for (i, (&y, &x)) in v.iter().zip(&xs).enumerate() {
                        let e = exact(x as f64) as f32;
                        // tanh and sigmoid: within their documented absolute error (3e-7,
                        // saturation included); exp: relative, exact at ±∞, and below its range
                        // (x < −87.34) at most the smallest normal f32.
                        let ok = if e.is_nan() {
                            y.is_nan()
                        } else if name != "exp" {
                            (y - e).abs() <= 3e-7
                        } else if e.is_infinite() || e == 0.0 {
                            y == e || (e == 0.0 && (0.0..=1.2e-38).contains(&y))
                        } else {
                            ((y - e) / e).abs() < 1e-6 || (x < -87.0 && y <= 1.2e-38)
                        };
                        assert!(ok, "{isa} {name}({x}) = {y}, exact {e} (length {len}, index {i})");
                    }
                }
            }
        }
    });
}

// The whole model in f32 against the f64 model: at B = 1 (the row-vector products), B = 8 and
// B = 33 (packed products with row tails), for each cell.
#[test]
fn model_matches_f64_in_every_set() {
    each_set("model", |_| {
        for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for (t, b) in [(25, 1), (16, 8), (5, 33)] {
                common::f32_model_matches_f64(kind, 11, t, b);
            }
        }
    });
}

// Portable against the active set on the same training: losses agree to f32 rounding (the
// sums are rounded differently, so bits may differ).
#[test]
fn portable_and_the_widest_set_train_alike() {
    let best = Isa::best();
    if best == Isa::Portable {
        println!("portable vs SIMD: skipped: this CPU runs no SIMD kernel set");
        return;
    }
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let x = with_isa(Isa::Portable, || train_a_little(kind, 4)).unwrap();
        let y = with_isa(best, || train_a_little(kind, 4)).unwrap();
        for s in 0..12 {
            let (p, q) = (f64::from_bits(x[s]), f64::from_bits(y[s]));
            assert!((p - q).abs() < 1e-5 * p.abs(), "{kind} step {s}: portable {p} vs {best} {q}");
        }
    }
}

// The softmax cross-entropy in every set: a NaN logit makes that row's loss NaN (as PyTorch's),
// a −∞ logit gets probability exactly 0 and leaves the loss finite. Expected values: logits
// [0, ln 3, −∞] give softmax [1/4, 3/4, 0], so the loss of target 1 is −ln(3/4) (by hand).
#[test]
fn softmax_with_nan_and_infinite_logits_in_every_set() {
    each_set("softmax", |isa| {
        let mut rows = vec![0.0f32, 3f32.ln(), f32::NEG_INFINITY, 0.5, f32::NAN, 1.0];
        let loss = recurrent::loss::softmax_cross_entropy_rows(&mut rows[..3], 3, &[1], 1.0);
        assert!((loss - 0.2876820724517809).abs() < 1e-6, "{isa}: loss {loss}");
        assert_eq!(rows[2], 0.0, "{isa}: a −∞ logit's gradient is its probability, 0");
        assert!((rows[0] - 0.25).abs() < 1e-6 && (rows[1] + 0.25).abs() < 1e-6, "{isa}: {rows:?}");
        let nan = recurrent::loss::softmax_cross_entropy_rows(&mut rows[3..], 3, &[0], 1.0);
        assert!(nan.is_nan(), "{isa}: a NaN logit gave loss {nan}");
    });
}
