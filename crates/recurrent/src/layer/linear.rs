//! The linear output head: `logits = x · Wᵀ + b`, PyTorch's `nn.Linear` layout.

use crate::layer::Parameters;
use crate::linalg::{MatMut, MatRef};
use crate::rng::NumpyRng;
use crate::Float;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

/// A fully connected layer `(in → out)`.
#[derive(Clone, Debug)]
pub struct Linear<F> {
    /// `(out, in)`.
    pub weight: Array2<F>,
    /// `(out,)`.
    pub bias: Array1<F>,
    /// Gradient of `weight`, accumulated.
    pub dweight: Array2<F>,
    /// Gradient of `bias`, accumulated.
    pub dbias: Array1<F>,
    /// Scratch for `weightᵀ`, laid out by each forward (kept so the forward allocates nothing).
    wt: Vec<F>,
}

impl<F: Float> Linear<F> {
    /// From given weights `(out, in)` and bias `(out,)`.
    pub fn from_weights(weight: Array2<F>, bias: Array1<F>) -> Self {
        let (dweight, dbias) = (Array2::zeros(weight.raw_dim()), Array1::zeros(bias.len()));
        Linear { weight, bias, dweight, dbias, wt: Vec::new() }
    }

    /// PyTorch's default: weight and bias from U(−1/√in, 1/√in).
    pub fn new(input: usize, output: usize, rng: &mut NumpyRng) -> Self {
        let k = 1.0 / (input as f64).sqrt();
        let w = Array2::from_shape_simple_fn((output, input), || F::c(rng.uniform(-k, k)));
        let b = Array1::from_shape_simple_fn(output, || F::c(rng.uniform(-k, k)));
        Self::from_weights(w, b)
    }

    /// `in`.
    pub fn input(&self) -> usize {
        self.weight.ncols()
    }

    /// `out`.
    pub fn output(&self) -> usize {
        self.weight.nrows()
    }

    /// `out (N, out) = x (N, in) · Wᵀ + b`.
    pub fn forward(&mut self, x: ArrayView2<'_, F>, out: &mut Array2<F>) {
        match (x.as_slice(), out.as_slice_mut()) {
            (Some(xs), Some(os)) => {
                self.prepare();
                self.forward_prepared(xs, os);
            }
            _ => {
                out.assign(&self.bias);
                general_mat_mul(F::one(), &x, &self.weight.t(), F::one(), out)
            }
        }
    }

    /// Lays out `Wᵀ` for [`Linear::forward_prepared`] (the product wants it row-major).
    pub fn prepare(&mut self) {
        let (i, o) = (self.input(), self.output());
        self.wt.resize(i * o, F::zero());
        crate::kernels::transpose(o, i, self.weight.as_slice().expect("standard"), &mut self.wt);
    }

    /// [`Linear::forward`] on flat row-major rows, `x (N, in)` into `out (N, out)`, with `Wᵀ`
    /// from the last [`Linear::prepare`]. Takes `&self`, so row blocks can run on two threads.
    ///
    /// # Panics
    /// When `prepare` has not run or the lengths are not whole rows of the same `N`.
    pub fn forward_prepared(&self, xs: &[F], os: &mut [F]) {
        let (i, o) = (self.input(), self.output());
        let n = xs.len() / i.max(1);
        assert!(self.wt.len() == i * o && xs.len() == n * i && os.len() == n * o, "Linear::forward_prepared shapes");
        let bias = self.bias.as_slice().expect("standard");
        os.chunks_exact_mut(o.max(1)).for_each(|r| r.copy_from_slice(bias));
        F::gemm(MatRef::new(xs, n, i), MatRef::new(&self.wt, i, o), MatMut::new(os, n, o), true);
    }

    /// Accumulates `dW += doutᵀ x`, `db += Σ dout`; writes `dx = dout · W` when given. With a
    /// [`crate::parallel::Helper`] installed, the weight gradient and the input gradient are taken
    /// on two threads.
    pub fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, dx: Option<ArrayViewMut2<'_, F>>) {
        let (n, i, o) = (x.nrows(), self.input(), self.output());
        let (weight, dweight, dbias) = (&self.weight, &mut self.dweight, &mut self.dbias);
        let mut grads = || {
            match (x.as_slice(), dout.as_slice()) {
                (Some(xs), Some(ds)) => {
                    // dW (out, in) += doutᵀ (out, N) · x (N, in)
                    let dw = MatMut::new(dweight.as_slice_mut().expect("standard"), o, i);
                    F::gemm(MatRef::new(ds, n, o).t(), MatRef::new(xs, n, i), dw, true);
                }
                _ => general_mat_mul(F::one(), &dout.t(), &x, F::one(), dweight),
            }
            *dbias += &dout.sum_axis(Axis(0));
        };
        let input_grad = |mut dx: ArrayViewMut2<'_, F>| match (dout.as_slice(), dx.as_slice_mut()) {
            (Some(ds), Some(d)) => {
                let w = MatRef::new(weight.as_slice().expect("standard"), o, i);
                F::gemm(MatRef::new(ds, n, o), w, MatMut::new(d, n, i), false)
            }
            _ => general_mat_mul(F::one(), &dout, weight, F::zero(), &mut dx),
        };
        match dx {
            Some(dx) => {
                crate::parallel::join(|| input_grad(dx), grads);
            }
            None => grads(),
        }
    }
}

impl<F: Float> Parameters<F> for Linear<F> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [F], &mut [F])) {
        let ws = self.weight.shape().to_vec();
        f("weight", &ws, self.weight.as_slice_mut().unwrap(), self.dweight.as_slice_mut().unwrap());
        let bs = [self.bias.len()];
        f("bias", &bs, self.bias.as_slice_mut().unwrap(), self.dbias.as_slice_mut().unwrap());
    }

    fn visit_values(&mut self, f: &mut dyn FnMut(&mut [F], &mut [F])) {
        f(self.weight.as_slice_mut().unwrap(), self.dweight.as_slice_mut().unwrap());
        f(self.bias.as_slice_mut().unwrap(), self.dbias.as_slice_mut().unwrap());
    }
}
