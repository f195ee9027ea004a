//! Every kernel set this CPU runs (portable, AVX2, AVX-512), each forced in turn on the test's
//! thread with `backend::with_isa`: the products against plain f64 loops written here (odd
//! shapes, every tail), the activations against the exact functions of `f64` (NaN and ±∞
//! included), and the sets against each other. A set this CPU lacks is reported as skipped in
//! the test's output (`cargo test -- --nocapture` shows it). The whole model in each set is in
//! `tests/kernel_sets.rs`.

use super::act;
use super::gemm::{gemm, gemm_blocked, gemm_packed, gemv, pack_b, vecmat, Mat};
use crate::backend::{with_isa, Isa};
use crate::NumpyRng;

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
const SHAPES: [(usize, usize, usize); 20] = [
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
    (13, 1, 9),
    (7, 1, 33),
];

/// [`SHAPES`], or under Miri (which interprets every operation) the small ones, which still
/// leave every row and column tail.
fn shapes() -> &'static [(usize, usize, usize)] {
    if cfg!(miri) {
        &SHAPES[..12]
    } else {
        &SHAPES
    }
}

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
    let mut c = c0.to_vec();
    gemm_blocked(m, n, k, Mat::rows(a, k), Mat::rows(b, n), &mut c, n, true);
    out.push(("gemm_blocked, A row-major", c));
    let bt: Vec<f32> = (0..n * k).map(|q| b[(q % k) * n + q / k]).collect();
    let mut c = c0.to_vec();
    gemm_blocked(m, n, k, Mat::rows(a, k), Mat { data: &bt, rs: 1, cs: k }, &mut c, n, true);
    out.push(("gemm_blocked, B given transposed", c));
    for backwards in [false, true] {
        let mut c = c0.to_vec();
        for i in 0..m {
            vecmat(n, k, &a[i * k..(i + 1) * k], b, n, &mut c[i * n..(i + 1) * n], true, backwards);
        }
        out.push((if backwards { "vecmat backwards" } else { "vecmat" }, c));
    }
    if n == 1 {
        let mut c = c0.to_vec();
        gemv(m, k, a, k, b, &mut c, true);
        out.push(("gemv", c));
    }
    out
}

#[test]
fn products_match_plain_loops_in_every_set() {
    each_set("products", |isa| {
        let mut rng = NumpyRng::new(5);
        for &(m, n, k) in shapes() {
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
    for &(m, n, k) in shapes() {
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
}

// No knob of `RECURRENT_GEMM` changes a bit: every tile, depth part, block size, panel width,
// packing of A and prefetch sums each entry of C in the same order, so each product equals the
// default tuning's bit for bit, in every set (the knobs the set does not use included), over
// every shape above; the cache-blocked GEMM's blocks are tried small enough (kc 16, nc 64) that
// these shapes cross their edges, and 64-column panels meet columns 1–63 past the last whole
// one. The shapes with twelve rows and more run the tall tile's blocks, the others its
// fallback, and kb = 16 cuts every depth from 17 on into parts.
#[test]
fn no_gemm_tuning_changes_a_bit() {
    use crate::backend::{with_gemm_tuning, GemmTuning, Tile};
    let t = |tile, kb, kc, nc, nr, pack_a, prefetch_c| GemmTuning { tile, kb, kc, nc, nr, pack_a, mr: 6, prefetch_c };
    let tall = |kc, nc, prefetch_c| GemmTuning { mr: 12, ..t(Tile::Wide, 0, kc, nc, 16, false, prefetch_c) };
    let tunings = [
        t(Tile::Wide, 0, 256, 256, 16, false, None),
        t(Tile::Tall, 0, 256, 256, 16, false, Some(true)),
        t(Tile::Tall, 16, 16, 64, 16, false, Some(false)),
        t(Tile::Wide, 32, 48, 128, 16, true, None),
        t(Tile::Wide, 0, 256, 256, 64, true, Some(true)),
        t(Tile::Tall, 16, 16, 64, 64, false, Some(false)),
        t(Tile::Wide, 0, 48, 128, 64, true, Some(true)),
        t(Tile::Tall, 0, 100, 192, 64, false, None),
        // Values `RECURRENT_GEMM` refuses, as code may build them: taken as kc 16, nc 128, nr 16.
        t(Tile::Wide, 0, 0, 100, 32, true, None),
        // AVX-512's 12 × 32 packed path (the AVX2 kernels take 6): whole and cut blocks.
        tall(256, 256, None),
        tall(48, 64, Some(true)),
        tall(16, 128, Some(false)),
    ];
    each_set("tunings", |isa| {
        let mut rng = NumpyRng::new(8);
        for &(m, n, k) in shapes() {
            let (a, b, c0) = (rand(&mut rng, m * k), rand(&mut rng, k * n), rand(&mut rng, m * n));
            let base = with_gemm_tuning(tunings[0], || all_products(m, n, k, &a, &b, &c0));
            for t in &tunings[1..] {
                for ((name, x), (_, y)) in base.iter().zip(&with_gemm_tuning(*t, || all_products(m, n, k, &a, &b, &c0)))
                {
                    let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(same, "{isa} {name} ({m},{n},{k}) differs under {}", t.describe());
                }
            }
        }
    });
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

// The transposes (AVX tiles and scalar edges) move every entry where the definition says, in
// every set.
#[test]
fn transposes_in_every_set() {
    each_set("transpose", |isa| {
        for &(r, c) in &[(1, 1), (8, 8), (13, 21), (65, 128), (3, 17)] {
            let src: Vec<f32> = (0..r * c).map(|q| q as f32).collect();
            let mut dst = vec![-1.0f32; r * c];
            super::transpose(r, c, &src, &mut dst);
            assert!((0..r * c).all(|q| dst[(q % c) * r + q / c] == src[q]), "{isa} ({r},{c})");
        }
    });
}
