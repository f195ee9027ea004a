"""The numpy course "Building your Recurrent Neural Network - Step by Step", function for
function, computed by the Rust library: the same names, signatures, parameter dicts, cache
tuples and gradient dicts, so any one function can be swapped for yours and the rest kept.

Shapes are the course's: ``x (n_x, m, T_x)``, states ``(n_a, m)``, predictions ``(n_y, m)``;
RNN parameters ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``,
``by (n_y, 1)``; LSTM ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)`` acting on ``[a_prev; xt]``, ``bf, bi,
bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.
"""

from . import _core
from ._arrays import f64, params

_RNN = ("Wax", "Waa", "Wya", "ba", "by")
_LSTM = ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by")


def rnn_cell_forward(xt, a_prev, parameters):
    """One step: returns ``a_next (n_a, m)``, ``yt_pred (n_y, m)``, ``cache = (a_next, a_prev,
    xt, parameters)``."""
    xt, a_prev = f64(xt, "xt", 2, "(n_x, m)"), f64(a_prev, "a_prev", 2, "(n_a, m)")
    a_next, yt_pred = _core.rnn_cell_forward(xt, a_prev, params(parameters, _RNN))
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(x, a0, parameters):
    """The whole sequence: ``a (n_a, m, T_x)``, ``y_pred (n_y, m, T_x)``, ``caches = (list of
    the steps' caches, x)``."""
    x, a0 = f64(x, "x", 3, "(n_x, m, T_x)"), f64(a0, "a0", 2, "(n_a, m)")
    a, y_pred = _core.rnn_forward(x, a0, params(parameters, _RNN))
    caches = []
    for t in range(x.shape[2]):
        a_prev = a0 if t == 0 else a[:, :, t - 1]
        caches.append((a[:, :, t], a_prev, x[:, :, t], parameters))
    return a, y_pred, (caches, x)


def rnn_cell_backward(da_next, cache):
    """One step back: ``{"dxt", "da_prev", "dWax", "dWaa", "dba"}``."""
    da_next = f64(da_next, "da_next", 2, "(n_a, m)")
    return _core.rnn_cell_backward(da_next, _rnn_cache(cache))


def rnn_backward(da, caches):
    """Back through time from ``da (n_a, m, T_x)``, the upstream gradient of every ``a⟨t⟩``:
    ``{"dx", "da0", "dWax", "dWaa", "dba"}``."""
    da = f64(da, "da", 3, "(n_a, m, T_x)")
    steps, x = _pair(caches)
    return _core.rnn_backward(da, ([_rnn_cache(c) for c in steps], f64(x, "x", 3, "(n_x, m, T_x)")))


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One step: ``a_next``, ``c_next (n_a, m)``, ``yt_pred (n_y, m)``, ``cache = (a_next,
    c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)``."""
    xt = f64(xt, "xt", 2, "(n_x, m)")
    a_prev, c_prev = f64(a_prev, "a_prev", 2, "(n_a, m)"), f64(c_prev, "c_prev", 2, "(n_a, m)")
    (a_next, c_next, yt_pred), (ft, it, cct, ot) = _core.lstm_cell_forward(xt, a_prev, c_prev, params(parameters, _LSTM))
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)


def lstm_forward(x, a0, parameters):
    """The whole sequence: ``a (n_a, m, T_x)``, ``y (n_y, m, T_x)``, ``c (n_a, m, T_x)``,
    ``caches = (list of the steps' caches, x)``."""
    x, a0 = f64(x, "x", 3, "(n_x, m, T_x)"), f64(a0, "a0", 2, "(n_a, m)")
    (a, y, c), steps = _core.lstm_forward(x, a0, params(parameters, _LSTM))
    caches = [tuple(s) + (parameters,) for s in steps]
    return a, y, c, (caches, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """One step back: ``{"dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc",
    "dWo", "dbo"}``."""
    da_next, dc_next = f64(da_next, "da_next", 2, "(n_a, m)"), f64(dc_next, "dc_next", 2, "(n_a, m)")
    return _core.lstm_cell_backward(da_next, dc_next, _lstm_cache(cache))


def lstm_backward(da, caches):
    """Back through time from ``da (n_a, m, T)`` (the first ``T ≤ T_x`` steps, as the course
    takes ``T`` from ``da``): ``{"dx", "da0", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo",
    "dbo"}``."""
    da = f64(da, "da", 3, "(n_a, m, T)")
    steps, x = _pair(caches)
    return _core.lstm_backward(da, ([_lstm_cache(c) for c in steps], f64(x, "x", 3, "(n_x, m, T_x)")))


def _pair(caches):
    if not (isinstance(caches, tuple) and len(caches) == 2):
        raise ValueError("caches must be (list of the steps' caches, x), as the course's forward returns it")
    return caches


def _rnn_cache(c):
    if not (isinstance(c, tuple) and len(c) == 4):
        raise ValueError("an RNN cache is (a_next, a_prev, xt, parameters), as rnn_cell_forward returns it")
    a_next, a_prev, xt, p = c
    return (f64(a_next, "a_next", 2, "(n_a, m)"), f64(a_prev, "a_prev", 2, "(n_a, m)"), f64(xt, "xt", 2, "(n_x, m)"), params(p, _RNN))


def _lstm_cache(c):
    if not (isinstance(c, tuple) and len(c) == 10):
        raise ValueError("an LSTM cache is (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters), as lstm_cell_forward returns it")
    arrays = tuple(f64(v, n, 2, "(n, m)") for v, n in zip(c[:9], ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt")))
    return arrays + (params(c[9], _LSTM),)
