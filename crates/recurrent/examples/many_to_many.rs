//! S2: a many-to-many RNN classifier — a softmax and cross-entropy at every time step — trained
//! on a task that needs memory: at step t, output the symbol seen k = 3 steps earlier (a "blank"
//! class before that). The backward pass is spelled out with the shape of every gradient, the
//! place where hand-written versions usually fail ("my dimensions don't match").
//!
//!     cargo run --release --example many_to_many

use ndarray::Array2;
use recurrent::layer::Parameters;
use recurrent::loss::{softmax_cross_entropy, Reduction};
use recurrent::optim::{clip_global_norm, Optimizer, Rule};
use recurrent::{CellKind, Input, Linear, NumpyRng, RecurrentConfig};

const V: usize = 4; // input symbols
const K: usize = 3; // delay
const T: usize = 12; // steps
const B: usize = 16; // batch
const H: usize = 32; // hidden

fn main() -> Result<(), recurrent::Error> {
    let mut rng = NumpyRng::new(0);
    // One-hot tokens in, V + 1 classes out (class V = "blank" for t < K).
    let mut rnn = RecurrentConfig::new(CellKind::Rnn, V, H).init::<f64>(&mut rng)?;
    let mut head = Linear::new(H, V + 1, &mut rng);
    let mut opt_rnn = Optimizer::new(Rule::parse("adam")?, 1e-2);
    let mut opt_head = Optimizer::new(Rule::parse("adam")?, 1e-2);
    let mut logits = Array2::zeros((T * B, V + 1));
    for step in 1..=1500 {
        // x: (T, B) tokens; targets: (T·B,) in the same time-major row order as the output.
        let x = Array2::from_shape_simple_fn((T, B), || (rng.random_sample() * V as f64) as usize);
        let targets: Vec<usize> = (0..T * B).map(|r| if r / B >= K { x[[r / B - K, r % B]] } else { V }).collect();

        // Forward: y (T·B, H) = RNN(x); logits (T·B, V+1) = y · W_yᵀ + b_y.
        rnn.forward_rows(Input::Tokens(x.view()), None, None)?;
        let y = rnn.output_rows().to_owned();
        head.forward(y.view(), &mut logits);
        // loss = mean over the T·B rows of −log softmax(logits)[target];
        // dlogits (T·B, V+1) = (softmax − onehot(target)) / (T·B), written over `logits`.
        let loss = softmax_cross_entropy(&mut logits, &targets, Reduction::Mean);

        // Backward, shapes:
        //   dW_y (V+1, H) = dlogitsᵀ (V+1, T·B) · y (T·B, H)      — summed over every step
        //   db_y (V+1,)   = Σ_rows dlogits
        //   dy   (T·B, H) = dlogits (T·B, V+1) · W_y (V+1, H)      — one gradient per h_t
        rnn.zero_grad();
        head.zero_grad();
        let mut dy = Array2::zeros((T * B, H));
        head.backward(y.view(), logits.view(), Some(dy.view_mut()));
        // BPTT inside the layer, at each t from T−1 down to 0:
        //   dh_t   (B, H)  = dy_t (B, H) + dh_next (B, H)           — the two paths to h_t
        //   dpre_t (B, H)  = dh_t ⊙ (1 − h_t²)
        //   dh_next(B, H)  = dpre_t (B, H) · W_hh (H, H)             — sent to step t−1
        // then, once for all steps:
        //   dW_hh (H, H) = Σ_t dpre_tᵀ (H, B) · h_{t−1} (B, H)
        //   dW_ih (H, V) = Σ_t dpre_tᵀ (H, B) · onehot(x_t) (B, V)   — a column scatter
        //   db_ih, db_hh (H,) = Σ_t Σ_b dpre_t
        rnn.backward_rows(dy.view(), None)?;
        clip_global_norm(&mut rnn, 5.0);
        opt_rnn.step(&mut rnn);
        opt_head.step(&mut head);

        if step % 250 == 0 {
            let pred_ok = logits_accuracy(&rnn, &mut head, &x, &targets);
            println!("step {step:4}: loss {loss:.4}, accuracy {:.1}%", 100.0 * pred_ok);
        }
    }
    Ok(())
}

/// Share of rows whose arg-max class is the target (for the batch just trained on).
fn logits_accuracy(
    rnn: &recurrent::Recurrent<f64>,
    head: &mut Linear<f64>,
    _x: &Array2<usize>,
    targets: &[usize],
) -> f64 {
    let y = rnn.output_rows();
    let mut l = Array2::zeros((y.nrows(), head.output()));
    head.forward(y, &mut l);
    let ok = l
        .rows()
        .into_iter()
        .zip(targets)
        .filter(|(r, &t)| {
            r.iter().enumerate().fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 == t
        })
        .count();
    ok as f64 / targets.len() as f64
}
