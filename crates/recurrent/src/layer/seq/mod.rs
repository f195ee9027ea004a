//! One direction of one layer run over `T` steps: the one forward loop and the one
//! backward-through-time loop, for any [`Cell`]. `docs/bptt.md` derives what each step computes.
//!
//! Forward: the input projection `X · W_ihᵀ + b` for all `T·B` rows first (`input.rs`), then at
//! each step the recurrent product `h_{t-1} · W_hhᵀ` (`recurrent_product.rs`) and the cell's
//! forward step. Backward, from `t = T−1` down to `0`: the gradient from above is added to the
//! running `∂L/∂h_t`, the cell's backward step turns it into the step's pre-activation
//! gradients, and `∂L/∂h_{t-1} = dG_h · W_hh` carries it to the step before. The weight
//! gradients wait until after the loop, where each is one GEMM over all `T·B` rows.
//!
//! Every buffer lives in a `Workspace` (`workspace.rs`) sized for `(T, B)` once and reused; nothing
//! is allocated inside the time loop.

mod input;
mod recurrent_product;
mod workspace;

use crate::cell::{with_cell, Cell, CellKind, CellParams};
use crate::linalg::{MatMut, MatRef};
use crate::Float;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};
use recurrent_product::RecurrentProduct;
use workspace::Workspace;

/// The input of a sequence layer.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, F> {
    /// `(T·B, I)` dense rows, time-major.
    Dense(ArrayView2<'a, F>),
    /// `(T·B,)` token indices below `I`: a one-hot input without the zeros.
    Tokens(&'a [usize]),
}

/// One direction of one recurrent layer: parameters, their gradients, and its workspace.
#[derive(Clone, Debug)]
pub struct SeqLayer<F> {
    /// The recurrence.
    pub kind: CellKind,
    /// Runs from `t = T−1` down to `0` when set (the `_reverse` direction).
    pub reverse: bool,
    /// The weights.
    pub params: CellParams<F>,
    /// Gradients, accumulated by [`SeqLayer::backward`].
    pub grads: CellParams<F>,
    ws: Workspace<F>,
    product: RecurrentProduct<F>,
}

impl<F: Float> SeqLayer<F> {
    /// A layer with the given weights and zero gradients.
    pub fn new(kind: CellKind, params: CellParams<F>, reverse: bool) -> Self {
        // Kernels read flat row-major slices; accept transposed or sliced arrays from callers.
        let std2 = |a: ndarray::Array2<F>| a.as_standard_layout().into_owned();
        let std1 = |a: ndarray::Array1<F>| a.as_standard_layout().into_owned();
        let params = CellParams {
            weight_ih: std2(params.weight_ih),
            weight_hh: std2(params.weight_hh),
            bias_ih: std1(params.bias_ih),
            bias_hh: std1(params.bias_hh),
        };
        let grads = CellParams::zeros(kind, params.input(), params.hidden());
        SeqLayer { kind, reverse, params, grads, ws: Workspace::default(), product: RecurrentProduct::default() }
    }

    /// `H`.
    pub fn hidden(&self) -> usize {
        self.params.hidden()
    }

    /// `(H, G·H)`.
    fn dims(&self) -> (usize, usize) {
        (self.hidden(), self.kind.gates() * self.hidden())
    }

    /// Runs the layer over `T` steps of `B` rows.
    ///
    /// * `x`: `(T·B, I)` or `T·B` tokens.
    /// * `h0`, `c0`: `(B, H)` initial state (`c0` for LSTM only; `None` means zeros).
    ///
    /// The caller checks shapes; read the results with [`SeqLayer::output`] and
    /// [`SeqLayer::final_state`].
    pub fn forward(
        &mut self,
        x: SeqInput<'_, F>,
        t: usize,
        b: usize,
        h0: ArrayView2<'_, F>,
        c0: Option<ArrayView2<'_, F>>,
    ) {
        let (h, gh) = self.dims();
        self.ws.ensure(self.kind, (t, b, h), self.reverse);
        self.ws.consumed = false;
        // gates = X · W_ihᵀ + b, where b = b_ih + b_hh unless the cell adds b_hh at each step
        // (the two biases are otherwise only ever added).
        let p = &self.params;
        let bias = if self.kind.separate_hidden() { p.bias_ih.clone() } else { &p.bias_ih + &p.bias_hh };
        let bias = bias.as_slice().expect("contiguous");
        input::project(x, p, bias, &mut self.ws.gates, &mut self.ws.tok_acc);
        let whh = p.weight_hh.as_slice().expect("contiguous");
        self.product.prepare_forward(whh, (h, gh), (t, b));
        let init = self.ws.initial_block();
        self.ws.hbuf.slice_mut(s![init * b..(init + 1) * b, ..]).assign(&h0);
        if self.kind.has_cell_state() {
            let mut c = self.ws.cbuf.slice_mut(s![init * b..(init + 1) * b, ..]);
            match c0 {
                Some(c0) => c.assign(&c0),
                None => c.fill(F::zero()),
            }
        }
        // The whole time loop in wide-vector code (see `kernels::wide`), once per cell.
        with_cell!(self.kind, C => crate::kernels::wide(
            #[inline(always)]
            || self.forward_loop::<C>()
        ));
    }

    /// The forward loop over time: at each step, the cell's forward step with the recurrent
    /// product `h_{t-1} · W_hhᵀ` added where the cell wants it.
    #[inline(always)]
    fn forward_loop<C: Cell>(&mut self) {
        let (dims, (t, b)) = (self.dims(), (self.ws.t, self.ws.b));
        let (whh, bias_hh) =
            (self.params.weight_hh.as_slice().expect("std"), self.params.bias_hh.as_slice().expect("std"));
        let product = &self.product;
        for step in 0..t {
            let ti = if self.reverse { t - 1 - step } else { step };
            let s = self.ws.forward_step(ti, bias_hh, dims.0);
            C::forward_step(s, |h_prev, out| product.forward(whh, dims, b, ti, h_prev, out));
        }
    }

    /// Whether [`SeqLayer::backward`] can run: a forward has run and no backward has consumed its
    /// activations yet (backward turns them into gradients in place).
    pub fn ready_for_backward(&self) -> bool {
        self.ws.t > 0 && !self.ws.consumed
    }

    /// `(T·B, H)`: `h_t` for every step, in time order.
    pub fn output(&self) -> ArrayView2<'_, F> {
        self.ws.outputs()
    }

    /// `(T·B, G·H)`: the gate activations of every step of the last forward, time-major rows —
    /// LSTM `[i | f | g | o]` (σ, σ, tanh, σ), GRU `[r | z | n]` (σ, σ, tanh); for the tanh RNN the
    /// pre-activation. Valid until a backward consumes them (it overwrites them in place).
    pub fn gate_activations(&self) -> ArrayView2<'_, F> {
        self.ws.gates.view()
    }

    /// `(T·B, H)`: the LSTM's cell state `c_t` at every step of the last forward (empty for
    /// the other cells).
    pub fn cell_output(&self) -> ArrayView2<'_, F> {
        self.ws.cell_outputs()
    }

    /// `(B, H)` each: the state after the last step processed (`h_n`, and `c_n` for LSTM).
    pub fn final_state(&self) -> (ArrayView2<'_, F>, Option<ArrayView2<'_, F>>) {
        let (blk, b) = (self.ws.final_block(), self.ws.b);
        let h = self.ws.hbuf.slice(s![blk * b..(blk + 1) * b, ..]);
        let c = self.kind.has_cell_state().then(|| self.ws.cbuf.slice(s![blk * b..(blk + 1) * b, ..]));
        (h, c)
    }

    /// Backpropagation through time over the steps of the last [`SeqLayer::forward`]. It
    /// consumes that forward's activations (see [`SeqLayer::ready_for_backward`]).
    ///
    /// * `dy`: `(T·B, H)`, `∂L/∂h_t` from above for every step (may be a column slice).
    /// * `dh_n`, `dc_n`: `(B, H)`, gradient reaching the final state, or `None` for zero.
    /// * `x`: the forward input again (for `∂L/∂W_ih`).
    /// * `dx`: `(T·B, I)`, receives `+= ∂L/∂x` when given (ignored for tokens).
    ///
    /// Parameter gradients are accumulated into `self.grads`. Returns `∂L/∂h0` and, for LSTM,
    /// `∂L/∂c0`, each `(B, H)`.
    pub fn backward(
        &mut self,
        dy: ArrayView2<'_, F>,
        dh_n: Option<ArrayView2<'_, F>>,
        dc_n: Option<ArrayView2<'_, F>>,
        x: SeqInput<'_, F>,
        dx: Option<ArrayViewMut2<'_, F>>,
    ) -> (Array2<F>, Option<Array2<F>>) {
        self.ws.consumed = true;
        let whh = self.params.weight_hh.as_slice().expect("contiguous");
        self.product.prepare_backward(whh, self.dims(), self.ws.b);
        set_or_zero(&mut self.ws.dh, dh_n);
        set_or_zero(&mut self.ws.dc, dc_n);
        with_cell!(self.kind, C => crate::kernels::wide(
            #[inline(always)]
            || {
                self.backward_loop::<C>(dy);
                self.weight_grads(x, dx);
            }
        ));
        let dc0 = self.kind.has_cell_state().then(|| self.ws.dc.clone());
        (self.ws.dh.clone(), dc0)
    }

    /// The backward loop over time, from the last step to the first: `dh += dy_t`; the cell's
    /// backward step turns `dh` (and `dc`) into the step's pre-activation gradients, in place of
    /// its activations; then `dh ← ∂L/∂h_{t-1} = dG_h · W_hh` (plus the direct path a GRU left
    /// in `dh`).
    #[inline(always)]
    fn backward_loop<C: Cell>(&mut self, dy: ArrayView2<'_, F>) {
        let (dims, (t, b)) = (self.dims(), (self.ws.t, self.ws.b));
        let h = dims.0;
        let separate = C::KIND.separate_hidden();
        let dy_flat = dy.as_slice();
        for step in 0..t {
            let ti = if self.reverse { step } else { t - 1 - step };
            match dy_flat {
                // One direction: dy is whole rows, so step ti's block is one slice.
                Some(d) => {
                    let dh = self.ws.dh.as_slice_mut().expect("contiguous");
                    dh.iter_mut().zip(&d[ti * b * h..(ti + 1) * b * h]).for_each(|(x, &y)| *x += y);
                }
                None => add_rows(&mut self.ws.dh, dy.slice(s![ti * b..(ti + 1) * b, ..])),
            }
            C::backward_step(self.ws.backward_step(ti, h));
            let (dg, dh) = self.ws.hidden_grad(ti, separate);
            self.product.backward(dims, b, ti, dg, dh, separate);
        }
    }

    /// After the time loop: every weight gradient as one GEMM over all `T·B` rows. How they
    /// share two threads (when a [`crate::parallel::Helper`] is installed) is
    /// [`crate::parallel::weight_grad_split`]'s choice; the formulas are these.
    #[inline(always)]
    fn weight_grads(&mut self, x: SeqInput<'_, F>, dx: Option<ArrayViewMut2<'_, F>>) {
        let ((h, gh), rows) = (self.dims(), self.ws.t * self.ws.b);
        let i = self.params.input();
        let separate = self.kind.separate_hidden();
        let dx_wanted = dx.is_some();
        let mut acc = std::mem::take(&mut self.ws.tok_acc);
        let ws = &self.ws;
        let g = &mut self.grads;
        let w_ih = &self.params.weight_ih;
        // After the loop `gates` holds the input-side pre-activation gradients (dGi), and the
        // hidden side's (dGh) too unless the cell keeps them apart.
        let dgh = if separate { ws.dgh.as_slice() } else { ws.gates.as_slice() }.expect("contiguous");
        let hps = ws.previous_states();
        // Rows r0.. of dW_hh (G·H, H) += dGhᵀ (G·H, T·B) · Hprev (T·B, H), into `c`.
        let dwhh = |r0: usize, c: &mut [F]| {
            let m = c.len() / h.max(1);
            let dgh_t = MatRef::new(dgh, rows, gh).t().row_range(r0, m);
            F::gemm(dgh_t, MatRef::new(hps, rows, h), MatMut::new(c, m, h), true);
        };
        let (wih, bias_ih, bias_hh) = (&mut g.weight_ih, &mut g.bias_ih, &mut g.bias_hh);
        let rest = || {
            let sum_ih = input::gradients(x, &ws.gates, w_ih, (wih, bias_ih), dx, &mut acc);
            // db_hh = the column sums of dGh (those of dGi unless the cell keeps them apart).
            let sum_hh = if separate { input::column_sums(dgh, gh) } else { sum_ih };
            bias_hh.iter_mut().zip(&sum_hh).for_each(|(b, &v)| *b += v);
        };
        let whh = g.weight_hh.as_slice_mut().expect("contiguous");
        // The other products' multiply-adds: dW_ih and dX as GEMMs; a token scatter counted as
        // 20 per entry (measured).
        let other = match x {
            SeqInput::Dense(_) => gh * i * rows * if dx_wanted { 2 } else { 1 },
            SeqInput::Tokens(_) => 20 * gh * rows,
        };
        let dense = matches!(x, SeqInput::Dense(_));
        match crate::parallel::weight_grad_split(gh, h * rows, other, dense) {
            crate::parallel::GradSplit::EachInTwo => {
                crate::parallel::rows_in_two(gh, h * rows, whh, h, |r, c| dwhh(r.start, c));
                rest();
            }
            crate::parallel::GradSplit::At(r0) => {
                let (c0, c1) = whh.split_at_mut(r0 * h);
                crate::parallel::join(
                    || {
                        dwhh(0, c0);
                        rest();
                    },
                    || dwhh(r0, c1),
                );
            }
            crate::parallel::GradSplit::One => {
                dwhh(0, whh);
                rest();
            }
        }
        self.ws.tok_acc = acc;
    }
}

/// `dst += src`, row by row over contiguous slices where `src` has them (a column slice of a
/// wider matrix does, row by row), so the loop vectorises.
#[inline(always)]
fn add_rows<F: Float>(dst: &mut Array2<F>, src: ArrayView2<'_, F>) {
    for (mut d, s) in dst.rows_mut().into_iter().zip(src.rows()) {
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => d.iter_mut().zip(s).for_each(|(x, &y)| *x += y),
            _ => d += &s,
        }
    }
}

fn set_or_zero<F: Float>(dst: &mut Array2<F>, src: Option<ArrayView2<'_, F>>) {
    match src {
        Some(s) => dst.assign(&s),
        None => dst.fill(F::zero()),
    }
}
