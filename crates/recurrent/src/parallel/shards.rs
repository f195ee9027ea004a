//! Data parallelism for a [`CharModel`]: the batch cut into column shards, each run forward and
//! backward on its own thread, the gradients added back into the main model.

use crate::error::Result;
use crate::layer::Parameters;
use crate::loss::Reduction;
use crate::model::CharModel;
use crate::rng::NumpyRng;
use crate::{Float, State};
use ndarray::{Array2, ArrayView2};

/// Data parallelism for a [`CharModel`]: the batch is cut into column shards, each run forward
/// and backward on its own thread; shard 0 runs on the main model in the calling thread, the
/// others on replicas holding a copy of the weights. The replicas' gradients are then added into
/// the main model's, each weighted by its share of the rows. Batch rows never interact inside
/// the recurrence, so this is exact up to the order of the sums.
#[derive(Debug, Default)]
pub struct Shards<F> {
    replicas: Vec<CharModel<F>>,
    /// How two threads share a step.
    pub parallelism: Parallelism,
}

/// How two threads share a training step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Each thread runs half of the batch's sequences on its own copy of the model, the
    /// gradients added after (exact up to the order of that sum). The default: on the 2-core
    /// Zen 4 VM of `docs/performance.md` it trains lstm-large 1.9× faster than one thread.
    #[default]
    Batch,
    /// One model runs the whole batch and every large product is cut in two by rows between
    /// the caller and the helper thread (`parallel::rows_in_two`): the weights are those of one
    /// thread, bit for bit, and no replica is kept; the element-wise passes stay on one thread.
    /// On that VM lstm-large trains at 0.68× the speed of [`Parallelism::Batch`].
    Products,
}

impl<F: Float> Shards<F> {
    /// Up to `threads` shards (at least one).
    pub fn new(model: &CharModel<F>, threads: usize) -> Self {
        // The main model is shard 0: one replica fewer than threads.
        Shards { replicas: (1..threads.max(1)).map(|_| model.clone()).collect(), parallelism: Parallelism::Batch }
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
    ///
    /// # Errors
    /// The errors of [`CharModel::forward_loss`].
    pub fn forward_backward(
        &mut self,
        main: &mut CharModel<F>,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        reduction: Reduction,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(f64, State<F>)> {
        let b = inputs.ncols();
        let n = if self.whole_batch() { 1 } else { self.len().min(b).max(1) };
        if n == 1 {
            main.zero_grad();
            let r = main.forward_loss(inputs, targets, state, reduction, dropout_rng)?;
            main.backward()?;
            return Ok(r);
        }
        let bounds: Vec<(usize, usize)> = (0..n).map(|s| share(s, n, b)).collect();
        let seeds: Option<Vec<u32>> = dropout_rng.map(|r| part_seeds(r, n));
        for rep in self.replicas.iter_mut().take(n - 1) {
            copy_params(main, rep);
        }
        let part = |s: usize| ShardInput::cut(inputs, targets, state, bounds[s], seeds.as_ref().map(|v| v[s]));
        let (first, rest) = self.run(main, n, part, reduction, true);
        self.merge(main, &bounds, reduction, first, rest)
    }

    /// [`CharModel::eval_loss`] (the summed loss, nothing kept for backward) on `inputs (T, B)`,
    /// sharded over the batch like [`Shards::forward_backward`]: the streams are independent,
    /// so each shard's loss is that of its columns, and they are added in shard order.
    ///
    /// # Errors
    /// The errors of [`CharModel::forward_loss`].
    pub fn eval_loss(
        &mut self,
        main: &mut CharModel<F>,
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
    ) -> Result<(f64, State<F>)> {
        let b = inputs.ncols();
        let n = self.len().min(b).max(1);
        if n == 1 {
            return main.eval_loss(inputs, targets, state);
        }
        let bounds: Vec<(usize, usize)> = (0..n).map(|s| share(s, n, b)).collect();
        for rep in self.replicas.iter_mut().take(n - 1) {
            copy_params(main, rep);
        }
        let part = |s: usize| ShardInput::cut(inputs, targets, state, bounds[s], None);
        let (first, rest) = self.run(main, n, part, Reduction::Sum, false);
        let mut out = State::zeros(&main.rnn.config, b);
        let mut loss = 0.0;
        for (s, res) in std::iter::once(first).chain(rest).enumerate() {
            let (l, st) = res?;
            loss += l;
            put_columns(&mut out, bounds[s], st);
        }
        Ok((loss, out))
    }

    /// Whether the batch runs whole, its large products cut in two ([`Parallelism::Products`]
    /// on two threads, with the helper installed and free).
    fn whole_batch(&self) -> bool {
        self.parallelism == Parallelism::Products && self.replicas.len() == 1 && crate::parallel::available()
    }

    /// Shard 0 on `main` in the calling thread, shards `1..n` on the replicas: on the helper
    /// when there are two and one is installed, else on threads spawned for the step.
    fn run(
        &mut self,
        main: &mut CharModel<F>,
        n: usize,
        part: impl Fn(usize) -> ShardInput<F> + Sync,
        reduction: Reduction,
        backward: bool,
    ) -> (ShardResult<F>, Vec<ShardResult<F>>) {
        if n == 2 && crate::parallel::available() {
            let (rep, p1) = (&mut self.replicas[0], part(1));
            let (first, second) = crate::parallel::join(
                || part(0).run(main, reduction, backward),
                move || p1.run(rep, reduction, backward),
            );
            return (first, vec![second]);
        }
        // Threads spawned for the step run the caller's kernel set and backend (a test may
        // force them on this thread), and a shard's panic is resumed on the caller with its
        // own message.
        let choice = crate::backend::forced_now();
        std::thread::scope(|sc| {
            let handles: Vec<_> = self
                .replicas
                .iter_mut()
                .take(n - 1)
                .enumerate()
                .map(|(s, rep)| {
                    let p = part(s + 1);
                    sc.spawn(move || crate::backend::forced(choice, || p.run(rep, reduction, backward)))
                })
                .collect();
            let first = part(0).run(main, reduction, backward);
            let rest = handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect();
            (first, rest)
        })
    }

    /// The shards' results in shard order: the loss and the gradients weighted by each shard's
    /// share of the rows (mean losses are per row), the final states side by side.
    fn merge(
        &self,
        main: &mut CharModel<F>,
        bounds: &[(usize, usize)],
        reduction: Reduction,
        first: ShardResult<F>,
        rest: Vec<ShardResult<F>>,
    ) -> Result<(f64, State<F>)> {
        let b = bounds.last().map_or(0, |&(_, b1)| b1);
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
        let mut put = |s: usize, st: State<F>| put_columns(&mut out, bounds[s], st);
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

/// Columns `b0..b1` of a batch: the inputs `(T, b1 − b0)`, their targets (time-major, as the
/// model's output rows) and the carried state's columns. The share of one shard, or of one
/// process in data parallelism across processes ([`crate::train::Trainer::step_shared`]).
pub fn columns<F: Float>(
    inputs: ArrayView2<'_, usize>,
    targets: &[usize],
    state: Option<&State<F>>,
    (b0, b1): (usize, usize),
) -> (Array2<usize>, Vec<usize>, Option<State<F>>) {
    let (t, b) = inputs.dim();
    let x = inputs.slice(ndarray::s![.., b0..b1]).to_owned();
    let y: Vec<usize> = (0..t).flat_map(|ti| targets[ti * b + b0..ti * b + b1].iter().copied()).collect();
    let state = state.map(|s| State {
        h: s.h.slice(ndarray::s![.., b0..b1, ..]).to_owned(),
        c: s.c.as_ref().map(|c| c.slice(ndarray::s![.., b0..b1, ..]).to_owned()),
    });
    (x, y, state)
}

/// The columns `b0..b1` of a batch of `b` streams that part `i` of `n` takes: the batch shards
/// of one process and the ranks of a distributed run cut a batch the same way (and MPI's bit
/// for bit agreement with two threads depends on it).
///
/// # Panics
/// When `i >= n`.
pub fn share(i: usize, n: usize, b: usize) -> (usize, usize) {
    assert!(i < n, "part {i} of {n}");
    // In u128: `i·b` cannot overflow.
    let cut = |j: usize| (j as u128 * b as u128 / n as u128) as usize;
    (cut(i), cut(i + 1))
}

/// The dropout seeds of the `n` parts of one step, drawn in part order from `rng`: one draw
/// per part whatever the caller needs, so that every process's generator stays the same.
pub fn part_seeds(rng: &mut NumpyRng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.next_u32()).collect()
}

/// Part `i`'s seed of [`part_seeds`] (the same draws, all `n` of them), without a `Vec`: what
/// one rank of a distributed run needs at every step.
pub fn part_seed(rng: &mut NumpyRng, i: usize, n: usize) -> u32 {
    let mut mine = 0;
    for j in 0..n {
        let s = rng.next_u32();
        if j == i {
            mine = s;
        }
    }
    mine
}

/// Writes a shard's final state into columns `b0..b1` of the batch's.
fn put_columns<F: Float>(out: &mut State<F>, (b0, b1): (usize, usize), st: State<F>) {
    out.h.slice_mut(ndarray::s![.., b0..b1, ..]).assign(&st.h);
    if let (Some(c), Some(sc)) = (out.c.as_mut(), st.c) {
        c.slice_mut(ndarray::s![.., b0..b1, ..]).assign(&sc);
    }
}

/// One shard's inputs `(T, b1 − b0)`, targets, carried state and dropout seed.
struct ShardInput<F> {
    x: Array2<usize>,
    y: Vec<usize>,
    state: Option<State<F>>,
    seed: Option<u32>,
}

impl<F: Float> ShardInput<F> {
    /// Columns `b0..b1` of the batch.
    fn cut(
        inputs: ArrayView2<'_, usize>,
        targets: &[usize],
        state: Option<&State<F>>,
        cols: (usize, usize),
        seed: Option<u32>,
    ) -> Self {
        let (x, y, state) = columns(inputs, targets, state, cols);
        ShardInput { x, y, state, seed }
    }

    /// Forward and (when `backward`) backward on `m`, its gradients zeroed first.
    fn run(self, m: &mut CharModel<F>, reduction: Reduction, backward: bool) -> ShardResult<F> {
        if !backward {
            return m.eval_loss(self.x.view(), &self.y, self.state.as_ref());
        }
        let mut rng = self.seed.map(NumpyRng::new);
        m.zero_grad();
        let r = m.forward_loss(self.x.view(), &self.y, self.state.as_ref(), reduction, rng.as_mut())?;
        m.backward()?;
        Ok(r)
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
