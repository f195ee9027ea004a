//! `Trainer::step_shared`, the step of data parallelism across processes, with two "processes"
//! played by two threads that sum through a barrier (as MPI's Allreduce would): after 12 steps of
//! an LSTM with dropout and Adam, both hold the weights of `Trainer::step` on two threads (batch
//! shards), bit for bit.

use ndarray::Array2;
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer, Rule};
use recurrent::train::{AllSum, Trainer};
use recurrent::{CellKind, NumpyRng, Parameters, Reduction, State};
use std::sync::{Arc, Barrier, Mutex};

/// Two parties summing through shared slots.
struct Pair {
    rank: usize,
    slots: Arc<Mutex<[Vec<f64>; 2]>>,
    barrier: Arc<Barrier>,
}

impl Pair {
    fn sum(&mut self, v: &[f64]) -> Vec<f64> {
        self.slots.lock().unwrap()[self.rank] = v.to_vec();
        self.barrier.wait();
        let out = {
            let s = self.slots.lock().unwrap();
            s[0].iter().zip(&s[1]).map(|(a, b)| a + b).collect()
        };
        self.barrier.wait();
        out
    }
}

impl AllSum<f32> for Pair {
    fn sum_f32(&mut self, v: &mut [f32]) {
        // f32 values are exact in f64, and the sum of two rounded to f32 is the f32 sum.
        let out = self.sum(&v.iter().map(|&x| x as f64).collect::<Vec<_>>());
        v.iter_mut().zip(out).for_each(|(x, y)| *x = y as f32);
    }
    fn sum_f64(&mut self, v: &mut [f64]) {
        let out = self.sum(v);
        v.copy_from_slice(&out);
    }
}

fn trainer() -> Trainer<f32> {
    let mc = ModelConfig { cell: CellKind::Lstm, vocab: 11, hidden: 9, layers: 2, dropout: 0.3 };
    let model = CharModel::new(mc, Init::PyTorch, &mut NumpyRng::new(5)).unwrap();
    let opt = Optimizer::new(Rule::parse("adam").unwrap(), 1e-2);
    Trainer::new(model, opt, Clip { norm: 1.0, value: 0.0 }, Reduction::Mean, 1)
}

fn window(i: usize) -> (Array2<usize>, Vec<usize>) {
    let x = Array2::from_shape_fn((6, 8), |(t, b)| (t * 3 + b * 5 + i * 7) % 11);
    let y = (0..48).map(|r| (r * 7 + i) % 11).collect();
    (x, y)
}

fn weights(t: &mut Trainer<f32>) -> Vec<f32> {
    let mut w = Vec::new();
    t.model.visit_values(&mut |p, _| w.extend_from_slice(p));
    w
}

#[test]
fn two_processes_equal_two_threads_bit_for_bit() {
    // The reference: one trainer, two batch shards on two threads.
    let mut reference = Trainer::new(
        trainer().model,
        Optimizer::new(Rule::parse("adam").unwrap(), 1e-2),
        Clip { norm: 1.0, value: 0.0 },
        Reduction::Mean,
        2,
    );
    let mut rng = NumpyRng::new(9);
    let mut state: Option<State<f32>> = None;
    let mut losses = Vec::new();
    recurrent::parallel::with_threads(2, || {
        for i in 0..12 {
            let (x, y) = window(i);
            let out = reference.step(x.view(), &y, state.as_ref(), Some(&mut rng)).unwrap();
            losses.push(out.loss);
            state = Some(out.state);
        }
    });
    let want = weights(&mut reference);
    // Two "processes", each with columns b0..b1 of the batch and the dropout seed of its shard.
    let slots = Arc::new(Mutex::new([Vec::new(), Vec::new()]));
    let barrier = Arc::new(Barrier::new(2));
    let results: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                let (slots, barrier) = (slots.clone(), barrier.clone());
                sc.spawn(move || {
                    let mut all = Pair { rank, slots, barrier };
                    let mut t = trainer();
                    let mut rng = NumpyRng::new(9);
                    let (b0, b1) = recurrent::parallel::share(rank, 2, 8);
                    let mut state: Option<State<f32>> = None;
                    let mut losses = Vec::new();
                    for i in 0..12 {
                        let (x, y) = window(i);
                        // What the rank draws, and the same seed as the shards' list.
                        let mut copy = rng.clone();
                        let seed = recurrent::parallel::part_seed(&mut rng, rank, 2);
                        assert_eq!(seed, recurrent::parallel::part_seeds(&mut copy, 2)[rank]);
                        let (xl, yl, _) = recurrent::parallel::columns::<f32>(x.view(), &y, None, (b0, b1));
                        let out =
                            t.step_shared(xl.view(), &yl, state.as_ref(), Some(seed), 0.5, &mut all, &mut []).unwrap();
                        losses.push(out.loss);
                        state = Some(out.state);
                    }
                    (weights(&mut t), losses)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (rank, (w, l)) in results.iter().enumerate() {
        assert_eq!(l, &losses, "rank {rank}: losses");
        let differ = w.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "rank {rank}: {differ} of {} weights differ from two threads'", w.len());
    }
}
