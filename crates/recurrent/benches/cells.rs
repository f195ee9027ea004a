//! Each cell's time steps, forward and forward+backward, run through the sequence layer over
//! T = 64 steps and reported per step (criterion's "elements" are time steps): one recurrent
//! product and one fused gate pass forward; the pre-activation gradients, the product back
//! through W_hh and a 64th of the weight-gradient GEMMs backward. (The weights are packed once
//! per sequence, so a lone T = 1 call would mostly time the packing.)
//!
//!     cargo bench -p recurrent --bench cells

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use recurrent::layer::seq::{SeqInput, SeqLayer};
use recurrent::{CellKind, CellParams, NumpyRng};

fn cells(c: &mut Criterion) {
    let (t, b, i, h) = (64, 32, 65, 256);
    let mut g = c.benchmark_group("cell steps (B=32, I=65 one-hot, H=256, T=64)");
    g.throughput(Throughput::Elements(t as u64));
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let mut rng = NumpyRng::new(0);
        let mut layer = SeqLayer::new(kind, CellParams::<f32>::uniform(kind, i, h, 0.0625, &mut rng), false);
        let tokens: Vec<usize> = (0..t * b).map(|k| (k * 7) % i).collect();
        let h0 = Array2::<f32>::zeros((b, h));
        let dy = Array2::<f32>::from_elem((t * b, h), 0.01);
        g.bench_function(BenchmarkId::new("forward", kind), |bn| {
            bn.iter(|| layer.forward(SeqInput::Tokens(&tokens), t, b, h0.view(), None))
        });
        g.bench_function(BenchmarkId::new("forward+backward", kind), |bn| {
            bn.iter(|| {
                layer.forward(SeqInput::Tokens(&tokens), t, b, h0.view(), None);
                layer.backward(dy.view(), None, None, SeqInput::Tokens(&tokens), None)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cells);
criterion_main!(benches);
