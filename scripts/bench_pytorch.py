#!/usr/bin/env python3
"""PyTorch's side of `recurrent bench`: the same standard configurations — same data (the
bundled tiny-shakespeare, one-hot input over its 65 characters), same sizes, same optimizer and
clipping, state carried between windows — timing training steps only, after a warm-up.

    python3 scripts/bench_pytorch.py --config lstm-small --threads 1 --seconds 5 [--json]
    python3 scripts/bench_pytorch.py --config lstm-large --sample   # sampling speed

Prints chars/s, peak RSS (MiB) and the mean loss per character over the timed steps.
"""
import argparse
import json
import os
import resource
import time

import torch
import torch.nn.functional as F

CONFIGS = {
    # name: (cell, layers, hidden, batch, steps, optimizer, lr, clip (element-wise), clip_norm)
    "min-char-rnn": ("rnn", 1, 100, 1, 25, "adagrad", 0.1, 5.0, 0.0),
    "lstm-small": ("lstm", 1, 128, 32, 64, "adam", 2e-3, 0.0, 5.0),
    "lstm-large": ("lstm", 2, 512, 64, 64, "adam", 2e-3, 0.0, 5.0),
    "gru-medium": ("gru", 1, 256, 32, 64, "adam", 2e-3, 0.0, 5.0),
}

ap = argparse.ArgumentParser()
ap.add_argument("--config", default="lstm-small", choices=sorted(CONFIGS))
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--seconds", type=float, default=5.0)
ap.add_argument("--sample", action="store_true", help="time sampling one character at a time instead")
ap.add_argument("--json", action="store_true")
ap.add_argument("--steps", type=int, default=0, help="run exactly this many timed steps instead of --seconds")
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

cell, layers, hidden, B, T, optname, lr, clip, clip_norm = CONFIGS[args.config]
root = os.path.join(os.path.dirname(__file__), "..")
text = open(os.path.join(root, "data", "tinyshakespeare.txt"), encoding="utf-8").read()
chars = sorted(set(text))
V = len(chars)
ix = {c: i for i, c in enumerate(chars)}
data = torch.tensor([ix[c] for c in text], dtype=torch.long)
S = len(data) // B
count = (S - 1) // T
streams = data[: S * B].view(B, S)  # stream b starts at b·S, as recurrent's Windows

rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](V, hidden, num_layers=layers)
head = torch.nn.Linear(hidden, V)
params = list(rnn.parameters()) + list(head.parameters())
if optname == "adagrad":
    opt = torch.optim.Adagrad(params, lr=lr)
else:
    opt = torch.optim.Adam(params, lr=lr)
reduction = "sum" if args.config == "min-char-rnn" else "mean"


def window(i):
    i %= count
    x = streams[:, i * T : i * T + T].t()  # (T, B)
    y = streams[:, i * T + 1 : i * T + T + 1].t()
    return F.one_hot(x, V).float(), y.reshape(-1)


state = None


def step(i):
    global state
    x, y = window(i)
    out, st = rnn(x, state)
    logits = head(out.reshape(T * B, hidden))
    loss = F.cross_entropy(logits, y, reduction=reduction)
    opt.zero_grad(set_to_none=False)
    loss.backward()
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
    if clip:
        torch.nn.utils.clip_grad_value_(params, clip)
    opt.step()
    state = tuple(s.detach() for s in st) if isinstance(st, tuple) else st.detach()
    return loss.item() / (T * B if reduction == "sum" else 1)


def sample_speed():
    with torch.no_grad():
        h, tok, n = None, torch.tensor([[0]]), 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            out, h = rnn(F.one_hot(tok, V).float(), h)
            p = torch.softmax(head(out[0]), -1)
            tok = torch.multinomial(p, 1).view(1, 1)
            n += 1
        return n / (time.perf_counter() - t0)


if args.sample:
    cps, loss = sample_speed(), None
else:
    for i in range(5):
        step(i)
    t0, i, losses = time.perf_counter(), 5, []
    while (i - 5 < args.steps) if args.steps else (time.perf_counter() - t0 < args.seconds):
        losses.append(step(i))
        i += 1
    dt = time.perf_counter() - t0
    tail = losses[-20:]  # the loss reached: the mean of the last 20 steps
    cps, loss = (i - 5) * T * B / dt, sum(tail) / len(tail)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
res = {"config": args.config, "threads": args.threads, "chars_per_sec": cps, "peak_rss_mib": rss, "loss": loss, "torch": torch.__version__}
if args.json:
    print(json.dumps(res))
else:
    print("%-14s %8d %14.0f %14.1f %12s" % (args.config, args.threads, cps, rss, "%.4f" % loss if loss is not None else "-"))
