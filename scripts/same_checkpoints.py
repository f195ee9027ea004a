#!/usr/bin/env python3
"""Whether two run folders hold the same checkpoints: every tensor of last.safetensors and
last.state.safetensors byte for byte, and the metadata except what names the folder or the clock
(the training config's `out` and `text` path, the state's `elapsed_s`). Exit 0 when they agree, 1 (with the first
difference) when they do not.

    python3 scripts/same_checkpoints.py RUN_A RUN_B

Needs: pip install numpy safetensors.
"""
import json
import sys

from safetensors import safe_open


def load(path):
    with safe_open(path, framework="numpy") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for key in ("train_config", "state"):
        if key in meta:
            v = json.loads(meta[key])
            for drop in ("out", "text", "elapsed_s"):
                v.pop(drop, None)
            meta[key] = v
    return tensors, meta


def main(a, b):
    for name in ("last.safetensors", "last.state.safetensors"):
        (ta, ma), (tb, mb) = load(f"{a}/{name}"), load(f"{b}/{name}")
        if ma != mb:
            print(f"{name}: metadata differs: {ma} vs {mb}")
            return 1
        if sorted(ta) != sorted(tb):
            print(f"{name}: tensor names differ")
            return 1
        for k in ta:
            if ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape or ta[k].tobytes() != tb[k].tobytes():
                print(f"{name}: tensor {k} differs")
                return 1
        print(f"{name}: {len(ta)} tensors and the metadata identical")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
