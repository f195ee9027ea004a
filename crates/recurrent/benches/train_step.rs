//! One full training step of the standard configurations that fit a quick bench: forward,
//! softmax cross-entropy, backward through time, clipping, optimizer update (the work that
//! `recurrent bench` times end to end).
//!
//!     cargo bench -p recurrent --bench train_step

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use recurrent::layer::Parameters;
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer, Rule};
use recurrent::{CellKind, NumpyRng, Reduction};

struct Case {
    name: &'static str,
    cell: CellKind,
    hidden: usize,
    batch: usize,
    steps: usize,
    rule: &'static str,
    lr: f64,
}

fn train_step(c: &mut Criterion) {
    let cases = [
        Case {
            name: "min-char-rnn (RNN 100, 1x25, Adagrad)",
            cell: CellKind::Rnn,
            hidden: 100,
            batch: 1,
            steps: 25,
            rule: "adagrad",
            lr: 0.1,
        },
        Case {
            name: "lstm-small (LSTM 128, 32x64, Adam)",
            cell: CellKind::Lstm,
            hidden: 128,
            batch: 32,
            steps: 64,
            rule: "adam",
            lr: 2e-3,
        },
        Case {
            name: "gru-medium (GRU 256, 32x64, Adam)",
            cell: CellKind::Gru,
            hidden: 256,
            batch: 32,
            steps: 64,
            rule: "adam",
            lr: 2e-3,
        },
    ];
    let mut g = c.benchmark_group("training step");
    g.sample_size(20);
    for k in cases {
        let v = 65;
        let mc = ModelConfig { cell: k.cell, vocab: v, hidden: k.hidden, layers: 1, dropout: 0.0 };
        let mut model = CharModel::<f32>::new(mc, Init::PyTorch, &mut NumpyRng::new(0)).unwrap();
        let mut opt = Optimizer::new(Rule::parse(k.rule).unwrap(), k.lr);
        let x = Array2::from_shape_fn((k.steps, k.batch), |(t, b)| (t * 7 + b * 13) % v);
        let y: Vec<usize> = (0..k.steps * k.batch).map(|r| (r * 11 + 3) % v).collect();
        let sum = k.batch == 1;
        g.bench_function(k.name, |bn| {
            bn.iter(|| {
                model.zero_grad();
                let red = if sum { Reduction::Sum } else { Reduction::Mean };
                let (loss, _) = model.forward_loss(x.view(), &y, None, red, None).unwrap();
                model.backward().unwrap();
                // Clipping inside the update's single pass, as `recurrent train` does.
                let clip = if sum { Clip { norm: 0.0, value: 5.0 } } else { Clip { norm: 5.0, value: 0.0 } };
                opt.step_clipped(&mut model, clip);
                loss
            })
        });
    }
    g.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
