#!/usr/bin/env python3
"""Replays the test cells of the numpy course "Building your Recurrent Neural Network - Step by
Step" (np.random.seed(1), arrays drawn in the course's order) and writes the reference values the
course tests in crates/recurrent/tests/course.rs compare against:

* forward values computed here in numpy exactly as the course defines them, printed beside the
  course's own printed values;
* every backward gradient computed by torch autograd in float64 from the same arrays (the truth,
  independent of any hand-written backward), as the gradient of
      sum(a_next * da_next) [+ sum(c_next * dc_next)]   for the cell functions,
      sum(a * da)                                        for the sequence functions.

The lstm_backward cell of the course draws no Wy, by (zeros), runs lstm_forward over 7 steps,
then draws da with shape (5, 10, 4); its loop takes T_x from da, so it walks back over steps
3..0 with caches[3]..caches[0]: the gradient of sum_{t<4} a<t> da<t>, dx of shape (3, 10, 4).
The true values equal the course's later printed ones; its earlier printed ones are reproduced
here by a backward that never carries da_prev/dc_prev to the earlier step.

    pip install numpy torch && python3 scripts/course_reference.py
"""
import os
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "recurrent", "tests", "fixtures")
T = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)


def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def sig(x):
    return 1 / (1 + np.exp(-x))


def rnn_step(xt, a_prev, p, lib):
    a = lib.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"])
    return a


def lstm_step(xt, a_prev, c_prev, p, lib):
    cat = lib.cat([a_prev, xt], 0) if lib is torch else np.concatenate([a_prev, xt], 0)
    s = torch.sigmoid if lib is torch else sig
    f = s(p["Wf"] @ cat + p["bf"])
    i = s(p["Wi"] @ cat + p["bi"])
    cc = lib.tanh(p["Wc"] @ cat + p["bc"])
    o = s(p["Wo"] @ cat + p["bo"])
    c = f * c_prev + i * cc
    return o * lib.tanh(c), c


def draw_rnn_params(order):
    return {k: np.random.randn(*shape) for k, shape in order}


out = {}
# ---- rnn_cell_forward --------------------------------------------------------------------
np.random.seed(1)
xt = np.random.randn(3, 10)
a_prev = np.random.randn(5, 10)
p = draw_rnn_params([("Waa", (5, 5)), ("Wax", (5, 3)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))])
a_next = rnn_step(xt, a_prev, p, np)
yt = softmax(p["Wya"] @ a_next + p["by"])
print("rnn_cell_forward a_next[4] =", a_next[4], "\n yt_pred[1] =", yt[1])
out["rnn_cell_forward.a_next"], out["rnn_cell_forward.yt_pred"] = a_next, yt

# ---- rnn_forward -------------------------------------------------------------------------
np.random.seed(1)
x = np.random.randn(3, 10, 4)
a0 = np.random.randn(5, 10)
p = draw_rnn_params([("Waa", (5, 5)), ("Wax", (5, 3)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))])
a, at = np.zeros((5, 10, 4)), a0
for t in range(4):
    at = rnn_step(x[:, :, t], at, p, np)
    a[:, :, t] = at
print("rnn_forward a[4][1] =", a[4][1], "\n x[1][3] =", x[1][3])
out["rnn_forward.a"] = a

# ---- rnn_cell_backward: the course draws Wax before Waa here ----------------------------
np.random.seed(1)
xt = np.random.randn(3, 10)
a_prev = np.random.randn(5, 10)
p = draw_rnn_params([("Wax", (5, 3)), ("Waa", (5, 5)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))])
da_next = np.random.randn(5, 10)
tp = {k: T(v) for k, v in p.items()}
txt, tap = T(xt), T(a_prev)
(rnn_step(txt, tap, tp, torch) * torch.tensor(da_next)).sum().backward()
for k, v in {"dxt": txt.grad, "da_prev": tap.grad, "dWax": tp["Wax"].grad, "dWaa": tp["Waa"].grad, "dba": tp["ba"].grad}.items():
    out["rnn_cell_backward." + k] = v.numpy()
print("rnn_cell_backward dxt[1][2] =", txt.grad[1][2].item(), " da_prev[2][3] =", tap.grad[2][3].item())

# ---- rnn_backward ------------------------------------------------------------------------
np.random.seed(1)
x = np.random.randn(3, 10, 4)
a0 = np.random.randn(5, 10)
p = draw_rnn_params([("Wax", (5, 3)), ("Waa", (5, 5)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))])
da = np.random.randn(5, 10, 4)
tp = {k: T(v) for k, v in p.items()}
tx, ta0 = T(x), T(a0)
at, loss = ta0, 0
for t in range(4):
    at = rnn_step(tx[:, :, t], at, tp, torch)
    loss = loss + (at * torch.tensor(da[:, :, t])).sum()
loss.backward()
for k, v in {"dx": tx.grad, "da0": ta0.grad, "dWax": tp["Wax"].grad, "dWaa": tp["Waa"].grad, "dba": tp["ba"].grad}.items():
    out["rnn_backward." + k] = v.numpy()
print("rnn_backward dx[1][2] =", tx.grad[1][2].numpy(), " da0[2][3] =", ta0.grad[2][3].item())

LSTM_ORDER = [("Wf", (5, 8)), ("bf", (5, 1)), ("Wi", (5, 8)), ("bi", (5, 1)), ("Wo", (5, 8)), ("bo", (5, 1)), ("Wc", (5, 8)), ("bc", (5, 1)), ("Wy", (2, 5)), ("by", (2, 1))]

# ---- lstm_cell_forward -------------------------------------------------------------------
np.random.seed(1)
xt = np.random.randn(3, 10)
a_prev = np.random.randn(5, 10)
c_prev = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_ORDER)
a_next, c_next = lstm_step(xt, a_prev, c_prev, p, np)
yt = softmax(p["Wy"] @ a_next + p["by"])
print("lstm_cell_forward a_next[4] =", a_next[4], "\n c_next[2] =", c_next[2], "\n yt[1] =", yt[1])
out["lstm_cell_forward.a_next"], out["lstm_cell_forward.c_next"], out["lstm_cell_forward.yt"] = a_next, c_next, yt

# ---- lstm_forward ------------------------------------------------------------------------
np.random.seed(1)
x = np.random.randn(3, 10, 7)
a0 = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_ORDER)
a, c, y = np.zeros((5, 10, 7)), np.zeros((5, 10, 7)), np.zeros((2, 10, 7))
at, ct = a0, np.zeros((5, 10))
for t in range(7):
    at, ct = lstm_step(x[:, :, t], at, ct, p, np)
    a[:, :, t], c[:, :, t], y[:, :, t] = at, ct, softmax(p["Wy"] @ at + p["by"])
print("lstm_forward a[4][3][6] =", a[4][3][6], " y[1][4][3] =", y[1][4][3], " c[1][2][1] =", c[1][2][1])
out["lstm_forward.a"], out["lstm_forward.y"], out["lstm_forward.c"] = a, y, c

# ---- lstm_cell_backward ------------------------------------------------------------------
np.random.seed(1)
xt = np.random.randn(3, 10)
a_prev = np.random.randn(5, 10)
c_prev = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_ORDER)
da_next = np.random.randn(5, 10)
dc_next = np.random.randn(5, 10)
tp = {k: T(v) for k, v in p.items()}
txt, tap, tcp = T(xt), T(a_prev), T(c_prev)
an, cn = lstm_step(txt, tap, tcp, tp, torch)
((an * torch.tensor(da_next)).sum() + (cn * torch.tensor(dc_next)).sum()).backward()
g = {"dxt": txt.grad, "da_prev": tap.grad, "dc_prev": tcp.grad}
g.update({"d" + k: tp[k].grad for k in ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"]})
for k, v in g.items():
    out["lstm_cell_backward." + k] = v.numpy()
print("lstm_cell_backward dxt[1][2] =", txt.grad[1][2].item(), " da_prev[2][3] =", tap.grad[2][3].item(), " dc_prev[2][3] =", tcp.grad[2][3].item())

# ---- lstm_backward: the course's cell draws no Wy, by (it sets them to zeros), runs
# lstm_forward, then draws da (5, 10, 4); T_x comes from da, so its backward walks steps 3..0
# with caches[3]..caches[0]: the gradient of sum_{t<4} a<t> * da[:, :, t]. dx is (3, 10, 4).
LSTM_GATES = [("Wf", (5, 8)), ("bf", (5, 1)), ("Wi", (5, 8)), ("bi", (5, 1)), ("Wo", (5, 8)), ("bo", (5, 1)), ("Wc", (5, 8)), ("bc", (5, 1))]
np.random.seed(1)
x = np.random.randn(3, 10, 7)
a0 = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_GATES)
p["Wy"], p["by"] = np.zeros((2, 5)), np.zeros((2, 1))
da = np.random.randn(5, 10, 4)
tp = {k: T(v) for k, v in p.items()}
tx, ta0 = T(x), T(a0)
at, ct, loss = ta0, torch.zeros(5, 10, dtype=torch.float64), 0
for t in range(4):
    at, ct = lstm_step(tx[:, :, t], at, ct, tp, torch)
    loss = loss + (at * torch.tensor(da[:, :, t])).sum()
loss.backward()
g = {"dx": tx.grad[:, :, :4], "da0": ta0.grad}
g.update({"d" + k: tp[k].grad for k in ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"]})
for k, v in g.items():
    out["lstm_backward." + k] = v.numpy()
print("lstm_backward (true)           dx[1][2] =", g["dx"][1][2].numpy(), " da0[2][3] =", g["da0"][2][3].item(),
      " dWf[3][1] =", g["dWf"][3][1].item(), " dbf[4] =", g["dbf"][4].numpy())
COURSE_TRUE = {"dx[1][2]": [0.00218254, 0.28205375, -0.48292508, -0.43281115], "da0[2][3]": 0.312770310257}
print("  the course's later printed values:", COURSE_TRUE)

# The earlier version of the notebook printed other numbers. They are what a backward gives that
# never carries da_prev and dc_prev to the earlier step: each step's cell differentiated alone,
# a<t-1> and c<t-1> held constant (detached), with only da[:, :, t] reaching a<t>.
tp = {k: T(v) for k, v in p.items()}
tx, ta0 = T(x), T(a0)
at, ct = ta0, torch.zeros(5, 10, dtype=torch.float64)
loss = 0
for t in range(4):
    a_prev = at if t == 0 else at.detach()
    at, ct = lstm_step(tx[:, :, t], a_prev, ct.detach(), tp, torch)
    loss = loss + (at * torch.tensor(da[:, :, t])).sum()
loss.backward()
g = {"dx": tx.grad[:, :, :4], "da0": ta0.grad}
g.update({"d" + k: tp[k].grad for k in ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"]})
for k, v in g.items():
    out["lstm_backward_no_recurrence." + k] = v.numpy()
print("lstm_backward (no recurrence)  dx[1][2] =", g["dx"][1][2].numpy(), " da0[2][3] =", g["da0"][2][3].item(),
      " dWf[3][1] =", g["dWf"][3][1].item(), " dbf[4] =", g["dbf"][4].numpy())
COURSE_OLD = {"dx[1][2]": [-0.00173313, 0.08287442, -0.30545663, -0.43281115], "da0[2][3]": -0.095911501954,
              "dWf[3][1]": -0.0698198561274, "dbf[4]": [-0.0565788]}
print("  the course's earlier printed values:", COURSE_OLD)
old = [g["dx"][1][2].numpy(), [g["da0"][2][3].item()], [g["dWf"][3][1].item()], g["dbf"][4].numpy()]
printed = [COURSE_OLD["dx[1][2]"], [COURSE_OLD["da0[2][3]"]], [COURSE_OLD["dWf[3][1]"]], COURSE_OLD["dbf[4]"]]
agree = all(np.allclose(a, b, rtol=0, atol=1e-8) for a, b in zip(old, printed))
print("  the no-recurrence backward reproduces the earlier printed values:", agree)
assert agree

# The two half-mistakes `recurrent grads --layout course` also reports for compare_grads.py:
# no_da_prev (a<t-1> detached, c<t-1> carried) and no_dc_prev (c<t-1> detached, a<t-1> carried).
for name, cut_a, cut_c in [("no_da_prev", True, False), ("no_dc_prev", False, True)]:
    tp = {k: T(v) for k, v in p.items()}
    tx, ta0 = T(x), T(a0)
    at, ct, loss = ta0, torch.zeros(5, 10, dtype=torch.float64), 0
    for t in range(4):
        a_in = at.detach() if (cut_a and t > 0) else at
        c_in = ct.detach() if cut_c else ct
        at, ct = lstm_step(tx[:, :, t], a_in, c_in, tp, torch)
        loss = loss + (at * torch.tensor(da[:, :, t])).sum()
    loss.backward()
    g = {"dx": tx.grad[:, :, :4], "da0": ta0.grad}
    g.update({"d" + k: tp[k].grad for k in ["Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"]})
    for k, v in g.items():
        out["lstm_backward_%s.%s" % (name, k)] = v.numpy()

# Cases as a learner saves them for `recurrent grads --layout course`: rnn_backward's and
# lstm_backward's setups above exactly as the course draws them (da of 4 steps for x of 7), and
# lstm_cell_backward's under the cell function's names (xt, a_prev, c_prev, da_next, dc_next).
np.random.seed(1)
x = np.random.randn(3, 10, 4); a0 = np.random.randn(5, 10)
p = draw_rnn_params([("Wax", (5, 3)), ("Waa", (5, 5)), ("Wya", (2, 5)), ("ba", (5, 1)), ("by", (2, 1))])
np.savez(os.path.join(OUT, "course_case_rnn.npz"), x=x, a0=a0, da=np.random.randn(5, 10, 4), Wax=p["Wax"], Waa=p["Waa"], ba=p["ba"].ravel())
np.random.seed(1)
x = np.random.randn(3, 10, 7); a0 = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_GATES)
np.savez(os.path.join(OUT, "course_case_lstm.npz"), x=x, a0=a0, da=np.random.randn(5, 10, 4), **p)
np.random.seed(1)
xt = np.random.randn(3, 10); a_prev = np.random.randn(5, 10); c_prev = np.random.randn(5, 10)
p = draw_rnn_params(LSTM_ORDER)
da_next = np.random.randn(5, 10); dc_next = np.random.randn(5, 10)
np.savez(os.path.join(OUT, "course_case_lstm_cell.npz"), xt=xt, a_prev=a_prev, c_prev=c_prev, da_next=da_next, dc_next=dc_next, **p)

np.savez(os.path.join(OUT, "course_reference.npz"), **{k: np.asarray(v, dtype=np.float64) for k, v in out.items()})
print("wrote", len(out), "arrays; numpy", np.__version__, "torch", torch.__version__)
