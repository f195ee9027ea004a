//! `recurrent gradcheck` and `recurrent grads` end to end, as a learner runs them.

mod common;
use common::{recurrent, stderr};

use recurrent::interop::{read_npz, write_npz};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../recurrent/tests/fixtures").join(name)
}

#[test]
fn gradcheck_lstm_two_layers_bidirectional_passes() {
    let o = recurrent(&["gradcheck", "--cell", "lstm", "--layers", "2", "--bidirectional"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // 16 recurrent tensors, the head's 2, x, h0, c0.
    assert_eq!(out.lines().filter(|l| l.ends_with(" pass")).count(), 21, "{out}");
    assert!(out.contains("PASS: all 21 tensors below 1e-6"), "{out}");
}

#[test]
fn gradcheck_every_cell_without_head() {
    for cell in ["rnn", "gru"] {
        let o = recurrent(&["gradcheck", "--cell", cell, "--classes", "0", "--seq-len", "4", "--batch", "2"]);
        assert!(o.status.success(), "{cell}: {}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn gradcheck_rejects_an_unknown_cell() {
    let o = recurrent(&["gradcheck", "--cell", "transformer"]);
    assert_eq!(o.status.code(), Some(2));
    // clap's own message and layout: the value, then the possible ones.
    let e = stderr(&o);
    assert!(e.starts_with("error: invalid value 'transformer' for '--cell <CELL>'"), "{e}");
    assert!(e.contains("[possible values: rnn, lstm, gru]"), "{e}");
}

#[test]
fn gradcheck_rejects_hidden_zero() {
    let o = recurrent(&["gradcheck", "--hidden", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hidden size is 0"), "{}", stderr(&o));
}

/// A case saved with np.savez (here the PyTorch fixture) gives PyTorch's gradients back.
#[test]
fn grads_round_trips_a_numpy_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.npz");
    let case = fixture("torch_gru_tm.npz");
    let o = recurrent(&["grads", case.to_str().unwrap(), "--cell", "gru", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ours, theirs) = (read_npz(&out).unwrap(), read_npz(&case).unwrap());
    for name in ["y", "h_n", "dx", "dh0", "dweight_ih_l0", "dweight_hh_l1_reverse", "dbias_hh_l1"] {
        let (a, b) = (&ours[name], &theirs[name]);
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-12, "{name}: largest difference from PyTorch {diff}");
    }
}

#[test]
fn grads_names_a_tensor_with_the_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut case = read_npz(&fixture("torch_rnn_tm.npz")).unwrap();
    case.insert("x".into(), ndarray::ArrayD::zeros(vec![6, 3, 7]));
    let p = dir.path().join("case.npz");
    write_npz(&p, &case).unwrap();
    let o = recurrent(&["grads", p.to_str().unwrap(), "--cell", "rnn", "--out", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("x is (6, 3, 7) but the weights expect (T, B, I) with input size 4"), "{e}");
}

#[test]
fn grads_says_which_cell_the_weights_are_not() {
    let o =
        recurrent(&["grads", fixture("torch_rnn_tm.npz").to_str().unwrap(), "--cell", "lstm", "--out", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("weight_hh_l0 is (5, 5) but a lstm has 4 gates"), "{}", stderr(&o));
}

#[test]
fn grads_reports_a_missing_file() {
    let o = recurrent(&["grads", "/nonexistent/case.npz", "--cell", "rnn", "--out", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/case.npz"), "{}", stderr(&o));
}

/// `grads --layout course` on cases saved by numpy exactly as the course draws them
/// (scripts/course_reference.py): the course's gradient names and shapes, and torch's float64
/// values (course_reference.npz). lstm_backward's da has 4 steps for a 7-step x, as in the
/// course: the gradients are for the first 4 steps, with a note; lstm_cell_backward's case, with
/// a non-zero c_prev and dc_next, under the cell function's names.
#[test]
fn grads_course_layout_round_trips_numpy_cases() {
    let reference = read_npz(&fixture("course_reference.npz")).unwrap();
    let lstm = ["dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"];
    for (case, cell, prefix, names) in [
        ("rnn", "rnn", "rnn_backward.", vec!["dx", "da0", "dWax", "dWaa", "dba"]),
        ("lstm", "lstm", "lstm_backward.", [&["dx", "da0"][..], &lstm].concat()),
        ("lstm_cell", "lstm", "lstm_cell_backward.", [&["dxt", "da_prev", "dc_prev"][..], &lstm].concat()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ours.npz");
        let case_path = fixture(&format!("course_case_{case}.npz"));
        let o = recurrent(&[
            "grads",
            case_path.to_str().unwrap(),
            "--cell",
            cell,
            "--layout",
            "course",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // A case whose parameters hold the output layer (the LSTM cases, as the course's dicts
        // do), which a backward from da does not use: one note says so, and how to have its
        // gradients.
        let w = if cell == "rnn" { "Wya" } else { "Wy" };
        let unused = format!("note: {w} and by are not used by a backward from da; give dy (the gradient of the loss with respect to {w}·a + by, ŷ − y for the softmax cross-entropy) instead of da to get d{w} and dby too");
        let has_output_layer = read_npz(&case_path).unwrap().contains_key(w);
        let mut want = if has_output_layer { vec![unused.as_str()] } else { Vec::new() };
        if case == "lstm" {
            want.push("note: da has 4 steps and x 7: gradients are for the first 4 steps, as the course's backward takes T_x from da; dx is (3, 10, 4)");
        }
        assert_eq!(stderr(&o).lines().collect::<Vec<_>>(), want);
        let ours = read_npz(&out).unwrap();
        for n in &names {
            let want = &reference[&format!("{prefix}{n}")];
            let got = &ours[*n];
            // Biases: the course's (n, 1) against torch's (n, 1) or (n,).
            assert_eq!(got.len(), want.len(), "{case} {n}");
            if !n.starts_with("db") {
                assert_eq!(got.shape(), want.shape(), "{case} {n}: the course's shape");
            }
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let d = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(d <= 1e-10 * scale, "{case} {n}: differs from torch by {d:.3e}");
        }
    }
}

/// `grads --batch-first` takes PyTorch's batch-first fixture and gives its gradients; without
/// the flag the message says how B was read and names the flag.
#[test]
fn grads_batch_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ours.npz");
    let case = fixture("torch_lstm_bf.npz");
    let args = ["grads", case.to_str().unwrap(), "--cell", "lstm", "--out", out.to_str().unwrap()];
    let o = recurrent(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("add --batch-first"), "{}", stderr(&o));
    let o = recurrent(&[&args[..], &["--batch-first"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let (ours, theirs) = (read_npz(&out).unwrap(), read_npz(&case).unwrap());
    for name in ["y", "dx", "dh0", "dc0", "dweight_hh_l1_reverse"] {
        let d = (&ours[name] - &theirs[name]).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(d < 1e-12, "{name}: {d:.3e}");
    }
}

#[test]
fn grads_course_layout_names_the_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut case = read_npz(&fixture("course_case_rnn.npz")).unwrap();
    case.insert("x".into(), ndarray::ArrayD::zeros(vec![4, 10, 7]));
    let p = dir.path().join("case.npz");
    write_npz(&p, &case).unwrap();
    let o = recurrent(&["grads", p.to_str().unwrap(), "--cell", "rnn", "--layout", "course", "--out", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x is (4, 10, 7) but Wax expects n_x = 3"), "{}", stderr(&o));
}
