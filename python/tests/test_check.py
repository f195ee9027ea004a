"""`recurrent.check` on a learner's functions: the course's own (numpy) solution passes, each
classic mistake is named with the first step that differs, a shape mistake says the expected
shape. The learner's functions below are written in numpy here, as a learner writes them."""

import numpy as np
import pytest

import recurrent
from recurrent import course


def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, p) = cache
    dtanh = da_next * (1 - a_next ** 2)
    return {"dxt": p["Wax"].T @ dtanh, "da_prev": p["Waa"].T @ dtanh, "dWax": dtanh @ xt.T,
            "dWaa": dtanh @ a_prev.T, "dba": np.sum(dtanh, axis=1, keepdims=True)}


def rnn_backward(da, caches, carry=True, every_step=True, cell=rnn_cell_backward):
    (caches_list, x) = caches
    (a1, a0, x1, p) = caches_list[0]
    n_a, m, T_x = da.shape
    n_x = x1.shape[0]
    dx, dWax, dWaa, dba = np.zeros((n_x, m, T_x)), np.zeros((n_a, n_x)), np.zeros((n_a, n_a)), np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        g = cell(da[:, :, t] + (da_prevt if carry else 0), caches_list[t])
        dx[:, :, t] = g["dxt"]
        da_prevt = g["da_prev"]
        if every_step or t == T_x - 1:
            dWax += g["dWax"]
            dWaa += g["dWaa"]
            dba += g["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def test_a_correct_implementation_passes():
    for fn in (rnn_cell_backward, rnn_backward, course.rnn_forward, course.lstm_backward, course.lstm_cell_forward):
        r = recurrent.check(fn)
        assert r.passed, str(r)
        assert "correct on 3 random cases" in str(r)


def test_da_prev_not_carried_back_is_named_with_its_first_step():
    def rnn_backward_no_carry(da, caches):
        return rnn_backward(da, caches, carry=False)

    r = recurrent.check(rnn_backward_no_carry, name="rnn_backward")
    assert not r.passed
    assert r.mistake == "no_da_prev"
    assert r.first_bad_step == 2, "T_x = 4: step 3 is right, step 2 is the first wrong one walking back"
    assert "da_prev" in str(r) and "step t = 2 is the first" in str(r)


def test_last_step_only_is_named():
    def rnn_backward_last(da, caches):
        return rnn_backward(da, caches, every_step=False)

    r = recurrent.check(rnn_backward_last, name="rnn_backward")
    assert r.mistake == "last_step_only", str(r)
    assert r.first_bad_step is None, "dx is right"


def test_a_missing_tanh_derivative_is_named():
    def rnn_cell_backward_no_tanh(da_next, cache):
        a_next, a_prev, xt, p = cache
        return rnn_cell_backward(da_next, (np.zeros_like(a_next), a_prev, xt, p))

    r = recurrent.check(rnn_cell_backward_no_tanh, name="rnn_cell_backward")
    assert r.mistake == "no_tanh_derivative", str(r)


@pytest.mark.parametrize("mistake", ["no_dc_prev", "no_recurrence", "no_da_prev"])
def test_the_lstm_mistakes_are_named(mistake):
    def lstm_backward_wrong(da, caches):
        steps, x = caches
        n_a, m, T = da.shape
        n_x = x.shape[0]
        dx = np.zeros((n_x, m, T))
        sums = {}
        da_prev, dc_prev = np.zeros((n_a, m)), np.zeros((n_a, m))
        for t in reversed(range(T)):
            da_in = da[:, :, t] + (0 if mistake in ("no_da_prev", "no_recurrence") else da_prev)
            dc_in = np.zeros((n_a, m)) if mistake in ("no_dc_prev", "no_recurrence") else dc_prev
            g = course.lstm_cell_backward(da_in, dc_in, steps[t])
            dx[:, :, t] = g["dxt"]
            da_prev, dc_prev = g["da_prev"], g["dc_prev"]
            for k, v in g.items():
                if k.startswith(("dW", "db")):
                    sums[k] = sums.get(k, 0) + v
        return dict(sums, dx=dx, da0=da_prev)

    r = recurrent.check(lstm_backward_wrong, name="lstm_backward")
    assert r.mistake == mistake, str(r)
    assert r.first_bad_step is not None and r.first_bad_step < 3


def test_a_shape_mistake_says_the_expected_shape():
    def rnn_cell_backward_flat(da_next, cache):
        g = rnn_cell_backward(da_next, cache)
        g["dba"] = g["dba"].ravel()  # no keepdims
        return g

    r = recurrent.check(rnn_cell_backward_flat, name="rnn_cell_backward")
    assert not r.passed
    assert "dba has shape (5,) but should be (5, 1): sum over the batch axis with keepdims=True" in str(r)


def test_an_unknown_function_is_refused():
    with pytest.raises(ValueError, match="check does not know 'my_func'"):
        recurrent.check(lambda: None, name="my_func")


def _min_char_rnn_loss_fun(change=None):
    """Karpathy's lossFun, from its original source (scripts/min_char_rnn.py keeps it
    unchanged), in a namespace of its own whose globals the checker sets; `change` (old, new)
    edits the source first, as a learner's slip would."""
    from conftest import ROOT
    src = (ROOT / "scripts/min_char_rnn.py").read_text()
    src = src[src.index("def lossFun"):src.index("def sample")]
    if change:
        assert change[0] in src
        src = src.replace(*change)
    ns = {"np": np}
    exec(src, ns)
    return ns["lossFun"]


def test_min_char_rnn_loss_fun_is_right():
    r = recurrent.check(_min_char_rnn_loss_fun())
    assert r.passed, str(r)
    assert str(r).startswith("lossFun: correct on 3 random cases")


def test_a_loss_fun_without_dhnext_is_caught():
    r = recurrent.check(_min_char_rnn_loss_fun(("dh = np.dot(Why.T, dy) + dhnext", "dh = np.dot(Why.T, dy)")))
    assert not r.passed
    assert "dWhh differs" in str(r) and "dWxh differs" in str(r), str(r)
    assert "dWhy" not in str(r), "the head's gradient does not depend on dhnext"


class SimpleRNN:
    """A learner's batch-first SimpleRNN (SPEC's S3), with a correct backward through time."""

    def __init__(self, W_x, W_h, b):
        self.W_x, self.W_h, self.b = W_x, W_h, b

    def forward(self, x):
        self.x = x
        self.hs = [np.zeros((x.shape[0], self.W_h.shape[0]))]
        for t in range(x.shape[1]):
            self.hs.append(np.tanh(x[:, t] @ self.W_x + self.hs[-1] @ self.W_h + self.b))
        return self.hs[-1]

    def backward(self, dh):
        dW_x, dW_h, db = np.zeros_like(self.W_x), np.zeros_like(self.W_h), np.zeros_like(self.b)
        dx = np.zeros_like(self.x)
        for t in reversed(range(self.x.shape[1])):
            dpre = dh * (1 - self.hs[t + 1] ** 2)
            dW_x += self.x[:, t].T @ dpre
            dW_h += self.hs[t].T @ dpre
            db += dpre.sum(axis=0)
            dx[:, t] = dpre @ self.W_x.T
            dh = dpre @ self.W_h.T
        return {"dx": dx, "dh": dh, "dW_x": dW_x, "dW_h": dW_h, "db": db}


def test_a_batch_first_simple_rnn_class_is_checked():
    assert recurrent.check(SimpleRNN).passed

    class SeedsBackward(SimpleRNN):
        # The tutorial's seed: gradients of one step only, never walked back through time.
        def backward(self, dh):
            dpre = dh * (1 - self.hs[-1] ** 2)
            return {"dx": np.zeros_like(self.x), "dh": dpre @ self.W_h.T, "dW_x": self.x[:, -1].T @ dpre,
                    "dW_h": self.hs[-2].T @ dpre, "db": dpre.sum(axis=0)}

    r = recurrent.check(SeedsBackward)
    assert not r.passed and "dW_h differs" in str(r) and "dx differs" in str(r), str(r)


def test_the_simple_rnn_worked_example():
    # SPEC S3's worked example: the last state [[0.79494228, 0.81839002, 0.83939649, 0.85584174]].
    x = np.array([[[1, 2], [2, 3], [3, 4]]]) / 100
    W_x = np.array([[1, 3, 5, 7], [3, 5, 7, 8]]) / 100
    W_h = np.array([[1, 3, 5, 7], [2, 4, 6, 8], [3, 5, 7, 8], [4, 6, 8, 10]]) / 100
    h = recurrent._core.simple_rnn(W_x, W_h, np.ones(4), x, np.zeros((1, 4)), np.ones((1, 4)))[0]
    np.testing.assert_allclose(h, [[0.79494228, 0.81839002, 0.83939649, 0.85584174]], atol=1e-8)
