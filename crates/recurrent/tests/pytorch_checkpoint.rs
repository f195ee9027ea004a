//! A model made in PyTorch (nn.LSTM 2×16 + nn.Linear, saved with safetensors under the
//! checkpoint names by scripts/pytorch_interop.py) loads here and gives PyTorch's logits: the
//! expected values are PyTorch's float64 forward pass over the same float32 weights.

use ndarray::{Array2, Ix2};
use recurrent::checkpoint::load_model;
use recurrent::interop::read_npz;
use recurrent::Input;
use std::path::PathBuf;

#[test]
fn pytorch_model_loads_and_gives_pytorchs_logits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (mut model, vocab, meta) = load_model::<f64>(&dir.join("torch_char_model.safetensors")).unwrap();
    assert_eq!((model.config.layers, model.config.hidden, vocab.len()), (2, 16, 28));
    assert!(meta["config"].contains("lstm"));
    let expected = read_npz(&dir.join("torch_char_model_expected.npz")).unwrap();
    let tokens: Vec<usize> = expected["tokens"].iter().map(|&t| t as usize).collect();
    assert_eq!(vocab.decode(&tokens), "the lazy dog jumps over the quick brown fox.");
    let x = Array2::from_shape_vec((tokens.len(), 1), tokens).unwrap();
    model.rnn.forward_rows(Input::Tokens(x.view()), None, None).unwrap();
    let mut logits = Array2::zeros((x.nrows(), vocab.len()));
    model.head.forward(model.rnn.output_rows(), &mut logits);
    let want = expected["logits"].clone().into_dimensionality::<Ix2>().unwrap();
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = (&logits - &want).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(diff <= 1e-12 * scale, "logits differ from PyTorch's by {diff:.3e} (scale {scale:.3})");
}
