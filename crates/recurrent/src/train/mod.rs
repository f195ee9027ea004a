//! Training a character model: one training step ([`Trainer::step`]: forward, loss, backward
//! through time sharded over the batch, clipping, the optimizer's update), the standard
//! configurations every benchmark runs ([`configs`]), and the state a run needs to continue bit
//! for bit ([`state`]). The command-line trainer, `recurrent bench`, the criterion benches and
//! the tests all train through this one step.
//!
//! ```
//! use recurrent::model::{CharModel, Init, ModelConfig};
//! use recurrent::optim::{Clip, Optimizer, Rule};
//! use recurrent::train::Trainer;
//! use recurrent::{CellKind, NumpyRng, Reduction};
//!
//! // An LSTM over a vocabulary of 5, trained on windows of T = 4 steps of B = 2 streams.
//! let config = ModelConfig { cell: CellKind::Lstm, vocab: 5, hidden: 8, layers: 1, dropout: 0.0 };
//! let model = CharModel::<f32>::new(config, Init::PyTorch, &mut NumpyRng::new(0))?;
//! let opt = Optimizer::new(Rule::parse("adam")?, 1e-2);
//! let mut trainer = Trainer::new(model, opt, Clip { norm: 5.0, value: 0.0 }, Reduction::Mean, 1);
//! let inputs = ndarray::Array2::from_shape_fn((4, 2), |(t, b)| (t + b) % 5); // (T, B)
//! // Row t·B + b of the targets is stream b's next token after step t.
//! let targets: Vec<usize> = (0..8).map(|r| (r / 2 + r % 2 + 1) % 5).collect();
//! let mut state = None;
//! let first = trainer.step(inputs.view(), &targets, None, None)?.loss;
//! for _ in 0..50 {
//!     let out = trainer.step(inputs.view(), &targets, state.as_ref(), None)?;
//!     state = Some(out.state); // carried to the next window: truncated BPTT
//! }
//! let last = trainer.step(inputs.view(), &targets, None, None)?.loss;
//! assert!(last < first, "the loss falls: {first} -> {last}");
//! # Ok::<(), recurrent::Error>(())
//! ```

pub mod config;
pub mod configs;
pub mod folder;
pub mod session;
pub mod state;
pub mod team;
pub mod text;

use crate::error::Result;
use crate::layer::Parameters;
use crate::model::CharModel;
use crate::optim::{grad_norm, Clip, Optimizer};
use crate::parallel::{Parallelism, Shards};
use crate::rng::NumpyRng;
use crate::{Float, Reduction, State};
use ndarray::ArrayView2;

/// Sums buffers across the processes of a data-parallel run, leaving the same result in every
/// process (MPI's `Allreduce` with `MPI_SUM`); the library does not depend on MPI, the command
/// line implements this over it.
pub trait AllSum<F> {
    /// Element-wise sum of `v` over every process, in place.
    fn sum_f32(&mut self, v: &mut [F]);
    /// Element-wise sum of `v` over every process, in place.
    fn sum_f64(&mut self, v: &mut [f64]);
}

/// A model, its optimizer and how each step treats the gradients.
#[derive(Debug)]
pub struct Trainer<F> {
    /// The model being trained.
    pub model: CharModel<F>,
    /// Its optimizer (moments, step count, learning rate).
    pub opt: Optimizer<F>,
    /// Element-wise or global-norm clipping, applied inside the update.
    pub clip: Clip,
    /// Mean (PyTorch's) or summed (min-char-rnn's) loss.
    pub reduction: Reduction,
    /// The tensors (by their place in [`Parameters::visit`] order) whose gradients are zeroed
    /// before each update, so they keep their values; see [`Trainer::freeze`].
    frozen: Vec<bool>,
    /// Whether [`Trainer::step`] reports the gradient norm when clipping does not compute it
    /// anyway (one more pass over the gradients).
    pub report_grad_norm: bool,
    shards: Shards<F>,
    /// [`Trainer::step_shared`]'s gradients, flattened for the reduction.
    flat: Vec<F>,
}

/// What one training step gives back.
#[derive(Clone, Debug)]
pub struct StepOutcome<F> {
    /// The window's loss (mean or sum, as [`Trainer::reduction`]).
    pub loss: f64,
    /// The state after the window, to carry into the next one.
    pub state: State<F>,
    /// The gradient norm before clipping, when computed (see [`Trainer::report_grad_norm`]).
    pub grad_norm: Option<f64>,
    /// Whether the weights were updated: not when the loss is not finite (the caller stops).
    pub updated: bool,
}

impl<F: Float> Trainer<F> {
    /// A trainer over `threads` batch shards (see [`Shards`]), gradients zeroed by the optimizer
    /// as it uses them.
    pub fn new(model: CharModel<F>, opt: Optimizer<F>, clip: Clip, reduction: Reduction, threads: usize) -> Self {
        let shards = Shards::new(&model, threads);
        Trainer {
            model,
            opt: opt.zeroing_grads(true),
            clip,
            reduction,
            frozen: Vec::new(),
            report_grad_norm: false,
            shards,
            flat: Vec::new(),
        }
    }

    /// One step on `inputs (T, B)` and `targets` (`T·B`, time-major) from the carried `state`:
    /// the loss and its gradients, then — if the loss is finite — clipping and the update.
    /// `dropout_rng` switches training-mode dropout on.
    ///
    /// # Errors
    /// When the inputs do not fit the model (see [`CharModel::forward_loss`]).
    pub fn step(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<StepOutcome<F>> {
        let (loss, state) =
            self.shards.forward_backward(&mut self.model, inputs, targets, state, self.reduction, dropout_rng)?;
        if !loss.is_finite() {
            return Ok(StepOutcome { loss, state, grad_norm: None, updated: false });
        }
        let grad_norm = self.update();
        Ok(StepOutcome { loss, state, grad_norm, updated: true })
    }

    /// One step of data parallelism across processes (MPI ranks, say): this process's share of
    /// the batch, `inputs (T, b)` of the whole batch's `B` streams, forward and backward (with
    /// dropout masks from `dropout_seed`); its gradients and loss weighted by `weight` (its
    /// share of the rows, `b / B`, for a mean loss; 1 for a sum); then `all.sum_f32` over every
    /// gradient (in [`Parameters::visit_values`] order, flattened) and `all.sum_f64` over
    /// `[loss, extra…]`; then clipping and the update, the same on every process.
    ///
    /// With two processes this is bit for bit [`Trainer::step`] on two threads (batch shards):
    /// each shard's gradient is rounded once when weighted, and the sum of two values does not
    /// depend on its order. With more, only the order of the sum can differ.
    ///
    /// `extra` travels in the same reduction (a stop flag, say) and comes back summed.
    ///
    /// # Errors
    /// When the inputs do not fit the model (see [`CharModel::forward_loss`]).
    #[allow(clippy::too_many_arguments)]
    pub fn step_shared(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        dropout_seed: Option<u32>,
        weight: f64,
        all: &mut dyn AllSum<F>,
        extra: &mut [f64],
    ) -> Result<StepOutcome<F>> {
        let mut rng = dropout_seed.map(NumpyRng::new);
        let (loss, state) =
            self.shards.forward_backward(&mut self.model, inputs, targets, state, self.reduction, rng.as_mut())?;
        // Every gradient, weighted, in one buffer (kept between steps) for one reduction.
        let w = F::c(weight);
        let buf = &mut self.flat;
        buf.clear();
        self.model.visit_values(&mut |_, g| buf.extend(g.iter().map(|&x| if weight == 1.0 { x } else { x * w })));
        all.sum_f32(buf);
        let mut at = 0;
        self.model.visit_values(&mut |_, g| {
            g.copy_from_slice(&buf[at..at + g.len()]);
            at += g.len();
        });
        let mut scalars = Vec::with_capacity(1 + extra.len());
        scalars.push(loss * weight);
        scalars.extend_from_slice(extra);
        all.sum_f64(&mut scalars);
        extra.copy_from_slice(&scalars[1..]);
        let loss = scalars[0];
        if !loss.is_finite() {
            return Ok(StepOutcome { loss, state, grad_norm: None, updated: false });
        }
        let grad_norm = self.update();
        Ok(StepOutcome { loss, state, grad_norm, updated: true })
    }

    /// The summed loss of `inputs (T, B)` against `targets` from `state`, without an update
    /// (validation), on the same threads as [`Trainer::step`]: each thread scores its share of
    /// the streams, the sums are added in a fixed order.
    ///
    /// # Errors
    /// When the inputs do not fit the model (see [`CharModel::forward_loss`]).
    pub fn eval_loss(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
    ) -> Result<(f64, State<F>)> {
        self.shards.eval_loss(&mut self.model, inputs, targets, state)
    }

    /// Keeps the tensors named in `names` (e.g. `rnn.bias_hh_l0`) at their values: their
    /// gradients are zeroed before each update. Replaces any earlier list.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming a tensor the model does not have.
    pub fn freeze(&mut self, names: &[String]) -> Result<()> {
        let mut all = Vec::new();
        self.model.visit(&mut |n, _, _, _| all.push(n.to_string()));
        if let Some(bad) = names.iter().find(|n| !all.contains(n)) {
            return Err(crate::Error::Config(format!(
                "cannot freeze {bad}: the model has no such tensor (it has {})",
                all.join(", ")
            )));
        }
        self.frozen = all.iter().map(|n| names.contains(n)).collect();
        Ok(())
    }

    /// How two threads share a step (see [`Parallelism`]; batch shards by default).
    pub fn set_parallelism(&mut self, p: Parallelism) {
        self.shards.parallelism = p;
    }

    /// Frozen gradients zeroed, then clipping and the optimizer's update in one pass; returns
    /// the gradient norm before clipping when it is computed.
    fn update(&mut self) -> Option<f64> {
        if self.frozen.iter().any(|&f| f) {
            let (frozen, mut i) = (&self.frozen, 0);
            self.model.visit(&mut |_, _, _, g| {
                if frozen[i] {
                    g.fill(F::zero());
                }
                i += 1;
            });
        }
        let norm = (self.report_grad_norm && self.clip.norm <= 0.0).then(|| grad_norm(&mut self.model));
        let clipped = self.opt.step_clipped(&mut self.model, self.clip);
        norm.or(clipped)
    }
}
