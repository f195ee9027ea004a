#!/usr/bin/env python3
"""Trains two small character models in PyTorch the way PyTorch code usually writes them, saves
their state_dicts as a PyTorch user would, and records what PyTorch computes with them: the
fixtures of crates/recurrent-cli/tests/import.rs (`recurrent import`, then `eval` and `sample`).

* import_lstm.safetensors: nn.Embedding(V, 16) -> nn.LSTM(16, 32, num_layers=2) -> nn.Linear(32, V),
  module names embed / lstm / fc, saved with safetensors.torch.save_file;
* import_gru.npz: one-hot input -> nn.GRU(V, 24, bias=False) -> nn.Linear(24, V) named decoder,
  saved with np.savez of the state_dict;
* import_vocab.json: json.dump(chars) with chars = sorted(set(text));
* import_expected.json: per model, PyTorch's loss in nats/char over a passage (one stream from a
  zero state, float64 on the float32 weights) and its greedy (argmax) continuation of a prime.

    pip install numpy torch safetensors && python3 scripts/make_import_fixture.py
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "crates", "recurrent-cli", "tests", "fixtures")
text = open(os.path.join(ROOT, "data", "tinyshakespeare.txt"), encoding="utf-8").read()[:20000]
chars = sorted(set(text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text])
PASSAGE = text[15000:17000]
PRIME = "ROMEO:"


class EmbLstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, 16)
        self.lstm = torch.nn.LSTM(16, 32, num_layers=2)
        self.fc = torch.nn.Linear(32, V)

    def forward(self, x, h=None):  # x (T, B) tokens
        y, h = self.lstm(self.embed(x), h)
        return self.fc(y), h


class OneHotGru(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.GRU(V, 24, bias=False)
        self.decoder = torch.nn.Linear(24, V)

    def forward(self, x, h=None):
        y, h = self.rnn(F.one_hot(x, V).to(self.decoder.weight.dtype), h)
        return self.decoder(y), h


def train(model, steps, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    T, B = 32, 16
    for _ in range(steps):
        starts = torch.randint(0, len(data) - T - 1, (B,), generator=g)
        x = torch.stack([data[s:s + T] for s in starts], 1)
        y = torch.stack([data[s + 1:s + T + 1] for s in starts], 1)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def expected(model):
    m = model.double()
    with torch.no_grad():
        tok = torch.tensor([stoi[c] for c in PASSAGE])
        logits, _ = m(tok[:-1].unsqueeze(1))
        nats = F.cross_entropy(logits[:, 0], tok[1:]).item()
        logits, h = m(torch.tensor([stoi[c] for c in PRIME]).unsqueeze(1))
        out = ""
        for _ in range(60):
            nxt = int(logits[-1, 0].argmax())
            out += chars[nxt]
            logits, h = m(torch.tensor([[nxt]]), h)
    return {"nats_per_char": nats, "greedy": PRIME + out}


torch.manual_seed(3)
lstm = EmbLstm()
print("EmbLstm: final training loss %.4f" % train(lstm, 1000, 1))
save_file({k: v.contiguous() for k, v in lstm.state_dict().items()}, os.path.join(OUT, "import_lstm.safetensors"))
torch.manual_seed(4)
gru = OneHotGru()
print("OneHotGru: final training loss %.4f" % train(gru, 1000, 2))
np.savez(os.path.join(OUT, "import_gru.npz"), **{k: v.numpy() for k, v in gru.state_dict().items()})
json.dump(chars, open(os.path.join(OUT, "import_vocab.json"), "w"))
open(os.path.join(OUT, "import_passage.txt"), "w", encoding="utf-8").write(PASSAGE)
exp = {"lstm": expected(lstm), "gru": expected(gru), "prime": PRIME, "torch": torch.__version__}
json.dump(exp, open(os.path.join(OUT, "import_expected.json"), "w"), indent=1)
print(json.dumps(exp, indent=1))
