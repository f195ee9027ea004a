//! The three recurrent cells and the parameter type they share.
//!
//! A cell's weights follow PyTorch: `weight_ih (G·H, I)`, `weight_hh (G·H, H)`, `bias_ih (G·H)`,
//! `bias_hh (G·H)` with `G` gate blocks stacked in PyTorch's order (RNN: 1; LSTM: i, f, g, o;
//! GRU: r, z, n). Each cell file holds a fused `forward_step` and its `backward_step` working on
//! one time step of a batch, `B` rows of `H` values, after the input projection
//! `W_ih x + b_ih` has been computed for all steps at once and the recurrent projection
//! `W_hh h + b_hh` for this step (see `layer::seq`).

pub mod gru;
pub mod lstm;
pub mod rnn;

use crate::error::{Error, Result};
use crate::rng::NumpyRng;
use crate::Float;
use ndarray::{Array1, Array2};

/// Which recurrence a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
