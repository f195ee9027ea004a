#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures the parity tests compare against.

For each of nn.RNN, nn.LSTM and nn.GRU in float64 — 2 layers, bidirectional, input 4, hidden 5,
T = 6 steps, batch 3, time-major and batch-first — it saves the weights under PyTorch's names,
the input x, the initial state h0 (c0), upstream gradients dy, dh_n (dc_n), the outputs y, h_n
(c_n), and the gradients of  sum(y*dy) + sum(h_n*dh_n) + sum(c_n*dc_n)  with respect to every
weight and to x, h0 (c0), named d<NAME>. A time-major file is also a valid CASE for
`recurrent grads`.

    pip install numpy torch && python3 scripts/make_fixtures.py
"""
import os
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "recurrent", "tests", "fixtures")
T, B, I, H, L = 6, 3, 4, 5, 2


def make(cell, batch_first, seed):
    torch.manual_seed(seed)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    m = cls(I, H, num_layers=L, bidirectional=True, batch_first=batch_first).double()
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(L * 2, B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(L * 2, B, H, dtype=torch.float64, requires_grad=True)
    if cell == "lstm":
        y, (hn, cn) = m(x, (h0, c0))
    else:
        y, hn = m(x, h0)
    dy, dhn = torch.randn_like(y), torch.randn_like(hn)
    loss = (y * dy).sum() + (hn * dhn).sum()
    out = {}
    if cell == "lstm":
        dcn = torch.randn_like(cn)
        loss = loss + (cn * dcn).sum()
        out.update(c0=c0, dc_n=dcn, c_n=cn)
    loss.backward()
    out.update(x=x, h0=h0, dy=dy, dh_n=dhn, y=y, h_n=hn)
    for name, p in m.named_parameters():
        out[name] = p
        out["d" + name] = p.grad
    out["dx"], out["dh0"] = x.grad, h0.grad
    if cell == "lstm":
        out["dc0"] = c0.grad
    arrays = {k: v.detach().numpy().astype(np.float64) for k, v in out.items()}
    name = f"torch_{cell}_{'bf' if batch_first else 'tm'}.npz"
    np.savez(os.path.join(OUT, name), **arrays)
    print(name, len(arrays), "arrays")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for i, cell in enumerate(["rnn", "lstm", "gru"]):
        for bf in (False, True):
            make(cell, bf, seed=100 + 2 * i + bf)
    print("torch", torch.__version__, "numpy", np.__version__)
