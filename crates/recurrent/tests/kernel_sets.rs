//! The whole model in every kernel set this CPU runs (portable, AVX2, AVX-512), each forced in
//! turn on the test's thread with `backend::with_isa`: against the f64 model (itself checked by
//! finite differences in `gradcheck.rs`), against each other in training, and the softmax at
//! NaN and infinite logits. The kernels themselves are tested set by set in the library
//! (`kernels::tests`). A set this CPU lacks is reported as skipped in the test's output.

mod common;

use recurrent::backend::{with_gemm_tuning, with_isa, GemmTuning, Isa};
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer, Rule};
use recurrent::{CellKind, NumpyRng, Reduction};

/// Runs `f` under every kernel set this CPU supports; says which were skipped and why.
fn each_set(what: &str, f: impl Fn(Isa)) {
    for isa in Isa::ALL {
        if !isa.supported() {
            println!("{what}: kernel set {isa} skipped: this CPU lacks its instructions");
            continue;
        }
        with_isa(isa, || f(isa)).expect("supported");
        println!("{what}: kernel set {isa} ran");
    }
}

// The AVX2 and AVX-512 kernels sum every product in the same order with the same fused
// multiply-adds (checked product by product in the library's `kernels::tests`), so training
// gives the same bits with either, and with AVX-512's 12 × 32 packed path for the blocked
// products.
#[test]
fn avx2_and_avx512_train_to_the_same_bits() {
    if !Isa::Avx512.supported() {
        println!("avx2 vs avx512: skipped: this CPU lacks AVX-512 F/VL/BW/DQ");
        return;
    }
    // Twelve training steps of each cell: the same losses and weights, bit for bit.
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for b in [1, 8] {
            let run = |isa| with_isa(isa, || train_a_little(kind, b)).unwrap();
            let (x, y) = (run(Isa::Avx2), run(Isa::Avx512));
            assert!(x == y, "{kind} B={b}: training differs between avx2 and avx512");
            // The blocked products through the 12 × 32 packed path (`RECURRENT_GEMM=mr=12`).
            let tall = GemmTuning { mr: 12, ..GemmTuning::for_this_cpu() };
            let z = with_gemm_tuning(tall, || run(Isa::Avx512));
            assert!(x == z, "{kind} B={b}: training differs between avx2 and avx512 with mr=12");
        }
    }
}

/// Twelve Adam steps of a small model on fixed tokens: every loss, then every weight, as bits.
fn train_a_little(kind: CellKind, b: usize) -> Vec<u64> {
    let (v, t) = (13, 9);
    let mc = ModelConfig { cell: kind, vocab: v, hidden: 37, layers: 2, dropout: 0.0 };
    let mut m = CharModel::<f32>::new(mc, Init::PyTorch, &mut NumpyRng::new(3)).unwrap();
    let mut opt = Optimizer::new(Rule::parse("adam").unwrap(), 2e-3);
    let mut bits = Vec::new();
    for s in 0..12 {
        let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 7 + j * 3 + s) % v);
        let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + s) % v).collect();
        use recurrent::Parameters;
        m.zero_grad();
        let (loss, _) = m.forward_loss(x.view(), &y, None, Reduction::Mean, None).unwrap();
        m.backward().unwrap();
        opt.step_clipped(&mut m, Clip { norm: 5.0, value: 0.0 });
        bits.push(loss.to_bits());
    }
    use recurrent::Parameters;
    m.visit(&mut |_, _, p, _| bits.extend(p.iter().map(|w| w.to_bits() as u64)));
    bits
}

// The whole model in f32 against the f64 model: at B = 1 (the row-vector products), B = 8 and
// B = 33 (packed products with row tails), for each cell.
#[test]
fn model_matches_f64_in_every_set() {
    each_set("model", |_| {
        for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for (t, b) in [(25, 1), (16, 8), (5, 33)] {
                common::f32_model_matches_f64(kind, 11, t, b);
            }
        }
    });
}

// Portable against the active set on the same training: losses agree to f32 rounding (the
// sums are rounded differently, so bits may differ).
#[test]
fn portable_and_the_widest_set_train_alike() {
    let best = Isa::best();
    if best == Isa::Portable {
        println!("portable vs SIMD: skipped: this CPU runs no SIMD kernel set");
        return;
    }
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let x = with_isa(Isa::Portable, || train_a_little(kind, 4)).unwrap();
        let y = with_isa(best, || train_a_little(kind, 4)).unwrap();
        for s in 0..12 {
            let (p, q) = (f64::from_bits(x[s]), f64::from_bits(y[s]));
            assert!((p - q).abs() < 1e-5 * p.abs(), "{kind} step {s}: portable {p} vs {best} {q}");
        }
    }
}

// The softmax cross-entropy in every set: a NaN logit makes that row's loss NaN (as PyTorch's),
// a −∞ logit gets probability exactly 0 and leaves the loss finite. Expected values: logits
// [0, ln 3, −∞] give softmax [1/4, 3/4, 0], so the loss of target 1 is −ln(3/4) (by hand).
#[test]
fn softmax_with_nan_and_infinite_logits_in_every_set() {
    each_set("softmax", |isa| {
        let mut rows = vec![0.0f32, 3f32.ln(), f32::NEG_INFINITY, 0.5, f32::NAN, 1.0];
        let loss = recurrent::loss::softmax_cross_entropy_rows(&mut rows[..3], 3, &[1], 1.0);
        assert!((loss - 0.2876820724517809).abs() < 1e-6, "{isa}: loss {loss}");
        assert_eq!(rows[2], 0.0, "{isa}: a −∞ logit's gradient is its probability, 0");
        assert!((rows[0] - 0.25).abs() < 1e-6 && (rows[1] + 0.25).abs() < 1e-6, "{isa}: {rows:?}");
        let nan = recurrent::loss::softmax_cross_entropy_rows(&mut rows[3..], 3, &[0], 1.0);
        assert!(nan.is_nan(), "{isa}: a NaN logit gave loss {nan}");
    });
}

// The two implementations, named: the f32 model on the reference products and activations (the
// path f64 always takes) against the f64 model, and training on the reference against training
// on the kernels, equal to f32 rounding.
#[test]
fn the_kernels_and_the_reference_agree() {
    use recurrent::backend::{with_backend, Backend};
    with_backend(Backend::Reference, || {
        for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for (t, b) in [(25, 1), (16, 8)] {
                common::f32_model_matches_f64(kind, 11, t, b);
            }
        }
    });
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for b in [1, 4] {
            let x = with_backend(Backend::Reference, || train_a_little(kind, b));
            let y = with_backend(Backend::Kernels, || train_a_little(kind, b));
            assert!(x != y, "{kind} B={b}: the reference ran the kernels (bit-identical losses)");
            for s in 0..12 {
                let (p, q) = (f64::from_bits(x[s]), f64::from_bits(y[s]));
                assert!((p - q).abs() < 1e-5 * p.abs(), "{kind} B={b} step {s}: reference {p} vs kernels {q}");
            }
        }
    }
}
