#!/usr/bin/env python3
"""Reference values for the cell tests (crates/recurrent/src/cell/{rnn,lstm,gru}.rs): one time
step of each cell in PyTorch float64, forward and backward by autograd, on pre-activations that
differ from gate to gate (so a swapped gate order fails the test). Prints the Rust constants the
tests hold.

    python3 scripts/cell_reference.py

Needs: pip install torch.
"""
import torch

torch.set_default_dtype(torch.float64)
B, H = 2, 3


def vals(n, start, step):
    """n distinct values start, start+step, ... folded into [-2.5, 2.5]."""
    return torch.tensor([((start + i * step + 2.5) % 5.0) - 2.5 for i in range(n)])


def rust(name, t):
    flat = ", ".join(repr(float(v)) for v in t.reshape(-1))
    print(f"const {name}: [f64; {t.numel()}] = [{flat}];")


def lstm():
    pre = vals(B * 4 * H, -2.1, 0.37).reshape(B, 4 * H).requires_grad_()
    c_prev = vals(B * H, 0.9, -0.61).reshape(B, H).requires_grad_()
    i, f, g, o = pre.split(H, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c_prev + i * g
    h = o * torch.tanh(c)
    dh = vals(B * H, 0.3, 0.83).reshape(B, H)
    dc = vals(B * H, -0.7, 0.41).reshape(B, H)
    (h * dh + c * dc).sum().backward()
    print("// LSTM (gates i, f, g, o): pre-activations, c_prev, upstream dh and dc; PyTorch's")
    print("// activations, c, h, and the gradients of the pre-activations and of c_prev.")
    for n, t in [("PRE", pre), ("C_PREV", c_prev), ("DH", dh), ("DC", dc),
                 ("ACT", torch.cat([i, f, g, o], 1)), ("C", c), ("H", h),
                 ("DPRE", pre.grad), ("DC_PREV", c_prev.grad)]:
        rust(n, t.detach())


def gru():
    gi = vals(B * 3 * H, -1.9, 0.53).reshape(B, 3 * H).requires_grad_()
    hp = vals(B * 3 * H, 1.3, -0.47).reshape(B, 3 * H).requires_grad_()
    h_prev = vals(B * H, -0.8, 0.29).reshape(B, H).requires_grad_()
    r = torch.sigmoid(gi[:, :H] + hp[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + hp[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * hp[:, 2 * H:])
    h = (1 - z) * n + z * h_prev
    dh = vals(B * H, 0.6, -0.77).reshape(B, H)
    (h * dh).sum().backward()
    # The cell leaves only the direct path z ⊙ dh in dh; the part through W_hh is the loop's.
    direct = (z * dh).detach()
    print("// GRU (gates r, z, n): input-side and hidden-side pre-activations, h_prev, upstream dh;")
    print("// PyTorch's activations and h, the gradients of both sides, and the direct path z ⊙ dh.")
    for name, t in [("GI", gi), ("HP", hp), ("H_PREV", h_prev), ("DH", dh),
                    ("ACT", torch.cat([r, z, n], 1)), ("H", h), ("DGI", gi.grad), ("DHP", hp.grad),
                    ("DH_DIRECT", direct)]:
        rust(name, t.detach())


def rnn():
    pre = vals(B * H, -1.7, 0.71).reshape(B, H).requires_grad_()
    h = torch.tanh(pre)
    dh = vals(B * H, 0.2, -0.9).reshape(B, H)
    (h * dh).sum().backward()
    print("// RNN: pre-activations, upstream dh; PyTorch's h and the gradient of the pre-activations.")
    for n, t in [("PRE", pre), ("DH", dh), ("H", h), ("DPRE", pre.grad)]:
        rust(n, t.detach())


for f in (rnn, lstm, gru):
    print(f"// --- {f.__name__} ---")
    f()
