//! The scalar type every layer is generic over — `f32` for speed, `f64` for checks — and the
//! products and activations each runs: `f64` always the reference implementation (ndarray's
//! products, the standard library's functions: the path the gradient check trusts), `f32` the
//! library's kernels, or the same reference when [`crate::backend::with_backend`] names it.

use crate::backend::Backend;
use crate::linalg::{MatMut, MatRef};
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
    /// `tanh` in place over a slice (vectorised for `f32`'s kernels, exact in the reference).
    fn tanh_slice(v: &mut [Self]);
    /// The logistic sigmoid in place over a slice.
    fn sigmoid_slice(v: &mut [Self]);
    /// `exp` in place over a slice.
    fn exp_slice(v: &mut [Self]);
    /// `C = β·C + A · B`, `β = 1` when `accumulate` (else 0), shapes from the views. `f32` runs
    /// the library's kernels (the in-place micro-kernel GEMM up to moderate sizes, the
    /// cache-blocked packing GEMM beyond and for any `B` that is not row-major — ndarray's on a
    /// CPU without AVX2 and FMA); `f64`, the checking precision, always runs ndarray's.
    ///
    /// # Panics
    /// When the shapes do not chain or a slice is too short for its view.
    fn gemm(a: MatRef<'_, Self>, b: MatRef<'_, Self>, c: MatMut<'_, Self>, accumulate: bool);
    /// `B` into `out` (resized to fit) in the layout [`Float::gemm_packed`] reads (`f32`:
    /// 16-column panels; `f64`: row-major).
    fn pack_b(b: MatRef<'_, Self>, out: &mut Vec<Self>);
    /// [`Float::gemm`] with a row-major `A` and a `B` of `n` columns from [`Float::pack_b`]: the
    /// per-step recurrent products, whose weights are packed once per sequence.
    fn gemm_packed(a: MatRef<'_, Self>, packed: &[Self], n: usize, c: MatMut<'_, Self>, accumulate: bool);
    /// `y (m) = β·y + A (m, k) · x (k)` for a row-major `A`.
    fn gemv(a: MatRef<'_, Self>, x: &[Self], y: &mut [Self], accumulate: bool);
    /// `y (n) = β·y + x (k) · B (k, n)` for a row-major `B`: a row vector times a matrix.
    /// `backwards` reverses the order `B` is read in (see `kernels::gemm::vecmat`).
    fn vecmat(x: &[Self], b: MatRef<'_, Self>, y: &mut [Self], accumulate: bool, backwards: bool);
}

/// The reference implementation of every product and activation: ndarray's GEMM (for any
/// scalar) and the standard library's functions evaluated in `f64`. `f64` always runs it, `f32`
/// when [`Backend::Reference`] is named.
mod reference {
    use super::Float;
    use crate::linalg::{MatMut, MatRef};

    pub fn gemm<F: Float>(a: MatRef<'_, F>, b: MatRef<'_, F>, c: MatMut<'_, F>, acc: bool) {
        use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
        let (m, n, k) = crate::linalg::dims(&a, &b, &c);
        let (cd, ld) = c.into_parts();
        // Empty products: nothing to write (m or n is 0), or C ← β·C (k is 0). ndarray refuses
        // a strided view of an empty slice, which an empty part of a split hands in.
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !acc {
                for r in 0..m {
                    cd[r * ld..r * ld + n].fill(F::zero());
                }
            }
            return;
        }
        let av = ArrayView2::from_shape((m, k).strides((a.rs(), a.cs())), a.data()).expect("A fits");
        let bv = ArrayView2::from_shape((k, n).strides((b.rs(), b.cs())), b.data()).expect("B fits");
        let mut cv = ArrayViewMut2::from_shape((m, n).strides((ld, 1)), cd).expect("C fits");
        let beta = if acc { F::one() } else { F::zero() };
        ndarray::linalg::general_mat_mul(F::one(), &av, &bv, beta, &mut cv);
    }

    /// Row-major, as [`gemm_packed`] reads it.
    pub fn pack_b<F: Float>(b: MatRef<'_, F>, out: &mut Vec<F>) {
        out.clear();
        let (d, rs, cs) = (b.data(), b.rs(), b.cs());
        out.extend((0..b.rows()).flat_map(|p| (0..b.cols()).map(move |j| d[p * rs + j * cs])));
    }

    pub fn gemm_packed<F: Float>(a: MatRef<'_, F>, packed: &[F], n: usize, c: MatMut<'_, F>, acc: bool) {
        gemm(a, MatRef::new(packed, a.cols(), n), c, acc)
    }

    pub fn gemv<F: Float>(a: MatRef<'_, F>, x: &[F], y: &mut [F], acc: bool) {
        let m = a.rows();
        gemm(a, MatRef::new(x, a.cols(), 1), MatMut::new(&mut y[..m], m, 1), acc)
    }

    pub fn vecmat<F: Float>(x: &[F], b: MatRef<'_, F>, y: &mut [F], acc: bool) {
        let n = b.cols();
        gemm(MatRef::new(x, 1, b.rows()), b, MatMut::new(&mut y[..n], 1, n), acc)
    }

    pub fn tanh<F: Float>(v: &mut [F]) {
        v.iter_mut().for_each(|x| *x = F::c(x.f64().tanh()));
    }

    pub fn sigmoid<F: Float>(v: &mut [F]) {
        v.iter_mut().for_each(|x| *x = F::c(1.0 / (1.0 + (-x.f64()).exp())));
    }

    pub fn exp<F: Float>(v: &mut [F]) {
        v.iter_mut().for_each(|x| *x = F::c(x.f64().exp()));
    }
}

/// Whether `f32` runs the reference implementation on this thread.
#[inline]
fn reference_f32() -> bool {
    crate::backend::backend() == Backend::Reference
}

/// An `f32` product too large for the caches: the cache-blocked GEMM, or ndarray's on a CPU
/// without AVX2 and FMA.
fn gemm_large(a: MatRef<'_, f32>, b: MatRef<'_, f32>, c: MatMut<'_, f32>, acc: bool) {
    if crate::kernels::has_avx2_fma() {
        let (m, n, k) = crate::linalg::dims(&a, &b, &c);
        let (cd, ld) = c.into_parts();
        return crate::kernels::gemm::gemm_blocked(m, n, k, mat(a), mat(b), cd, ld, acc);
    }
    reference::gemm(a, b, c, acc)
}

/// A view as the kernels take it.
fn mat(v: MatRef<'_, f32>) -> crate::kernels::gemm::Mat<'_> {
    crate::kernels::gemm::Mat { data: v.data(), rs: v.rs(), cs: v.cs() }
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
        if reference_f32() {
            return reference::tanh(v);
        }
        crate::kernels::act::tanh(v)
    }
    fn sigmoid_slice(v: &mut [Self]) {
        if reference_f32() {
            return reference::sigmoid(v);
        }
        crate::kernels::act::sigmoid(v)
    }
    fn exp_slice(v: &mut [Self]) {
        if reference_f32() {
            return reference::exp(v);
        }
        crate::kernels::act::exp(v)
    }
    fn gemm(a: MatRef<'_, Self>, b: MatRef<'_, Self>, c: MatMut<'_, Self>, acc: bool) {
        if reference_f32() {
            return reference::gemm(a, b, c, acc);
        }
        use crate::kernels::gemm::{route, Route};
        let (m, n, k) = crate::linalg::dims(&a, &b, &c);
        match route(m, n, k, b.row_major()) {
            Route::Blocked => gemm_large(a, b, c, acc),
            Route::InPlace => {
                let (cd, ld) = c.into_parts();
                crate::kernels::gemm::gemm(m, n, k, mat(a), mat(b), cd, ld, acc)
            }
        }
    }
    fn pack_b(b: MatRef<'_, Self>, out: &mut Vec<Self>) {
        if reference_f32() {
            return reference::pack_b(b, out);
        }
        crate::kernels::gemm::pack_b_to(b.rows(), b.cols(), mat(b), out)
    }
    fn gemm_packed(a: MatRef<'_, Self>, packed: &[Self], n: usize, c: MatMut<'_, Self>, acc: bool) {
        if reference_f32() {
            return reference::gemm_packed(a, packed, n, c, acc);
        }
        assert!(a.row_major() && c.rows() == a.rows() && c.cols() == n, "gemm_packed shapes");
        let (cd, ld) = c.into_parts();
        crate::kernels::gemm::gemm_packed(a.rows(), n, a.cols(), mat(a), packed, cd, ld, acc)
    }
    fn gemv(a: MatRef<'_, Self>, x: &[Self], y: &mut [Self], acc: bool) {
        if reference_f32() {
            return reference::gemv(a, x, y, acc);
        }
        assert!(a.row_major(), "gemv reads A row by row");
        crate::kernels::gemm::gemv(a.rows(), a.cols(), a.data(), a.rs(), x, y, acc)
    }
    fn vecmat(x: &[Self], b: MatRef<'_, Self>, y: &mut [Self], acc: bool, backwards: bool) {
        if reference_f32() {
            return reference::vecmat(x, b, y, acc);
        }
        assert!(b.row_major(), "vecmat streams B's rows");
        crate::kernels::gemm::vecmat(b.cols(), b.rows(), x, b.data(), b.rs(), y, acc, backwards)
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
        reference::tanh(v)
    }
    fn sigmoid_slice(v: &mut [Self]) {
        reference::sigmoid(v)
    }
    fn exp_slice(v: &mut [Self]) {
        reference::exp(v)
    }
    fn gemm(a: MatRef<'_, Self>, b: MatRef<'_, Self>, c: MatMut<'_, Self>, acc: bool) {
        reference::gemm(a, b, c, acc)
    }
    fn pack_b(b: MatRef<'_, Self>, out: &mut Vec<Self>) {
        reference::pack_b(b, out)
    }
    fn gemm_packed(a: MatRef<'_, Self>, packed: &[Self], n: usize, c: MatMut<'_, Self>, acc: bool) {
        reference::gemm_packed(a, packed, n, c, acc)
    }
    fn gemv(a: MatRef<'_, Self>, x: &[Self], y: &mut [Self], acc: bool) {
        reference::gemv(a, x, y, acc)
    }
    fn vecmat(x: &[Self], b: MatRef<'_, Self>, y: &mut [Self], acc: bool, _backwards: bool) {
        reference::vecmat(x, b, y, acc)
    }
}
