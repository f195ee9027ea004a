//! Every backward pass against centred finite differences in f64 (the expected numbers are the
//! finite differences themselves, computed here from the forward pass alone).

mod common;

use recurrent::gradcheck::{check, Checkable, SeqProblem, TOLERANCE};
use recurrent::{CellKind, RecurrentConfig};

const EPS: f64 = 1e-5;

fn run_case(kind: CellKind, layers: usize, bi: bool, t: usize, b: usize, head: bool, batch_first: bool) {
    let cfg = RecurrentConfig::new(kind, 3, 4).with_layers(layers).with_bidirectional(bi).with_batch_first(batch_first);
    let seed = (layers * 1000 + bi as usize * 100 + t * 10 + b) as u32;
    let mut p = SeqProblem::random(&cfg, t, b, head.then_some(5), seed).unwrap();
    let r = check(&mut p, EPS, TOLERANCE);
    assert!(r.passed(), "{kind} L={layers} bi={bi} T={t} B={b} head={head}:\n{}", r.table());
    // Parameter gradients must not be trivially zero (a check that cannot fail is no check).
    assert!(r.tensors.iter().all(|c| c.max_grad > 0.0), "some gradient is all zero:\n{}", r.table());
}

fn matrix(kind: CellKind) {
    for layers in [1, 2] {
        for bi in [false, true] {
            for t in [1, 7] {
                for b in [1, 3] {
                    for head in [false, true] {
                        run_case(kind, layers, bi, t, b, head, false);
                    }
                }
            }
        }
    }
}

#[test]
fn rnn_all_configurations() {
    matrix(CellKind::Rnn);
}

#[test]
fn lstm_all_configurations() {
    matrix(CellKind::Lstm);
}

#[test]
fn gru_all_configurations() {
    matrix(CellKind::Gru);
}

#[test]
fn batch_first_layout() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        run_case(kind, 2, true, 5, 2, true, true);
    }
}

/// Dropout between layers with a fixed mask, bidirectional, in both layouts: batch-first with
/// dropout and two directions is the combination most likely to misplace a row.
#[test]
fn dropout_between_layers_with_a_fixed_mask() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for batch_first in [false, true] {
            let cfg = RecurrentConfig::new(kind, 3, 4)
                .with_layers(3)
                .with_bidirectional(true)
                .with_dropout(0.4)
                .with_batch_first(batch_first);
            let mut p = SeqProblem::random(&cfg, 6, 2, Some(5), 9).unwrap();
            p.dropout_seed = Some(17);
            let r = check(&mut p, EPS, TOLERANCE);
            assert!(r.passed(), "{kind} with dropout, batch_first={batch_first}:\n{}", r.table());
            assert!(r.tensors.iter().all(|c| c.max_grad > 0.0), "some gradient is all zero:\n{}", r.table());
            // The mask really applies: without it the loss is different.
            let with = p.loss();
            p.dropout_seed = None;
            assert!((with - p.loss()).abs() > 1e-6, "dropout changed nothing");
        }
    }
}

/// Gradients cross time: with the loss on the last step only, x at step 0 gets a non-zero
/// gradient, and it matches finite differences.
#[test]
fn loss_at_last_step_reaches_first_input() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let cfg = RecurrentConfig::new(kind, 3, 4);
        let mut p = SeqProblem::random(&cfg, 6, 2, None, 3).unwrap();
        p.dy.slice_mut(ndarray::s![..5, .., ..]).fill(0.0);
        p.dstate.h.fill(0.0);
        if let Some(c) = p.dstate.c.as_mut() {
            c.fill(0.0);
        }
        let dx0 = p.run(true).1.unwrap().0.slice(ndarray::s![0, .., ..]).to_owned();
        let biggest = dx0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(biggest > 1e-4, "{kind}: dL/dx_0 is {biggest}, the gradient did not cross time");
        let r = check(&mut p, EPS, TOLERANCE);
        assert!(r.passed(), "{kind}:\n{}", r.table());
    }
}

/// Sum reduction gives exactly B·T times the mean-reduced gradient (a check of the loss scale).
#[test]
fn sum_reduction_scales_the_gradient() {
    let cfg = RecurrentConfig::new(CellKind::Lstm, 3, 4);
    let mut p = SeqProblem::random(&cfg, 4, 3, Some(5), 5).unwrap();
    p.dstate.h.fill(0.0);
    p.dstate.c.as_mut().unwrap().fill(0.0);
    let mean = p.gradients();
    p.reduction = recurrent::Reduction::Sum;
    let sum = p.gradients();
    for (m, s) in mean.iter().zip(&sum) {
        for (a, b) in m.iter().zip(s) {
            assert!((a * 12.0 - b).abs() <= 1e-12 * b.abs().max(1.0));
        }
    }
}

/// Sharding the batch over threads gives the gradients of the whole batch (f64, so any
/// difference beyond summation order would show).
#[test]
fn sharded_batch_gives_the_same_gradients() {
    use recurrent::layer::Parameters;
    use recurrent::model::{CharModel, Init, ModelConfig};
    use recurrent::parallel::Shards;
    let mc = ModelConfig { cell: CellKind::Lstm, vocab: 7, hidden: 5, layers: 2, dropout: 0.0 };
    let mut rng = recurrent::NumpyRng::new(4);
    let mut a = CharModel::<f64>::new(mc, Init::PyTorch, &mut rng).unwrap();
    let mut b = a.clone();
    let x = ndarray::Array2::from_shape_fn((6, 5), |(t, j)| (t * 3 + j * 5) % 7);
    let y: Vec<usize> = (0..30).map(|i| (i * 2 + 1) % 7).collect();
    let mut shards = Shards::new(&b, 2);
    for red in [recurrent::Reduction::Mean, recurrent::Reduction::Sum] {
        a.zero_grad();
        let (la, sa) = a.forward_loss(x.view(), &y, None, red, None).unwrap();
        a.backward().unwrap();
        let (lb, sb) = shards.forward_backward(&mut b, x.view(), &y, None, red, None).unwrap();
        assert!((la - lb).abs() < 1e-12 * la.abs(), "{la} vs {lb}");
        assert!((&sa.h - &sb.h).iter().all(|v| v.abs() < 1e-14));
        let (mut ga, mut gb) = (Vec::new(), Vec::new());
        a.visit(&mut |_, _, _, g| ga.extend_from_slice(g));
        b.visit(&mut |_, _, _, g| gb.extend_from_slice(g));
        let worst = ga.iter().zip(&gb).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-13, "{red:?}: largest gradient difference {worst:e}");
    }
}

/// Backward turns the forward's activations into gradients in place, so a second backward
/// without a new forward is refused in words rather than silently wrong.
#[test]
fn a_second_backward_needs_a_new_forward() {
    let cfg = RecurrentConfig::new(CellKind::Gru, 3, 4);
    let mut p = SeqProblem::random(&cfg, 3, 2, None, 1).unwrap();
    p.run(true);
    let e = p.rnn.backward(p.dy.view(), None).unwrap_err().to_string();
    assert_eq!(e, "backward needs a forward first: each forward's activations serve one backward");
}

/// The character model on one-hot tokens, every parameter checked: covers the token paths of
/// the input projection and its gradient (a table of `W_ihᵀ + b` rows and per-token sums when
/// there are at least twice as many rows as tokens, a strided column otherwise) and, at B = 1
/// over several steps, the row-vector products against the laid-out `W_hhᵀ`.
struct TokenModel {
    model: recurrent::model::CharModel<f64>,
    x: ndarray::Array2<usize>,
    y: Vec<usize>,
    /// Training-mode dropout with the masks of this seed, the same at every evaluation.
    dropout_seed: Option<u32>,
}

impl Checkable for TokenModel {
    fn visit_inputs(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [f64])) {
        use recurrent::layer::Parameters;
        self.model.visit(&mut |n, s, p, _| f(n, s, p));
    }
    fn loss(&mut self) -> f64 {
        let mut rng = self.dropout_seed.map(recurrent::NumpyRng::new);
        self.model.forward_loss(self.x.view(), &self.y, None, recurrent::Reduction::Sum, rng.as_mut()).unwrap().0
    }
    fn gradients(&mut self) -> Vec<Vec<f64>> {
        use recurrent::layer::Parameters;
        self.model.zero_grad();
        self.loss();
        self.model.backward().unwrap();
        let mut g = Vec::new();
        self.model.visit(&mut |_, _, _, d| g.push(d.to_vec()));
        g
    }
}

#[test]
fn char_model_on_tokens() {
    use recurrent::model::{CharModel, Init, ModelConfig};
    // (vocab, T, B): T·B ≥ 2·vocab takes the table path, T·B < 2·vocab the strided one; B = 1
    // with T ≥ 4 the row-vector products.
    for (kind, (v, t, b)) in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru]
        .into_iter()
        .flat_map(|k| [(4, 5, 3), (9, 2, 3), (5, 6, 1)].map(|c| (k, c)))
    {
        let mc = ModelConfig { cell: kind, vocab: v, hidden: 3, layers: 2, dropout: 0.0 };
        let mut rng = recurrent::NumpyRng::new((v * 100 + t * 10 + b) as u32);
        let model = CharModel::<f64>::new(mc, Init::PyTorch, &mut rng).unwrap();
        let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 3 + j * 2 + 1) % v);
        let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + 2) % v).collect();
        let mut m = TokenModel { model, x, y, dropout_seed: None };
        let r = check(&mut m, EPS, TOLERANCE);
        assert!(r.passed(), "{kind} vocab {v} T={t} B={b}:\n{}", r.table());
        assert!(r.tensors.iter().all(|c| c.max_grad > 0.0), "some gradient is all zero:\n{}", r.table());
    }
}

/// The character model's dropout with fixed masks: between the layers and on the last layer's
/// output before the head (char-rnn's), with one mask per time step and with one per sequence
/// (variational), every parameter against finite differences; the masks change the loss.
#[test]
fn char_model_with_dropout_before_the_head() {
    use recurrent::model::{CharModel, Init, ModelConfig};
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for (layers, variational) in [(1, false), (2, false), (2, true)] {
            let (v, t, b) = (6, 5, 3);
            let mc = ModelConfig { cell: kind, vocab: v, hidden: 4, layers, dropout: 0.4 };
            let mut rng = recurrent::NumpyRng::new(31);
            let mut model = CharModel::<f64>::new(mc, Init::PyTorch, &mut rng).unwrap();
            model.head_dropout = 0.3;
            model.rnn.config.variational = variational;
            let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 3 + j * 2 + 1) % v);
            let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + 2) % v).collect();
            let mut m = TokenModel { model, x, y, dropout_seed: Some(12) };
            let r = check(&mut m, EPS, TOLERANCE);
            let what = format!("{kind} L={layers} variational={variational}");
            assert!(r.passed(), "{what}:\n{}", r.table());
            assert!(r.tensors.iter().all(|c| c.max_grad > 0.0), "{what}: a gradient is all zero:\n{}", r.table());
            let with = m.loss();
            m.dropout_seed = None;
            assert!((with - m.loss()).abs() > 1e-6, "{what}: dropout changed nothing");
        }
    }
}

/// The f32 kernels (AVX2 products, row-vector products read in alternating order, transposes,
/// eight-lane element-wise loops) against the f64 path checked above: the same model and tokens
/// give the same loss and gradients up to f32 rounding.
#[test]
fn char_model_f32_matches_f64() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for (v, t, b) in [(65, 25, 1), (11, 16, 8), (65, 3, 40)] {
            common::f32_model_matches_f64(kind, v, t, b);
        }
    }
}

/// Training with a helper thread (`recurrent::parallel`) splits the head, the loss, the weight
/// gradients and the optimizer's tensors, or runs the second batch shard, across two threads;
/// every part writes its own outputs in the same order as one thread does, so the weights
/// after several f32 steps are bit-for-bit those of the run without a helper (the expected
/// values are that run's). The helper run also zeroes gradients inside the optimizer, which
/// must not change the updates either. Sizes cross every threshold for splitting at batch 1
/// (25 rows, a 64×64 `W_hh`).
#[test]
fn a_helper_thread_changes_no_result() {
    use recurrent::layer::Parameters;
    use recurrent::model::{CharModel, Init, ModelConfig};
    use recurrent::optim::{Clip, Optimizer, Rule};
    use recurrent::train::Trainer;
    for (cell, hidden, batch, rule, clip) in [
        (CellKind::Rnn, 64, 1, "adagrad", Clip { norm: 0.0, value: 5.0 }),
        (CellKind::Lstm, 24, 4, "adam", Clip { norm: 5.0, value: 0.0 }),
        (CellKind::Gru, 40, 1, "adam", Clip { norm: 5.0, value: 0.0 }),
    ] {
        let (t, v) = (25, 11);
        let run = |helper: Option<&recurrent::parallel::Helper>| {
            let mc = ModelConfig { cell, vocab: v, hidden, layers: 1, dropout: 0.0 };
            let model = CharModel::<f32>::new(mc, Init::PyTorch, &mut recurrent::NumpyRng::new(9)).unwrap();
            let opt = Optimizer::new(Rule::parse(rule).unwrap(), 0.01);
            let mut tr = Trainer::new(model, opt, clip, recurrent::Reduction::Mean, 2);
            let mut losses = Vec::new();
            let mut state = None;
            let mut body = || {
                for step in 0..6 {
                    let x = ndarray::Array2::from_shape_fn((t, batch), |(i, j)| (i * 7 + j * 3 + step * 5) % v);
                    let y: Vec<usize> = (0..t * batch).map(|i| (i * 5 + step) % v).collect();
                    let out = tr.step(x.view(), &y, state.as_ref(), None).unwrap();
                    state = Some(out.state);
                    losses.push(out.loss);
                }
            };
            match helper {
                Some(h) => h.install(body),
                None => body(),
            }
            let (mut params, mut grads) = (Vec::new(), Vec::new());
            tr.model.visit(&mut |_, _, p, g| {
                params.extend_from_slice(p);
                grads.extend_from_slice(g);
            });
            (params, grads, losses)
        };
        let (p1, _, l1) = run(None);
        let helper = recurrent::parallel::Helper::new();
        let (p2, g2, l2) = run(Some(&helper));
        assert!(helper.jobs() >= 6, "{cell:?}: the helper ran {} jobs", helper.jobs());
        assert!(p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()), "{cell:?}: weights differ");
        assert!(g2.iter().all(|&g| g == 0.0), "{cell:?}: the zeroing optimizer left gradients");
        for (a, b) in l1.iter().zip(&l2) {
            // The loss is summed in two parts with a helper: the order of an f64 sum.
            assert!((a - b).abs() <= 1e-12 * a.abs(), "{cell:?}: loss {a} vs {b}");
        }
    }
}

/// With `Parallelism::Products` two threads run the batch whole and cut each large product
/// (here 64 × 1024 × 256 per step) by rows between the caller and the helper instead of sharding
/// the batch: the weights are then those of one thread, bit for bit (every output row is
/// computed alone, in the same order).
#[test]
fn two_threads_on_large_products_give_one_threads_weights() {
    use recurrent::layer::Parameters;
    use recurrent::model::{CharModel, Init, ModelConfig};
    use recurrent::optim::{Clip, Optimizer, Rule};
    use recurrent::train::Trainer;
    let (t, b, v) = (3, 64, 11);
    let run = |threads: usize| {
        let mc = ModelConfig { cell: CellKind::Lstm, vocab: v, hidden: 256, layers: 2, dropout: 0.0 };
        let model = CharModel::<f32>::new(mc, Init::PyTorch, &mut recurrent::NumpyRng::new(5)).unwrap();
        let opt = Optimizer::new(Rule::parse("adam").unwrap(), 1e-3);
        let mut tr = Trainer::new(model, opt, Clip { norm: 5.0, value: 0.0 }, recurrent::Reduction::Mean, threads);
        tr.set_parallelism(recurrent::parallel::Parallelism::Products);
        recurrent::parallel::with_threads(threads, || {
            let mut state = None;
            for step in 0..2 {
                let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 7 + j * 3 + step) % v);
                let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + step) % v).collect();
                state = Some(tr.step(x.view(), &y, state.as_ref(), None).unwrap().state);
            }
        });
        let mut params = Vec::new();
        tr.model.visit(&mut |_, _, p, _| params.extend(p.iter().map(|w| w.to_bits())));
        params
    };
    assert!(run(1) == run(2), "two threads changed the weights");
}

/// Masks given by the caller (`forward_rows_masked`, how `recurrent.torch` passes PyTorch's
/// draws) run the same code as masks drawn inside: with the masks the generator would draw,
/// the output, the final state and every gradient are the same bits; the drawn-mask path is
/// the one gradient-checked above. A wrong count or shape, or masks for a stack without
/// dropout, is refused.
#[test]
fn given_dropout_masks_are_the_drawn_ones() {
    use ndarray::{Array2, Array3};
    use recurrent::{Input, NumpyRng, Parameters};
    let (t, b, p) = (5, 3, 0.3);
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let cfg = RecurrentConfig::new(kind, 3, 4).with_layers(3).with_bidirectional(true).with_dropout(p);
        let mut a = cfg.init::<f64>(&mut NumpyRng::new(1)).unwrap();
        let mut m = a.clone();
        let mut r = NumpyRng::new(2);
        let x = Array3::from_shape_fn((t, b, 3), |_| r.random_sample() - 0.5);
        let dy = Array2::from_shape_fn((t * b, 8), |_| r.random_sample() - 0.5);
        let mut rng = NumpyRng::new(7);
        let mut drawer = NumpyRng::new(7);
        let masks: Vec<Array2<f64>> = (0..2)
            .map(|_| {
                Array2::from_shape_fn((t * b, 8), |_| if drawer.random_sample() >= p { 1.0 / (1.0 - p) } else { 0.0 })
            })
            .collect();
        a.forward_rows(Input::Dense(x.view()), None, Some(&mut rng)).unwrap();
        let views: Vec<_> = masks.iter().map(|m| m.view()).collect();
        m.forward_rows_masked(Input::Dense(x.view()), None, &views).unwrap();
        assert_eq!(a.output_rows(), m.output_rows(), "{kind}");
        assert_eq!(a.final_state(), m.final_state(), "{kind}");
        let (dxa, dsa) = a.backward_rows(dy.view(), None).unwrap();
        let (dxm, dsm) = m.backward_rows(dy.view(), None).unwrap();
        assert_eq!(dxa, dxm, "{kind}");
        assert_eq!(dsa, dsm, "{kind}");
        let grads = |s: &mut recurrent::Recurrent<f64>| {
            let mut g = Vec::new();
            s.visit(&mut |_, _, _, gr| g.extend_from_slice(gr));
            g
        };
        let (ga, gm) = (grads(&mut a), grads(&mut m));
        assert!(ga.iter().any(|v| *v != 0.0));
        assert_eq!(ga, gm, "{kind}");
        let e = m.forward_rows_masked(Input::Dense(x.view()), None, &views[..1]).unwrap_err().to_string();
        assert!(e.contains("1 dropout masks were given: a stack of 3 layers has 2"), "{e}");
        let short = Array2::<f64>::zeros((t * b - 1, 8));
        let e =
            m.forward_rows_masked(Input::Dense(x.view()), None, &[short.view(), short.view()]).unwrap_err().to_string();
        assert!(e.contains("dropout mask 0"), "{e}");
        let mut plain = RecurrentConfig::new(kind, 3, 4).with_layers(3).init::<f64>(&mut NumpyRng::new(1)).unwrap();
        let e = plain.forward_rows_masked(Input::Dense(x.view()), None, &views).unwrap_err().to_string();
        assert!(e.contains("configured without dropout"), "{e}");
    }
}
