"""recurrent.torch against torch.nn: the same module, the same numbers.

The expected values are torch.nn's own (its RNN/LSTM/GRU on the CPU, float64 and float32) and
torch.autograd.gradcheck's centred finite differences, computed here; nothing is stored.
Torch is needed: scripts/test.sh installs it and sets RECURRENT_REQUIRE_TORCH, so there these
tests fail rather than skip when it is missing.
"""

import copy
import io
import itertools
import os

import pytest

if os.environ.get("RECURRENT_REQUIRE_TORCH"):
    import torch  # noqa: F401  (fails the run when torch is missing)
else:
    torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import recurrent.torch as rt  # noqa: E402

CELLS = {"RNN": (nn.RNN, rt.RNN), "LSTM": (nn.LSTM, rt.LSTM), "GRU": (nn.GRU, rt.GRU)}
MATRIX = list(itertools.product(CELLS, [1, 2], [False, True], [False, True], [False, True]))
I, H, T, B = 3, 4, 5, 2


def pair(cell, layers, bi, bf, dtype=torch.float64, **kw):
    """torch.nn's module and recurrent's, with the same weights (the same seed draws them)."""
    ref_cls, our_cls = CELLS[cell]
    torch.manual_seed(0)
    ref = ref_cls(I, H, num_layers=layers, bidirectional=bi, batch_first=bf, dtype=dtype, **kw)
    torch.manual_seed(0)
    ours = our_cls(I, H, num_layers=layers, bidirectional=bi, batch_first=bf, dtype=dtype, **kw)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k]), f"{k}: the same seed, the same initial weights"
    return ref, ours


def inputs(cell, layers, bi, bf, with_state, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((B, T, I) if bf else (T, B, I), generator=g, dtype=dtype)
    hx = None
    if with_state:
        n = layers * (2 if bi else 1)
        h0 = torch.randn(n, B, H, generator=g, dtype=dtype)
        hx = (h0, torch.randn(n, B, H, generator=g, dtype=dtype)) if cell == "LSTM" else h0
    return x, hx


def flat(out):
    """(output, h_n) or (output, (h_n, c_n)) as a list of tensors."""
    y, s = out
    return [y, *s] if isinstance(s, tuple) else [y, s]


def run(module, x, hx):
    """The outputs, and the gradients of a fixed random function of them with respect to the
    input, the initial states and every parameter."""
    x = x.clone().requires_grad_(True)
    states = [] if hx is None else ([t.clone().requires_grad_(True) for t in hx] if isinstance(hx, tuple) else [hx.clone().requires_grad_(True)])
    h = None if hx is None else (tuple(states) if isinstance(hx, tuple) else states[0])
    outs = flat(module(x, h))
    g = torch.Generator().manual_seed(7)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs)
    wrt = [x, *states, *module.parameters()]
    grads = torch.autograd.grad(loss, wrt)
    return [o.detach() for o in outs], list(grads)


def close(a, b, dtype, what):
    if dtype == torch.float64:
        d = (a - b).abs().max().item()
        assert d <= 1e-10, f"{what}: differs by {d:.3e}"
    else:
        scale = b.abs().max().item()
        d = (a - b).abs().max().item()
        assert d <= 1e-5 * max(scale, 1e-3), f"{what}: differs by {d:.3e} (scale {scale:.3e})"


@pytest.mark.parametrize("cell,layers,bi,bf,with_state", MATRIX)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_outputs_and_every_gradient_equal_torch_nn(cell, layers, bi, bf, with_state, dtype):
    ref, ours = pair(cell, layers, bi, bf, dtype)
    x, hx = inputs(cell, layers, bi, bf, with_state, dtype)
    (ro, rg), (oo, og) = run(ref, x, hx), run(ours, x, hx)
    for i, (a, b) in enumerate(zip(oo, ro)):
        close(a, b, dtype, f"output {i}")
    names = ["x"] + [f"state {i}" for i in range(len(rg) - 1 - len(list(ref.parameters())))] + [n for n, _ in ref.named_parameters()]
    assert len(og) == len(rg) == len(names)
    for n, a, b in zip(names, og, rg):
        assert a.abs().max() > 0, f"{n}: an all-zero gradient proves nothing"
        close(a, b, dtype, f"d{n}")


@pytest.mark.parametrize("cell,layers,bi,bf,with_state", MATRIX)
def test_gradcheck_float64(cell, layers, bi, bf, with_state):
    _, ours = pair(cell, layers, bi, bf)
    x, hx = inputs(cell, layers, bi, bf, with_state, seed=3)
    params = list(ours.parameters())
    names = [n for n, _ in ours.named_parameters()]
    x = x.requires_grad_(True)
    states = [] if hx is None else [t.requires_grad_(True) for t in (hx if isinstance(hx, tuple) else (hx,))]

    def f(x, *rest):
        st, ws = rest[: len(states)], rest[len(states):]
        # The weights as inputs: torch.func.functional_call swaps them into the module.
        h = None if not st else (tuple(st) if cell == "LSTM" else st[0])
        return tuple(flat(torch.func.functional_call(ours, dict(zip(names, ws)), (x, h))))

    assert torch.autograd.gradcheck(f, (x, *states, *[p.detach().requires_grad_(True) for p in params]), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input_equals_torch_nn(cell):
    ref, ours = pair(cell, 2, True, False)
    x, hx = inputs(cell, 2, True, False, True)
    x = x[:, 0]
    hx = tuple(t[:, 0] for t in hx) if isinstance(hx, tuple) else hx[:, 0]
    for h in (None, hx):
        (ro, rg), (oo, og) = run(ref, x, h), run(ours, x, h)
        for a, b in zip(oo + og, ro + rg):
            assert a.shape == b.shape
            close(a, b, torch.float64, "unbatched")


def test_state_dict_and_torch_save_round_trip_both_ways():
    ref, ours = pair("LSTM", 2, True, True)
    torch.manual_seed(5)
    other = nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    ours.load_state_dict(other.state_dict())
    x, _ = inputs("LSTM", 2, True, True, False)
    close(ours(x)[0], other(x)[0], torch.float64, "ours with torch.nn's state_dict")
    back = nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    back.load_state_dict(ours.state_dict())
    close(back(x)[0], other(x)[0], torch.float64, "torch.nn with ours")
    # torch.save of the state dict and of the whole module (after a forward that filled the
    # module's pool of Rust stacks), and copy.deepcopy.
    ours(x)[0].sum().backward()
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    back.load_state_dict(torch.load(buf))
    close(back(x)[0], ours(x)[0], torch.float64, "torch.save state_dict")
    buf = io.BytesIO()
    torch.save(ours, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert isinstance(loaded, rt.LSTM) and isinstance(loaded, nn.LSTM)
    close(loaded(x)[0], ours(x)[0], torch.float64, "torch.save module")
    close(copy.deepcopy(ours)(x)[0], ours(x)[0], torch.float64, "deepcopy")


def manual_stack(ref_cls, ours, x, masks):
    """A stack built from one-layer torch.nn modules with ours's weights, the given dropout
    masks multiplied between layers (time-major rows, as recurrent.torch draws them)."""
    y = x
    d = 2 if ours.bidirectional else 1
    for layer in range(ours.num_layers):
        one = ref_cls(y.shape[-1], H, bidirectional=ours.bidirectional, dtype=x.dtype)
        sd = {k.replace(f"_l{layer}", "_l0"): v for k, v in ours.state_dict().items() if f"_l{layer}" in k}
        one.load_state_dict(sd)
        y = one(y)[0]
        if layer + 1 < ours.num_layers:
            y = y * masks[layer].view(y.shape[0], y.shape[1], d * H)
    return y


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_follows_torch_semantics_and_seed(cell):
    ref_cls = CELLS[cell][0]
    _, ours = pair(cell, 3, True, False, dropout=0.4)
    x, _ = inputs(cell, 3, True, False, False)
    ours.train()
    torch.manual_seed(11)
    a = ours(x)[0]
    torch.manual_seed(11)
    b = ours(x)[0]
    assert torch.equal(a, b), "torch.manual_seed makes the masks repeatable"
    # The same draws, in the same order, from torch's generator: PyTorch's F.dropout masks.
    torch.manual_seed(11)
    masks = [torch.empty(T * B, 2 * H, dtype=x.dtype).bernoulli_(0.6).div_(0.6) for _ in range(2)]
    close(a, manual_stack(ref_cls, ours, x, masks), torch.float64, "dropout between layers")
    assert (masks[0] == 0).any() and (a - ours.eval()(x)[0]).abs().max() > 1e-3, "dropout changed something"
    # Eval mode: no dropout, torch.nn's output.
    ref, _ = pair(cell, 3, True, False, dropout=0.4)
    ref.eval()
    close(ours(x)[0], ref(x)[0], torch.float64, "eval mode")
    # The gradient through dropout, checked with the masks held fixed by the seed.
    ours.train()
    params = [p.detach().requires_grad_(True) for p in ours.parameters()]
    names = [n for n, _ in ours.named_parameters()]

    def f(x, *ws):
        torch.manual_seed(11)
        return torch.func.functional_call(ours, dict(zip(names, ws)), (x,))[0]

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(True), *params), eps=1e-6, atol=1e-8)


def test_no_grad_inference_keeps_nothing():
    ref, ours = pair("LSTM", 2, False, False)
    x, hx = inputs("LSTM", 2, False, False, True)
    with torch.no_grad():
        y, (h, c) = ours(x, hx)
    assert y.grad_fn is None and not y.requires_grad
    close(y, ref(x, hx)[0].detach(), torch.float64, "no_grad")
    # No input or weight needs a gradient: the same, without torch.no_grad().
    for p in ours.parameters():
        p.requires_grad_(False)
    assert ours(x)[0].grad_fn is None


def test_training_loop_matches_torch_nn():
    """nn.Embedding → LSTM → nn.Linear → cross-entropy → Adam with gradient clipping, 50
    steps, float32: the same losses to float32 rounding."""
    V, E, Hd, Bt, Tt = 20, 8, 16, 4, 12
    g = torch.Generator().manual_seed(3)
    # Counting sequences from random starts, mod V: learnable, so the loss falls.
    data = (torch.randint(0, V, (60, Bt, 1), generator=g) + torch.arange(Tt + 1)) % V
    losses = {}
    for name, cls in (("torch.nn", nn.LSTM), ("recurrent", rt.LSTM)):
        torch.manual_seed(0)
        emb, rnn, head = nn.Embedding(V, E), cls(E, Hd, num_layers=2, batch_first=True), nn.Linear(Hd, V)
        params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
        opt = torch.optim.Adam(params, lr=3e-3)
        out = []
        for step in range(50):
            batch = data[step]
            y, _ = rnn(emb(batch[:, :-1]))
            loss = F.cross_entropy(head(y).reshape(-1, V), batch[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            out.append(loss.item())
        losses[name] = out
    a, b = losses["recurrent"], losses["torch.nn"]
    assert b[-1] < b[0] - 0.1, "the loop learns"
    worst = max(abs(x - y) / abs(y) for x, y in zip(a, b))
    assert worst < 1e-4, f"losses differ by {worst:.2e} relative: {a} vs {b}"


@pytest.mark.parametrize("cell", CELLS)
def test_two_threads_shard_the_batch_and_agree(cell):
    """Two threads split the batch in two shards (here 9 sequences: 5 and 4) when a step's
    recurrent product is large enough (H 64): outputs and every gradient still equal torch.nn's
    (float64, 1e-10), with initial states and dropout masks split with the sequences; the
    dropout masks of one seed are the same whatever the threads."""
    ref_cls, our_cls = CELLS[cell]
    torch.manual_seed(0)
    ours = our_cls(3, 64, num_layers=2, bidirectional=True, dtype=torch.float64, dropout=0.3)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, 9, 3, generator=g, dtype=torch.float64)
    h0 = torch.randn(4, 9, 64, generator=g, dtype=torch.float64)
    hx = (h0, torch.randn(4, 9, 64, generator=g, dtype=torch.float64)) if cell == "LSTM" else h0
    ref = ref_cls(3, 64, num_layers=2, bidirectional=True, dtype=torch.float64)
    ref.load_state_dict(ours.state_dict())
    ours.eval()
    results = {}
    for threads in (1, 2):
        ours.threads = threads
        results[threads] = run(ours, x, hx)
    want = run(ref, x, hx)
    for threads, (o, gr) in results.items():
        for a, b in zip(o + gr, want[0] + want[1]):
            close(a, b, torch.float64, f"{threads} threads")
    # Training mode: the same masks (one seed) on one thread and on two.
    ours.train()
    outs = []
    for threads in (1, 2):
        ours.threads = threads
        torch.manual_seed(3)
        outs.append(run(ours, x, hx))
    for a, b in zip(outs[0][0] + outs[0][1], outs[1][0] + outs[1][1]):
        close(a, b, torch.float64, "dropout on 1 and 2 threads")


def test_refusals_are_one_clear_line():
    def refuses(exc, fn, words):
        with pytest.raises(exc) as e:
            fn()
        msg = str(e.value)
        assert words in msg and "\n" not in msg, msg

    refuses(ValueError, lambda: rt.LSTM(3, 4, proj_size=2), "proj_size is not supported; use torch.nn.LSTM")
    refuses(ValueError, lambda: rt.RNN(3, 4, nonlinearity="relu"), "nonlinearity='relu' is not supported")
    refuses(ValueError, lambda: rt.GRU(3, 4, dtype=torch.float16), "torch.float16 is not supported")
    refuses(ValueError, lambda: rt.GRU(3, 4, device="meta"), "runs on the CPU")
    m = rt.LSTM(3, 4)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 3), [5, 3])
    refuses(TypeError, lambda: m(packed), "takes a padded tensor, not a PackedSequence: unpack it with torch.nn.utils.rnn.pad_packed_sequence")
    refuses(ValueError, lambda: m(torch.randn(5, 2, 3, dtype=torch.float64)), "the input is torch.float64 and the parameters torch.float32")
    refuses(ValueError, lambda: m(torch.randn(1, 5, 2, 3)), "expected a 2-d (unbatched) or 3-d input, got 4-d")
    refuses(ValueError, lambda: m(torch.randn(5, 2, 7)), "the layer expects input size 3")
    refuses(ValueError, lambda: m(torch.randn(5, 2, 3), (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4))), "h0 h is (1, 3, 4)")


def test_a_second_backward_through_one_forward_gives_the_same_gradients():
    m = rt.GRU(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3, requires_grad=True)
    s = (m(x)[0] ** 2).sum()
    first = torch.autograd.grad(s, [x, *m.parameters()], retain_graph=True)
    second = torch.autograd.grad(s, [x, *m.parameters()])
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    # Weights changed in place after the forward: refused by torch's version counter, as with torch.nn.
    s = m(x)[0].sum()
    with torch.no_grad():
        m.weight_hh_l0.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.backward()
