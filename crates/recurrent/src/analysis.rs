//! Looking inside a trained character model, after Karpathy, Johnson and Fei-Fei, "Visualizing
//! and Understanding Recurrent Networks" (2015): every unit's activation over a passage and the
//! simple features of the text it tracks, the model's next-character distribution, how often
//! each gate saturates, and how far back a loss reaches (‖∂L_T/∂h_t‖ against T − t).
//!
//! Everything here runs the model's own forward and backward passes ([`Recurrent::forward_rows`],
//! [`Recurrent::backward_rows`]); nothing re-implements a cell. `recurrent report` renders it.

use crate::cell::CellKind;
use crate::error::Result;
use crate::layer::stack::{Input, State};
use crate::loss::softmax_in_place;
use crate::model::CharModel;
use crate::Float;
use ndarray::{s, Array2, Axis};

/// What the model does over a passage, one step per character, read from one stream from a zero
/// state (in chunks of up to 256 steps, the state carried).
#[derive(Clone, Debug)]
pub struct Trace {
    /// Per layer, `(T, H)`: `h_t`.
    pub h: Vec<Array2<f32>>,
    /// Per layer, `(T, H)`: the LSTM's `c_t` (empty for the other cells).
    pub c: Vec<Array2<f32>>,
    /// Per layer, `(T, G·H)`: the gate activations (see [`crate::layer::seq::SeqLayer::gate_activations`]).
    pub gates: Vec<Array2<f32>>,
    /// `(T, V)`: the predicted distribution of the next character after each step.
    pub probs: Array2<f32>,
}

/// Runs `model` over `tokens` and keeps every activation.
///
/// # Errors
/// A token outside the vocabulary.
pub fn trace(model: &mut CharModel<f32>, tokens: &[usize]) -> Result<Trace> {
    let (n, hsz, v, nl) = (tokens.len(), model.config.hidden, model.config.vocab, model.config.layers);
    let gh = model.config.cell.gates() * hsz;
    let lstm = model.config.cell == CellKind::Lstm;
    let mut tr = Trace {
        h: vec![Array2::zeros((n, hsz)); nl],
        c: vec![Array2::zeros((if lstm { n } else { 0 }, hsz)); nl],
        gates: vec![Array2::zeros((n, gh)); nl],
        probs: Array2::zeros((n, v)),
    };
    let mut state: Option<State<f32>> = None;
    let mut at = 0;
    while at < n {
        let len = 256.min(n - at);
        let x = Array2::from_shape_fn((len, 1), |(i, _)| tokens[at + i]);
        model.rnn.forward_rows(Input::Tokens(x.view()), state.as_ref(), None)?;
        for (l, layer) in model.rnn.layers.iter().enumerate() {
            tr.h[l].slice_mut(s![at..at + len, ..]).assign(&layer.output());
            tr.gates[l].slice_mut(s![at..at + len, ..]).assign(&layer.gate_activations());
            if lstm {
                tr.c[l].slice_mut(s![at..at + len, ..]).assign(&layer.cell_output());
            }
        }
        let mut logits = Array2::zeros((len, v));
        model.head.forward(model.rnn.output_rows(), &mut logits);
        for row in logits.rows_mut() {
            softmax_in_place(row);
        }
        tr.probs.slice_mut(s![at..at + len, ..]).assign(&logits);
        state = Some(model.rnn.final_state());
        at += len;
    }
    Ok(tr)
}

/// A sigmoid gate's saturation, per unit: the fraction of steps below 0.1 and above 0.9.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    /// The gate: LSTM `input`, `forget`, `output`; GRU `reset`, `update`.
    pub gate: &'static str,
    /// The layer (0 is the first).
    pub layer: usize,
    /// Per unit, the fraction of steps with activation < 0.1.
    pub left: Vec<f64>,
    /// Per unit, the fraction of steps with activation > 0.9.
    pub right: Vec<f64>,
}

/// The sigmoid gates of a cell and their block in a gate row (the tanh RNN has none).
pub fn sigmoid_gates(kind: CellKind) -> &'static [(&'static str, usize)] {
    match kind {
        CellKind::Lstm => &[("input", 0), ("forget", 1), ("output", 3)],
        CellKind::Gru => &[("reset", 0), ("update", 1)],
        CellKind::Rnn => &[],
    }
}

/// Left and right saturation of every sigmoid gate of every layer of `trace`.
pub fn saturation(trace: &Trace, kind: CellKind) -> Vec<Saturation> {
    let mut out = Vec::new();
    for (layer, g) in trace.gates.iter().enumerate() {
        let h = g.ncols() / kind.gates().max(1);
        let t = g.nrows().max(1) as f64;
        for &(gate, block) in sigmoid_gates(kind) {
            let cols = g.slice(s![.., block * h..(block + 1) * h]);
            let frac = |pred: &dyn Fn(f32) -> bool| -> Vec<f64> {
                cols.axis_iter(Axis(1)).map(|c| c.iter().filter(|&&v| pred(v)).count() as f64 / t).collect()
            };
            out.push(Saturation { gate, layer, left: frac(&|v| v < 0.1), right: frac(&|v| v > 0.9) });
        }
    }
    out
}

/// Simple features of a text, one value per character, as in the paper's cells: inside quotes,
/// inside brackets, position in the line, start of a word, after a newline, inside an
/// upper-case word (tiny-shakespeare's speaker names), a vowel, a space.
pub fn text_features(text: &[char]) -> Vec<(&'static str, Vec<f64>)> {
    let n = text.len();
    let (mut quote, mut bracket, mut line_pos, mut upper) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut word_start, mut after_nl, mut vowel, mut space) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut in_q, mut depth, mut pos) = (false, 0i32, 0usize);
    for (i, &c) in text.iter().enumerate() {
        if c == '"' {
            in_q = !in_q;
        }
        if c == '(' || c == '[' {
            depth += 1;
        }
        quote[i] = f64::from(u8::from(in_q));
        bracket[i] = f64::from(u8::from(depth > 0));
        if c == ')' || c == ']' {
            depth = (depth - 1).max(0);
        }
        line_pos[i] = pos as f64;
        pos = if c == '\n' { 0 } else { pos + 1 };
        let prev = if i > 0 { text[i - 1] } else { '\n' };
        word_start[i] = f64::from(u8::from(c.is_alphabetic() && !prev.is_alphabetic()));
        after_nl[i] = f64::from(u8::from(prev == '\n'));
        vowel[i] = f64::from(u8::from("aeiouAEIOU".contains(c)));
        space[i] = f64::from(u8::from(c == ' '));
        // Inside a word of two or more capitals (ROMEO, KING HENRY).
        let word = |j: usize| text[j].is_alphabetic();
        let (mut a, mut b) = (i, i);
        if word(i) {
            while a > 0 && word(a - 1) {
                a -= 1;
            }
            while b + 1 < n && word(b + 1) {
                b += 1;
            }
            upper[i] = f64::from(u8::from(b > a && (a..=b).all(|j| text[j].is_uppercase())));
        }
    }
    vec![
        ("inside quotes", quote),
        ("inside brackets", bracket),
        ("position in the line", line_pos),
        ("start of a word", word_start),
        ("after a newline", after_nl),
        ("inside an upper-case word", upper),
        ("a vowel", vowel),
        ("a space", space),
    ]
}

/// Pearson's correlation of two series (0 when either is constant).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// A unit that tracks a feature.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracker {
    /// The feature's name.
    pub feature: &'static str,
    /// `"h"` or `"c"`.
    pub state: &'static str,
    /// The layer.
    pub layer: usize,
    /// The unit.
    pub unit: usize,
    /// Pearson's r between the unit's activation and the feature.
    pub r: f64,
}

/// For each feature that varies over the passage, the unit (of `h`, and of `c` for the LSTM, in
/// any layer) whose activation correlates with it most strongly, by |r|.
pub fn best_trackers(trace: &Trace, features: &[(&'static str, Vec<f64>)]) -> Vec<Tracker> {
    let mut out = Vec::new();
    for (name, f) in features {
        if f.iter().all(|&v| v == f[0]) {
            continue;
        }
        let mut best: Option<Tracker> = None;
        for (state, arrays) in [("h", &trace.h), ("c", &trace.c)] {
            for (layer, a) in arrays.iter().enumerate().filter(|(_, a)| a.nrows() == f.len()) {
                for (unit, col) in a.axis_iter(Axis(1)).enumerate() {
                    let x: Vec<f64> = col.iter().map(|&v| v as f64).collect();
                    let r = correlation(&x, f);
                    if best.as_ref().is_none_or(|b| r.abs() > b.r.abs()) {
                        best = Some(Tracker { feature: name, state, layer, unit, r });
                    }
                }
            }
        }
        out.extend(best);
    }
    out
}

/// How far back a loss reaches: for each distance `k` of `distances` (≥ 1), the mean over the
/// window ends `T` of `ends` of ‖∂L_T/∂s_{T−k}‖, where `L_T` is the cross-entropy of the
/// prediction after step `T` (of `tokens[T + 1]`) and `s_t` is the hidden state after step `t`,
/// every layer's `h` (the LSTM's `c` is not included).
///
/// Each term is one backward pass of the model from the state `s_{T−k}` (run forward from the
/// start of the passage) over steps `T−k+1 ..= T`, with the gradient entering at step `T` only:
/// the `dh0` that [`crate::Recurrent::backward_rows`] returns. The model's parameter gradients are
/// touched and should be ignored.
///
/// # Errors
/// An end with fewer than `max(distances)` steps before it, or past the passage.
pub fn gradient_reach<F: Float>(
    model: &mut CharModel<F>,
    tokens: &[usize],
    ends: &[usize],
    distances: &[usize],
) -> Result<Vec<f64>> {
    let v = model.config.vocab;
    let mut sums = vec![0.0; distances.len()];
    let kmax = distances.iter().copied().max().unwrap_or(1);
    if let Some(&end) = ends.iter().find(|&&e| e < kmax || e + 1 >= tokens.len()) {
        return Err(crate::Error::Config(format!(
            "window end {end} needs {kmax} steps before it and a next character (passage of {})",
            tokens.len()
        )));
    }
    // The states s_t after every step up to the last end, from a zero state at the passage start.
    let last = ends.iter().copied().max().unwrap_or(0);
    let states = states_along(model, &tokens[..=last.min(tokens.len().saturating_sub(1))])?;
    for &end in ends {
        for (i, &k) in distances.iter().enumerate() {
            let seg = &tokens[end - k + 1..=end];
            let x = Array2::from_shape_fn((k, 1), |(j, _)| seg[j]);
            model.rnn.forward_rows(Input::Tokens(x.view()), Some(&states[end - k]), None)?;
            let mut logits = Array2::<F>::zeros((k, v));
            model.head.forward(model.rnn.output_rows(), &mut logits);
            let mut last = logits.row(k - 1).to_owned();
            softmax_in_place(last.view_mut());
            last[tokens[end + 1]] -= F::one(); // ∂L_T/∂logits = p − onehot
            let mut dy = Array2::<F>::zeros((k, model.config.hidden));
            dy.row_mut(k - 1).assign(&model.head.weight.t().dot(&last));
            let (_, ds) = model.rnn.backward_rows(dy.view(), None)?;
            sums[i] += ds.h.iter().map(|g| g.f64() * g.f64()).sum::<f64>().sqrt();
        }
    }
    Ok(sums.into_iter().map(|s| s / ends.len().max(1) as f64).collect())
}

/// The state after each step `t` of `tokens` (index `t`), from a zero state.
pub fn states_along<F: Float>(model: &mut CharModel<F>, tokens: &[usize]) -> Result<Vec<State<F>>> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut state: Option<State<F>> = None;
    for &tok in tokens {
        let x = Array2::from_elem((1, 1), tok);
        model.rnn.forward_rows(Input::Tokens(x.view()), state.as_ref(), None)?;
        let s = model.rnn.final_state();
        out.push(s.clone());
        state = Some(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Init, ModelConfig};
    use crate::rng::NumpyRng;

    // Features by hand on a short text.
    #[test]
    fn features_by_hand() {
        let text: Vec<char> = "KING: (ab) \"x\"\nno".chars().collect();
        let f: std::collections::HashMap<_, _> = text_features(&text).into_iter().collect();
        assert_eq!(f["inside an upper-case word"][..5], [1.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(f["inside brackets"][6..11], [1.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(f["inside quotes"][11..15], [1.0, 1.0, 0.0, 0.0]);
        assert_eq!(f["position in the line"][15..], [0.0, 1.0]);
        assert_eq!(f["after a newline"][15], 1.0);
        assert_eq!(f["start of a word"][..2], [1.0, 0.0]);
        // By hand: deviations (−1, 0, 1) and (−13/6, −1/6, 7/3): r = 4.5 / √(2 · 61/6) = 0.99795.
        assert!((correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.99795).abs() < 1e-5);
    }

    // The trace's activations are the model's own: the final h of a direct forward equals the
    // trace's last row, every layer; the probabilities sum to one.
    #[test]
    fn trace_matches_a_direct_forward() {
        let mc = ModelConfig { cell: CellKind::Lstm, vocab: 7, hidden: 5, layers: 2, dropout: 0.0 };
        let mut m = CharModel::<f32>::new(mc, Init::PyTorch, &mut NumpyRng::new(3)).unwrap();
        let tokens: Vec<usize> = (0..300).map(|i| (i * 7 + i / 3) % 7).collect();
        let tr = trace(&mut m, &tokens).unwrap();
        let states = states_along(&mut m, &tokens).unwrap();
        for l in 0..2 {
            let d = (&tr.h[l].row(299) - &states[299].h.slice(s![l, 0, ..])).iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!(d < 1e-6, "layer {l}: {d}");
            let d = (&tr.c[l].row(150) - &states[150].c.as_ref().unwrap().slice(s![l, 0, ..]))
                .iter()
                .fold(0f32, |a, v| a.max(v.abs()));
            assert!(d < 1e-6, "c, layer {l}: {d}");
        }
        assert!(tr.probs.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-5));
        let sat = saturation(&tr, CellKind::Lstm);
        assert_eq!(sat.len(), 6);
        assert!(sat.iter().all(|s| s.left.iter().zip(&s.right).all(|(a, b)| a + b <= 1.0)));
    }

    // ‖∂L_T/∂s_{T−k}‖ against centred finite differences in f64: perturb each entry of the state
    // s_{T−k}, run forward to T, and difference the loss of the next character.
    #[test]
    fn gradient_reach_matches_finite_differences() {
        for cell in [CellKind::Rnn, CellKind::Gru, CellKind::Lstm] {
            let mc = ModelConfig { cell, vocab: 6, hidden: 4, layers: 2, dropout: 0.0 };
            let mut m = CharModel::<f64>::new(mc, Init::PyTorch, &mut NumpyRng::new(9)).unwrap();
            let tokens: Vec<usize> = (0..20).map(|i| (i * 5 + 1) % 6).collect();
            let (end, k) = (12, 4);
            let got = gradient_reach(&mut m, &tokens, &[end], &[k]).unwrap()[0];
            let states = states_along(&mut m, &tokens[..=end]).unwrap();
            let loss = |m: &mut CharModel<f64>, s: &State<f64>| -> f64 {
                let x = Array2::from_shape_fn((k, 1), |(j, _)| tokens[end - k + 1 + j]);
                m.rnn.forward_rows(Input::Tokens(x.view()), Some(s), None).unwrap();
                let mut logits = Array2::zeros((k, 6));
                m.head.forward(m.rnn.output_rows(), &mut logits);
                let row = logits.row(k - 1);
                let mx = row.fold(f64::MIN, |a, &b| a.max(b));
                let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                lse - row[tokens[end + 1]]
            };
            let eps = 1e-6;
            let mut sq = 0.0;
            for i in 0..states[end - k].h.len() {
                let mut s = states[end - k].clone();
                let orig = s.h.as_slice().unwrap()[i];
                s.h.as_slice_mut().unwrap()[i] = orig + eps;
                let lp = loss(&mut m, &s);
                s.h.as_slice_mut().unwrap()[i] = orig - eps;
                let lm = loss(&mut m, &s);
                sq += ((lp - lm) / (2.0 * eps)).powi(2);
            }
            let want = sq.sqrt();
            assert!((got - want).abs() < 1e-7 * want.max(1e-3), "{cell}: {got} vs finite differences {want}");
        }
    }
}
