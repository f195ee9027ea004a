"""``recurrent.check(fn)``: your version of a course function against the reference.

It draws random cases (numpy-seeded), calls your function, and compares every returned array
with the library's: first the keys and shapes (saying the expected shape and what the mistake
usually is), then the values. For a backward pass through time it walks back from the last step
to the first step whose gradient differs, and names the classic mistake your numbers equal:

- ``no_da_prev``: the gradient flowing back from step t+1 into a⟨t⟩ is dropped;
- ``no_dc_prev`` (LSTM): the cell-state gradient is not carried back;
- ``no_recurrence`` (LSTM): neither is;
- ``last_step_only``: the weight gradients of the last step only, not summed over time;
- ``no_tanh_derivative`` (RNN): ``da`` used where ``da ⊙ (1 − a²)`` belongs.

The report prints as a few lines in a notebook cell and is a value tests can assert on
(``report.passed``, ``report.mistake``, ``report.first_bad_step``).
"""

from dataclasses import dataclass, field

import numpy as np

from . import _core, course

_FUNCS = (
    "rnn_cell_forward", "rnn_forward", "rnn_cell_backward", "rnn_backward",
    "lstm_cell_forward", "lstm_forward", "lstm_cell_backward", "lstm_backward",
)

# What a wrong shape usually means, per gradient.
_HINTS = {
    "dba": "sum over the batch axis with keepdims=True: np.sum(dtanh, axis=1, keepdims=True)",
    "dWax": "dWax = dtanh · xtᵀ, summed over the steps (a transposed product gives (n_x, n_a))",
    "dWaa": "dWaa = dtanh · a_prevᵀ, summed over the steps",
    "dx": "one dxt (n_x, m) per step, stacked on the last axis",
    "dxt": "dxt = Waxᵀ · dtanh (n_x, m)",
    "da0": "the gradient that reaches a⟨0⟩'s predecessor, a0 (n_a, m)",
    "da_prev": "da_prev = Waaᵀ · dtanh (n_a, m)",
    "dc_prev": "dc_prev = dc_next ⊙ ft + … (n_a, m)",
}
for _g in ("f", "i", "c", "o"):
    _HINTS[f"dW{_g}"] = f"dW{_g} = dγ{_g} · concat(a_prev, xt)ᵀ (n_a, n_a + n_x), summed over the steps"
    _HINTS[f"db{_g}"] = f"db{_g} = Σ over the batch of dγ{_g}, keepdims=True (n_a, 1)"


@dataclass
class Report:
    """What ``check`` found. ``passed`` is True when every array agrees on every case."""

    function: str
    passed: bool
    cases: int
    problems: list = field(default_factory=list)
    mistake: str = None
    first_bad_step: int = None
    max_error: float = 0.0

    def __str__(self):
        if self.passed:
            return f"{self.function}: correct on {self.cases} random cases (largest relative difference {self.max_error:.1e})"
        lines = [f"{self.function}: wrong"]
        lines += [f"  - {p}" for p in self.problems]
        if self.first_bad_step is not None:
            lines.append(f"  walking back from the last step, step t = {self.first_bad_step} is the first whose gradient differs")
        if self.mistake:
            lines.append(f"  your numbers equal the classic mistake '{self.mistake}': {_MISTAKES.get(self.mistake, '')}")
        return "\n".join(lines)

    __repr__ = __str__


_MISTAKES = {
    "no_da_prev": "the gradient from step t+1 (da_prev) is not added to da[:, :, t]; in the loop use da[:, :, t] + da_prevt",
    "no_dc_prev": "the cell-state gradient (dc_prev) is not carried back; pass the step's dc_prev into the next (earlier) step",
    "no_recurrence": "neither da_prev nor dc_prev is carried back; each step sees only da[:, :, t]",
    "last_step_only": "the weight gradients come from the last step only; add every step's (dWax += …)",
    "no_tanh_derivative": "the tanh derivative is missing: dtanh = da_next * (1 - a_next ** 2)",
}


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-12, float(np.max(np.abs(b)))))


def _case(kind, rng):
    n_x, n_a, n_y, m, t = 3, 5, 2, 10, 4
    x = rng.randn(n_x, m, t)
    a0 = rng.randn(n_a, m)
    if kind == "rnn":
        p = {"Waa": rng.randn(n_a, n_a), "Wax": rng.randn(n_a, n_x), "Wya": rng.randn(n_y, n_a),
             "ba": rng.randn(n_a, 1), "by": rng.randn(n_y, 1)}
    else:
        p = {w: rng.randn(n_a, n_a + n_x) for w in ("Wf", "Wi", "Wc", "Wo")}
        p.update({b: rng.randn(n_a, 1) for b in ("bf", "bi", "bc", "bo")})
        p.update({"Wy": rng.randn(n_y, n_a), "by": rng.randn(n_y, 1)})
    return x, a0, p


def check(fn, name=None, cases=3, seed=1, rtol=1e-7):
    """Checks ``fn``, your version of the course function called ``name`` (by default
    ``fn.__name__``: one of rnn_cell_forward, rnn_forward, rnn_cell_backward, rnn_backward and
    their lstm_ counterparts; or min-char-rnn's ``lossFun(inputs, targets, hprev)``, whose
    globals ``Wxh, Whh, Why, bh, by, vocab_size`` are set for each case and restored after; or a
    batch-first SimpleRNN class: ``cls(W_x, W_h, b)``, ``forward(x)`` or ``forward(x, h0)``
    returning the last state, ``backward(dh)`` returning ``dx, dh0, dW_x, dW_h, db`` as a dict
    or in that order), on ``cases`` random cases. Returns a :class:`Report`; print it."""
    name = name or getattr(fn, "__name__", "")
    if name == "lossFun":
        return _check_loss_fun(fn, cases, seed, rtol)
    if isinstance(fn, type) or name == "SimpleRNN":
        return _check_simple_rnn(fn, cases, seed, rtol)
    if name not in _FUNCS:
        raise ValueError(f"check does not know {name!r}: name it with name=…, one of {', '.join(_FUNCS)}")
    kind = name.split("_")[0]
    report = Report(function=name, passed=True, cases=cases)
    for i in range(cases):
        rng = np.random.RandomState(seed + i)
        x, a0, p = _case(kind, rng)
        if not _one(fn, name, kind, x, a0, p, rng, rtol, report):
            report.passed = False
            break
    return report


def _compare(got, want, keys, report, rtol):
    """Keys, then shapes, then values; returns the keys whose values differ."""
    if not isinstance(got, (dict, tuple, list)):
        report.problems.append(f"returned {type(got).__name__}; expected a dict with {', '.join(keys)}")
        return None
    bad = []
    for k in keys:
        if k not in got:
            report.problems.append(f"gradients has no {k!r} (expected shape {want[k].shape})")
            continue
        g = np.asarray(got[k], dtype=np.float64)
        if g.shape != want[k].shape:
            hint = _HINTS.get(k, "")
            report.problems.append(f"{k} has shape {g.shape} but should be {want[k].shape}" + (f": {hint}" if hint else ""))
            continue
        err = _rel(g, want[k])
        report.max_error = max(report.max_error, err)
        if not err <= rtol:
            bad.append(k)
            report.problems.append(f"{k} differs from the reference (largest relative difference {err:.2e})")
    return bad


def _one(fn, name, kind, x, a0, p, rng, rtol, report):
    n_a, m = a0.shape
    ok = lambda: not report.problems  # noqa: E731
    if name == "rnn_cell_forward":
        got = fn(x[:, :, 0], a0, p)
        want = course.rnn_cell_forward(x[:, :, 0], a0, p)
        _compare(dict(a_next=got[0], yt_pred=got[1]), dict(a_next=want[0], yt_pred=want[1]), ["a_next", "yt_pred"], report, rtol)
        return ok()
    if name == "rnn_forward":
        got = fn(x, a0, p)
        want = course.rnn_forward(x, a0, p)
        _compare(dict(a=got[0], y_pred=got[1]), dict(a=want[0], y_pred=want[1]), ["a", "y_pred"], report, rtol)
        return ok()
    if name == "lstm_cell_forward":
        c0 = rng.randn(n_a, m)
        got = fn(x[:, :, 0], a0, c0, p)
        want = course.lstm_cell_forward(x[:, :, 0], a0, c0, p)
        keys = ["a_next", "c_next", "yt_pred"]
        _compare(dict(zip(keys, got[:3])), dict(zip(keys, want[:3])), keys, report, rtol)
        return ok()
    if name == "lstm_forward":
        got = fn(x, a0, p)
        want = course.lstm_forward(x, a0, p)
        keys = ["a", "y", "c"]
        _compare(dict(zip(keys, got[:3])), dict(zip(keys, want[:3])), keys, report, rtol)
        return ok()
    if name == "rnn_cell_backward":
        _, _, cache = course.rnn_cell_forward(x[:, :, 0], a0, p)
        da = rng.randn(n_a, m)
        want = course.rnn_cell_backward(da, cache)
        bad = _compare(fn(da, cache), want, ["dxt", "da_prev", "dWax", "dWaa", "dba"], report, rtol)
        if bad:
            _name_cell_mistake(fn(da, cache), da, cache, report, rtol)
        return ok()
    if name == "lstm_cell_backward":
        _, _, _, cache = course.lstm_cell_forward(x[:, :, 0], a0, rng.randn(n_a, m), p)
        da, dc = rng.randn(n_a, m), rng.randn(n_a, m)
        want = course.lstm_cell_backward(da, dc, cache)
        keys = ["dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"]
        _compare(fn(da, dc, cache), want, keys, report, rtol)
        return ok()
    # The sequence backward passes.
    forward = course.rnn_forward if kind == "rnn" else course.lstm_forward
    caches = forward(x, a0, p)[-1]
    da = rng.randn(n_a, m, x.shape[2])
    backward = course.rnn_backward if kind == "rnn" else course.lstm_backward
    want = backward(da, caches)
    got = fn(da, caches)
    keys = sorted(want)
    bad = _compare(got, want, keys, report, rtol)
    if bad:
        _walk_back(got, want, report, rtol)
        _name_seq_mistake(got, kind, da, caches, report, rtol)
    return ok()


def _walk_back(got, want, report, rtol):
    """The first step, walking back from the last, whose dx differs."""
    if "dx" not in got or np.shape(got["dx"]) != want["dx"].shape:
        return
    g = np.asarray(got["dx"], dtype=np.float64)
    for t in reversed(range(want["dx"].shape[2])):
        if not _rel(g[:, :, t], want["dx"][:, :, t]) <= 1e-7:
            report.first_bad_step = t
            return


def _equal(got, variant, rtol=1e-7):
    keys = [k for k in variant if k in got]
    return bool(keys) and all(
        np.shape(got[k]) == variant[k].shape and _rel(np.asarray(got[k], dtype=np.float64), variant[k]) <= rtol for k in keys
    )


def _name_seq_mistake(got, kind, da, caches, report, rtol):
    variants = list(_core.mistakes(kind, da, _cachelist(kind, caches)))
    variants.append(("last_step_only", _last_step_only(kind, da, caches)))
    for name, v in variants:
        if _equal(got, v, rtol):
            report.mistake = name
            return


def _cachelist(kind, caches):
    steps, x = caches
    conv = course._rnn_cache if kind == "rnn" else course._lstm_cache
    return ([conv(c) for c in steps], np.asarray(x, dtype=np.float64))


def _last_step_only(kind, da, caches):
    """The right walk back, but weight gradients from the last step alone."""
    steps, _ = caches
    T = da.shape[2]
    full = (course.rnn_backward if kind == "rnn" else course.lstm_backward)(da, caches)
    out = dict(full)
    if kind == "rnn":
        g = course.rnn_cell_backward(da[:, :, T - 1], steps[T - 1])
        for k in ("dWax", "dWaa", "dba"):
            out[k] = g[k]
    else:
        g = course.lstm_cell_backward(da[:, :, T - 1], np.zeros_like(da[:, :, 0]), steps[T - 1])
        for k in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"):
            out[k] = g[k]
    return {k: v for k, v in out.items() if k.startswith(("dW", "db"))}


def _name_cell_mistake(got, da, cache, report, rtol):
    """The RNN cell without the tanh derivative: dtanh = da_next."""
    a_next, a_prev, xt, p = cache
    dtanh = da
    v = {
        "dxt": p["Wax"].T @ dtanh, "da_prev": p["Waa"].T @ dtanh,
        "dWax": dtanh @ xt.T, "dWaa": dtanh @ a_prev.T, "dba": dtanh.sum(axis=1, keepdims=True),
    }
    if _equal(got, v, rtol):
        report.mistake = "no_tanh_derivative"


def _check_loss_fun(fn, cases, seed, rtol):
    """min-char-rnn's lossFun against the library's tanh RNN, head and summed cross-entropy
    (then clipped to ±5, as lossFun clips)."""
    report = Report(function="lossFun", passed=True, cases=cases)
    g = getattr(fn, "__globals__", None)
    if g is None:
        raise TypeError("lossFun must be a Python function (its globals hold the weights)")
    names = ("Wxh", "Whh", "Why", "bh", "by", "vocab_size")
    saved = {k: g[k] for k in names if k in g}
    try:
        for i in range(cases):
            rng = np.random.RandomState(seed + i)
            V, H, T = 7, 10, 6
            w = {"Wxh": rng.randn(H, V) * 0.1, "Whh": rng.randn(H, H) * 0.1, "Why": rng.randn(V, H) * 0.1,
                 "bh": rng.randn(H, 1) * 0.1, "by": rng.randn(V, 1) * 0.1}
            inputs, targets = [int(v) for v in rng.randint(0, V, T)], [int(v) for v in rng.randint(0, V, T)]
            hprev = rng.randn(H, 1) * 0.5
            g.update(w, vocab_size=V)
            got = fn(inputs, targets, np.copy(hprev))
            loss, grads = _core.min_char_rnn(w["Wxh"], w["Whh"], w["Why"], w["bh"], w["by"], inputs, targets, hprev)
            want = dict(zip(("dWxh", "dWhh", "dWhy", "dbh", "dby"), (np.clip(a, -5, 5) for a in grads[:5])))
            want["loss"], want["hprev"] = np.array(loss), grads[5]
            keys = ["loss", "dWxh", "dWhh", "dWhy", "dbh", "dby", "hprev"]
            if not (isinstance(got, tuple) and len(got) == 7):
                report.problems.append("lossFun returns (loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs)-1]): 7 values")
            else:
                _compare(dict(zip(keys, got)), want, keys, report, rtol)
            if report.problems:
                report.passed = False
                break
    finally:
        for k in names:
            if k in saved:
                g[k] = saved[k]
            else:
                g.pop(k, None)
    return report


def _check_simple_rnn(cls, cases, seed, rtol):
    """A batch-first SimpleRNN class (x (batch, seq, features), h_t = tanh(x_t @ W_x + h_{t-1}
    @ W_h + b), the last state out) against the library's tanh RNN and its BPTT."""
    report = Report(function=getattr(cls, "__name__", "SimpleRNN"), passed=True, cases=cases)
    keys = ["h_last", "dx", "dh0", "dW_x", "dW_h", "db"]
    for i in range(cases):
        rng = np.random.RandomState(seed + i)
        B, T, F, H = 3, 5, 4, 6
        W_x, W_h, b = rng.randn(F, H) * 0.5, rng.randn(H, H) * 0.5, rng.randn(H) * 0.5
        x, dh = rng.randn(B, T, F), rng.randn(B, H)
        h0 = np.zeros((B, H))
        want = dict(zip(keys, _core.simple_rnn(W_x, W_h, b, x, h0, dh)))
        obj = cls(W_x.copy(), W_h.copy(), b.copy())
        try:
            h_last = obj.forward(x)
        except TypeError:
            h_last = obj.forward(x, h0)
        g = obj.backward(dh)
        got = dict(g) if isinstance(g, dict) else dict(zip(keys[1:], g))
        if "dh" in got and "dh0" not in got:
            got["dh0"] = got.pop("dh")
        got["h_last"] = h_last
        _compare(got, want, keys, report, rtol)
        if report.problems:
            report.passed = False
            break
    return report
