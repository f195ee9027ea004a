//! One full training step of the standard configurations that fit a quick bench: forward,
//! softmax cross-entropy, backward through time, clipping, optimizer update — the step
//! `recurrent train` and `recurrent bench` take (`recurrent::train::Trainer::step`).
//!
//!     cargo bench -p recurrent --bench train_step

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use recurrent::train::configs::StandardConfig;

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("training step");
    g.sample_size(20);
    for name in ["min-char-rnn", "lstm-small", "gru-medium"] {
        let k = StandardConfig::named(name).expect("a standard configuration");
        let v = 65;
        let mut trainer = k.trainer::<f32>(v, 1).unwrap();
        let x = Array2::from_shape_fn((k.steps, k.batch), |(t, b)| (t * 7 + b * 13) % v);
        let y: Vec<usize> = (0..k.steps * k.batch).map(|r| (r * 11 + 3) % v).collect();
        let label =
            format!("{name} ({} {}, {}x{}, {})", k.cell, k.hidden, k.batch, k.steps, k.optimizer.rule(0.99).name());
        g.bench_function(label, |bn| bn.iter(|| trainer.step(x.view(), &y, None, None).unwrap().loss));
    }
    g.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
