#!/usr/bin/env python3
"""The cost of a course call from Python against the same work through the command line:
`course.lstm_backward` (forward caches made once) at the course's sizes (n_x 3, n_a 5, m 10,
T 7) and at n_a 256, T 100 (n_x 64, m 16), best of N, beside `recurrent grads --layout course
--cell lstm` on the same case saved with np.savez (a whole process: start, read, forward,
backward, write). Needs the package installed (pip install ./python) and the command built.

    python3 scripts/python_overhead.py [--bin target/release/recurrent] [--reps 20]
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np

from recurrent import course

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="target/release/recurrent")
ap.add_argument("--reps", type=int, default=20)
args = ap.parse_args()


def best(f, reps):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return min(t)


for n_x, n_a, m, T in [(3, 5, 10, 7), (64, 256, 16, 100)]:
    rng = np.random.RandomState(1)
    p = {w: rng.randn(n_a, n_a + n_x) * 0.1 for w in ("Wf", "Wi", "Wc", "Wo")}
    p.update({b: rng.randn(n_a, 1) * 0.1 for b in ("bf", "bi", "bc", "bo")})
    p.update({"Wy": np.zeros((2, n_a)), "by": np.zeros((2, 1))})
    x, a0, da = rng.randn(n_x, m, T), rng.randn(n_a, m), rng.randn(n_a, m, T)
    caches = course.lstm_forward(x, a0, p)[-1]
    py_back = best(lambda: course.lstm_backward(da, caches), args.reps)
    py_both = best(lambda: course.lstm_backward(da, course.lstm_forward(x, a0, p)[-1]), args.reps)
    with tempfile.TemporaryDirectory() as d:
        case = os.path.join(d, "case.npz")
        np.savez(case, x=x, a0=a0, da=da, **p)
        out = os.path.join(d, "out.npz")
        cmd = [args.bin, "grads", case, "--cell", "lstm", "--layout", "course", "--out", out]
        cli = best(lambda: (os.path.exists(out) and os.remove(out), subprocess.run(cmd, check=True, capture_output=True)), args.reps)
    print(f"n_x {n_x}, n_a {n_a}, m {m}, T {T}: python lstm_backward {py_back * 1e3:.3f} ms, "
          f"python forward+backward {py_both * 1e3:.3f} ms, CLI grads (whole process) {cli * 1e3:.3f} ms")
