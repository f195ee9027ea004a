//! The scalar type every kernel is generic over: `f32` for speed, `f64` for checks.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point scalar usable in every layer: `f32` or `f64`.
pub trait Float:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + num_traits::FromPrimitive
    + Debug
    + Display
    + Default
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + 'static
{
    /// Converts an `f64` constant (always representable, perhaps rounded).
    fn c(x: f64) -> Self;
    /// Widens to `f64`.
    fn f64(self) -> f64;
    /// The logistic sigmoid `1 / (1 + e^-x)`.
    #[inline]
    fn sigmoid(self) -> Self {
        Self::one() / (Self::one() + (-self).exp())
    }
    /// `tanh` in place over a slice (vectorised for `f32`, exact for `f64`).
    fn tanh_slice(v: &mut [Self]);
    /// The logistic sigmoid in place over a slice.
    fn sigmoid_slice(v: &mut [Self]);
    /// `exp` in place over a slice.
    fn exp_slice(v: &mut [Self]);
    /// `C (m, n) = β·C + A (m, k) · B (k, n)`, `β = 1` when `accumulate`. `A[i, p]` is
    /// `a[i·a_rs + p·a_cs]` (so `a_rs = 1, a_cs = ld` reads a transpose); `B` and `C` are
    /// row-major with leading dimensions. `f32` uses the in-place small-matrix kernel up to
    /// moderate sizes and its cache-blocked packing GEMM beyond (`kernels::gemm::gemm_blocked`;
    /// ndarray's on a CPU without AVX2 and FMA); `f64` always ndarray's.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: usize,
        a_cs: usize,
        b: &[Self],
        ldb: usize,
        c: &mut [Self],
        ldc: usize,
        accumulate: bool,
    );
    /// `C (m, n) = β·C + A (m, k) · Bᵀ` for row-major `A` and `B (n, k)` (leading dimensions
    /// `lda`, `ldb`): a product with a weight matrix stored output-major, as `X · W_ihᵀ`.
    /// `f32` packs `B`'s blocks column by column for its cache-blocked kernel; `f64` uses
    /// ndarray's GEMM.
    #[allow(clippy::too_many_arguments)]
    fn gemm_nt(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        lda: usize,
        b: &[Self],
        ldb: usize,
        c: &mut [Self],
        ldc: usize,
        accumulate: bool,
    ) {
        gemm_ndarray(m, n, k, a, lda, 1, (b, 1, ldb), c, ldc, accumulate)
    }
    /// `B (k, n)`, `B[p, j] = b[p·rs + j·cs]`, into `out` (resized to fit) in the layout
    /// [`Float::gemm_packed`] reads (`f32`: 16-column panels; `f64`: row-major).
    fn pack_b(k: usize, n: usize, b: &[Self], strides: (usize, usize), out: &mut Vec<Self>);
    /// `y (m) = β·y + A (m, k) · x (k)` for row-major `A`.
    fn gemv(m: usize, k: usize, a: &[Self], lda: usize, x: &[Self], y: &mut [Self], accumulate: bool);
    /// `y (n) = β·y + x (k) · B (k, n)` for row-major `B`: a row vector times a matrix.
    /// `backwards` reverses the order `B` is read in (see `kernels::gemm::vecmat`).
    #[allow(clippy::too_many_arguments)]
    fn vecmat(
        n: usize,
        k: usize,
        x: &[Self],
        b: &[Self],
        ldb: usize,
        y: &mut [Self],
        accumulate: bool,
        backwards: bool,
    );
    /// [`Float::gemm`] with a row-major `A` and `B` from [`Float::pack_b`]: the per-step
    /// recurrent products, whose weights are packed once per sequence.
    #[allow(clippy::too_many_arguments)]
    fn gemm_packed(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        lda: usize,
        packed: &[Self],
        c: &mut [Self],
        ldc: usize,
        accumulate: bool,
    );
}

/// The generic fallback of [`Float::gemm`] through ndarray.
#[allow(clippy::too_many_arguments)]
fn gemm_ndarray<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[F],
    a_rs: usize,
    a_cs: usize,
    (b, b_rs, b_cs): (&[F], usize, usize),
    c: &mut [F],
    ldc: usize,
    acc: bool,
) {
    use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
    let av = ArrayView2::from_shape((m, k).strides((a_rs, a_cs)), a).expect("A fits");
    let bv = ArrayView2::from_shape((k, n).strides((b_rs, b_cs)), b).expect("B fits");
    let mut cv = ArrayViewMut2::from_shape((m, n).strides((ldc, 1)), c).expect("C fits");
    let beta = if acc { F::one() } else { F::zero() };
    ndarray::linalg::general_mat_mul(F::one(), &av, &bv, beta, &mut cv);
}

/// An `f32` product too large for the caches: the cache-blocked GEMM, or ndarray's on a CPU
/// without AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
fn gemm_large(
    m: usize,
    n: usize,
    k: usize,
    a: crate::kernels::gemm::Mat<'_>,
    b: crate::kernels::gemm::Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    if crate::kernels::has_avx2_fma() {
        return crate::kernels::gemm::gemm_blocked(m, n, k, a, b, c, ldc, acc);
    }
    gemm_ndarray(m, n, k, a.data, a.rs, a.cs, (b.data, b.rs, b.cs), c, ldc, acc)
}

impl Float for f32 {
    #[inline]
    fn c(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        self as f64
    }
    fn tanh_slice(v: &mut [Self]) {
        crate::kernels::act::tanh(v)
    }
    fn sigmoid_slice(v: &mut [Self]) {
        crate::kernels::act::sigmoid(v)
    }
    fn exp_slice(v: &mut [Self]) {
        crate::kernels::act::exp(v)
    }
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: usize,
        a_cs: usize,
        b: &[Self],
        ldb: usize,
        c: &mut [Self],
        ldc: usize,
        acc: bool,
    ) {
        use crate::kernels::gemm::{gemm, Mat};
        // Large products go to the packing GEMM, which blocks them for the caches: every
        // dimension large (big weight gradients and input projections), a long reduction (the
        // head's weight gradient over T·B rows: streamed unpacked, its operands leave the
        // caches), or a large output (the head's input gradient: unpacked, A is read once per
        // 16 columns). The per-step products, and min-char-rnn's small ones, stay in place.
        let large =
            (m > 96 && n > 96 && k > 96) || (m >= 16 && n >= 16 && (k >= 512 || (k >= 16 && m * n >= 2048 * 128)));
        if large {
            return gemm_large(m, n, k, Mat { data: a, rs: a_rs, cs: a_cs }, Mat::rows(b, ldb), c, ldc, acc);
        }
        gemm(m, n, k, Mat { data: a, rs: a_rs, cs: a_cs }, Mat::rows(b, ldb), c, ldc, acc)
    }
    fn gemm_nt(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        lda: usize,
        b: &[Self],
        ldb: usize,
        c: &mut [Self],
        ldc: usize,
        acc: bool,
    ) {
        use crate::kernels::gemm::Mat;
        gemm_large(m, n, k, Mat::rows(a, lda), Mat { data: b, rs: 1, cs: ldb }, c, ldc, acc)
    }
    fn pack_b(k: usize, n: usize, b: &[Self], (rs, cs): (usize, usize), out: &mut Vec<Self>) {
        crate::kernels::gemm::pack_b_to(k, n, crate::kernels::gemm::Mat { data: b, rs, cs }, out)
    }
    fn gemm_packed(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        lda: usize,
        packed: &[Self],
        c: &mut [Self],
        ldc: usize,
        acc: bool,
    ) {
        crate::kernels::gemm::gemm_packed(m, n, k, crate::kernels::gemm::Mat::rows(a, lda), packed, c, ldc, acc)
    }
    fn gemv(m: usize, k: usize, a: &[Self], lda: usize, x: &[Self], y: &mut [Self], acc: bool) {
        crate::kernels::gemm::gemv(m, k, a, lda, x, y, acc)
    }
    fn vecmat(n: usize, k: usize, x: &[Self], b: &[Self], ldb: usize, y: &mut [Self], acc: bool, backwards: bool) {
        crate::kernels::gemm::vecmat(n, k, x, b, ldb, y, acc, backwards)
    }
}

impl Float for f64 {
    #[inline]
    fn c(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
    fn tanh_slice(v: &mut [Self]) {
        v.iter_mut().for_each(|x| *x = x.tanh());
    }
    fn sigmoid_slice(v: &mut [Self]) {
        v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp()));
    }
    fn exp_slice(v: &mut [Self]) {
        v.iter_mut().for_each(|x| *x = x.exp());
    }
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: usize,
        a_cs: usize,
        b: &[Self],
        ldb: usize,
        c: &mut [Self],
        ldc: usize,
        acc: bool,
    ) {
        gemm_ndarray(m, n, k, a, a_rs, a_cs, (b, ldb, 1), c, ldc, acc)
    }
    fn pack_b(k: usize, n: usize, b: &[Self], (rs, cs): (usize, usize), out: &mut Vec<Self>) {
        out.clear();
        out.extend((0..k).flat_map(|p| (0..n).map(move |j| b[p * rs + j * cs])));
    }
    fn gemm_packed(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        lda: usize,
        packed: &[Self],
        c: &mut [Self],
        ldc: usize,
        acc: bool,
    ) {
        gemm_ndarray(m, n, k, a, lda, 1, (packed, n, 1), c, ldc, acc)
    }
    fn gemv(m: usize, k: usize, a: &[Self], lda: usize, x: &[Self], y: &mut [Self], acc: bool) {
        gemm_ndarray(m, 1, k, a, lda, 1, (x, 1, 1), y, 1, acc)
    }
    fn vecmat(n: usize, k: usize, x: &[Self], b: &[Self], ldb: usize, y: &mut [Self], acc: bool, _backwards: bool) {
        gemm_ndarray(1, n, k, x, k, 1, (b, ldb, 1), y, n, acc)
    }
}
