//! The batch-first "SimpleRNN" of a numpy tutorial (SPEC §2, S3): `x (batch, seq, features)`,
//! `h_t = tanh(x_t @ W_x + h_{t−1} @ W_h + b)`, returning the last hidden state — with the
//! backward pass that tutorial got wrong (it initialised the gradients randomly and never walked
//! back through time). It is the library's tanh RNN with `weight_ih = W_xᵀ`, `weight_hh = W_hᵀ`,
//! `bias_ih = b`, `bias_hh = 0`, batch-first; the backward pass is the library's BPTT.

use crate::cell::{CellKind, CellParams};
use crate::error::{expect_shape, Result};
use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};

/// The gradients of a scalar loss with respect to everything `forward` used.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleRnnGrads {
    /// `(batch, seq, features)`.
    pub dx: Array3<f64>,
    /// `(batch, hidden)`.
    pub dh0: Array2<f64>,
    /// `(features, hidden)`.
    pub dw_x: Array2<f64>,
    /// `(hidden, hidden)`.
    pub dw_h: Array2<f64>,
    /// `(hidden,)`.
    pub db: Array1<f64>,
}

/// `W_x (features, hidden)`, `W_h (hidden, hidden)`, `b (hidden,)`.
#[derive(Clone, Debug)]
pub struct SimpleRnn {
    rnn: Recurrent<f64>,
}

impl SimpleRnn {
    /// From the tutorial's arrays.
    pub fn new(w_x: ArrayView2<'_, f64>, w_h: ArrayView2<'_, f64>, b: &[f64]) -> Result<Self> {
        let (f, h) = w_x.dim();
        expect_shape("W_h", w_h.shape(), &[h, h], "W_x (features, hidden) with this hidden size")?;
        expect_shape("b", &[b.len()], &[h], "W_x (features, hidden) with this hidden size")?;
        let cfg = RecurrentConfig::new(CellKind::Rnn, f, h).with_batch_first(true);
        let params = CellParams {
            weight_ih: w_x.t().as_standard_layout().into_owned(),
            weight_hh: w_h.t().as_standard_layout().into_owned(),
            bias_ih: Array1::from(b.to_vec()),
            bias_hh: Array1::zeros(h),
        };
        let mut once = Some(params);
        Ok(SimpleRnn { rnn: cfg.init_with(|_, _, _| once.take().expect("one layer"))? })
    }

    /// The last hidden state `(batch, hidden)` for `x (batch, seq, features)` from `h0`.
    pub fn forward(&mut self, x: ArrayView3<'_, f64>, h0: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let s0 = State { h: h0.to_owned().insert_axis(Axis(0)), c: None };
        let (_, hn) = self.rnn.forward(Input::Dense(x), Some(&s0), None)?;
        Ok(hn.h.index_axis_move(Axis(0), 0))
    }

    /// Backward for the last `forward`, from `dh_last = ∂L/∂h_T (batch, hidden)`.
    pub fn backward(&mut self, dh_last: ArrayView2<'_, f64>) -> Result<SimpleRnnGrads> {
        use crate::layer::Parameters;
        self.rnn.zero_grad();
        let (t, b) = (self.rnn.output_rows().nrows() / dh_last.nrows().max(1), dh_last.nrows());
        let dy = Array3::zeros((b, t, self.rnn.config.hidden_size));
        let ds = State { h: dh_last.to_owned().insert_axis(Axis(0)), c: None };
        let (dx, dh0) = self.rnn.backward(dy.view(), Some(&ds))?;
        let g = &self.rnn.layers[0].grads;
        Ok(SimpleRnnGrads {
            dx: dx.expect("dense input"),
            dh0: dh0.h.index_axis_move(Axis(0), 0),
            dw_x: g.weight_ih.t().as_standard_layout().into_owned(),
            dw_h: g.weight_hh.t().as_standard_layout().into_owned(),
            db: g.bias_ih.clone(),
        })
    }
}
