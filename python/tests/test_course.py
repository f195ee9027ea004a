"""Every course function against the course's printed values (the notebook's test cells
replayed: np.random.seed(1), the same draws in the same order) and against PyTorch float64
gradients of the same arrays (crates/recurrent/tests/fixtures/course_reference.npz, written by
scripts/course_reference.py)."""

import numpy as np
import pytest

from recurrent import course


def close(got, want, tol):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=tol)


def against(g, ref, prefix, tol=1e-10):
    keys = [k[len(prefix):] for k in ref if k.startswith(prefix)]
    assert keys, prefix
    for k in keys:
        close(g[k], ref[prefix + k], tol)


def rnn_params(order):
    return {n: np.random.randn(*s) for n, s in order}


RNN_FWD = [("Waa", (5, 5)), ("Wax", (5, 3)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))]
RNN_BWD = [("Wax", (5, 3)), ("Waa", (5, 5)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))]
LSTM = [("Wf", (5, 8)), ("bf", (5, 1)), ("Wi", (5, 8)), ("bi", (5, 1)), ("Wo", (5, 8)), ("bo", (5, 1)),
        ("Wc", (5, 8)), ("bc", (5, 1)), ("Wy", (2, 5)), ("by", (2, 1))]


def test_rnn_cell_forward_prints_the_course_values():
    np.random.seed(1)
    xt, a_prev = np.random.randn(3, 10), np.random.randn(5, 10)
    p = rnn_params(RNN_FWD)
    a_next, yt_pred, cache = course.rnn_cell_forward(xt, a_prev, p)
    close(a_next[4], [0.59584544, 0.18141802, 0.61311866, 0.99808218, 0.85016201, 0.99980978, -0.18887155,
                      0.99815551, 0.6531151, 0.82872037], 1e-8)
    close(yt_pred[1], [0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387, 0.88945212, 0.36920224,
                       0.9966312, 0.9982559, 0.17746526], 1e-8)
    assert a_next.shape == (5, 10) and yt_pred.shape == (2, 10)
    assert len(cache) == 4 and cache[3] is p and cache[1] is a_prev or np.array_equal(cache[1], a_prev)


def test_rnn_forward_prints_the_course_values():
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 4), np.random.randn(5, 10)
    p = rnn_params(RNN_FWD)
    a, y_pred, caches = course.rnn_forward(x, a0, p)
    close(a[4][1], [-0.99999375, 0.77911235, -0.99861469, -0.99833267], 1e-8)
    close(y_pred[1][3], [0.79560373, 0.86224861, 0.11118257, 0.81515947], 1e-8)
    close(caches[1][1][3], [-1.1425182, -0.34934272, -0.20889423, 0.58662319], 1e-8)
    assert a.shape == (5, 10, 4) and y_pred.shape == (2, 10, 4) and len(caches) == 2 and len(caches[0]) == 4


def test_lstm_cell_forward_prints_the_course_values():
    np.random.seed(1)
    xt, a_prev, c_prev = np.random.randn(3, 10), np.random.randn(5, 10), np.random.randn(5, 10)
    p = rnn_params(LSTM)
    a_next, c_next, yt, cache = course.lstm_cell_forward(xt, a_prev, c_prev, p)
    close(a_next[4], [-0.66408471, 0.0036921, 0.02088357, 0.22834167, -0.85575339, 0.00138482, 0.76566531,
                      0.34631421, -0.00215674, 0.43827275], 1e-8)
    close(yt[1], [0.79913913, 0.15986619, 0.22412122, 0.15606108, 0.97057211, 0.31146381, 0.00943007,
                  0.12666353, 0.39380172, 0.07828381], 1e-8)
    assert len(cache) == 10 and cache[1].shape == (5, 10)


def test_lstm_forward_prints_the_course_values():
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 7), np.random.randn(5, 10)
    p = rnn_params(LSTM)
    a, y, c, caches = course.lstm_forward(x, a0, p)
    close([a[4][3][6], y[1][4][3], c[1][2][1]], [0.172117767533, 0.95087346185, -0.855544916718], 1e-11)
    assert len(caches[0]) == 7


def test_rnn_cell_backward(torch_reference):
    np.random.seed(1)
    xt, a_prev = np.random.randn(3, 10), np.random.randn(5, 10)
    p = rnn_params(RNN_BWD)
    _, _, cache = course.rnn_cell_forward(xt, a_prev, p)
    g = course.rnn_cell_backward(np.random.randn(5, 10), cache)
    against(g, torch_reference, "rnn_cell_backward.")
    close([g["dxt"][1][2], g["da_prev"][2][3]], [-1.3872130506, -0.152399493774], 1e-10)


def test_rnn_backward(torch_reference):
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 4), np.random.randn(5, 10)
    p = rnn_params(RNN_BWD)
    _, _, caches = course.rnn_forward(x, a0, p)
    against(course.rnn_backward(np.random.randn(5, 10, 4), caches), torch_reference, "rnn_backward.")


def test_lstm_cell_backward(torch_reference):
    np.random.seed(1)
    xt, a_prev, c_prev = np.random.randn(3, 10), np.random.randn(5, 10), np.random.randn(5, 10)
    p = rnn_params(LSTM)
    _, _, _, cache = course.lstm_cell_forward(xt, a_prev, c_prev, p)
    da, dc = np.random.randn(5, 10), np.random.randn(5, 10)
    against(course.lstm_cell_backward(da, dc, cache), torch_reference, "lstm_cell_backward.")


def test_lstm_backward_replays_the_course_cell(torch_reference):
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 7), np.random.randn(5, 10)
    p = rnn_params(LSTM[:8])
    p["Wy"], p["by"] = np.zeros((2, 5)), np.zeros((2, 1))
    _, _, _, caches = course.lstm_forward(x, a0, p)
    g = course.lstm_backward(np.random.randn(5, 10, 4), caches)
    against(g, torch_reference, "lstm_backward.")
    close(g["dx"][1][2], [0.00218254, 0.28205375, -0.48292508, -0.43281115], 1e-8)
    close([g["da0"][2][3]], [0.312770310257], 1e-12)


def test_float32_and_fortran_order_are_accepted():
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 4), np.random.randn(5, 10)
    p = rnn_params(RNN_FWD)
    a, _, _ = course.rnn_forward(x, a0, p)
    a32, _, _ = course.rnn_forward(x.astype(np.float32), np.asfortranarray(a0), {k: np.asfortranarray(v) for k, v in p.items()})
    close(a32, a, 1e-6)


def test_bad_inputs_raise_value_and_type_errors():
    np.random.seed(1)
    x, a0 = np.random.randn(4, 10, 7), np.random.randn(5, 10)
    p = rnn_params(RNN_FWD)
    with pytest.raises(ValueError, match=r"x is \(4, 10, 7\) but Wax expects n_x = 3"):
        course.rnn_forward(x, a0, p)
    with pytest.raises(ValueError, match=r"x has shape \(4, 10\) but must be 3-d: \(n_x, m, T_x\)"):
        course.rnn_forward(x[:, :, 0], a0, p)
    with pytest.raises(TypeError, match="a0 must be a numpy array"):
        course.rnn_forward(x, "a0", p)
    with pytest.raises(TypeError, match="parameters must be a dict"):
        course.rnn_forward(x, a0, [1, 2])
    del p["Waa"]
    with pytest.raises(ValueError, match=r'missing tensor parameters\["Waa"\]'):
        course.rnn_forward(np.random.randn(3, 10, 4), a0, p)
    with pytest.raises(ValueError, match="an RNN cache is"):
        course.rnn_cell_backward(np.zeros((5, 10)), (1, 2))
