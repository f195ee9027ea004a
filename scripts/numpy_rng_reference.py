#!/usr/bin/env python3
"""Prints values of numpy's legacy generator (np.random.seed + rand/randn/random_sample) with
full round-trip precision. Its output is committed as
crates/recurrent/tests/fixtures/numpy_rng_reference.txt and compared bit for bit by
crates/recurrent/tests/numpy_rng.rs.

    python3 scripts/numpy_rng_reference.py > crates/recurrent/tests/fixtures/numpy_rng_reference.txt
"""
import numpy as np

print("# numpy", np.__version__)
cases = [
    (1, "randn", (3, 10)),   # the course's first draw
    (0, "rand", (2, 5)),
    (42, "randn", (7,)),     # odd count: the cached second normal of a pair is used next
    (42, "rand", (4,)),
    (4294967295, "randn", (2, 3)),
    (123, "random_sample", (6,)),
]
for seed, fn, shape in cases:
    np.random.seed(seed)
    a = getattr(np.random, fn)(*shape) if fn != "random_sample" else np.random.random_sample(shape)
    print(seed, fn, " ".join(map(str, shape)), ":", " ".join(repr(float(v)) for v in a.ravel()))
# Interleaved: randn(3) then rand(2) then randn(2) after one seed (state carried across calls).
np.random.seed(7)
vals = list(np.random.randn(3)) + list(np.random.rand(2)) + list(np.random.randn(2))
print(7, "mixed", "7", ":", " ".join(repr(float(v)) for v in vals))
