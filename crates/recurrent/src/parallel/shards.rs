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
        let (first, rest): (ShardResult<F>, Vec<ShardResult<F>>) = if n == 2 && crate::parallel::available() {
            // Two shards: the second on the installed helper rather than a thread spawned per step.
            let (rep, p1) = (&mut self.replicas[0], part(1));
            let (first, second) = crate::parallel::join(|| run(main, part(0)), move || run(rep, p1));
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
