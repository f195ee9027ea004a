//! Losses with their gradients: softmax cross-entropy (fused gradient `softmax − onehot`) and
//! mean-squared error.

use crate::Float;
use ndarray::{Array2, ArrayView2, ArrayViewMut1};

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// Averaged over every row (batch × time), PyTorch's default.
    Mean,
    /// Summed over every row (min-char-rnn's loss).
    Sum,
}

/// In place, a numerically stable softmax of one row.
pub fn softmax_in_place<F: Float>(mut row: ArrayViewMut1<'_, F>) {
    let m = row.fold(F::neg_infinity(), |a, &b| a.max(b));
    let mut sum = F::zero();
    row.mapv_inplace(|v| {
        let e = (v - m).exp();
        sum += e;
        e
    });
    row.mapv_inplace(|v| v / sum);
}

/// Softmax cross-entropy over `N` rows of `V` logits with one target index per row.
///
/// `logits (N, V)` is overwritten with `∂loss/∂logits = (softmax − onehot(target)) · s`, where
/// `s = 1/N` for [`Reduction::Mean`] and `1` for [`Reduction::Sum`]. Returns the loss in nats
/// (computed in `f64`).
///
/// # Panics
/// When `targets.len() != N` or a target is `≥ V` (callers check data first).
pub fn softmax_cross_entropy<F: Float>(logits: &mut Array2<F>, targets: &[usize], reduction: Reduction) -> f64 {
    assert_eq!(logits.nrows(), targets.len(), "one target per row");
    let scale = reduction.scale(targets.len());
    let v = logits.ncols();
    softmax_cross_entropy_rows(logits.as_slice_mut().expect("a standard-layout array"), v, targets, scale) * scale
}

impl Reduction {
    /// The factor `s` that turns a sum of `count` per-element losses into this reduction:
    /// `1/count` for [`Reduction::Mean`], `1` for [`Reduction::Sum`].
    pub fn scale(self, count: usize) -> f64 {
        match self {
            Reduction::Mean => 1.0 / count.max(1) as f64,
            Reduction::Sum => 1.0,
        }
    }
}

/// [`softmax_cross_entropy`] on rows `v` wide of a flat slice, with the gradient scaled by
/// `scale`; returns the unscaled sum of the rows' losses. Rows are independent, so a batch can
/// be done in parts (each with the whole batch's `scale`).
///
/// # Panics
/// When `targets` has fewer entries than there are rows, or a target is `≥ v`.
pub fn softmax_cross_entropy_rows<F: Float>(all: &mut [F], v: usize, targets: &[usize], scale: f64) -> f64 {
    let mut loss = 0.0;
    assert!(targets.len() >= all.len() / v.max(1), "one target per row");
    // Eight-lane code for the passes over each row (see `kernels::wide`).
    crate::kernels::wide(
        #[inline(always)]
        || {
            for (r, &y) in all.chunks_exact_mut(v.max(1)).zip(targets) {
                // The max by plain comparisons so it vectorises (a NaN logit makes the loss NaN
                // either way).
                let m = r.iter().fold(F::neg_infinity(), |a, &b| if b > a { b } else { a });
                let logit_y = r[y];
                r.iter_mut().for_each(|v| *v -= m);
                F::exp_slice(r);
                let sum = crate::kernels::lane_sum::<4, F>(r, |v| v.f64());
                loss += m.f64() + sum.ln() - logit_y.f64();
                let s = F::c(scale / sum);
                r.iter_mut().for_each(|v| *v *= s);
                r[y] -= F::c(scale);
            }
        },
    );
    loss
}

/// Mean-squared error `Σ (p − y)² · s` with `s = 1/numel` (Mean) or `1` (Sum); returns the loss
/// and `∂loss/∂p`.
pub fn mse<F: Float>(pred: ArrayView2<'_, F>, target: ArrayView2<'_, F>, reduction: Reduction) -> (f64, Array2<F>) {
    let scale = reduction.scale(pred.len());
    let diff = &pred - &target;
    let loss = diff.iter().map(|d| d.f64() * d.f64()).sum::<f64>() * scale;
    (loss, diff.mapv(|d| d * F::c(2.0 * scale)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    // Logits [0, ln 3] -> softmax [1/4, 3/4]; target 1 -> loss = −ln(3/4) = 0.2876820724517809,
    // gradient [1/4, 3/4 − 1] = [0.25, −0.25] (hand calculation).
    #[test]
    fn cross_entropy_by_hand() {
        let mut l = array![[0.0f64, 3f64.ln()]];
        let loss = softmax_cross_entropy(&mut l, &[1], Reduction::Sum);
        assert!((loss - 0.2876820724517809).abs() < 1e-15);
        assert!((l[[0, 0]] - 0.25).abs() < 1e-15 && (l[[0, 1]] + 0.25).abs() < 1e-15);
    }

    // Two rows each with loss ln 2 (equal logits, V = 2): mean ln 2, rows' gradients halved.
    #[test]
    fn mean_divides_by_rows() {
        let mut l = Array2::<f64>::zeros((2, 2));
        let loss = softmax_cross_entropy(&mut l, &[0, 1], Reduction::Mean);
        assert!((loss - 2f64.ln()).abs() < 1e-15);
        assert!((l[[0, 0]] + 0.25).abs() < 1e-15 && (l[[1, 0]] - 0.25).abs() < 1e-15);
    }

    // pred [1, 3], target [0, 1]: Sum = 1 + 4 = 5, gradient 2·(p − y) = [2, 4].
    #[test]
    fn mse_by_hand() {
        let (loss, d) = mse(array![[1.0f64, 3.0]].view(), array![[0.0, 1.0]].view(), Reduction::Sum);
        assert_eq!(loss, 5.0);
        assert_eq!(d, array![[2.0, 4.0]]);
    }
}
