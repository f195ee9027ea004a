#!/usr/bin/env python3
"""Compares your gradients with recurrent's, tensor by tensor and step by step (numpy only).

    np.savez("case.npz", Wax=Wax, Waa=Waa, ba=ba, x=x, a0=a0, da=da)     # your inputs
    np.savez("mine.npz", dx=dx, da0=da0, dWax=dWax, dWaa=dWaa, dba=dba)  # your gradients
    recurrent grads case.npz --cell rnn --layout course --out ours.npz
    python3 scripts/compare_grads.py mine.npz ours.npz [--batch-first]

Prints, for every tensor in both files, its shape and the largest absolute and relative
difference, and says which ones disagree (relative difference above 1e-6). For a tensor with a
time axis (the last one in the course's layout, the first in PyTorch's, the second with
--batch-first) that disagrees, it walks back from the last step and says where yours first goes
wrong. In the course layout, `recurrent grads` also writes the gradients of the classic
mistakes (names starting with `_`); when yours equal one of them, it names the mistake.
"""
import sys
import numpy as np

TOL = 1e-6
MISTAKES = {
    "no_da_prev": "you do not add the gradient flowing back from step t+1: the cell backward at step t "
                  "needs da[:, :, t] + da_prevt, where da_prevt is what step t+1 returned as da_prev",
    "no_dc_prev": "you do not carry the cell-state gradient back: pass step t+1's dc_prev as dc_next to "
                  "step t (it starts at zeros at the last step)",
    "no_recurrence": "neither da_prev nor dc_prev reaches the earlier step: step t needs da[:, :, t] + "
                     "da_prevt and dc_next = dc_prevt, both from step t+1",
}

args = [a for a in sys.argv[1:] if not a.startswith("--")]
batch_first = "--batch-first" in sys.argv[1:]
if len(args) != 2:
    sys.exit(__doc__)
mine, ours = np.load(args[0]), np.load(args[1])
names_ours = [n for n in ours.files if not n.startswith("_")]
course = any(n in ours.files for n in ("da0", "da_prev", "dWax", "dWf"))
time_axis = 2 if course else (1 if batch_first else 0)
time_tensors = {"dx", "y", "a"}  # tensors whose time_axis is time


def as_ours(a, b):
    """Yours reshaped to ours when only (n,) vs (n, 1) differs."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == b.size and a.shape != b.shape and a.squeeze().shape == b.squeeze().shape:
        a = a.reshape(b.shape)
    return a


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300) if a.size else 0.0


bad, wrong = 0, []
print("%-14s %-16s %-16s %12s %12s  verdict" % ("tensor", "yours", "ours", "max abs diff", "max rel diff"))
for name in sorted(set(mine.files) | set(names_ours)):
    if name not in mine.files or name not in names_ours:
        print("%-14s %s" % (name, "only in " + (args[0] if name in mine.files else args[1])))
        continue
    b = np.asarray(ours[name], dtype=np.float64)
    a = as_ours(mine[name], b)
    if a.shape != b.shape:
        hint = ""
        if a.ndim == 3 and b.ndim == 3 and a.shape[:2] == b.shape[:2]:
            hint = " (the time axes differ: %d steps against %d)" % (a.shape[2], b.shape[2])
        elif sorted(a.shape) == sorted(b.shape):
            hint = " (the same sizes in another order: a transpose, or (B, T) against (T, B)?)"
        print("%-14s %-16s %-16s  shapes differ%s: this is the dimension mismatch to fix first" % (name, a.shape, b.shape, hint))
        bad += 1
        continue
    diff = np.abs(a - b).max() if a.size else 0.0
    r = rel(a, b)
    ok = r < TOL
    bad += not ok
    print("%-14s %-16s %-16s %12.3e %12.3e  %s" % (name, a.shape, b.shape, diff, r, "ok" if ok else "DIFFERENT"))
    if ok:
        continue
    wrong.append(name)
    if name in time_tensors and a.ndim == 3:
        steps = a.shape[time_axis]
        scale = max(np.abs(b).max(), 1e-300)
        step = lambda t, v: np.take(v, t, axis=time_axis)
        agree = [np.abs(step(t, a) - step(t, b)).max() / scale < TOL for t in range(steps)]
        first_bad = next((t for t in reversed(range(steps)) if not agree[t]), None)
        if first_bad is not None:
            if first_bad == steps - 1:
                print("%14s walking back from the last step, yours differs already at step %d (the last):"
                      " the cell backward itself, or the upstream gradient, is off" % ("", first_bad))
            else:
                print("%14s walking back from the last step, steps %d..%d agree and step %d is the first that"
                      " differs: what flows back from step %d into step %d is where to look"
                      % ("", first_bad + 1, steps - 1, first_bad, first_bad + 1, first_bad))

# Which classic mistake do your numbers equal?
if wrong:
    named = False
    for m, hint in MISTAKES.items():
        keys = [n for n in wrong if "_%s.%s" % (m, n) in ours.files]
        if keys and all(rel(as_ours(mine[n], ours["_%s.%s" % (m, n)]), np.asarray(ours["_%s.%s" % (m, n)])) < TOL for n in keys):
            print("diagnosis: your %s equal%s those of the mistake '%s': %s" % (", ".join(keys), "" if len(keys) > 1 else "s", m, hint))
            named = True
            break
    if not named and course:
        print("diagnosis: not one of the classic mistakes (%s); compare step by step above" % ", ".join(MISTAKES))
print("all tensors agree" if bad == 0 else "%d tensor(s) disagree" % bad)
sys.exit(1 if bad else 0)
