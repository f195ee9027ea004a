//! Hot kernels for `f32`: a small-matrix GEMM that reads its operands in place (no packing, so
//! the per-step recurrent products pay nothing for re-packing the weights), and vectorised
//! `tanh`, `sigmoid` and `exp`. Each has an AVX2+FMA version chosen at run time and a portable
//! version with the same arithmetic; `f64` (the checking precision) never comes here.

pub mod act;
pub mod gemm;

/// Whether this CPU runs the AVX2+FMA kernels (checked once).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static YES: OnceLock<bool> = OnceLock::new();
        *YES.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
