//! The course's test cells replayed with the numpy-identical generator (np.random.seed(1), arrays
//! drawn in the course's order). Forward values are compared with the values the course prints
//! (typed from its notebook); backward values with torch autograd in float64 on the same arrays
//! (tests/fixtures/course_reference.npz, written by scripts/course_reference.py), and with
//! centred finite differences here.

use ndarray::{s, Array2, Array3, ArrayD, ArrayView2};
use recurrent::course::replay::{self, draw, randn2, randn3, LSTM, RNN_FORWARD as RNN_FWD};
use recurrent::course::simple_rnn::SimpleRnn;
use recurrent::course::*;
use recurrent::interop::{read_npz, Tensors};
use recurrent::NumpyRng;
use std::path::PathBuf;

fn reference() -> Tensors {
    read_npz(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course_reference.npz")).unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let d = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(d < tol, "{what}: largest difference {d:.3e}\n got  {got:?}\n want {want:?}");
}

/// Every gradient of `grads` against the reference, relative to the reference's scale.
fn matches_torch(grads: &Grads, reference: &Tensors, prefix: &str) {
    let mut n = 0;
    for (k, want) in reference.iter().filter(|(k, _)| k.starts_with(prefix)) {
        let name = &k[prefix.len()..];
        let got = grads.get(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(got.shape(), want.shape(), "{name}");
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let d = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(d <= 1e-10 * scale, "{prefix}{name}: differs from torch by {d:.3e} (scale {scale:.3e})");
        n += 1;
    }
    assert!(n >= 5, "compared only {n} tensors for {prefix}");
}

#[test]
fn rnn_cell_forward_prints_the_course_values() {
    // The replayed cell must reproduce the printed values: this checks its draw order too.
    let r = replay::rnn_cell(false);
    let (a_next, yt, _) = rnn_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), &r.parameters).unwrap();
    let want_a = [
        0.59584544,
        0.18141802,
        0.61311866,
        0.99808218,
        0.85016201,
        0.99980978,
        -0.18887155,
        0.99815551,
        0.6531151,
        0.82872037,
    ];
    close(&a_next.row(4).to_vec(), &want_a, 1e-8, "a_next[4]");
    let want_y = [
        0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387, 0.88945212, 0.36920224, 0.9966312, 0.9982559,
        0.17746526,
    ];
    close(&yt.row(1).to_vec(), &want_y, 1e-8, "yt_pred[1]");
}

#[test]
fn rnn_forward_prints_the_course_values() {
    let r = replay::rnn_seq(false);
    let (a, y, caches) = rnn_forward(r.x.as_ref().unwrap().view(), r.inputs["a0"].view(), &r.parameters).unwrap();
    close(&a.slice(s![4, 1, ..]).to_vec(), &[-0.99999375, 0.77911235, -0.99861469, -0.99833267], 1e-8, "a[4][1]");
    close(&y.slice(s![1, 3, ..]).to_vec(), &[0.79560373, 0.86224861, 0.11118257, 0.81515947], 1e-8, "y_pred[1][3]");
    close(
        &caches.x.slice(s![1, 3, ..]).to_vec(),
        &[-1.1425182, -0.34934272, -0.20889423, 0.58662319],
        1e-8,
        "caches[1][1][3]",
    );
    assert_eq!(caches.caches.len(), 4);
}

#[test]
fn lstm_cell_forward_prints_the_course_values() {
    let r = replay::lstm_cell();
    let (i, p) = (&r.inputs, &r.parameters);
    let (a_next, c_next, yt, _) = lstm_cell_forward(i["xt"].view(), i["a_prev"].view(), i["c_prev"].view(), p).unwrap();
    let wa = [
        -0.66408471,
        0.0036921,
        0.02088357,
        0.22834167,
        -0.85575339,
        0.00138482,
        0.76566531,
        0.34631421,
        -0.00215674,
        0.43827275,
    ];
    close(&a_next.row(4).to_vec(), &wa, 1e-8, "a_next[4]");
    let wc = [
        0.63267805,
        1.00570849,
        0.35504474,
        0.20690913,
        -1.64566718,
        0.11832942,
        0.76449811,
        -0.0981561,
        -0.74348425,
        -0.26810932,
    ];
    close(&c_next.row(2).to_vec(), &wc, 1e-8, "c_next[2]");
    let wy = [
        0.79913913, 0.15986619, 0.22412122, 0.15606108, 0.97057211, 0.31146381, 0.00943007, 0.12666353, 0.39380172,
        0.07828381,
    ];
    close(&yt.row(1).to_vec(), &wy, 1e-8, "yt[1]");
}

#[test]
fn lstm_forward_prints_the_course_values() {
    let r = replay::lstm_seq();
    let (a, y, c, caches) = lstm_forward(r.x.as_ref().unwrap().view(), r.inputs["a0"].view(), &r.parameters).unwrap();
    close(
        &[a[[4, 3, 6]], y[[1, 4, 3]], c[[1, 2, 1]]],
        &[0.172117767533, 0.95087346185, -0.855544916718],
        1e-11,
        "a[4][3][6], y[1][4][3], c[1][2][1]",
    );
    assert_eq!((a.shape(), y.shape(), caches.caches.len()), (&[5, 10, 7][..], &[2, 10, 7][..], 7));
}

#[test]
fn rnn_cell_backward_matches_torch() {
    let mut r = replay::rnn_cell(true);
    let (_, _, cache) = rnn_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), &r.parameters).unwrap();
    let da_next = randn2(&mut r.rng, 5, 10);
    let g = rnn_cell_backward(da_next.view(), &cache).unwrap();
    matches_torch(&g, &reference(), "rnn_cell_backward.");
    // The course prints dxt[1][2] = -1.3872130506 and da_prev[2][3] = -0.152399493774; both right.
    close(&[g["dxt"][[1, 2]], g["da_prev"][[2, 3]]], &[-1.3872130506, -0.152399493774], 1e-10, "printed values");
}

#[test]
fn rnn_backward_matches_torch() {
    let mut r = replay::rnn_seq(true);
    let (_, _, caches) = rnn_forward(r.x.as_ref().unwrap().view(), r.inputs["a0"].view(), &r.parameters).unwrap();
    let da = randn3(&mut r.rng, 5, 10, 4);
    matches_torch(&rnn_backward(da.view(), &caches).unwrap(), &reference(), "rnn_backward.");
}

#[test]
fn lstm_cell_backward_matches_torch() {
    let mut r = replay::lstm_cell();
    let (i, p) = (&r.inputs, &r.parameters);
    let (_, _, _, cache) = lstm_cell_forward(i["xt"].view(), i["a_prev"].view(), i["c_prev"].view(), p).unwrap();
    let (da, dc) = (randn2(&mut r.rng, 5, 10), randn2(&mut r.rng, 5, 10));
    let g = lstm_cell_backward(da.view(), dc.view(), &cache).unwrap();
    matches_torch(&g, &reference(), "lstm_cell_backward.");
}

/// The course's lstm_backward cell exactly: no `Wy`, `by` drawn (zeros), `lstm_forward` over 7
/// steps, then `da (5, 10, 4)`; the backward takes `T_x = 4` from `da` and walks back from
/// caches[3]. Torch float64 on the same arrays (the gradient of Σ_{t<4} a⟨t⟩⊙da⟨t⟩) agrees with
/// every gradient, and the values the course's later versions print are reproduced.
#[test]
fn lstm_backward_replays_the_course_cell() {
    let mut r = replay::lstm_backward_seq();
    let (_, _, _, caches) = lstm_forward(r.x.as_ref().unwrap().view(), r.inputs["a0"].view(), &r.parameters).unwrap();
    let da = randn3(&mut r.rng, 5, 10, 4);
    let g = lstm_backward(da.view(), &caches).unwrap();
    matches_torch(&g, &reference(), "lstm_backward.");
    assert_eq!(g["dx"].shape(), &[3, 10, 4]);
    // Printed by the course: dx[1][2] = [0.00218254 0.28205375 -0.48292508 -0.43281115],
    // da0[2][3] = 0.312770310257.
    close(&g["dx"].slice(s![1, 2, ..]).to_vec(), &[0.00218254, 0.28205375, -0.48292508, -0.43281115], 1e-8, "dx[1][2]");
    close(&[g["da0"][[2, 3]]], &[0.312770310257], 1e-12, "da0[2][3]");
    // More steps of da than the forward pass had is refused in words.
    let e = lstm_backward(Array3::zeros((5, 10, 8)).view(), &caches).unwrap_err().to_string();
    assert!(e.starts_with("da is (5, 10, 8) but the forward pass had a of shape (5, 10, 7)"), "{e}");
}

/// `x is (4, 10, 7) but Wax expects n_x = 3`/// `x is (4, 10, 7) but Wax expects n_x = 3` (SPEC §1's example of a shape error in words).
#[test]
fn shape_errors_are_in_words() {
    let mut r = NumpyRng::new(1);
    let p = draw(&mut r, RNN_FWD);
    let x = Array3::zeros((4, 10, 7));
    let e = rnn_forward(x.view(), Array2::zeros((5, 10)).view(), &p).unwrap_err().to_string();
    assert_eq!(e, "x is (4, 10, 7) but Wax expects n_x = 3");
    let e = rnn_cell_forward(Array2::zeros((3, 10)).view(), Array2::zeros((4, 10)).view(), &p).unwrap_err().to_string();
    assert_eq!(e, "a_prev is (4, 10) but (n_a, m) = (5, 10) is expected");
}

/// The classic bug, on the course's lstm_backward cell: walking back with
/// `lstm_cell_backward(da[:, :, t], 0, caches[t])` — never adding `da_prev` and `dc_prev` from step
/// t+1. scripts/course_reference.py computes that mistake independently (torch autograd with the
/// previous state detached: `lstm_backward_no_recurrence.*` in the fixture) and checks that it
/// reproduces the numbers the course's earlier versions printed: dx[1][2] = [-0.00173313
/// 0.08287442 -0.30545663 -0.43281115], da0[2][3] = -0.095911501954, dWf[3][1] =
/// -0.0698198561274, dbf[4] = [-0.0565788]. `course::mistakes` (the same walk over this
/// library's cell backward, which `grads --layout course` reports for `compare_grads.py`) gives
/// the fixture's arrays for it and for the two half-mistakes (only `da_prev`, only `dc_prev`
/// dropped), and agrees with the truth only at the last step.
#[test]
fn the_course_earlier_printed_values_are_the_no_recurrence_mistake() {
    let mut r = replay::lstm_backward_seq();
    let (_, _, _, caches) = lstm_forward(r.x.as_ref().unwrap().view(), r.inputs["a0"].view(), &r.parameters).unwrap();
    let da = randn3(&mut r.rng, 5, 10, 4);
    let all = mistakes::lstm(da.view(), &caches).unwrap();
    for (name, g) in &all {
        matches_torch(g, &reference(), &format!("lstm_backward_{name}."));
    }
    let wrong = all.into_iter().find(|(n, _)| *n == "no_recurrence").unwrap().1;
    let dx: Array3<f64> = wrong["dx"].clone().into_dimensionality().unwrap();
    matches_torch(&wrong, &reference(), "lstm_backward_no_recurrence.");
    close(&dx.slice(s![1, 2, ..]).to_vec(), &[-0.00173313, 0.08287442, -0.30545663, -0.43281115], 1e-8, "dx[1][2]");
    close(
        &[wrong["da0"][[2, 3]], wrong["dWf"][[3, 1]], wrong["dbf"][[4, 0]]],
        &[-0.095911501954, -0.0698198561274, -0.0565788],
        1e-8,
        "da0[2][3], dWf[3][1], dbf[4]",
    );
    let truth = reference()["lstm_backward.dx"].clone();
    for t in 0..4 {
        let d = (&dx.slice(s![.., .., t]) - &truth.slice(s![.., .., t])).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_eq!(d < 1e-10, t == 3, "step {t}: difference {d:.3e}");
    }
}

/// `lstm_backward_from` with a non-zero initial cell state `c0` and an upstream `dc` on the last
/// cell state, by centred finite differences of `Σ a⊙da + Σ c⟨T−1⟩⊙dc`: `dc0`, `da0`, `dx` and a
/// weight.
#[test]
fn lstm_backward_from_c0_and_dc_passes_finite_differences() {
    let mut r = replay::lstm_backward_seq();
    let (x, a0, p) = (r.x.clone().unwrap(), r.inputs["a0"].clone(), r.parameters.clone());
    let c0 = randn2(&mut r.rng, 5, 10);
    let da = randn3(&mut r.rng, 5, 10, 7);
    let dc = randn2(&mut r.rng, 5, 10);
    let loss = |x: &Array3<f64>, a0: &Array2<f64>, c0: &Array2<f64>, p: &Params| -> f64 {
        let (a, _, c, _) = lstm_forward_from(x.view(), a0.view(), Some(c0.view()), p).unwrap();
        seq_loss(&a, &da) + (&c.slice(s![.., .., 6]) * &dc).sum()
    };
    let (_, _, _, caches) = lstm_forward_from(x.view(), a0.view(), Some(c0.view()), &p).unwrap();
    let g = lstm_backward_from(da.view(), Some(dc.view()), &caches).unwrap();
    let e = fd_check(&mut c0.clone().into_dyn(), &g["dc0"], &mut |v| {
        loss(&x, &a0, &v.clone().into_dimensionality().unwrap(), &p)
    });
    assert!(e < 1e-6, "dc0: {e:.3e}");
    let e = fd_check(&mut a0.clone().into_dyn(), &g["da0"], &mut |v| {
        loss(&x, &v.clone().into_dimensionality().unwrap(), &c0, &p)
    });
    assert!(e < 1e-6, "da0: {e:.3e}");
    let e = fd_check(&mut x.clone().into_dyn(), &g["dx"], &mut |v| {
        loss(&v.clone().into_dimensionality().unwrap(), &a0, &c0, &p)
    });
    assert!(e < 1e-6, "dx: {e:.3e}");
    let e = fd_check(&mut p["Wf"].clone().into_dyn(), &g["dWf"], &mut |v| {
        let mut q = p.clone();
        q.insert("Wf".into(), v.clone().into_dimensionality().unwrap());
        loss(&x, &a0, &c0, &q)
    });
    assert!(e < 1e-6, "dWf: {e:.3e}");
}

// ---- finite differences of the course's own functions --------------------------------------

/// max |analytic − numeric| / max |numeric| over every entry of `t`, with `loss` recomputed.
fn fd_check(t: &mut ArrayD<f64>, analytic: &ArrayD<f64>, loss: &mut dyn FnMut(&ArrayD<f64>) -> f64) -> f64 {
    let eps = 1e-6;
    let mut num = ArrayD::zeros(t.raw_dim());
    for i in 0..t.len() {
        let orig = t.as_slice().unwrap()[i];
        t.as_slice_mut().unwrap()[i] = orig + eps;
        let lp = loss(t);
        t.as_slice_mut().unwrap()[i] = orig - eps;
        let lm = loss(t);
        t.as_slice_mut().unwrap()[i] = orig;
        num.as_slice_mut().unwrap()[i] = (lp - lm) / (2.0 * eps);
    }
    let scale = num.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    analytic.iter().zip(&num).map(|(a, n)| (a - n).abs()).fold(0.0, f64::max) / scale
}

fn seq_loss(a: &Array3<f64>, da: &Array3<f64>) -> f64 {
    (a * da).sum()
}

#[test]
fn rnn_backward_passes_finite_differences() {
    let mut r = NumpyRng::new(5);
    let (x, a0, p) = (
        randn3(&mut r, 3, 4, 5),
        randn2(&mut r, 4, 4),
        draw(&mut r, &[("Wax", 4, 3), ("Waa", 4, 4), ("Wya", 2, 4), ("ba", 4, 1), ("by", 2, 1)]),
    );
    let da = randn3(&mut r, 4, 4, 5);
    let (_, _, caches) = rnn_forward(x.view(), a0.view(), &p).unwrap();
    let g = rnn_backward(da.view(), &caches).unwrap();
    for name in ["Wax", "Waa", "ba"] {
        let mut t = p[name].clone().into_dyn();
        let e = fd_check(&mut t, &g[&format!("d{name}")], &mut |v| {
            let mut q = p.clone();
            q.insert(name.into(), v.clone().into_dimensionality().unwrap());
            seq_loss(&rnn_forward(x.view(), a0.view(), &q).unwrap().0, &da)
        });
        assert!(e < 1e-6, "d{name}: {e:.3e}");
    }
    let e = fd_check(&mut x.clone().into_dyn(), &g["dx"], &mut |v| {
        seq_loss(&rnn_forward(v.view().into_dimensionality().unwrap(), a0.view(), &p).unwrap().0, &da)
    });
    assert!(e < 1e-6, "dx: {e:.3e}");
    let e = fd_check(&mut a0.clone().into_dyn(), &g["da0"], &mut |v| {
        seq_loss(&rnn_forward(x.view(), v.view().into_dimensionality().unwrap(), &p).unwrap().0, &da)
    });
    assert!(e < 1e-6, "da0: {e:.3e}");
}

#[test]
fn lstm_backward_passes_finite_differences() {
    let mut r = NumpyRng::new(6);
    let (x, a0) = (randn3(&mut r, 3, 4, 5), randn2(&mut r, 4, 4));
    let order: Vec<(&str, usize, usize)> = LSTM
        .iter()
        .map(|&(n, _, b)| {
            (
                n,
                if n == "Wy" || n == "by" { 2 } else { 4 },
                if b == 8 {
                    7
                } else if n == "Wy" {
                    4
                } else {
                    b
                },
            )
        })
        .collect();
    let p = draw(&mut r, &order);
    let da = randn3(&mut r, 4, 4, 5);
    let (_, _, _, caches) = lstm_forward(x.view(), a0.view(), &p).unwrap();
    let g = lstm_backward(da.view(), &caches).unwrap();
    let fwd = |x: ArrayView2<f64>, q: &Params| -> f64 {
        seq_loss(&lstm_forward(x.into_shape_with_order((3, 4, 5)).unwrap().view(), a0.view(), q).unwrap().0, &da)
    };
    for name in ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"] {
        let mut t = p[name].clone().into_dyn();
        let xs = x.clone().into_shape_with_order((3, 20)).unwrap();
        let e = fd_check(&mut t, &g[&format!("d{name}")], &mut |v| {
            let mut q = p.clone();
            q.insert(name.into(), v.clone().into_dimensionality().unwrap());
            fwd(xs.view(), &q)
        });
        assert!(e < 1e-6, "d{name}: {e:.3e}");
    }
    let e = fd_check(&mut x.clone().into_dyn(), &g["dx"], &mut |v| {
        seq_loss(&lstm_forward(v.view().into_dimensionality().unwrap(), a0.view(), &p).unwrap().0, &da)
    });
    assert!(e < 1e-6, "dx: {e:.3e}");
    let e = fd_check(&mut a0.clone().into_dyn(), &g["da0"], &mut |v| {
        seq_loss(&lstm_forward(x.view(), v.view().into_dimensionality().unwrap(), &p).unwrap().0, &da)
    });
    assert!(e < 1e-6, "da0: {e:.3e}");
}

// ---- S3: the batch-first SimpleRNN ------------------------------------------------------------

fn s3() -> (SimpleRnn, Array3<f64>) {
    let x = ndarray::array![[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]] / 100.0;
    let w_x = ndarray::array![[1.0, 3.0, 5.0, 7.0], [3.0, 5.0, 7.0, 8.0]] / 100.0;
    let w_h = ndarray::array![[1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0], [3.0, 5.0, 7.0, 8.0], [4.0, 6.0, 8.0, 10.0]]
        / 100.0;
    (SimpleRnn::new(w_x.view(), w_h.view(), &[1.0; 4]).unwrap(), x)
}

/// The tutorial's worked example: last state [[0.79494228, 0.81839002, 0.83939649, 0.85584174]].
#[test]
fn simple_rnn_worked_example() {
    let (mut m, x) = s3();
    let h = m.forward(x.view(), Array2::zeros((1, 4)).view()).unwrap();
    close(&h.row(0).to_vec(), &[0.79494228, 0.81839002, 0.83939649, 0.85584174], 1e-8, "last state");
}

/// Its backward (for L = Σ h_T ⊙ g, g fixed): every gradient against finite differences.
#[test]
fn simple_rnn_backward_passes_finite_differences() {
    let (mut m, x) = s3();
    let g = ndarray::array![[0.3, -1.2, 0.7, 2.0]];
    let h0 = ndarray::array![[0.1, -0.2, 0.3, 0.05]];
    m.forward(x.view(), h0.view()).unwrap();
    let grads = m.backward(g.view()).unwrap();
    let w_x = ndarray::array![[1.0, 3.0, 5.0, 7.0], [3.0, 5.0, 7.0, 8.0]] / 100.0;
    let w_h = ndarray::array![[1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0], [3.0, 5.0, 7.0, 8.0], [4.0, 6.0, 8.0, 10.0]]
        / 100.0;
    let loss = |x: &Array3<f64>, h0: &Array2<f64>, wx: &Array2<f64>, wh: &Array2<f64>, b: &[f64]| -> f64 {
        let mut m = SimpleRnn::new(wx.view(), wh.view(), b).unwrap();
        (m.forward(x.view(), h0.view()).unwrap() * &g).sum()
    };
    let b = [1.0; 4];
    let e = fd_check(&mut x.clone().into_dyn(), &grads.dx.clone().into_dyn(), &mut |v| {
        loss(&v.clone().into_dimensionality().unwrap(), &h0, &w_x, &w_h, &b)
    });
    assert!(e < 1e-6, "dx {e:.3e}");
    let e = fd_check(&mut h0.clone().into_dyn(), &grads.dh0.clone().into_dyn(), &mut |v| {
        loss(&x, &v.clone().into_dimensionality().unwrap(), &w_x, &w_h, &b)
    });
    assert!(e < 1e-6, "dh0 {e:.3e}");
    let e = fd_check(&mut w_x.clone().into_dyn(), &grads.dw_x.clone().into_dyn(), &mut |v| {
        loss(&x, &h0, &v.clone().into_dimensionality().unwrap(), &w_h, &b)
    });
    assert!(e < 1e-6, "dW_x {e:.3e}");
    let e = fd_check(&mut w_h.clone().into_dyn(), &grads.dw_h.clone().into_dyn(), &mut |v| {
        loss(&x, &h0, &w_x, &v.clone().into_dimensionality().unwrap(), &b)
    });
    assert!(e < 1e-6, "dW_h {e:.3e}");
    let e = fd_check(&mut ndarray::Array1::from(b.to_vec()).into_dyn(), &grads.db.clone().into_dyn(), &mut |v| {
        loss(&x, &h0, &w_x, &w_h, v.as_slice().unwrap())
    });
    assert!(e < 1e-6, "db {e:.3e}");
    // Gradients cross time: x at step 0 gets a non-zero gradient from the last state.
    assert!(grads.dx.slice(s![0, 0, ..]).iter().all(|v| v.abs() > 1e-6));
}

/// `grads --layout course` with `dy` (the gradient of the output's logits `Wya·a⟨t⟩ + by`)
/// instead of `da`: every gradient, `dWya` and `dby` included, against centred finite
/// differences of `L = Σ_t Σ dy⟨t⟩ ⊙ (Wya·a⟨t⟩ + by)`, for the RNN (`Wya`) and the LSTM (`Wy`);
/// and `da` given beside `dy` adds `Σ a ⊙ da` to that loss.
#[test]
fn a_case_with_dy_gives_the_output_layers_gradients() {
    use recurrent::CellKind;
    let mut r = NumpyRng::new(11);
    let (x, a0) = (randn3(&mut r, 3, 2, 4), randn2(&mut r, 4, 2));
    let rnn = draw(&mut r, &[("Wax", 4, 3), ("Waa", 4, 4), ("Wya", 5, 4), ("ba", 4, 1), ("by", 5, 1)]);
    let lstm = draw(
        &mut r,
        &[
            ("Wf", 4, 7),
            ("bf", 4, 1),
            ("Wi", 4, 7),
            ("bi", 4, 1),
            ("Wc", 4, 7),
            ("bc", 4, 1),
            ("Wo", 4, 7),
            ("bo", 4, 1),
            ("Wy", 5, 4),
            ("by", 5, 1),
        ],
    );
    let dy = randn3(&mut r, 5, 2, 4);
    let da = randn3(&mut r, 4, 2, 4);
    for (kind, p, wy) in [(CellKind::Rnn, &rnn, "Wya"), (CellKind::Lstm, &lstm, "Wy")] {
        for with_da in [false, true] {
            let case = |p: &Params, x: &Array3<f64>, a0: &Array2<f64>| -> Tensors {
                let mut c: Tensors = p.iter().map(|(k, v)| (k.clone(), v.clone().into_dyn())).collect();
                c.insert("x".into(), x.clone().into_dyn());
                c.insert("a0".into(), a0.clone().into_dyn());
                c.insert("dy".into(), dy.clone().into_dyn());
                if with_da {
                    c.insert("da".into(), da.clone().into_dyn());
                }
                c
            };
            let loss = |p: &Params, x: &Array3<f64>, a0: &Array2<f64>| -> f64 {
                let a = match kind {
                    CellKind::Rnn => rnn_forward(x.view(), a0.view(), p).unwrap().0,
                    _ => lstm_forward(x.view(), a0.view(), p).unwrap().0,
                };
                let mut l = if with_da { seq_loss(&a, &da) } else { 0.0 };
                for t in 0..4 {
                    let z = p[wy].dot(&a.slice(s![.., .., t])) + &p["by"];
                    l += (&z * &dy.slice(s![.., .., t])).sum();
                }
                l
            };
            let g = grads_for_case(kind, &case(p, &x, &a0)).unwrap();
            let what = format!("{kind:?}, da given: {with_da}");
            let names: &[&str] =
                if kind == CellKind::Rnn { &["Wax", "Waa", "ba", "Wya", "by"] } else { &["Wf", "bo", "Wy", "by"] };
            for &name in names {
                let e = fd_check(&mut p[name].clone().into_dyn(), &g[&format!("d{name}")], &mut |v| {
                    let mut q = p.clone();
                    q.insert(name.into(), v.clone().into_dimensionality().unwrap());
                    loss(&q, &x, &a0)
                });
                assert!(e < 1e-6, "{what}: d{name}: {e:.3e}");
            }
            let e = fd_check(&mut x.clone().into_dyn(), &g["dx"], &mut |v| {
                loss(p, &v.clone().into_dimensionality().unwrap(), &a0)
            });
            assert!(e < 1e-6, "{what}: dx: {e:.3e}");
            let e = fd_check(&mut a0.clone().into_dyn(), &g["da0"], &mut |v| {
                loss(p, &x, &v.clone().into_dimensionality().unwrap())
            });
            assert!(e < 1e-6, "{what}: da0: {e:.3e}");
        }
    }
    // dy without the output layer: one error naming what is missing.
    let mut c: Tensors =
        rnn.iter().filter(|(k, _)| *k != "Wya").map(|(k, v)| (k.clone(), v.clone().into_dyn())).collect();
    c.insert("x".into(), x.clone().into_dyn());
    c.insert("a0".into(), a0.clone().into_dyn());
    c.insert("dy".into(), dy.clone().into_dyn());
    let e = grads_for_case(CellKind::Rnn, &c).unwrap_err().to_string();
    assert!(e.contains("Wya (n_y, n_a) and by (n_y, 1): dy needs the output layer"), "{e}");
}
