//! Parity with PyTorch: every output and gradient against fixtures written by
//! `scripts/make_fixtures.py` (torch, float64; 2 layers, bidirectional, time-major and
//! batch-first). The expected numbers are PyTorch's.

use recurrent::interop::{infer_config, parameters_to_tensors, read_npz, read_state, recurrent_from_tensors, Tensors};
use recurrent::{CellKind, Input};
use std::path::PathBuf;

const TOL: f64 = 1e-10;

fn fixture(name: &str) -> Tensors {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    read_npz(&p).unwrap()
}

/// Largest |ours − theirs| relative to the largest |theirs| (the reference's scale).
fn rel_err(ours: &ndarray::ArrayD<f64>, theirs: &ndarray::ArrayD<f64>) -> f64 {
    assert_eq!(ours.shape(), theirs.shape());
    let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale
}

fn parity(kind: CellKind, batch_first: bool) -> f64 {
    let f = fixture(&format!("torch_{kind}_{}.npz", if batch_first { "bf" } else { "tm" }));
    let cfg = infer_config(kind, &f, "").unwrap().with_batch_first(batch_first);
    assert_eq!((cfg.num_layers, cfg.bidirectional), (2, true));
    let mut r = recurrent_from_tensors::<f64>(&cfg, &f, "").unwrap();
    let x = f["x"].clone().into_dimensionality().unwrap();
    let b = if batch_first { f["x"].shape()[0] } else { f["x"].shape()[1] };
    let s0 = read_state(&cfg, &f, "h0", "c0", b).unwrap();
    let ds = read_state(&cfg, &f, "dh_n", "dc_n", b).unwrap();
    let (y, hn) = r.forward(Input::Dense(x.view()), s0.as_ref(), None).unwrap();
    let dy = f["dy"].clone().into_dimensionality().unwrap();
    let (dx, dh0) = r.backward(dy.view(), ds.as_ref()).unwrap();
    let mut ours = parameters_to_tensors(&mut r, "", true);
    ours.insert("y".into(), y.into_dyn());
    ours.insert("h_n".into(), hn.h.into_dyn());
    ours.insert("dx".into(), dx.unwrap().into_dyn());
    ours.insert("dh0".into(), dh0.h.into_dyn());
    if let Some(c) = hn.c {
        ours.insert("c_n".into(), c.into_dyn());
        ours.insert("dc0".into(), dh0.c.unwrap().into_dyn());
    }
    let mut worst = 0.0f64;
    for (name, mine) in &ours {
        let theirs = f.get(name).unwrap_or_else(|| panic!("fixture lacks {name}"));
        let e = rel_err(mine, theirs);
        assert!(e < TOL, "{kind} bf={batch_first}: {name} differs from PyTorch by {e:.3e} (relative)");
        worst = worst.max(e);
    }
    // Every gradient PyTorch reports is compared (none skipped).
    let n_grads = f
        .keys()
        .filter(|k| k.starts_with('d') && !k.starts_with("dy") && !k.starts_with("dh_n") && !k.starts_with("dc_n"))
        .count();
    assert_eq!(n_grads, ours.keys().filter(|k| k.starts_with('d')).count());
    println!("{kind} batch_first={batch_first}: largest relative difference from PyTorch {worst:.3e}");
    worst
}

#[test]
fn rnn_matches_pytorch() {
    parity(CellKind::Rnn, false);
    parity(CellKind::Rnn, true);
}

#[test]
fn lstm_matches_pytorch() {
    parity(CellKind::Lstm, false);
    parity(CellKind::Lstm, true);
}

#[test]
fn gru_matches_pytorch() {
    parity(CellKind::Gru, false);
    parity(CellKind::Gru, true);
}

/// The `grads` computation on a fixture used as a learner's CASE gives PyTorch's gradients.
#[test]
fn grads_for_case_matches_pytorch() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for bf in [false, true] {
            let f = fixture(&format!("torch_{kind}_{}.npz", if bf { "bf" } else { "tm" }));
            let out = recurrent::interop::grads_for_case(kind, &f, bf).unwrap();
            for (name, mine) in &out {
                let e = rel_err(mine, &f[name]);
                assert!(e < TOL, "{kind} batch_first={bf}: {name} differs by {e:.3e}");
            }
            assert!(out.contains_key("dweight_hh_l1_reverse") && out.contains_key("dx") && out.contains_key("dh0"));
        }
    }
}

/// A batch-first case read as time-major is refused, and the message says how B was read and
/// to add `--batch-first`.
#[test]
fn batch_first_case_read_time_major_says_so() {
    let f = fixture("torch_rnn_bf.npz");
    let e = recurrent::interop::grads_for_case(CellKind::Rnn, &f, false).unwrap_err().to_string();
    assert_eq!(
        e,
        "h0 is (4, 3, 5) but a stack of 2 layer(s) × 2 direction(s) with hidden size 5 and B = 6 (from x as (T, B, I)) expects (L·D, B, H) = (4, 6, 5); if x is (B, T, I), add --batch-first"
    );
}

/// `dy` may be left out (zeros): the gradient of `Σ h_n⊙dh_n + Σ c_n⊙dc_n` alone. The loss is
/// linear in (dy, dh_n, dc_n), so that plus the gradients with only `dy` must give the full case's
/// gradients, which equal PyTorch's.
#[test]
fn dy_is_optional_and_the_parts_add_up() {
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let f = fixture(&format!("torch_{kind}_tm.npz"));
        let mut no_dy = f.clone();
        no_dy.remove("dy");
        let mut only_dy = f.clone();
        only_dy.remove("dh_n");
        only_dy.remove("dc_n");
        let a = recurrent::interop::grads_for_case(kind, &no_dy, false).unwrap();
        let b = recurrent::interop::grads_for_case(kind, &only_dy, false).unwrap();
        for name in a.keys().filter(|n| n.starts_with('d')) {
            let sum = &a[name] + &b[name];
            let e = rel_err(&sum, &f[name]);
            assert!(e < TOL, "{kind}: {name} parts add to {e:.3e} off PyTorch's");
            assert!(a[name].iter().any(|v| *v != 0.0) || name == "dx", "{kind}: {name} from dh_n alone is zero");
        }
    }
}

/// A wrong shape in a case is refused with a message naming the tensor and both shapes.
#[test]
fn wrong_shape_is_named() {
    let mut f = fixture("torch_lstm_tm.npz");
    f.insert("weight_hh_l1".into(), ndarray::ArrayD::zeros(vec![20, 4]));
    let e = recurrent::interop::grads_for_case(CellKind::Lstm, &f, false).unwrap_err().to_string();
    assert_eq!(e, "weight_hh_l1 is (20, 4) but a lstm with input 10, hidden 5 expects (20, 5)");
    let mut f = fixture("torch_gru_tm.npz");
    f.insert("dy".into(), ndarray::ArrayD::zeros(vec![6, 3, 5]));
    let e = recurrent::interop::grads_for_case(CellKind::Gru, &f, false).unwrap_err().to_string();
    assert_eq!(
        e,
        "dy is (6, 3, 5) but the output y is (T, B, D·H) = (6, 3, 10): give dy the output's shape; if x is (B, T, I), add --batch-first"
    );
}

/// The f32 path (in-place GEMM kernel, vectorised tanh/sigmoid) on the same fixtures: PyTorch's
/// float64 outputs and gradients to f32 accuracy (relative to each tensor's scale).
#[test]
fn f32_kernels_match_pytorch_to_f32_precision() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for bf in [false, true] {
            let f = fixture(&format!("torch_{kind}_{}.npz", if bf { "bf" } else { "tm" }));
            let cfg = infer_config(kind, &f, "").unwrap().with_batch_first(bf);
            let mut r = recurrent_from_tensors::<f32>(&cfg, &f, "").unwrap();
            let x = f["x"].mapv(|v| v as f32).into_dimensionality().unwrap();
            let b = if bf { f["x"].shape()[0] } else { f["x"].shape()[1] };
            let to32 = |s: Option<recurrent::State<f64>>| {
                s.map(|s| recurrent::State { h: s.h.mapv(|v| v as f32), c: s.c.map(|c| c.mapv(|v| v as f32)) })
            };
            let s0 = to32(read_state(&cfg, &f, "h0", "c0", b).unwrap());
            let ds = to32(read_state(&cfg, &f, "dh_n", "dc_n", b).unwrap());
            let (y, _) = r.forward(Input::Dense(x.view()), s0.as_ref(), None).unwrap();
            let dy = f["dy"].mapv(|v| v as f32).into_dimensionality().unwrap();
            let (dx, dh0) = r.backward(dy.view(), ds.as_ref()).unwrap();
            let mut ours = parameters_to_tensors(&mut r, "", true);
            ours.insert("y".into(), y.mapv(f64::from).into_dyn());
            ours.insert("dx".into(), dx.unwrap().mapv(f64::from).into_dyn());
            ours.insert("dh0".into(), dh0.h.mapv(f64::from).into_dyn());
            for (name, mine) in &ours {
                let e = rel_err(mine, &f[name]);
                assert!(e < 2e-5, "{kind} bf={bf} f32: {name} differs from PyTorch by {e:.3e}");
            }
        }
    }
}

/// One sequence (B = 1) takes the matrix-vector path in f32; it agrees with the f64 engine
/// (itself equal to PyTorch above) on the first sequence of each fixture.
#[test]
fn f32_single_sequence_path_matches_f64() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let f = fixture(&format!("torch_{kind}_tm.npz"));
        let cfg = infer_config(kind, &f, "").unwrap();
        let x64: ndarray::Array3<f64> =
            f["x"].slice(ndarray::s![.., 0..1, ..]).to_owned().into_dimensionality().unwrap();
        let dy64: ndarray::Array3<f64> =
            f["dy"].slice(ndarray::s![.., 0..1, ..]).to_owned().into_dimensionality().unwrap();
        let mut r64 = recurrent_from_tensors::<f64>(&cfg, &f, "").unwrap();
        let mut r32 = recurrent_from_tensors::<f32>(&cfg, &f, "").unwrap();
        let (y64, _) = r64.forward(Input::Dense(x64.view()), None, None).unwrap();
        let (y32, _) = r32.forward(Input::Dense(x64.mapv(|v| v as f32).view()), None, None).unwrap();
        let (dx64, _) = r64.backward(dy64.view(), None).unwrap();
        let (dx32, _) = r32.backward(dy64.mapv(|v| v as f32).view(), None).unwrap();
        let e = rel_err(&y32.mapv(f64::from).into_dyn(), &y64.into_dyn());
        assert!(e < 2e-6, "{kind}: y differs by {e:.3e}");
        let e = rel_err(&dx32.unwrap().mapv(f64::from).into_dyn(), &dx64.unwrap().into_dyn());
        assert!(e < 2e-5, "{kind}: dx differs by {e:.3e}");
        let (g32, g64) = (parameters_to_tensors(&mut r32, "", true), parameters_to_tensors(&mut r64, "", true));
        for (name, a) in &g64 {
            let e = rel_err(&g32[name], a);
            assert!(e < 2e-5, "{kind}: {name} differs by {e:.3e}");
        }
    }
}
