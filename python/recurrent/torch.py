"""``recurrent.torch``: ``RNN``, ``LSTM`` and ``GRU`` for PyTorch on the CPU, computed by
recurrent's forward and hand-written backward-through-time.

Swap one import::

    from recurrent.torch import LSTM      # instead of torch.nn.LSTM
    rnn = LSTM(input_size=64, hidden_size=512, num_layers=2, batch_first=True)

Each class *is* its ``torch.nn`` class (a subclass): the same constructor arguments, the same
parameters under the same names and shapes (``weight_ih_l0``, …, ``_reverse``), so
``load_state_dict`` and ``torch.save`` work both ways with ``torch.nn``'s module; the same
initialisation from torch's generator; ``forward(input, hx)`` returns what ``torch.nn``'s does,
batched and unbatched. Only ``forward`` differs: a ``torch.autograd.Function`` runs the library's
stack, whose activations stay on the Rust side until the backward turns them into the
gradients of the input, the initial states and every weight.

* float32 and float64, on the CPU.
* Dropout between layers (training mode only, as in ``torch.nn``) draws its masks from torch's
  generator, so ``torch.manual_seed`` makes a run repeatable.
* Threads: ``torch.get_num_threads()`` unless the module's ``threads`` attribute says
  otherwise; at most two are used: the batch is split in two shards (their weight gradients
  added), run on torch's own OpenMP team, whose waiting workers take them at once, so no
  thread of recurrent's competes with torch's. A step too small to share runs on one thread.
* Under ``torch.no_grad()`` (or when nothing needs a gradient) nothing is kept for a backward.
* A second backward through one forward (``retain_graph=True``, ``gradcheck``) runs the forward
  again first: the first backward turns the activations into gradients in place.

Refused, each in one line: ``proj_size``, ``nonlinearity='relu'``, a ``PackedSequence``, and
other dtypes and devices than float32/float64 on the CPU.
"""

import threading

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import _core

__all__ = ["RNN", "LSTM", "GRU"]


def _np(t):
    """A numpy view of a CPU tensor (no copy; torch's strides are kept)."""
    return t.detach().numpy()


def _forward(module, stack, weights, x, h0, c0, masks, threads):
    """The stack's forward on the module's weights: numpy arrays ``[output, h_n(, c_n)]``."""
    return stack.forward(
        module._rc_weight_list(weights),
        _np(x),
        None if h0 is None else _np(h0),
        None if c0 is None else _np(c0),
        masks,
        threads,
    )


class _Stack(torch.autograd.Function):
    """The recurrent layer as one autograd node: inputs ``(module, stack, masks, threads, x,
    h0, c0, *weights)``; outputs ``(output, h_n)`` or ``(output, h_n, c_n)``."""

    @staticmethod
    def forward(ctx, module, stack, masks, threads, x, h0, c0, *weights):
        outs = _forward(module, stack, weights, x, h0, c0, masks, threads)
        # References only (no copies): a second backward through this node (retain_graph,
        # gradcheck) runs the forward again from them, and torch's version counters refuse
        # one whose inputs were changed in place since, as they do for torch.nn.
        ctx.save_for_backward(x, h0, c0, *weights)
        ctx.rc = (module, stack, masks, threads)
        return tuple(torch.from_numpy(o) for o in outs)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh, dc=None):
        module, stack, masks, threads = ctx.rc
        x, h0, c0, *weights = ctx.saved_tensors
        if stack is None:
            # The activations of the forward became the first backward's gradients: again.
            stack = module._rc_take()
            _forward(module, stack, weights, x, h0, c0, masks, threads)
        ctx.rc = (module, None, masks, threads)
        dx, dh0, dc0, grads = stack.backward(
            _np(dy.contiguous()),
            _np(dh.contiguous()),
            None if dc is None else _np(dc.contiguous()),
            threads,
        )
        module._rc_release(stack)
        wgrads = [torch.from_numpy(g) for g, present in zip(grads, module._rc_present()) if present]
        return (
            None,
            None,
            None,
            None,
            torch.from_numpy(dx),
            torch.from_numpy(dh0) if h0 is not None else None,
            torch.from_numpy(dc0) if (c0 is not None and dc0 is not None) else None,
            *wgrads,
        )


class _Recurrent:
    """What the three classes share: checks at construction, and ``forward`` through
    recurrent. Mixed in before the ``torch.nn`` class."""

    #: Threads for recurrent's stack; ``None`` follows ``torch.get_num_threads()``.
    threads = None

    def _rc_check_args(self, kwargs):
        if kwargs.get("proj_size", 0):
            raise ValueError(
                f"recurrent.torch.{type(self).__name__}: proj_size is not supported; use torch.nn.LSTM for a projected LSTM"
            )
        device = kwargs.get("device")
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(
                f"recurrent.torch.{type(self).__name__} runs on the CPU: leave device out, or use torch.nn.{type(self).__mro__[2].__name__} on {device}"
            )
        dtype = kwargs.get("dtype")
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ValueError(
                f"recurrent.torch.{type(self).__name__}: dtype {dtype} is not supported; use torch.float32 or torch.float64"
            )

    # -- the pool of Rust stacks: one holds one forward's activations until its backward.
    def _rc_key(self):
        return (self.weight_ih_l0.dtype, float(self.dropout), bool(self.batch_first))

    def _rc_take(self):
        pool = self.__dict__.setdefault("_rc_pool", {})
        lock = self.__dict__.setdefault("_rc_lock", threading.Lock())
        key = self._rc_key()
        with lock:
            free = pool.setdefault(key, [])
            if free:
                return free.pop()
        return _core.TorchStack(
            self.mode,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            float(self.dropout),
            bool(self.batch_first),
            "float64" if key[0] == torch.float64 else "float32",
        )

    def _rc_release(self, stack):
        pool = self.__dict__.setdefault("_rc_pool", {})
        lock = self.__dict__.setdefault("_rc_lock", threading.Lock())
        with lock:
            free = pool.setdefault(self._rc_key(), [])
            if len(free) < 4 and stack.dtype == ("float64" if self._rc_key()[0] == torch.float64 else "float32"):
                free.append(stack)

    def __getstate__(self):
        # torch.save(module) and copy.deepcopy: the Rust stacks are scratch space, not state.
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_rc_pool", None)
        state.pop("_rc_lock", None)
        return state

    def _rc_present(self):
        """For each of the stack's 4·L·D tensors, whether the module has it (no biases with
        ``bias=False``)."""
        names = []
        for layer in range(self.num_layers):
            for suffix in ["", "_reverse"][: 2 if self.bidirectional else 1]:
                names += [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
        have = set(self._flat_weights_names)
        return [n in have for n in names]

    def _rc_weight_list(self, weights):
        """The module's weights as the stack takes them: 4 per layer and direction, ``None``
        for a missing bias."""
        it = iter(weights)
        return [_np(next(it)) if present else None for present in self._rc_present()]

    def forward(self, input, hx=None):  # noqa: A002 (torch.nn's name)
        name = type(self).__name__
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise TypeError(
                f"recurrent.torch.{name} takes a padded tensor, not a PackedSequence: unpack it with "
                "torch.nn.utils.rnn.pad_packed_sequence (and mask the padded steps in the loss), or use torch.nn for packed input"
            )
        if self.mode == "RNN_RELU":
            raise ValueError(f"recurrent.torch.{name}: nonlinearity='relu' is not supported; use torch.nn.RNN")
        if getattr(self, "proj_size", 0):
            raise ValueError(f"recurrent.torch.{name}: proj_size is not supported; use torch.nn.LSTM")
        if input.device.type != "cpu":
            raise ValueError(f"recurrent.torch.{name} runs on the CPU: the input is on {input.device}")
        w0 = self.weight_ih_l0
        if w0.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"recurrent.torch.{name}: parameters of {w0.dtype} are not supported; use float32 or float64")
        if input.dtype != w0.dtype:
            raise ValueError(
                f"recurrent.torch.{name}: the input is {input.dtype} and the parameters {w0.dtype}: convert one (input.to({w0.dtype}) or module.to({input.dtype}))"
            )
        if input.dim() not in (2, 3):
            raise ValueError(f"recurrent.torch.{name}: expected a 2-d (unbatched) or 3-d input, got {input.dim()}-d")
        lstm = self.mode == "LSTM"
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ValueError(f"recurrent.torch.{name}: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                h0 = hx
            want = 3 if batched else 2
            for t, n in ((h0, "h_0"), (c0, "c_0")):
                if t is not None and t.dim() != want:
                    raise ValueError(
                        f"recurrent.torch.{name}: {n} must be {want}-d for {'batched' if batched else 'unbatched'} input, got {t.dim()}-d"
                    )
                if t is not None and t.dtype != w0.dtype:
                    raise ValueError(f"recurrent.torch.{name}: {n} is {t.dtype}, the parameters {w0.dtype}")
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        if hasattr(self, "_update_flat_weights"):
            # As torch.nn's forward does: parameters swapped in by torch.func.functional_call
            # or assigned to _parameters directly.
            self._update_flat_weights()
        weights = list(self._flat_weights)
        threads = int(self.threads if self.threads is not None else torch.get_num_threads())
        masks = None
        if self.training and self.dropout > 0 and self.num_layers > 1:
            t_len, batch = (input.shape[1], input.shape[0]) if self.batch_first else (input.shape[0], input.shape[1])
            keep = 1.0 - self.dropout
            d = 2 if self.bidirectional else 1
            masks = [
                _np(torch.empty(t_len * batch, d * self.hidden_size, dtype=w0.dtype).bernoulli_(keep).div_(keep))
                for _ in range(self.num_layers - 1)
            ]
        needs_grad = torch.is_grad_enabled() and (
            input.requires_grad
            or any(w.requires_grad for w in weights)
            or (h0 is not None and h0.requires_grad)
            or (c0 is not None and c0.requires_grad)
        )
        if needs_grad:
            stack = self._rc_take()
            outs = _Stack.apply(self, stack, masks, threads, input, h0, c0, *weights)
        else:
            stack = self._rc_take()
            try:
                outs = tuple(torch.from_numpy(o) for o in _forward(self, stack, weights, input, h0, c0, masks, threads))
            finally:
                self._rc_release(stack)
        out, hn = outs[0], outs[1]
        cn = outs[2] if lstm else None
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            hn = hn.squeeze(1)
            cn = cn.squeeze(1) if cn is not None else None
        return (out, (hn, cn)) if lstm else (out, hn)


class RNN(_Recurrent, nn.RNN):
    """``torch.nn.RNN`` (tanh) computed by recurrent; see the module's documentation."""

    def __init__(self, *args, **kwargs):
        self._rc_check_args(kwargs)
        nonlinearity = kwargs.get("nonlinearity", args[3] if len(args) > 3 else "tanh")
        if nonlinearity != "tanh":
            raise ValueError(
                f"recurrent.torch.RNN: nonlinearity={nonlinearity!r} is not supported (recurrent's RNN is tanh); use torch.nn.RNN"
            )
        super().__init__(*args, **kwargs)


class LSTM(_Recurrent, nn.LSTM):
    """``torch.nn.LSTM`` computed by recurrent; see the module's documentation."""

    def __init__(self, *args, **kwargs):
        self._rc_check_args(kwargs)
        if len(args) > 7 and args[7]:
            raise ValueError("recurrent.torch.LSTM: proj_size is not supported; use torch.nn.LSTM for a projected LSTM")
        super().__init__(*args, **kwargs)


class GRU(_Recurrent, nn.GRU):
    """``torch.nn.GRU`` computed by recurrent; see the module's documentation."""

    def __init__(self, *args, **kwargs):
        self._rc_check_args(kwargs)
        super().__init__(*args, **kwargs)
