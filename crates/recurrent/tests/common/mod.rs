//! Helpers shared by several test binaries.

use recurrent::layer::Parameters;
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::{CellKind, NumpyRng};

/// The character model (2 layers of 37, vocabulary `v`) in f32 against the same model in f64 on
/// `T × B` tokens: the loss within 1e-5 relative and every gradient within 1e-4 of its tensor's
/// largest entry. The f64 model is the reference (checked against finite differences in
/// `gradcheck.rs`), so this checks whichever f32 kernels the process runs.
pub fn f32_model_matches_f64(kind: CellKind, v: usize, t: usize, b: usize) {
    let mc = ModelConfig { cell: kind, vocab: v, hidden: 37, layers: 2, dropout: 0.0 };
    let mut s = CharModel::<f32>::new(mc.clone(), Init::PyTorch, &mut NumpyRng::new(9)).unwrap();
    let mut d = CharModel::<f64>::new(mc, Init::PyTorch, &mut NumpyRng::new(9)).unwrap();
    let x = ndarray::Array2::from_shape_fn((t, b), |(i, j)| (i * 7 + j * 3 + 1) % v);
    let y: Vec<usize> = (0..t * b).map(|i| (i * 5 + 2) % v).collect();
    let (ls, _) = s.forward_loss(x.view(), &y, None, recurrent::Reduction::Sum, None).unwrap();
    let (ld, _) = d.forward_loss(x.view(), &y, None, recurrent::Reduction::Sum, None).unwrap();
    assert!((ls - ld).abs() < 1e-5 * ld.abs(), "{kind} ({v},{t},{b}): loss {ls} vs {ld}");
    s.backward().unwrap();
    d.backward().unwrap();
    let (mut gs, mut gd) = (Vec::new(), Vec::new());
    s.visit(&mut |n, _, _, g| gs.push((n.to_string(), g.iter().map(|&v| v as f64).collect::<Vec<_>>())));
    d.visit(&mut |_, _, _, g| gd.push(g.to_vec()));
    for ((name, g32), g64) in gs.iter().zip(&gd) {
        let scale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = g32.iter().zip(g64).fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
        assert!(scale > 0.0 && worst <= 1e-4 * scale, "{kind} ({v},{t},{b}) {name}: {worst:e} of {scale:e}");
    }
}
