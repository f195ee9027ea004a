//! Measurements of this machine that the benchmarks report beside the training speed: the
//! multiply-add peak of one core with the active kernel set, and the library's GEMM rate.
//! (The one module above the kernels that is not a layer: `backend` chooses the kernel set,
//! `kernels` run it, this measures it.)

/// This core's f32 multiply-add peak in GFLOP/s for the [`active`] set, measured for about
/// `seconds`: independent chains of fused multiply-adds in registers, no memory traffic (12
/// chains of 8 lanes with AVX2, 24 of 16 with AVX-512), the fastest of rounds of 10–20 ms
/// (as [`rounds_gflops`] ranks them). The ceiling the products are measured against; 0 for the
/// portable set.
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
    /// Its rate alone, GFLOP/s: the fastest of its timed rounds (the least disturbed by
    /// anything else on the machine).
    pub gflops: f64,
    /// The median of its rounds' rates, GFLOP/s.
    pub gflops_median: f64,
}

/// Rounds of at least this many seconds (whole products, at least one) are what
/// [`step_products`] and [`fma_peak_gflops`] time and rank: long enough that the clock's
/// resolution does not matter, short enough that a neighbour's burst spoils few of them.
const ROUND_SECONDS: f64 = 0.01;

/// Runs `f` (one product, `flops` floating-point operations) once to warm up, then in rounds
/// of at least [`ROUND_SECONDS`] for about `seconds` (at least three rounds): `(fastest round,
/// median round)` in GFLOP/s. On a shared machine (a cloud VM beside other tenants) the mean
/// mixes the kernel's speed with the neighbours'; the fastest round is the kernel's, the
/// median how it fares among them.
pub fn rounds_gflops(flops: f64, seconds: f64, f: &mut dyn FnMut()) -> (f64, f64) {
    f();
    let (t0, mut rates) = (std::time::Instant::now(), Vec::new());
    while t0.elapsed().as_secs_f64() < seconds || rates.len() < 3 {
        let (r0, mut reps) = (std::time::Instant::now(), 0usize);
        while r0.elapsed().as_secs_f64() < ROUND_SECONDS || reps == 0 {
            f();
            reps += 1;
        }
        rates.push(flops * reps as f64 / r0.elapsed().as_secs_f64() / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() - 1], rates[rates.len() / 2])
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
    let time =
        |(m, k, n): (usize, usize, usize), f: &mut dyn FnMut()| rounds_gflops(2.0 * (m * k * n) as f64, seconds, f);
    let mut out = Vec::new();
    // A per-step product `A (m, k) · W (k, n)`, with `W` laid out once per sequence as the
    // layers lay it out (`layer::seq::recurrent_product`); it runs T times per layer. One row
    // (a batch of one) is a row vector times `W` in padded rows from a cache line, read in
    // alternating order from one step to the next; more rows read `W` packed from a cache line.
    let per_step_product = |what: &str, a: &[f32], w: MatRef<'_, f32>, (m, k, n): (usize, usize, usize)| {
        if m == 1 {
            let ld = crate::kernels::vector_ld(n);
            let mut buf = Vec::new();
            let off = crate::kernels::aligned(&mut buf, k * ld);
            let (d, rs, cs) = (w.data(), w.rs(), w.cs());
            for p in 0..k {
                for j in 0..n {
                    buf[off + p * ld + j] = d[p * rs + j * cs];
                }
            }
            let (mut y, mut step) = (vec![0f32; n], 0usize);
            let (gflops, gflops_median) = time((m, k, n), &mut || {
                f32::vecmat(a, MatRef::with_ld(&buf[off..], k, n, ld), &mut y, true, step % 2 == 1);
                step += 1;
            });
            return ProductRate { what: what.into(), shape: (m, k, n), per_step: t * layers, gflops, gflops_median };
        }
        let mut packed = Vec::new();
        f32::pack_b(w, &mut packed);
        let mut buf = Vec::new();
        let off = crate::kernels::aligned(&mut buf, packed.len());
        buf[off..off + packed.len()].copy_from_slice(&packed);
        let mut c = vec![0f32; m * n];
        let (gflops, gflops_median) = time((m, k, n), &mut || {
            f32::gemm_packed(MatRef::new(a, m, k), &buf[off..], n, MatMut::new(&mut c, m, n), true)
        });
        ProductRate { what: what.into(), shape: (m, k, n), per_step: t * layers, gflops, gflops_median }
    };
    // The recurrent product, forward: (b, H) · W_hhᵀ (H, G·H); backward: dG (b, G·H) · W_hh (G·H, H).
    let (hs, whh, dg) = (fill(b * h), fill(gh * h), fill(b * gh));
    out.push(per_step_product("recurrent forward h·W_hhᵀ", &hs, MatRef::new(&whh, gh, h).t(), (b, h, gh)));
    out.push(per_step_product("recurrent backward dG·W_hh", &dg, MatRef::new(&whh, gh, h), (b, gh, h)));
    // A product over all T·b rows of the window, `C (m, n) (+)= A (m, k) · B (k, n)` through the
    // GEMM the layers call (blocked for the caches at these sizes), run `per_step` times a step.
    let all_rows = |what: String, a: MatRef<'_, f32>, b: MatRef<'_, f32>, acc: bool, per_step: usize| {
        let (m, k, n) = (a.rows(), a.cols(), b.cols());
        let mut c = vec![0f32; m * n];
        let (gflops, gflops_median) = time((m, k, n), &mut || f32::gemm(a, b, MatMut::new(&mut c, m, n), acc));
        ProductRate { what, shape: (m, k, n), per_step, gflops, gflops_median }
    };
    // dW_hh (G·H, H) += dGᵀ (G·H, T·b) · H_prev (T·b, H).
    let rows = t * b;
    let (dgs, hp) = (fill(rows * gh), fill(rows * h));
    let dg_all = MatRef::new(&dgs, rows, gh);
    out.push(all_rows("dW_hh = dGᵀ·H".into(), dg_all.t(), MatRef::new(&hp, rows, h), true, layers));
    // Dense inputs: layer 0 when not one-hot, every layer above it (input H·D, here D = 1).
    let dense: Vec<usize> = i0.into_iter().chain((1..layers).map(|_| h)).collect();
    let mut sizes: Vec<usize> = dense.clone();
    sizes.dedup();
    for i in sizes {
        let n_dense = dense.iter().filter(|&&x| x == i).count();
        let (x, wih) = (fill(rows * i), fill(gh * i));
        let (x, wih) = (MatRef::new(&x, rows, i), MatRef::new(&wih, gh, i));
        out.push(all_rows(format!("input projection X·W_ihᵀ (I {i})"), x, wih.t(), false, n_dense));
        out.push(all_rows(format!("dW_ih = dGᵀ·X (I {i})"), dg_all.t(), x, true, n_dense));
        out.push(all_rows(format!("dX = dG·W_ih (I {i})"), dg_all, wih, false, n_dense));
    }
    out
}
