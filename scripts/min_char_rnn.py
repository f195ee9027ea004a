#!/usr/bin/env python3
"""Karpathy's min-char-rnn (numpy), unchanged in its maths, as the reference for
`recurrent train --preset min-char-rnn`: hidden 100, 25-step truncated BPTT, Adagrad lr 0.1,
element-wise clipping to [-5, 5], smoothed loss 0.999·s + 0.001·loss.

Additions: a seed (np.random.seed before the weights are drawn, so with the same seed both
start from the same weights: recurrent's generator reproduces np.random bit for bit), an
iteration limit, sampling off by default, and timing of the training steps only.

    python3 scripts/min_char_rnn.py data/tinyshakespeare.txt --iters 20000 --seed 42
"""
import argparse
import time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("--iters", type=int, default=20000)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--report", type=str, default="1000,5000,20000")
ap.add_argument("--sample-every", type=int, default=0)
ap.add_argument("--json", action="store_true", help="print one JSON line at the end (speed and smoothed loss)")
args = ap.parse_args()

data = open(args.data, "r", encoding="utf-8").read()
chars = sorted(set(data))  # sorted, as recurrent's vocabulary (Karpathy used list(set(data)))
data_size, vocab_size = len(data), len(chars)
char_to_ix = {ch: i for i, ch in enumerate(chars)}
ix_to_char = {i: ch for i, ch in enumerate(chars)}
data_ix = [char_to_ix[c] for c in data]

hidden_size, seq_length, learning_rate = 100, 25, 1e-1
np.random.seed(args.seed)
Wxh = np.random.randn(hidden_size, vocab_size) * 0.01
Whh = np.random.randn(hidden_size, hidden_size) * 0.01
Why = np.random.randn(vocab_size, hidden_size) * 0.01
bh = np.zeros((hidden_size, 1))
by = np.zeros((vocab_size, 1))


def lossFun(inputs, targets, hprev):
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def sample(h, seed_ix, n):
    x = np.zeros((vocab_size, 1))
    x[seed_ix] = 1
    ixes = []
    for t in range(n):
        h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y) / np.sum(np.exp(y))
        ix = np.random.choice(range(vocab_size), p=p.ravel())
        x = np.zeros((vocab_size, 1))
        x[ix] = 1
        ixes.append(ix)
    return "".join(ix_to_char[ix] for ix in ixes)


report = {int(r) for r in args.report.split(",") if r}
n, p = 0, 0
mWxh, mWhh, mWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
mbh, mby = np.zeros_like(bh), np.zeros_like(by)
smooth_loss = -np.log(1.0 / vocab_size) * seq_length
train_time = 0.0
while n < args.iters:
    if p + seq_length + 1 >= len(data) or n == 0:
        hprev = np.zeros((hidden_size, 1))
        p = 0
    inputs = data_ix[p : p + seq_length]
    targets = data_ix[p + 1 : p + seq_length + 1]
    if args.sample_every and n % args.sample_every == 0:
        print("----\n %s \n----" % sample(hprev, inputs[0], 200))
    t0 = time.perf_counter()
    loss, dWxh, dWhh, dWhy, dbh, dby, hprev = lossFun(inputs, targets, hprev)
    smooth_loss = smooth_loss * 0.999 + loss * 0.001
    for param, dparam, mem in zip([Wxh, Whh, Why, bh, by], [dWxh, dWhh, dWhy, dbh, dby], [mWxh, mWhh, mWhy, mbh, mby]):
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
    train_time += time.perf_counter() - t0
    p += seq_length
    n += 1
    if not args.json and (n in report or n % 1000 == 0):
        print("iter %d, smooth loss %.4f, %.0f chars/s (training steps only)" % (n, smooth_loss, n * seq_length / train_time), flush=True)
if args.json:
    import json
    print(json.dumps({"config": "min-char-rnn", "threads": 1, "chars_per_sec": n * seq_length / train_time, "smooth_loss": smooth_loss}))
