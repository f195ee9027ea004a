//! Measurements of this machine that the benchmarks report beside the training speed: the
//! multiply-add peak of one core with the active kernel set, and the library's GEMM rate.
//! (The one module above the kernels that is not a layer: `backend` chooses the kernel set,
//! `kernels` run it, this measures it.)

/// This core's f32 multiply-add peak in GFLOP/s for the [`active`] set, measured for about
/// `seconds`: independent chains of fused multiply-adds in registers, no memory traffic (12
/// chains of 8 lanes with AVX2, 24 of 16 with AVX-512). The ceiling the products are measured
/// against; 0 for the portable set.
pub fn fma_peak_gflops(seconds: f64) -> f64 {
    crate::kernels::fma_peak_gflops(crate::backend::active(), seconds)
}

/// The library's f32 GEMM (the cache-blocked one the large products use) on `n × n × n`, in
/// GFLOP/s, timed for about `seconds` after one warm-up product.
pub fn gemm_gflops(n: usize, seconds: f64) -> f64 {
    let mut rng = crate::NumpyRng::new(1);
    let a: Vec<f32> = (0..n * n).map(|_| rng.standard_normal() as f32).collect();
    let b: Vec<f32> = (0..n * n).map(|_| rng.standard_normal() as f32).collect();
    let mut c = vec![0.0f32; n * n];
    let mut run = || {
        use crate::kernels::gemm::{gemm_blocked, Mat};
        gemm_blocked(n, n, n, Mat::rows(&a, n), Mat::rows(&b, n), &mut c, n, false)
    };
    run();
    let (t0, mut reps) = (std::time::Instant::now(), 0usize);
    while t0.elapsed().as_secs_f64() < seconds || reps == 0 {
        run();
        reps += 1;
    }
    2.0 * (n * n * n * reps) as f64 / t0.elapsed().as_secs_f64() / 1e9
}

/// One matrix product a training step runs, timed on its own: `C (m, n) (+)= A (m, k) · B (k, n)`
/// through the library's GEMM entries (a packed `B` for the per-step products, as the layers
/// pack `W_hh` once per sequence).
#[derive(Clone, Debug)]
pub struct ProductRate {
    /// What it is in the step (`recurrent forward`, `dW_hh`, …).
    pub what: String,
    /// `(m, k, n)`.
    pub shape: (usize, usize, usize),
    /// How many of it one training step runs on one thread.
    pub per_step: usize,
    /// Its rate alone, GFLOP/s.
    pub gflops: f64,
}

/// The products of one training step of an `L`-layer stack of `cell` (gates `g`), hidden `h`,
/// batch `b` on one thread (a shard's rows), window `t`, input `i0` to the first layer (`None`:
/// one-hot, a gather rather than a product), each timed for about `seconds`: the recurrent
/// product forward (`h⟨t−1⟩ · W_hhᵀ`, packed weights, `T` per layer) and backward
/// (`dG · W_hh`), the input projection of each dense input (`X · W_ihᵀ`), and the weight
/// gradients (`dW_hh = dGᵀ · H`, `dW_ih = dGᵀ · X`) and `dX = dG · W_ih` of the dense inputs.
pub fn step_products(
    g: usize,
    h: usize,
    layers: usize,
    b: usize,
    t: usize,
    i0: Option<usize>,
    seconds: f64,
) -> Vec<ProductRate> {
    use crate::linalg::{MatMut, MatRef};
    use crate::Float;
    let gh = g * h;
    let mut rng = crate::NumpyRng::new(3);
    let mut fill = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.standard_normal() as f32 * 0.1).collect() };
    let time = |f: &mut dyn FnMut()| -> f64 {
        f();
        let (t0, mut reps) = (std::time::Instant::now(), 0usize);
        while t0.elapsed().as_secs_f64() < seconds || reps < 3 {
            f();
            reps += 1;
        }
        t0.elapsed().as_secs_f64() / reps as f64
    };
    let rate = |m: usize, k: usize, n: usize, secs: f64| 2.0 * (m * k * n) as f64 / secs / 1e9;
    let mut out = Vec::new();
    // The recurrent product, forward: (b, H) · W_hhᵀ (H, G·H), B packed once per sequence.
    let (hs, whh) = (fill(b * h), fill(gh * h));
    // Packed panels from a cache line, as the layers lay them out.
    let on_a_line = |p: &[f32]| {
        let mut buf = Vec::new();
        let off = crate::kernels::aligned(&mut buf, p.len());
        buf[off..off + p.len()].copy_from_slice(p);
        (buf, off)
    };
    let mut packed = Vec::new();
    f32::pack_b(MatRef::new(&whh, gh, h).t(), &mut packed);
    let (packed, off) = on_a_line(&packed);
    let mut c = vec![0f32; b * gh];
    let s =
        time(&mut || f32::gemm_packed(MatRef::new(&hs, b, h), &packed[off..], gh, MatMut::new(&mut c, b, gh), true));
    out.push(ProductRate {
        what: "recurrent forward h·W_hhᵀ".into(),
        shape: (b, h, gh),
        per_step: t * layers,
        gflops: rate(b, h, gh, s),
    });
    // Backward: dG (b, G·H) · W_hh (G·H, H).
    let dg = fill(b * gh);
    let mut packed_t = Vec::new();
    f32::pack_b(MatRef::new(&whh, gh, h), &mut packed_t);
    let (packed_t, off) = on_a_line(&packed_t);
    let mut dh = vec![0f32; b * h];
    let s =
        time(&mut || f32::gemm_packed(MatRef::new(&dg, b, gh), &packed_t[off..], h, MatMut::new(&mut dh, b, h), true));
    out.push(ProductRate {
        what: "recurrent backward dG·W_hh".into(),
        shape: (b, gh, h),
        per_step: t * layers,
        gflops: rate(b, gh, h, s),
    });
    // dW_hh (G·H, H) += dGᵀ (G·H, T·b) · H_prev (T·b, H).
    let rows = t * b;
    let (dgs, hp) = (fill(rows * gh), fill(rows * h));
    let mut dw = vec![0f32; gh * h];
    let s = time(&mut || {
        f32::gemm(MatRef::new(&dgs, rows, gh).t(), MatRef::new(&hp, rows, h), MatMut::new(&mut dw, gh, h), true)
    });
    out.push(ProductRate {
        what: "dW_hh = dGᵀ·H".into(),
        shape: (gh, rows, h),
        per_step: layers,
        gflops: rate(gh, rows, h, s),
    });
    // Dense inputs: layer 0 when not one-hot, every layer above it (input H·D, here D = 1).
    let dense: Vec<usize> = i0.into_iter().chain((1..layers).map(|_| h)).collect();
    let mut sizes: Vec<usize> = dense.clone();
    sizes.dedup();
    for i in sizes {
        let n_dense = dense.iter().filter(|&&x| x == i).count();
        let (x, wih) = (fill(rows * i), fill(gh * i));
        let mut gates = vec![0f32; rows * gh];
        let s = time(&mut || {
            f32::gemm(MatRef::new(&x, rows, i), MatRef::new(&wih, gh, i).t(), MatMut::new(&mut gates, rows, gh), false)
        });
        out.push(ProductRate {
            what: format!("input projection X·W_ihᵀ (I {i})"),
            shape: (rows, i, gh),
            per_step: n_dense,
            gflops: rate(rows, i, gh, s),
        });
        let mut dwi = vec![0f32; gh * i];
        let s = time(&mut || {
            f32::gemm(MatRef::new(&dgs, rows, gh).t(), MatRef::new(&x, rows, i), MatMut::new(&mut dwi, gh, i), true)
        });
        out.push(ProductRate {
            what: format!("dW_ih = dGᵀ·X (I {i})"),
            shape: (gh, rows, i),
            per_step: n_dense,
            gflops: rate(gh, rows, i, s),
        });
        let mut dx = vec![0f32; rows * i];
        let s = time(&mut || {
            f32::gemm(MatRef::new(&dgs, rows, gh), MatRef::new(&wih, gh, i), MatMut::new(&mut dx, rows, i), false)
        });
        out.push(ProductRate {
            what: format!("dX = dG·W_ih (I {i})"),
            shape: (rows, gh, i),
            per_step: n_dense,
            gflops: rate(rows, gh, i, s),
        });
    }
    out
}
