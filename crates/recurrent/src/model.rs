//! The character-level language model: one-hot tokens → a recurrent stack → a linear head →
//! softmax cross-entropy, trained by truncated BPTT with the state carried between windows.

use crate::cell::{CellKind, CellParams};
use crate::error::Result;
use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use crate::layer::Parameters;
use crate::loss::{softmax_cross_entropy, softmax_cross_entropy_rows, softmax_in_place, Reduction};
use crate::rng::NumpyRng;
use crate::{Float, Linear};
use ndarray::{Array1, Array2, ArrayView2};

/// From this many rows, the head and the loss run in two blocks of rows when a
/// [`crate::par::Helper`] is installed (min-char-rnn has 25).
const PAR_MIN_ROWS: usize = 12;

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
        RecurrentConfig::new(self.cell, self.vocab, self.hidden).with_layers(self.layers).with_dropout(self.dropout)
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
        CharModel { config, rnn, head, logits: Array2::zeros((0, 0)), dy: Array2::zeros((0, 0)), grads_zero: false }
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
        // The head's `Wᵀ` is laid out during the recurrence, on the helper when there is one.
        let (rnn, head) = (&mut self.rnn, &mut self.head);
        let (ran, ()) =
            crate::par::join(|| rnn.forward_rows(Input::Tokens(inputs), state, dropout_rng), || head.prepare());
        let (t, b) = ran?;
        let n = t * b;
        if self.logits.nrows() != n {
            self.logits = Array2::zeros((n, self.config.vocab));
            self.dy = Array2::zeros((n, self.config.hidden));
        }
        let x = self.rnn.output_rows();
        let loss = match (x.as_slice(), self.logits.as_slice_mut()) {
            (Some(xs), Some(ls)) if targets.len() == n => {
                let (scale, v, hid) = (reduction.scale(n), self.config.vocab, x.ncols());
                let head = &self.head;
                let rows = |xs: &[F], ls: &mut [F], ys: &[usize]| {
                    head.forward_prepared(xs, ls);
                    softmax_cross_entropy_rows(ls, v, ys, scale)
                };
                // Rows are independent: with a helper, two blocks of rows on two threads
                // (whole 6-row blocks of the GEMM kernel on the caller's side).
                let (l0, l1) = if n >= PAR_MIN_ROWS && crate::par::available() {
                    let n0 = n / 2 / 6 * 6;
                    let ((x0, x1), (y0, y1)) = (xs.split_at(n0 * hid), targets.split_at(n0));
                    let (g0, g1) = ls.split_at_mut(n0 * v);
                    crate::par::join(|| rows(x0, g0, y0), || rows(x1, g1, y1))
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
        self.head.backward(self.rnn.output_rows(), self.logits.view(), Some(self.dy.view_mut()));
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

/// Data parallelism for a [`CharModel`]: the batch is cut into column shards, each run forward
/// and backward on its own thread; shard 0 runs on the main model in the calling thread, the
/// others on replicas holding a copy of the weights. The replicas' gradients are then added into
/// the main model's, each weighted by its share of the rows. Batch rows never interact inside
/// the recurrence, so this is exact up to the order of the sums.
#[derive(Debug, Default)]
pub struct Shards<F> {
    replicas: Vec<CharModel<F>>,
}

impl<F: Float> Shards<F> {
    /// Up to `threads` shards (at least one).
    pub fn new(model: &CharModel<F>, threads: usize) -> Self {
        // The main model is shard 0: one replica fewer than threads.
        Shards { replicas: (1..threads.max(1)).map(|_| model.clone()).collect() }
    }

    /// The number of shards (1 when running on the main model alone).
    pub fn len(&self) -> usize {
        self.replicas.len() + 1
    }

    /// Always false: the main model is a shard.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// [`CharModel::forward_loss`] then [`CharModel::backward`] on `inputs (T, B)`, sharded over
    /// the batch; the gradients land in `main` (zeroed first). Dropout masks come from one
    /// generator per shard, seeded from `dropout_rng`. Returns the loss and the final state.
    pub fn forward_backward(
        &mut self,
        main: &mut CharModel<F>,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        reduction: Reduction,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(f64, State<F>)> {
        let (t, b) = inputs.dim();
        let n = self.len().min(b).max(1);
        if n == 1 {
            main.zero_grad();
            let r = main.forward_loss(inputs, targets, state, reduction, dropout_rng)?;
            main.backward()?;
            return Ok(r);
        }
        let bounds: Vec<(usize, usize)> = (0..n).map(|s| (s * b / n, (s + 1) * b / n)).collect();
        let seeds: Option<Vec<u32>> = dropout_rng.map(|r| (0..n).map(|_| r.next_u32()).collect());
        for rep in self.replicas.iter_mut().take(n - 1) {
            copy_params(main, rep);
        }
        // Shard s's inputs, targets and carried state.
        let part = |s: usize| {
            let (b0, b1) = bounds[s];
            let x = inputs.slice(ndarray::s![.., b0..b1]).to_owned();
            let y: Vec<usize> = (0..t).flat_map(|ti| targets[ti * b + b0..ti * b + b1].iter().copied()).collect();
            let st = state.map(|s| State {
                h: s.h.slice(ndarray::s![.., b0..b1, ..]).to_owned(),
                c: s.c.as_ref().map(|c| c.slice(ndarray::s![.., b0..b1, ..]).to_owned()),
            });
            (x, y, st, seeds.as_ref().map(|v| v[s]))
        };
        let run = |m: &mut CharModel<F>,
                   (x, y, st, seed): (Array2<usize>, Vec<usize>, Option<State<F>>, Option<u32>)| {
            let mut rng = seed.map(NumpyRng::new);
            m.zero_grad();
            let r = m.forward_loss(x.view(), &y, st.as_ref(), reduction, rng.as_mut())?;
            m.backward()?;
            Ok(r)
        };
        let (first, rest): (ShardResult<F>, Vec<ShardResult<F>>) = if n == 2 && crate::par::available() {
            // Two shards: the second on the installed helper rather than a thread spawned per step.
            let (rep, p1) = (&mut self.replicas[0], part(1));
            let (first, second) = crate::par::join(|| run(main, part(0)), move || run(rep, p1));
            (first, vec![second])
        } else {
            std::thread::scope(|sc| {
                let handles: Vec<_> = self
                    .replicas
                    .iter_mut()
                    .take(n - 1)
                    .enumerate()
                    .map(|(s, rep)| {
                        let p = part(s + 1);
                        sc.spawn(move || run(rep, p))
                    })
                    .collect();
                let first = run(main, part(0));
                (first, handles.into_iter().map(|h| h.join().expect("a shard panicked")).collect())
            })
        };
        // Mean losses are per row: weight each shard by its share of the rows.
        let weight = |s: usize| {
            let (b0, b1) = bounds[s];
            if reduction == Reduction::Mean {
                (b1 - b0) as f64 / b as f64
            } else {
                1.0
            }
        };
        let mut loss = 0.0;
        let mut out = State::zeros(&main.rnn.config, b);
        let mut put = |s: usize, st: State<F>| {
            let (b0, b1) = bounds[s];
            out.h.slice_mut(ndarray::s![.., b0..b1, ..]).assign(&st.h);
            if let (Some(c), Some(sc)) = (out.c.as_mut(), st.c) {
                c.slice_mut(ndarray::s![.., b0..b1, ..]).assign(&sc);
            }
        };
        let (l0, s0) = first?;
        loss += l0 * weight(0);
        scale_grads(main, F::c(weight(0)));
        put(0, s0);
        for (s, (rep, res)) in self.replicas.iter().zip(rest).enumerate() {
            let (l, st) = res?;
            loss += l * weight(s + 1);
            add_grads(main, rep, F::c(weight(s + 1)));
            put(s + 1, st);
        }
        Ok((loss, out))
    }
}

/// The replica's weights become the main model's (field by field, no allocation).
fn copy_params<F: Float>(from: &CharModel<F>, to: &mut CharModel<F>) {
    for (a, b) in to.rnn.layers.iter_mut().zip(&from.rnn.layers) {
        for (d, s) in a.params.tensors_mut().into_iter().zip(b.params.tensors()) {
            d.copy_from_slice(s);
        }
    }
    to.head.weight.assign(&from.head.weight);
    to.head.bias.assign(&from.head.bias);
}

/// One shard's loss and final state.
type ShardResult<F> = Result<(f64, State<F>)>;

/// `main.grads = w · main.grads` (shard 0's share), field by field.
fn scale_grads<F: Float>(main: &mut CharModel<F>, w: F) {
    if w == F::one() {
        return;
    }
    for a in main.rnn.layers.iter_mut() {
        for d in a.grads.tensors_mut() {
            d.iter_mut().for_each(|x| *x *= w);
        }
    }
    main.head.dweight.mapv_inplace(|x| x * w);
    main.head.dbias.mapv_inplace(|x| x * w);
}

/// `main.grads += w · replica.grads`, field by field.
fn add_grads<F: Float>(main: &mut CharModel<F>, rep: &CharModel<F>, w: F) {
    for (a, b) in main.rnn.layers.iter_mut().zip(&rep.rnn.layers) {
        for (d, s) in a.grads.tensors_mut().into_iter().zip(b.grads.tensors()) {
            d.iter_mut().zip(s).for_each(|(x, &y)| *x += y * w);
        }
    }
    main.head.dweight.scaled_add(w, &rep.head.dweight);
    main.head.dbias.scaled_add(w, &rep.head.dbias);
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
