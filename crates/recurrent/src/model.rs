//! The character-level language model: one-hot tokens → a recurrent stack → a linear head →
//! softmax cross-entropy, trained by truncated BPTT with the state carried between windows.

use crate::cell::{CellKind, CellParams};
use crate::error::{Error, Result};
use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use crate::layer::Parameters;
use crate::loss::{softmax_cross_entropy, softmax_cross_entropy_rows, softmax_in_place, Reduction};
use crate::rng::NumpyRng;
use crate::{Float, Linear};
use ndarray::{Array1, Array2, ArrayView2};

/// From this many rows, the head and the loss run in two blocks of rows when a
/// [`crate::parallel::Helper`] is installed (min-char-rnn has 25).
const PAR_MIN_ROWS: usize = 12;

/// How weights start. Written and read as `pytorch`, `normal:σ` or `uniform:a` (a run's
/// `config.json` holds it so).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Init {
    /// PyTorch's: U(±1/√H) for the recurrent layers, U(±1/√in) for the head.
    PyTorch,
    /// min-char-rnn's: weights `randn · σ`, biases zero.
    Normal(f64),
    /// char-rnn's: every parameter U(±a), LSTM forget-gate input bias 1.
    Uniform(f64),
}

impl std::str::FromStr for Init {
    type Err = Error;

    /// `pytorch`, `normal:σ` or `uniform:a`.
    fn from_str(s: &str) -> Result<Init> {
        let num = |v: &str| {
            v.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0).ok_or_else(|| {
                Error::Config(format!("bad init '{s}': the scale must be a number ≥ 0, e.g. normal:0.01"))
            })
        };
        Ok(match s.split_once(':') {
            None if s == "pytorch" => Init::PyTorch,
            Some(("normal", v)) => Init::Normal(num(v)?),
            Some(("uniform", v)) => Init::Uniform(num(v)?),
            _ => return Err(Error::Config(format!("unknown init '{s}': use pytorch, normal:σ or uniform:a"))),
        })
    }
}

impl std::fmt::Display for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Init::PyTorch => f.write_str("pytorch"),
            Init::Normal(s) => write!(f, "normal:{s}"),
            Init::Uniform(a) => write!(f, "uniform:{a}"),
        }
    }
}

impl TryFrom<String> for Init {
    type Error = Error;
    fn try_from(s: String) -> Result<Init> {
        s.parse()
    }
}

impl From<Init> for String {
    fn from(i: Init) -> String {
        i.to_string()
    }
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
        RecurrentConfig::new(self.cell, self.vocab, self.hidden).with_layers(self.layers).with_dropout(self.dropout)
    }

    /// The number of parameters, in `f64` so that absurd sizes do not overflow: per layer
    /// `G·H·(I + H) + 2·G·H` (`I = V` for the first layer, `H` above), and the head's `V·H + V`.
    pub fn params(&self) -> f64 {
        let (g, h, v) = (self.cell.gates() as f64, self.hidden as f64, self.vocab as f64);
        let layer = |i: f64| g * h * (i + h) + 2.0 * g * h;
        layer(v) + (self.layers.saturating_sub(1)) as f64 * layer(h) + v * h + v
    }

    /// About how many bytes training this model in `f32` takes, on windows of `steps × batch`
    /// over `threads` batch shards with `moment_slots` optimizer moments per weight (Adam 2,
    /// Adagrad and RMSProp 1, SGD 0):
    /// - weights and gradients on every shard's copy, `2·P·threads`, and the moments, `slots·P`;
    /// - writing a checkpoint with its training state: the tensors gathered, their bytes and
    ///   two serialisations, `4·(1 + slots)·P`;
    /// - what the forward pass keeps for backward, per layer, step and stream: the gate
    ///   pre-activations and activations, the input projection, `h`, `c` and their gradients,
    ///   `(3·G + 6)·H`; and the logits with their gradient, `2·V` per step and stream.
    ///
    /// Times 4 bytes. `recurrent train` refuses a run whose estimate exceeds the memory the
    /// machine has available; `docs/reliability.md` compares it with measured peaks.
    pub fn training_bytes(&self, steps: usize, batch: usize, threads: usize, moment_slots: usize) -> f64 {
        let p = self.params();
        let (g, h, v) = (self.cell.gates() as f64, self.hidden as f64, self.vocab as f64);
        let rows = steps as f64 * batch as f64;
        let slots = moment_slots as f64;
        let weights = 2.0 * p * threads.max(1) as f64 + slots * p + 4.0 * (1.0 + slots) * p;
        let activations = rows * (self.layers as f64 * (3.0 * g + 6.0) * h + 2.0 * v);
        4.0 * (weights + activations)
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
    /// Dropout on the last layer's output before the head in training (char-rnn's dropout
    /// before its decoder), in `[0, 1)`; masks per time step, or per sequence when the stack
    /// is [`RecurrentConfig::variational`]. A training setting, not saved with the weights.
    pub head_dropout: f64,
    /// `(T·B, H)`: the head's input after dropout, and its mask (scaled by `1/(1−p)`), kept
    /// between steps; `head_dropped` says whether the last forward used them.
    head_in: Array2<F>,
    head_mask: Array2<F>,
    head_dropped: bool,
    /// Every gradient is known to be zero: set by [`Parameters::grads_now_zero`] (an optimizer
    /// that zeroes as it updates) and by `zero_grad`; cleared by `backward` and by anything
    /// that visits the gradients mutably, so `zero_grad` can skip a pass over all of them.
    /// Writing `rnn`'s or `head`'s gradient fields directly bypasses it: call `zero_grad`
    /// (which then does its pass) only through this type.
    grads_zero: bool,
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
                    CellParams { weight_ih: wih, weight_hh: whh, bias_ih: Array1::zeros(g), bias_hh: Array1::zeros(g) }
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
            head_dropout: 0.0,
            head_in: Array2::zeros((0, 0)),
            head_mask: Array2::zeros((0, 0)),
            head_dropped: false,
            grads_zero: false,
        }
    }

    /// Runs `inputs (T, B)` from `state`, scores `targets` (`T·B`, time-major) and keeps what
    /// [`CharModel::backward`] needs. `dropout_rng` switches training-mode dropout on: the
    /// stack's masks are drawn first, then the head's ([`CharModel::head_dropout`]).
    /// Returns the loss and the final state.
    ///
    /// # Errors
    /// [`Error::Config`] when an input token or a target is outside the vocabulary, or
    /// `targets` does not hold one index per input token; the stack's errors for a state that
    /// does not fit.
    pub fn forward_loss(
        &mut self,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        reduction: Reduction,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(f64, State<F>)> {
        if targets.len() != inputs.len() {
            return Err(Error::Config(format!(
                "{} targets for {} input tokens: give one target per input token (T·B, time-major)",
                targets.len(),
                inputs.len()
            )));
        }
        if let Some(&bad) = targets.iter().find(|&&y| y >= self.config.vocab) {
            return Err(Error::Config(format!(
                "target {bad} is outside the vocabulary of {} symbols: targets are indices below the vocabulary size",
                self.config.vocab
            )));
        }
        // The head's `Wᵀ` is laid out during the recurrence, on the helper when there is one.
        let (rnn, head) = (&mut self.rnn, &mut self.head);
        let mut dropout_rng = dropout_rng;
        let (ran, ()) = crate::parallel::join(
            || rnn.forward_rows(Input::Tokens(inputs), state, dropout_rng.as_deref_mut()),
            || head.prepare(),
        );
        let (t, b) = ran?;
        let n = t * b;
        if self.logits.nrows() != n {
            self.logits = Array2::zeros((n, self.config.vocab));
            self.dy = Array2::zeros((n, self.config.hidden));
        }
        self.head_dropped = false;
        if let Some(rng) = dropout_rng.filter(|_| self.head_dropout > 0.0) {
            if self.head_mask.nrows() != n {
                self.head_mask = Array2::zeros((n, self.config.hidden));
                self.head_in = Array2::zeros((n, self.config.hidden));
            }
            let variational = self.rnn.config.variational;
            crate::layer::stack::draw_mask(&mut self.head_mask, b, self.head_dropout, variational, rng);
            ndarray::Zip::from(&mut self.head_in)
                .and(&self.rnn.output_rows())
                .and(&self.head_mask)
                .for_each(|o, &y, &m| *o = y * m);
            self.head_dropped = true;
        }
        let x = if self.head_dropped { self.head_in.view() } else { self.rnn.output_rows() };
        let loss = match (x.as_slice(), self.logits.as_slice_mut()) {
            (Some(xs), Some(ls)) if targets.len() == n => {
                let (scale, v, hid) = (reduction.scale(n), self.config.vocab, x.ncols());
                let head = &self.head;
                let rows = |xs: &[F], ls: &mut [F], ys: &[usize]| {
                    head.forward_prepared(xs, ls);
                    softmax_cross_entropy_rows(ls, v, ys, scale)
                };
                // Rows are independent: with a helper, two blocks of rows on two threads
                // (whole row blocks of the GEMM kernel on the caller's side).
                let (l0, l1) = if n >= PAR_MIN_ROWS && crate::parallel::available() {
                    let n0 = n / 2 / crate::linalg::ROW_BLOCK * crate::linalg::ROW_BLOCK;
                    let ((x0, x1), (y0, y1)) = (xs.split_at(n0 * hid), targets.split_at(n0));
                    let (g0, g1) = ls.split_at_mut(n0 * v);
                    crate::parallel::join(|| rows(x0, g0, y0), || rows(x1, g1, y1))
                } else {
                    (rows(xs, ls, targets), 0.0)
                };
                (l0 + l1) * scale
            }
            _ => {
                self.head.forward(x, &mut self.logits);
                softmax_cross_entropy(&mut self.logits, targets, reduction)
            }
        };
        Ok((loss, self.rnn.final_state()))
    }

    /// Backward through the head and the stack for the last [`CharModel::forward_loss`],
    /// accumulating every gradient (the carried state gets no gradient: truncated BPTT).
    pub fn backward(&mut self) -> Result<()> {
        self.grads_zero = false;
        let x = if self.head_dropped { self.head_in.view() } else { self.rnn.output_rows() };
        self.head.backward(x, self.logits.view(), Some(self.dy.view_mut()));
        if self.head_dropped {
            self.dy *= &self.head_mask;
        }
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
        let inv = 1.0 / temperature;
        let inv_t = F::c(inv);
        let big = F::max_value().f64();
        for mut row in logits.rows_mut() {
            if inv_t.is_finite() && row.iter().all(|v| (v.f64() * inv).abs() < big) {
                row.mapv_inplace(|v| v * inv_t);
                softmax_in_place(row);
            } else {
                // 1/T overflows the float type (a tiny temperature): scale in f64 after taking
                // the row's largest logit out, so the most likely token keeps probability 1
                // (shared among ties) and a tiny temperature is greedy.
                let m = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.f64()));
                let e: Vec<f64> = row.iter().map(|v| ((v.f64() - m) * inv).exp()).collect();
                let sum: f64 = e.iter().sum();
                row.iter_mut().zip(e).for_each(|(x, v)| *x = F::c(v / sum));
            }
        }
        Ok((logits, self.rnn.final_state()))
    }

    /// The mean loss in nats per character of predicting each character of `tokens` from the
    /// ones before it: one stream from a zero state, the state carried across chunks of up to 256
    /// steps, so every character after the first is predicted exactly once. `progress(done, of)`
    /// hears how far it is. What `recurrent eval` and the Python package's `evaluate` report.
    ///
    /// # Errors
    /// When `tokens` has fewer than 2 characters, or a token is outside the vocabulary.
    pub fn nats_per_char(
        &mut self,
        tokens: &crate::data::Tokens,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<f64> {
        if tokens.len() < 2 {
            return Err(Error::Config("the text has fewer than 2 characters: nothing to predict".into()));
        }
        let n = tokens.len() - 1;
        let (mut total, mut state, mut at) = (0.0, None, 0);
        while at < n {
            progress(at, n);
            let len = 256.min(n - at);
            let x = Array2::from_shape_fn((len, 1), |(i, _)| tokens.get(at + i));
            let y: Vec<usize> = (at + 1..at + 1 + len).map(|i| tokens.get(i)).collect();
            let (loss, s) = self.eval_loss(x.view(), &y, state.as_ref())?;
            total += loss;
            state = Some(s);
            at += len;
        }
        Ok(total / n as f64)
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
        self.grads_zero = false;
        self.rnn.visit(&mut |n, s, p, g| f(&format!("rnn.{n}"), s, p, g));
        self.head.visit(&mut |n, s, p, g| f(&format!("head.{n}"), s, p, g));
    }

    fn visit_values(&mut self, f: &mut dyn FnMut(&mut [F], &mut [F])) {
        self.grads_zero = false;
        self.rnn.visit_values(f);
        self.head.visit_values(f);
    }

    fn zero_grad(&mut self) {
        if !self.grads_zero {
            self.visit_values(&mut |_, g| g.fill(F::zero()));
            self.grads_zero = true;
        }
    }

    fn grads_now_zero(&mut self) {
        self.grads_zero = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::stack::RecurrentConfig;

    /// Each tensor's (values, gradients) addresses and length, in visiting order.
    fn seen<F: Float>(m: &mut impl Parameters<F>, named: bool) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let mut note = |p: &mut [F], g: &mut [F]| out.push((p.as_ptr() as usize, g.as_ptr() as usize, p.len()));
        if named {
            m.visit(&mut |_, _, p, g| note(p, g));
        } else {
            m.visit_values(&mut |p, g| note(p, g));
        }
        out
    }

    // The parameter count against the tensors a model really has (2-layer LSTM and GRU).
    #[test]
    fn params_counts_every_tensor() {
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            let mc = ModelConfig { cell, vocab: 7, hidden: 5, layers: 2, dropout: 0.0 };
            let mut m = CharModel::<f32>::new(mc.clone(), Init::PyTorch, &mut NumpyRng::new(1)).unwrap();
            assert_eq!(mc.params(), m.num_params() as f64, "{cell}");
        }
        // By hand: an LSTM 1×100 on 65 characters has 4·100·(65 + 100) + 800 + 65·100 + 65.
        let mc = ModelConfig { cell: CellKind::Lstm, vocab: 65, hidden: 100, layers: 1, dropout: 0.0 };
        assert_eq!(mc.params(), 66_000.0 + 800.0 + 6_565.0);
    }

    // A target outside the vocabulary, or a count that does not match the inputs, is an error
    // naming the problem, not a panic.
    #[test]
    fn bad_targets_are_errors() {
        let mc = ModelConfig { cell: CellKind::Gru, vocab: 5, hidden: 3, layers: 1, dropout: 0.0 };
        let mut m = CharModel::<f32>::new(mc, Init::PyTorch, &mut NumpyRng::new(1)).unwrap();
        let x = ndarray::Array2::<usize>::zeros((2, 3));
        let e = m.forward_loss(x.view(), &[0, 1, 2, 3, 4, 5], None, Reduction::Mean, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target 5 is outside the vocabulary of 5 symbols: targets are indices below the vocabulary size"
        );
        let e = m.forward_loss(x.view(), &[0, 1], None, Reduction::Mean, None).unwrap_err();
        assert!(e.to_string().starts_with("2 targets for 6 input tokens"), "{e}");
        assert!(m.forward_loss(x.view(), &[0, 1, 2, 3, 4, 0], None, Reduction::Mean, None).is_ok());
    }

    // The nameless visit the optimizers use goes over the very tensors `visit` names, in the
    // same order: a two-layer model and a bidirectional stack.
    #[test]
    fn visit_values_matches_visit() {
        let mut rng = NumpyRng::new(1);
        let mc = ModelConfig { cell: CellKind::Lstm, vocab: 7, hidden: 5, layers: 2, dropout: 0.0 };
        let mut m = CharModel::<f32>::new(mc, Init::PyTorch, &mut rng).unwrap();
        let (a, b) = (seen(&mut m, true), seen(&mut m, false));
        assert_eq!(a.len(), 2 * 4 + 2);
        assert_eq!(a, b);
        let rc = RecurrentConfig::new(CellKind::Gru, 3, 4).with_layers(2).with_bidirectional(true);
        let mut r = rc.init::<f64>(&mut rng).unwrap();
        let (a, b) = (seen(&mut r, true), seen(&mut r, false));
        assert_eq!(a.len(), 4 * 4);
        assert_eq!(a, b);
    }
}
