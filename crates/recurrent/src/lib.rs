//! `recurrent`: tanh RNN, LSTM and GRU with forward and backward-through-time written by hand,
//! checked by finite differences and against PyTorch.
//!
//! The data flow, for a character model:
//!
//! ```text
//! tokens (T, B) ──► Recurrent (L layers × D directions of a cell) ──► y (T, B, D·H)
//!               ──► Linear head ──► logits (T·B, V) ──► softmax cross-entropy ──► loss
//! backward: dlogits = softmax − onehot ──► head ──► dy ──► BPTT through every layer ──► grads
//!                                                                ──► optimizer step
//! ```
//!
//! Conventions follow PyTorch (weight names, shapes, gate order) so that weights move between
//! the two unchanged; [`course`] offers the same maths in a numpy course's layout and names.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod analysis;
pub mod backend;
pub mod cell;
pub mod checkpoint;
pub mod course;
pub mod data;
pub mod error;
pub mod files;
pub mod float;
pub mod gradcheck;
pub mod import;
pub mod interop;
pub(crate) mod kernels;
pub mod layer;
pub mod linalg;
pub mod loss;
pub mod measure;
pub mod model;
pub mod optim;
pub mod parallel;
pub mod rng;
pub mod sample;
pub mod train;

pub use cell::{CellKind, CellParams};
pub use error::{Error, Result};
pub use float::Float;
pub use layer::linear::Linear;
pub use layer::stack::{Input, Recurrent, RecurrentConfig, State};
pub use layer::Parameters;
pub use loss::Reduction;
pub use rng::NumpyRng;
