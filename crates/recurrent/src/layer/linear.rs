//! The linear output head: `logits = x · Wᵀ + b`, PyTorch's `nn.Linear` layout.

use crate::layer::Parameters;
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
        out.assign(&self.bias);
        match (x.as_slice(), out.as_slice_mut()) {
            // (N, in) · Wᵀ: B = Wᵀ must be row-major, so the product is taken as
            // outᵀ-free: out[n, v] = Σ_p x[n, p] W[v, p], with W read as Bᵀ through a copy.
            (Some(xs), Some(os)) => {
                let (n, i, o) = (x.nrows(), self.input(), self.output());
                let wt = &mut self.wt;
                wt.resize(i * o, F::zero());
                crate::kernels::transpose(o, i, self.weight.as_slice().expect("standard"), wt);
                F::gemm(n, o, i, xs, i, 1, wt, o, os, o, true);
            }
            _ => general_mat_mul(F::one(), &x, &self.weight.t(), F::one(), out),
        }
    }

    /// Accumulates `dW += doutᵀ x`, `db += Σ dout`; writes `dx = dout · W` when given.
    pub fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, dx: Option<ArrayViewMut2<'_, F>>) {
        let (n, i, o) = (x.nrows(), self.input(), self.output());
        match (x.as_slice(), dout.as_slice()) {
            (Some(xs), Some(ds)) => {
                // dW (out, in) += doutᵀ (out, N) · x (N, in)
                F::gemm(o, i, n, ds, 1, o, xs, i, self.dweight.as_slice_mut().expect("standard"), i, true);
            }
            _ => general_mat_mul(F::one(), &dout.t(), &x, F::one(), &mut self.dweight),
        }
        self.dbias += &dout.sum_axis(Axis(0));
        if let Some(mut dx) = dx {
            match (dout.as_slice(), dx.as_slice_mut()) {
                (Some(ds), Some(d)) => {
                    F::gemm(n, i, o, ds, o, 1, self.weight.as_slice().expect("standard"), i, d, i, false)
                }
                _ => general_mat_mul(F::one(), &dout, &self.weight, F::zero(), &mut dx),
            }
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
