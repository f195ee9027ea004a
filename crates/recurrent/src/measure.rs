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
