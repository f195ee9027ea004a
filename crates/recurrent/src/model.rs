//! The character-level language model: one-hot tokens → a recurrent stack → a linear head →
//! softmax cross-entropy, trained by truncated BPTT with the state carried between windows.

use crate::cell::{CellKind, CellParams};
use crate::error::Result;
use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use crate::layer::Parameters;
use crate::loss::{softmax_cross_entropy, softmax_in_place, Reduction};
use crate::rng::NumpyRng;
use crate::{Float, Linear};
use ndarray::{Array1, Array2, ArrayView2};

/// How weights start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's: U(±1/√H) for the recurrent layers, U(±1/√in) for the head.
    PyTorch,
    /// min-char-rnn's: weights `randn · σ`, biases zero.
    Normal(f64),
    /// char-rnn's: every parameter U(±a), LSTM forget-gate input bias 1.
    Uniform(f64),
}

/// Sizes of a [`CharModel`].
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The recurrence.
    pub cell: CellKind,
    /// `V`, the vocabulary size (input and output).
    pub vocab: usize,
    /// `H`.
    pub hidden: usize,
    /// `L`.
    pub layers: usize,
    /// Dropout between layers in training.
    pub dropout: f64,
}

impl ModelConfig {
    /// The stack's configuration (time-major, one direction: a language model reads forward).
    pub fn recurrent(&self) -> RecurrentConfig {
        RecurrentConfig::new(self.cell, self.vocab, self.hidden)
            .with_layers(self.layers)
            .with_dropout(self.dropout)
    }
}

/// A recurrent stack and a head over a vocabulary; parameters named `rnn.*` and `head.*`.
#[derive(Clone, Debug)]
pub struct CharModel<F> {
    /// Sizes.
    pub config: ModelConfig,
    /// The stack, input one-hot over the vocabulary.
    pub rnn: Recurrent<F>,
    /// `(V, H)`.
    pub head: Linear<F>,
    /// `(T·B, V)`: logits, then their gradient.
    logits: Array2<F>,
    /// `(T·B, H)`: gradient reaching the stack's output.
    dy: Array2<F>,
}

impl<F: Float> CharModel<F> {
    /// A new model, weights drawn from `rng` (stack first, layer by layer, then the head).
    pub fn new(config: ModelConfig, init: Init, rng: &mut NumpyRng) -> Result<Self> {
        let rc = config.recurrent();
        let (rnn, head) = match init {
            Init::PyTorch => {
                let rnn = rc.init(rng)?;
                (rnn, Linear::new(config.hidden, config.vocab, rng))
            }
            Init::Normal(s) => {
                let mut randn =
                    |r: usize, c: usize| Array2::from_shape_simple_fn((r, c), || F::c(rng.standard_normal() * s));
                let rnn = rc.init_with(|kind, i, h| {
                    let g = kind.gates() * h;
                    let (wih, whh) = (randn(g, i), randn(g, h));
                    CellParams {
                        weight_ih: wih,
                        weight_hh: whh,
                        bias_ih: Array1::zeros(g),
                        bias_hh: Array1::zeros(g),
                    }
                })?;
                let w = randn(config.vocab, config.hidden);
                (rnn, Linear::from_weights(w, Array1::zeros(config.vocab)))
            }
            Init::Uniform(a) => {
                let mut rnn = rc.init_with(|kind, i, h| CellParams::uniform(kind, i, h, a, rng))?;
                if config.cell == CellKind::Lstm {
                    let h = config.hidden;
                    for l in rnn.layers.iter_mut() {
                        l.params.bias_ih.slice_mut(ndarray::s![h..2 * h]).fill(F::one());
                    }
                }
                let w = Array2::from_shape_simple_fn((config.vocab, config.hidden), || F::c(rng.uniform(-a, a)));
                let b = Array1::from_shape_simple_fn(config.vocab, || F::c(rng.uniform(-a, a)));
                (rnn, Linear::from_weights(w, b))
            }
        };
        Ok(Self::from_parts(config, rnn, head))
    }

    /// From a stack and a head already built (e.g. loaded from a checkpoint).
    pub fn from_parts(config: ModelConfig, rnn: Recurrent<F>, head: Linear<F>) -> Self {
        CharModel {
            config,
            rnn,
            head,
            logits: Array2::zeros((0, 0)),
            dy: Array2::zeros((0, 0)),
        }
    }

    /// Runs `inputs (T, B)` from `state`, scores `targets` (`T·B`, time-major) and keeps what
    /// [`CharModel::backward`] needs. `dropout_rng` switches training-mode dropout on.
    /// Returns the loss and the final state.
    pub fn forward_loss(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        reduction: Reduction,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(f64, State<F>)> {
        let (t, b) = self.rnn.forward_rows(Input::Tokens(inputs), state, dropout_rng)?;
        let n = t * b;
        if self.logits.nrows() != n {
            self.logits = Array2::zeros((n, self.config.vocab));
            self.dy = Array2::zeros((n, self.config.hidden));
        }
        self.head.forward(self.rnn.output_rows(), &mut self.logits);
        let loss = softmax_cross_entropy(&mut self.logits, targets, reduction);
        Ok((loss, self.rnn.final_state()))
    }

    /// Backward through the head and the stack for the last [`CharModel::forward_loss`],
    /// accumulating every gradient (the carried state gets no gradient: truncated BPTT).
    pub fn backward(&mut self) -> Result<()> {
        let rows = self.rnn.output_rows().to_owned();
        self.head
            .backward(rows.view(), self.logits.view(), Some(self.dy.view_mut()));
        self.rnn.backward_rows(self.dy.view(), None)?;
        Ok(())
    }

    /// One step of `B` tokens from `state`: the softmax probabilities `(B, V)` at
    /// `temperature` (> 0), and the new state. For sampling and evaluation.
    pub fn step_probs(
        &mut self,
        tokens: &[usize],
        state: Option<&State<F>>,
        temperature: f64,
    ) -> Result<(Array2<F>, State<F>)> {
        let x = ArrayView2::from_shape((1, tokens.len()), tokens).expect("(1, B)");
        self.rnn.forward_rows(Input::Tokens(x), state, None)?;
        let mut logits = Array2::zeros((tokens.len(), self.config.vocab));
        self.head.forward(self.rnn.output_rows(), &mut logits);
        let inv_t = F::c(1.0 / temperature);
        for mut row in logits.rows_mut() {
            row.mapv_inplace(|v| v * inv_t);
            softmax_in_place(row);
        }
        Ok((logits, self.rnn.final_state()))
    }

    /// The loss of `inputs`/`targets` without keeping anything for backward (evaluation).
    pub fn eval_loss(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
    ) -> Result<(f64, State<F>)> {
        self.forward_loss(inputs, targets, state, Reduction::Sum, None)
    }
}

impl<F: Float> Parameters<F> for CharModel<F> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [F], &mut [F])) {
        self.rnn.visit(&mut |n, s, p, g| f(&format!("rnn.{n}"), s, p, g));
        self.head.visit(&mut |n, s, p, g| f(&format!("head.{n}"), s, p, g));
    }
}
