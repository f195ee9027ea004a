//! The three recurrent cells, the [`Cell`] trait the loop over time is written against, and the
//! parameter type they share.
//!
//! A cell's weights follow PyTorch: `weight_ih (G·H, I)`, `weight_hh (G·H, H)`, `bias_ih (G·H)`,
//! `bias_hh (G·H)` with `G` gate blocks stacked in PyTorch's order (RNN: 1; LSTM: i, f, g, o;
//! GRU: r, z, n). Each cell file holds a fused `forward_step` and its `backward_step` working on
//! one time step of a batch, `B` rows of `H` values, after the input projection
//! `W_ih x + b_ih` has been computed for all steps at once (see `layer::seq`), and implements
//! [`Cell`] over the named buffers of one step ([`ForwardStep`], [`BackwardStep`]): everything
//! that differs from one cell to another lives in the cell's own file.

pub mod gru;
pub mod lstm;
pub mod rnn;

use crate::error::{Error, Result};
use crate::rng::NumpyRng;
use crate::Float;
use ndarray::{Array1, Array2};

/// Which recurrence a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    Rnn,
    /// Long short-term memory, gates i, f, g, o.
    Lstm,
    /// Gated recurrent unit, gates r, z, n.
    Gru,
}

impl CellKind {
    /// The number of gate blocks `G` stacked in the weights.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Whether the state carries a cell vector `c` beside `h`.
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }

    /// Whether a step keeps a third `(B, H)` buffer for backward ([`ForwardStep::aux`]): the
    /// LSTM's `tanh(c_t)`, the GRU's `W_hn h_{t-1} + b_hn`.
    pub fn keeps_aux(self) -> bool {
        self != CellKind::Rnn
    }

    /// Whether the hidden side's pre-activations are kept apart from the input side's (the
    /// GRU's reset gate multiplies only `W_hn h + b_hn`): then `b_hh` is added at every step, not
    /// folded into the input projection, and backward writes the hidden side's gradient to its
    /// own buffer ([`BackwardStep::dgh`]).
    pub fn separate_hidden(self) -> bool {
        self == CellKind::Gru
    }

    /// The lower-case name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// Parses `rnn`, `lstm` or `gru`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rnn" | "tanh" => Ok(CellKind::Rnn),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(Error::Config(format!("unknown cell '{s}': use rnn, lstm or gru"))),
        }
    }
}

/// The buffers of one forward time step: `B` rows each, row-major, named for what they hold.
/// Buffers a cell does not use are empty.
#[derive(Debug)]
pub struct ForwardStep<'a, F> {
    /// `(B, G·H)`: in, this step's input pre-activations `W_ih x_t + b`; out, the gate
    /// activations kept for backward.
    pub gates: &'a mut [F],
    /// `(B, H)`: `h_{t-1}`.
    pub h_prev: &'a [F],
    /// `(B, H)`: `h_t`, written.
    pub h: &'a mut [F],
    /// `(B, H)`: `c_{t-1}` (LSTM).
    pub c_prev: &'a [F],
    /// `(B, H)`: `c_t`, written (LSTM).
    pub c: &'a mut [F],
    /// `(B, H)`: kept for backward (see [`CellKind::keeps_aux`]), written.
    pub aux: &'a mut [F],
    /// `(B, G·H)`: scratch for `W_hh h_{t-1} + b_hh` (GRU).
    pub hproj: &'a mut [F],
    /// `(G·H,)`: `b_hh`, added here by a cell that keeps its hidden side apart (GRU).
    pub bias_hh: &'a [F],
    /// `H`.
    pub hidden: usize,
}

/// The buffers of one backward time step, as [`ForwardStep`]'s.
#[derive(Debug)]
pub struct BackwardStep<'a, F> {
    /// `(B, H)`: in, `∂L/∂h_t` (the output's path plus the path from `t+1`); out, the part of
    /// `∂L/∂h_{t-1}` that does not go through `W_hh` (GRU: `z ⊙ dh`; the others leave it, and
    /// the recurrent product overwrites it).
    pub dh: &'a mut [F],
    /// `(B, H)`: in, `∂L/∂c_t`; out, `∂L/∂c_{t-1}` (LSTM).
    pub dc: &'a mut [F],
    /// `(B, G·H)`: in, the activations kept by forward; out, the gradient of the input-side
    /// pre-activations (and of the hidden side's too, unless [`CellKind::separate_hidden`]).
    pub gates: &'a mut [F],
    /// `(B, G·H)`: written, the gradient of the hidden-side pre-activations (GRU).
    pub dgh: &'a mut [F],
    /// `(B, H)`: `h_{t-1}` (GRU).
    pub h_prev: &'a [F],
    /// `(B, H)`: `h_t` (RNN).
    pub h: &'a [F],
    /// `(B, H)`: `c_{t-1}` (LSTM).
    pub c_prev: &'a [F],
    /// `(B, H)`: what forward kept in [`ForwardStep::aux`].
    pub aux: &'a [F],
    /// `H`.
    pub hidden: usize,
}

/// A recurrent cell: one step forward and one step backward over the named buffers of a time
/// step. The loop over time (`layer::seq`) is written once against this trait and runs the
/// recurrent product `h_{t-1} · W_hhᵀ` and `dG_h · W_hh` itself.
pub trait Cell {
    /// Which cell this is (its gate count and buffer needs are [`CellKind`]'s).
    const KIND: CellKind;

    /// One step forward. `recurrent(h_prev, out)` adds `h_{t-1} · W_hhᵀ`, `(B, G·H)`, into
    /// `out`; the cell calls it once, on the buffer where it wants the sum.
    fn forward_step<F: Float>(s: ForwardStep<'_, F>, recurrent: impl FnOnce(&[F], &mut [F]));

    /// One step backward: the pre-activation gradients of the step from `dh` (and `dc`).
    fn backward_step<F: Float>(s: BackwardStep<'_, F>);
}

/// The tanh RNN ([`rnn`]).
#[derive(Clone, Copy, Debug)]
pub struct Rnn;
/// The LSTM ([`lstm`]).
#[derive(Clone, Copy, Debug)]
pub struct Lstm;
/// The GRU ([`gru`]).
#[derive(Clone, Copy, Debug)]
pub struct Gru;

/// Runs `$body` with the type `$c` set to the [`Cell`] of `$kind`, so that a loop over time is
/// compiled once per cell and branches on the kind once, not at every step.
macro_rules! with_cell {
    ($kind:expr, $c:ident => $body:expr) => {
        match $kind {
            $crate::cell::CellKind::Rnn => {
                type $c = $crate::cell::Rnn;
                $body
            }
            $crate::cell::CellKind::Lstm => {
                type $c = $crate::cell::Lstm;
                $body
            }
            $crate::cell::CellKind::Gru => {
                type $c = $crate::cell::Gru;
                $body
            }
        }
    };
}
pub(crate) use with_cell;

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One direction of one layer's weights, or their gradients (the same type serves both).
#[derive(Clone, Debug, PartialEq)]
pub struct CellParams<F> {
    /// `(G·H, I)`.
    pub weight_ih: Array2<F>,
    /// `(G·H, H)`.
    pub weight_hh: Array2<F>,
    /// `(G·H,)`.
    pub bias_ih: Array1<F>,
    /// `(G·H,)`.
    pub bias_hh: Array1<F>,
}

impl<F: Float> CellParams<F> {
    /// All zeros: the shape of a gradient.
    pub fn zeros(kind: CellKind, input: usize, hidden: usize) -> Self {
        let gh = kind.gates() * hidden;
        CellParams {
            weight_ih: Array2::zeros((gh, input)),
            weight_hh: Array2::zeros((gh, hidden)),
            bias_ih: Array1::zeros(gh),
            bias_hh: Array1::zeros(gh),
        }
    }

    /// Every entry drawn from U(−bound, bound), tensors in the order ih, hh, b_ih, b_hh.
    /// PyTorch's default is `bound = 1/√H`.
    pub fn uniform(kind: CellKind, input: usize, hidden: usize, bound: f64, rng: &mut NumpyRng) -> Self {
        let mut p = Self::zeros(kind, input, hidden);
        for t in p.tensors_mut() {
            t.iter_mut().for_each(|v| *v = F::c(rng.uniform(-bound, bound)));
        }
        p
    }

    /// The hidden size `H`.
    pub fn hidden(&self) -> usize {
        self.weight_hh.ncols()
    }

    /// The input size `I`.
    pub fn input(&self) -> usize {
        self.weight_ih.ncols()
    }

    /// The four tensors, flattened, in the order ih, hh, b_ih, b_hh.
    pub fn tensors_mut(&mut self) -> [&mut [F]; 4] {
        [
            self.weight_ih.as_slice_mut().expect("standard layout"),
            self.weight_hh.as_slice_mut().expect("standard layout"),
            self.bias_ih.as_slice_mut().expect("standard layout"),
            self.bias_hh.as_slice_mut().expect("standard layout"),
        ]
    }

    /// The four tensors, flattened, in the order ih, hh, b_ih, b_hh.
    pub fn tensors(&self) -> [&[F]; 4] {
        [
            self.weight_ih.as_slice().expect("standard layout"),
            self.weight_hh.as_slice().expect("standard layout"),
            self.bias_ih.as_slice().expect("standard layout"),
            self.bias_hh.as_slice().expect("standard layout"),
        ]
    }

    /// PyTorch's names for the four tensors of layer `layer`, `_reverse` for direction 1.
    pub fn names(layer: usize, reverse: bool) -> [String; 4] {
        let s = if reverse { "_reverse" } else { "" };
        [
            format!("weight_ih_l{layer}{s}"),
            format!("weight_hh_l{layer}{s}"),
            format!("bias_ih_l{layer}{s}"),
            format!("bias_hh_l{layer}{s}"),
        ]
    }

    /// The shapes of the four tensors, in the order of [`CellParams::tensors`].
    pub fn shapes(&self) -> [Vec<usize>; 4] {
        [
            self.weight_ih.shape().to_vec(),
            self.weight_hh.shape().to_vec(),
            self.bias_ih.shape().to_vec(),
            self.bias_hh.shape().to_vec(),
        ]
    }

    /// Sets every entry to zero (clears a gradient).
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.fill(F::zero());
        }
    }
}
