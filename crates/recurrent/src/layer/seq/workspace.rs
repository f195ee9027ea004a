//! The buffers one direction of one layer keeps between its forward and its backward pass, sized
//! for one `(T, B)` and reused, and all the row-block indexing into them.
//!
//! Rows are time-major: row block `t` (rows `t·B .. (t+1)·B`) is time step `t`. The hidden
//! states live in `hbuf ((T+1)·B, H)`: forward direction `h0` in block 0 and `h_t` in block `t+1`;
//! reverse direction `h_t` in block `t` and `h0` in block `T`. Either way the outputs and the
//! "previous state" of every step are contiguous row ranges.

use crate::cell::{BackwardStep, CellKind, ForwardStep};
use crate::Float;
use ndarray::{s, Array2, ArrayView2};

/// Activations kept for backward and scratch buffers, sized for one `(T, B)`.
#[derive(Clone, Debug, Default)]
pub(super) struct Workspace<F> {
    /// `T`.
    pub t: usize,
    /// `B`.
    pub b: usize,
    /// Runs from `t = T−1` down to `0` (the block order of `hbuf`, see the module docs).
    pub reverse: bool,
    /// `(T·B, G·H)`: input pre-activations, then the gate activations (LSTM, GRU), then in
    /// backward the pre-activation gradients (dGi), each row overwritten in place.
    pub gates: Array2<F>,
    /// `((T+1)·B, H)`: hidden states, see the module docs for the block order.
    pub hbuf: Array2<F>,
    /// `((T+1)·B, H)`: LSTM cell states, same order as `hbuf`.
    pub cbuf: Array2<F>,
    /// `(T·B, H)`: what the cell keeps besides its gates (LSTM `tanh(c_t)`; GRU `W_hn h + b_hn`).
    pub aux: Array2<F>,
    /// `(B, G·H)`: GRU only, this step's `W_hh h_{t-1} + b_hh`.
    pub hproj: Array2<F>,
    /// `(T·B, G·H)`: GRU only, gradient of the hidden-side pre-activations.
    pub dgh: Array2<F>,
    /// Whether a backward pass has consumed the activations of the last forward.
    pub consumed: bool,
    /// `(B, H)`: the running `∂L/∂h` and `∂L/∂c`.
    pub dh: Array2<F>,
    pub dc: Array2<F>,
    /// `(I, G·H)` scratch for one-hot input: the table `W_ihᵀ + b` in forward, per-token sums
    /// of the input-side gradients in backward.
    pub tok_acc: Vec<F>,
}

impl<F: Float> Workspace<F> {
    /// Sized for `T` steps of `B` rows of a `kind` cell of `H` units (kept when it already is).
    pub fn ensure(&mut self, kind: CellKind, (t, b, h): (usize, usize, usize), reverse: bool) {
        let gh = kind.gates() * h;
        if self.t == t && self.b == b && self.hbuf.nrows() == (t + 1) * b && self.reverse == reverse {
            return;
        }
        let rows_if = |yes: bool, rows: usize| if yes { rows } else { 0 };
        let tok_acc = std::mem::take(&mut self.tok_acc);
        *self = Workspace {
            t,
            b,
            reverse,
            gates: Array2::zeros((t * b, gh)),
            hbuf: Array2::zeros(((t + 1) * b, h)),
            cbuf: Array2::zeros((rows_if(kind.has_cell_state(), (t + 1) * b), h)),
            aux: Array2::zeros((rows_if(kind.keeps_aux(), t * b), h)),
            hproj: Array2::zeros((rows_if(kind.separate_hidden(), b), gh)),
            dgh: Array2::zeros((rows_if(kind.separate_hidden(), t * b), gh)),
            consumed: false,
            dh: Array2::zeros((b, h)),
            dc: Array2::zeros((b, h)),
            tok_acc,
        };
    }

    /// Row blocks of step `t`'s output and of its previous state in `hbuf` and `cbuf`.
    #[inline(always)]
    pub fn blocks(&self, t: usize) -> (usize, usize) {
        if self.reverse {
            (t, t + 1)
        } else {
            (t + 1, t)
        }
    }

    /// The row block of `hbuf` and `cbuf` holding the initial state.
    pub fn initial_block(&self) -> usize {
        if self.reverse {
            self.t
        } else {
            0
        }
    }

    /// The row block holding the state after the last step processed.
    pub fn final_block(&self) -> usize {
        if self.reverse {
            0
        } else {
            self.t
        }
    }

    /// `(T·B, H)`: `h_t` for every step, in time order.
    pub fn outputs(&self) -> ArrayView2<'_, F> {
        let (t, b) = (self.t, self.b);
        let start = if self.reverse { 0 } else { b };
        self.hbuf.slice(s![start..start + t * b, ..])
    }

    /// `(T·B, H)`: the LSTM's `c_t` for every step, in time order (empty for other cells).
    pub fn cell_outputs(&self) -> ArrayView2<'_, F> {
        if self.cbuf.nrows() == 0 {
            return self.cbuf.view();
        }
        let (t, b) = (self.t, self.b);
        let start = if self.reverse { 0 } else { b };
        self.cbuf.slice(s![start..start + t * b, ..])
    }

    /// `(T·B, H)`: `h_{t-1}` for every step, in time order (the operand of `dW_hh`).
    pub fn previous_states(&self) -> &[F] {
        let rows = self.t * self.b;
        let all = self.hbuf.as_slice().expect("contiguous");
        let w = self.hbuf.ncols();
        if self.reverse {
            &all[self.b * w..(self.b + rows) * w]
        } else {
            &all[..rows * w]
        }
    }

    /// The buffers of forward step `ti`.
    #[inline(always)]
    pub fn forward_step<'a>(&'a mut self, ti: usize, bias_hh: &'a [F], hidden: usize) -> ForwardStep<'a, F> {
        let (out, prev) = self.blocks(ti);
        let b = self.b;
        let len = b * hidden;
        let (h_prev, h) = read_write_blocks(&mut self.hbuf, prev, out, len);
        let (c_prev, c) = read_write_blocks(&mut self.cbuf, prev, out, len);
        ForwardStep {
            gates: rows_mut(&mut self.gates, ti, b),
            h_prev,
            h,
            c_prev,
            c,
            aux: rows_mut(&mut self.aux, ti, b),
            hproj: self.hproj.as_slice_mut().expect("contiguous"),
            bias_hh,
            hidden,
        }
    }

    /// The buffers of backward step `ti`.
    #[inline(always)]
    pub fn backward_step(&mut self, ti: usize, hidden: usize) -> BackwardStep<'_, F> {
        let (out, prev) = self.blocks(ti);
        let b = self.b;
        BackwardStep {
            dh: self.dh.as_slice_mut().expect("contiguous"),
            dc: self.dc.as_slice_mut().expect("contiguous"),
            gates: rows_mut(&mut self.gates, ti, b),
            dgh: rows_mut(&mut self.dgh, ti, b),
            h_prev: rows_of(&self.hbuf, prev, b),
            h: rows_of(&self.hbuf, out, b),
            c_prev: rows_of(&self.cbuf, prev, b),
            aux: rows_of(&self.aux, ti, b),
            hidden,
        }
    }

    /// After backward step `ti`: the gradient of its hidden-side pre-activations `dG_h (B, G·H)`
    /// and the running `dh (B, H)` that `dG_h · W_hh` goes into.
    #[inline(always)]
    pub fn hidden_grad(&mut self, ti: usize, separate: bool) -> (&[F], &mut [F]) {
        let b = self.b;
        let dg = if separate { rows_of(&self.dgh, ti, b) } else { rows_of(&self.gates, ti, b) };
        (dg, self.dh.as_slice_mut().expect("contiguous"))
    }
}

/// Block `read` as a slice and block `write` (a different one) as a mutable slice, each `len`
/// values of the contiguous buffer `buf`; both empty when `buf` is (a buffer the cell does not
/// use).
#[inline(always)]
fn read_write_blocks<F>(buf: &mut Array2<F>, read: usize, write: usize, len: usize) -> (&[F], &mut [F]) {
    let all = buf.as_slice_mut().expect("contiguous");
    if all.is_empty() {
        return (&[], &mut []);
    }
    if read < write {
        let (lo, hi) = all.split_at_mut(write * len);
        (&lo[read * len..(read + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = all.split_at_mut(read * len);
        (&hi[..len], &mut lo[write * len..(write + 1) * len])
    }
}

/// Row block `blk` (`b` rows) of a standard-layout matrix, as one slice (cheaper than an ndarray
/// slice, in the time loop); empty when the matrix is.
#[inline(always)]
fn rows_of<F>(a: &Array2<F>, blk: usize, b: usize) -> &[F] {
    let w = a.ncols() * b;
    let all = a.as_slice().expect("contiguous");
    if all.is_empty() {
        return all;
    }
    &all[blk * w..(blk + 1) * w]
}

/// [`rows_of`], mutable.
#[inline(always)]
fn rows_mut<F>(a: &mut Array2<F>, blk: usize, b: usize) -> &mut [F] {
    let w = a.ncols() * b;
    let all = a.as_slice_mut().expect("contiguous");
    if all.is_empty() {
        return all;
    }
    &mut all[blk * w..(blk + 1) * w]
}
