#!/usr/bin/env python3
"""Training curves of several runs against minutes of training, from their metrics.jsonl.

    python3 scripts/plot_runs.py --out docs/shakespeare.png \
        "shakespeare preset=runs/shakespeare" "default preset=runs/default"

Each run is LABEL=RUN_FOLDER (or LABEL=path/to/metrics.jsonl). Plots the smoothed training loss
(thin) and the validation loss (thick, with markers) in nats per character against
`elapsed_s / 60`, and a dashed line at nanoGPT's 1.4697. Needs matplotlib (pip install matplotlib).
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NANOGPT = 1.4697


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a torn last line
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_FOLDER")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="tiny-shakespeare, last 10% held out")
    a = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    for i, spec in enumerate(a.runs):
        label, path = spec.split("=", 1)
        rows = load(path)
        c = colours[i % len(colours)]
        t = [r["elapsed_s"] / 60 for r in rows]
        ax.plot(t, [r["train_loss"] for r in rows], color=c, lw=0.8, alpha=0.6, label=f"{label}: train (smoothed)")
        val = [(r["elapsed_s"] / 60, r["val_loss"]) for r in rows if r.get("val_loss") is not None]
        if val:
            best = min(v for _, v in val)
            ax.plot(*zip(*val), color=c, lw=2, marker="o", ms=3, label=f"{label}: validation (best {best:.4f})")
    ax.axhline(NANOGPT, color="grey", ls="--", lw=1, label=f"nanoGPT shakespeare-char ({NANOGPT})")
    ax.set_ylim(1.0, 2.6)
    ax.set_xlabel("minutes of training")
    ax.set_ylabel("loss (nats/char)")
    ax.set_title(a.title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
