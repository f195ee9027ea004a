#!/usr/bin/env python3
"""Moves character models between recurrent and PyTorch, and checks they give the same numbers.

    # ours → PyTorch: load a checkpoint into torch.nn.LSTM/GRU/RNN + torch.nn.Linear and score a text
    python3 scripts/pytorch_interop.py check runs/…/best.safetensors data/tinyshakespeare.txt --chars 20000
    # (compare with: recurrent eval runs/…/best.safetensors <the same first 20000 characters>)

    # PyTorch → ours: write a PyTorch model as a recurrent checkpoint, with the logits PyTorch
    # computes for a fixed input (the fixture of crates/recurrent/tests/pytorch_checkpoint.rs)
    python3 scripts/pytorch_interop.py export crates/recurrent/tests/fixtures

Needs: pip install numpy torch safetensors
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

CELLS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def load(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg, vocab = json.loads(meta["config"]), json.loads(meta["vocab"])
    rnn = CELLS[cfg["cell"]](len(vocab), cfg["hidden"], num_layers=cfg["layers"])
    head = torch.nn.Linear(cfg["hidden"], len(vocab))
    rnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    return rnn, head, vocab


def nats_per_char(rnn, head, vocab, text):
    ix = {c: i for i, c in enumerate(vocab)}
    tok = torch.tensor([ix[c] for c in text])
    x = F.one_hot(tok[:-1], len(vocab)).float().unsqueeze(1)  # (T, 1, V), one stream from zero
    with torch.no_grad():
        y, _ = rnn(x)
        return F.cross_entropy(head(y[:, 0]), tok[1:], reduction="mean").item()


def check(path, text_path, chars):
    rnn, head, vocab = load(path)
    text = open(text_path, encoding="utf-8").read()[:chars]
    print("%d characters: %.4f nats/char (PyTorch %s)" % (len(text) - 1, nats_per_char(rnn, head, vocab, text), torch.__version__))


def export(out_dir):
    torch.manual_seed(7)
    vocab = sorted(set("the quick brown fox jumps over the lazy dog."))
    V, H, L = len(vocab), 16, 2
    rnn, head = torch.nn.LSTM(V, H, num_layers=L), torch.nn.Linear(H, V)
    tensors = {"rnn." + k: v.detach().contiguous() for k, v in rnn.state_dict().items()}
    tensors.update({"head." + k: v.detach().contiguous() for k, v in head.state_dict().items()})
    meta = {"format": "recurrent-char-model/1", "config": json.dumps({"cell": "lstm", "vocab": V, "hidden": H, "layers": L, "dropout": 0.0}), "vocab": json.dumps(vocab)}
    save_file(tensors, os.path.join(out_dir, "torch_char_model.safetensors"), metadata=meta)
    # The expected logits, in float64 from the same float32 weights.
    text = "the lazy dog jumps over the quick brown fox."
    tok = torch.tensor([vocab.index(c) for c in text])
    rnn64, head64 = rnn.double(), head.double()
    with torch.no_grad():
        y, _ = rnn64(F.one_hot(tok, V).double().unsqueeze(1))
        logits = head64(y[:, 0])
    np.savez(os.path.join(out_dir, "torch_char_model_expected.npz"), tokens=tok.numpy().astype(np.float64), logits=logits.numpy())
    print("wrote torch_char_model.safetensors and torch_char_model_expected.npz; torch", torch.__version__)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "check":
        chars = int(sys.argv[sys.argv.index("--chars") + 1]) if "--chars" in sys.argv else 10**9
        check(sys.argv[2], sys.argv[3], chars)
    elif len(sys.argv) == 3 and sys.argv[1] == "export":
        export(sys.argv[2])
    else:
        sys.exit(__doc__)
