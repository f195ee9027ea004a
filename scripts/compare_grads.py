#!/usr/bin/env python3
"""Compares your gradients with recurrent's, tensor by tensor (numpy only).

    np.savez("case.npz", Wax=Wax, Waa=Waa, ba=ba, x=x, a0=a0, da=da)     # your inputs
    np.savez("mine.npz", dx=dx, da0=da0, dWax=dWax, dWaa=dWaa, dba=dba)  # your gradients
    recurrent grads case.npz --cell rnn --layout course --out ours.npz
    python3 scripts/compare_grads.py mine.npz ours.npz

Prints, for every tensor in both files, its shape and the largest absolute and relative
difference, and says which ones disagree (relative difference above 1e-6).
"""
import sys
import numpy as np

if len(sys.argv) != 3:
    sys.exit(__doc__)
mine, ours = np.load(sys.argv[1]), np.load(sys.argv[2])
bad = 0
print("%-12s %-16s %-16s %12s %12s  verdict" % ("tensor", "yours", "ours", "max abs diff", "max rel diff"))
for name in sorted(set(mine.files) | set(ours.files)):
    if name not in mine.files or name not in ours.files:
        print("%-12s %s" % (name, "only in " + (sys.argv[1] if name in mine.files else sys.argv[2])))
        continue
    a, b = np.asarray(mine[name], dtype=np.float64), np.asarray(ours[name], dtype=np.float64)
    if a.size == b.size and a.shape != b.shape and a.squeeze().shape == b.squeeze().shape:
        a = a.reshape(b.shape)  # (n,) vs (n, 1) biases
    if a.shape != b.shape:
        print("%-12s %-16s %-16s  shapes differ: this is the dimension mismatch to fix first" % (name, a.shape, b.shape))
        bad += 1
        continue
    diff = np.abs(a - b).max() if a.size else 0.0
    rel = diff / max(np.abs(b).max(), 1e-300)
    ok = rel < 1e-6
    bad += not ok
    print("%-12s %-16s %-16s %12.3e %12.3e  %s" % (name, a.shape, b.shape, diff, rel, "ok" if ok else "DIFFERENT"))
    if not ok and a.ndim == 3:
        # Time is the last axis in the course layout: which steps agree?
        scale = max(np.abs(b).max(), 1e-300)
        good = [t for t in range(a.shape[2]) if np.abs(a[:, :, t] - b[:, :, t]).max() / scale < 1e-6]
        if good:
            print("%12s agrees at time steps %s only: is the gradient from step t+1 added to da[:, :, t]?" % ("", good))
print("all tensors agree" if bad == 0 else "%d tensor(s) disagree" % bad)
sys.exit(1 if bad else 0)
