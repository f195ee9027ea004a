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

/// Runs `f` compiled for AVX2+FMA when the CPU has them, else as built for the baseline target.
///
/// The element-wise loops of the cells and the optimizers are plain Rust; the crate is built
/// for baseline x86-64 (SSE2, four lanes), so without this they never use eight-lane registers.
/// `f` is inlined into a copy of this function compiled with the wider instruction set, which
/// lets the loops inside it vectorise eight lanes wide. Only the instruction selection changes:
/// Rust never fuses `a * b + c` on its own, so results are bit-for-bit those of the baseline
/// build.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { run(f) };
    }
    f()
}
