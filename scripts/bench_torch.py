#!/usr/bin/env python3
"""recurrent.torch against torch.nn inside PyTorch's own training loop.

The same model trained twice — nn.Embedding → recurrent layer → nn.Linear → cross-entropy →
torch.optim.Adam, gradient norm clipped at 5 — once with torch.nn's layer and once with
recurrent.torch's, on windows of the bundled tiny-shakespeare, on the shapes of the standard
configurations (min-char-rnn: tanh RNN 100, B 1, T 25; lstm-small: LSTM 128, B 32, T 64;
lstm-large: LSTM 2×512, B 64, T 64; gru-medium: GRU 256, B 32, T 64), the embedding as wide as the
vocabulary (65, the standard configurations' one-hot input size).

Each measurement is a fresh process (so its peak RSS is its own), the two layers alternating,
best of N: tokens per second of the whole training step (forward, loss, backward, clipping,
Adam), the peak RSS, and the losses of the first steps from the same initial weights side by
side (no dropout: they agree to float32 rounding).

    python3 scripts/bench_torch.py [--rounds 3] [--seconds 4] [--threads 1 2] [--shapes lstm-large ...]

Needs torch and the recurrent package (`pip install ./python torch`).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

SHAPES = {
    # name: (cell, layers, hidden, batch, steps)
    "min-char-rnn": ("RNN", 1, 100, 1, 25),
    "lstm-small": ("LSTM", 1, 128, 32, 64),
    "lstm-large": ("LSTM", 2, 512, 64, 64),
    "gru-medium": ("GRU", 1, 256, 32, 64),
}
CURVE = 20  # steps of the loss curve compared between the two layers


def worker(impl, shape, threads, seconds):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    cell, layers, hidden, B, T = SHAPES[shape]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    text = open(os.path.join(root, "data", "tinyshakespeare.txt"), encoding="utf-8").read()
    chars = sorted(set(text))
    V = len(chars)
    ix = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([ix[c] for c in text], dtype=torch.long)
    if impl == "recurrent":
        import recurrent.torch as rt

        cls = getattr(rt, cell)
    else:
        cls = getattr(nn, cell)
    torch.manual_seed(0)
    emb, rnn, head = nn.Embedding(V, V), cls(V, hidden, num_layers=layers, batch_first=True), nn.Linear(hidden, V)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    g = torch.Generator().manual_seed(1)

    def step():
        starts = torch.randint(0, len(data) - T - 1, (B,), generator=g)
        batch = torch.stack([data[s : s + T + 1] for s in starts.tolist()])
        y, _ = rnn(emb(batch[:, :-1]))
        loss = F.cross_entropy(head(y).reshape(-1, V), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return loss.item()

    curve = [step() for _ in range(CURVE)]
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tokens_per_s": n * B * T / dt, "peak_mib": peak, "curve": curve, "steps": n}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--worker", nargs=4, metavar=("IMPL", "SHAPE", "THREADS", "SECONDS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        impl, shape, threads, seconds = a.worker
        worker(impl, shape, int(threads), float(seconds))
        return
    results = []
    print("| shape | threads | torch.nn tokens/s | recurrent.torch tokens/s | ratio | peak RSS torch.nn / recurrent (MiB) | losses, first 20 steps: largest relative difference |")
    print("|---|---|---|---|---|---|---|")
    for shape in a.shapes:
        for threads in a.threads:
            best = {}
            for _ in range(a.rounds):
                for impl in ("torch", "recurrent"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", impl, shape, str(threads), str(a.seconds)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    if impl not in best or r["tokens_per_s"] > best[impl]["tokens_per_s"]:
                        best[impl] = r
            t, r = best["torch"], best["recurrent"]
            diff = max(abs(x - y) / abs(y) for x, y in zip(r["curve"], t["curve"]))
            row = {
                "shape": shape,
                "threads": threads,
                "torch_tokens_per_s": t["tokens_per_s"],
                "recurrent_tokens_per_s": r["tokens_per_s"],
                "ratio": r["tokens_per_s"] / t["tokens_per_s"],
                "torch_peak_mib": t["peak_mib"],
                "recurrent_peak_mib": r["peak_mib"],
                "loss_rel_diff": diff,
                "torch_curve": t["curve"],
                "recurrent_curve": r["curve"],
            }
            results.append(row)
            print(
                f"| {shape} | {threads} | {t['tokens_per_s']:,.0f} | {r['tokens_per_s']:,.0f} | {row['ratio']:.2f}× "
                f"| {t['peak_mib']:.0f} / {r['peak_mib']:.0f} | {diff:.1e} |",
                flush=True,
            )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
