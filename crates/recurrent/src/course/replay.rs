//! The course's test cells, replayed: `np.random.seed(1)`, then the arrays in the order each
//! cell draws them. With these a learner's notebook and this library see the same numbers.

use super::Params;
use crate::rng::NumpyRng;
use ndarray::{Array2, Array3, Ix2, Ix3};

/// A replayed cell: its generator (positioned after the cell's draws) and what it drew.
pub struct Replay {
    /// Continue drawing from here (e.g. `da_next` after a forward pass).
    pub rng: NumpyRng,
    /// The inputs, by the course's names (`xt`, `x`, `a_prev`, `a0`, `c_prev`).
    pub inputs: Params,
    /// `x` for the sequence cells, `(n_x, m, T_x)`.
    pub x: Option<Array3<f64>>,
    /// The parameters.
    pub parameters: Params,
}

/// `np.random.randn(a, b)`.
pub fn randn2(r: &mut NumpyRng, a: usize, b: usize) -> Array2<f64> {
    r.randn(&[a, b]).into_dimensionality::<Ix2>().expect("2-d")
}

/// `np.random.randn(a, b, c)`.
pub fn randn3(r: &mut NumpyRng, a: usize, b: usize, c: usize) -> Array3<f64> {
    r.randn(&[a, b, c]).into_dimensionality::<Ix3>().expect("3-d")
}

/// The forward RNN cells' draw order: (name, rows, columns).
pub const RNN_FORWARD: &[(&str, usize, usize)] =
    &[("Waa", 5, 5), ("Wax", 5, 3), ("Wya", 2, 5), ("ba", 5, 1), ("by", 2, 1)];
/// The backward RNN cells' draw order (`Wax` before `Waa`).
pub const RNN_BACKWARD: &[(&str, usize, usize)] =
    &[("Wax", 5, 3), ("Waa", 5, 5), ("Wya", 2, 5), ("ba", 5, 1), ("by", 2, 1)];
/// The LSTM cells' draw order.
pub const LSTM: &[(&str, usize, usize)] = &[
    ("Wf", 5, 8),
    ("bf", 5, 1),
    ("Wi", 5, 8),
    ("bi", 5, 1),
    ("Wo", 5, 8),
    ("bo", 5, 1),
    ("Wc", 5, 8),
    ("bc", 5, 1),
    ("Wy", 2, 5),
    ("by", 2, 1),
];

/// The gate parameters only, in the LSTM cells' order: the course's `lstm_backward` test cell
/// draws these and sets `Wy`, `by` to zeros.
pub const LSTM_GATES: &[(&str, usize, usize)] =
    &[("Wf", 5, 8), ("bf", 5, 1), ("Wi", 5, 8), ("bi", 5, 1), ("Wo", 5, 8), ("bo", 5, 1), ("Wc", 5, 8), ("bc", 5, 1)];

/// Parameters drawn in `order`, each `np.random.randn(rows, cols)`.
pub fn draw(rng: &mut NumpyRng, order: &[(&str, usize, usize)]) -> Params {
    order.iter().map(|&(n, a, b)| (n.to_string(), randn2(rng, a, b))).collect()
}

/// Replays a cell: `inputs` are 2-d draws (name, rows, cols) after an optional 3-d `x`.
fn replay(
    x: Option<(usize, usize, usize)>,
    inputs: &[(&str, usize, usize)],
    params: &[(&str, usize, usize)],
) -> Replay {
    let mut rng = NumpyRng::new(1);
    let x = x.map(|(a, b, c)| randn3(&mut rng, a, b, c));
    let inputs = inputs.iter().map(|&(n, a, b)| (n.to_string(), randn2(&mut rng, a, b))).collect();
    let parameters = draw(&mut rng, params);
    Replay { rng, inputs, x, parameters }
}

/// The cell testing `rnn_cell_forward` (and, with `backward`, `rnn_cell_backward`, which draws
/// `Wax` before `Waa`).
pub fn rnn_cell(backward: bool) -> Replay {
    replay(None, &[("xt", 3, 10), ("a_prev", 5, 10)], if backward { RNN_BACKWARD } else { RNN_FORWARD })
}

/// The cell testing `rnn_forward` (or `rnn_backward`).
pub fn rnn_seq(backward: bool) -> Replay {
    replay(Some((3, 10, 4)), &[("a0", 5, 10)], if backward { RNN_BACKWARD } else { RNN_FORWARD })
}

/// The cell testing `lstm_cell_forward` and `lstm_cell_backward`.
pub fn lstm_cell() -> Replay {
    replay(None, &[("xt", 3, 10), ("a_prev", 5, 10), ("c_prev", 5, 10)], LSTM)
}

/// The cell testing `lstm_forward`.
pub fn lstm_seq() -> Replay {
    replay(Some((3, 10, 7)), &[("a0", 5, 10)], LSTM)
}

/// The cell testing `lstm_backward`: `x (3, 10, 7)`, `a0`, the eight gate arrays, and `Wy (2, 5)`,
/// `by (2, 1)` set to zeros, not drawn; the generator is then where the course draws
/// `da (5, 10, 4)` (after `lstm_forward`, which draws nothing).
pub fn lstm_backward_seq() -> Replay {
    let mut r = replay(Some((3, 10, 7)), &[("a0", 5, 10)], LSTM_GATES);
    r.parameters.insert("Wy".into(), Array2::zeros((2, 5)));
    r.parameters.insert("by".into(), Array2::zeros((2, 1)));
    r
}
