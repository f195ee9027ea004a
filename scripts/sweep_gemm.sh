#!/usr/bin/env bash
# Tries the GEMM knobs of RECURRENT_GEMM on this machine and prints, for every product of the
# standard configurations (`recurrent bench --config shapes`), the setting that ran it fastest,
# and for every configuration the setting with the fastest whole training step. No rebuild:
# the knobs are read from the environment (see docs/performance.md, "Knobs").
#
#   scripts/sweep_gemm.sh [THREADS] [SECONDS] [ROUNDS]     (defaults 1, 0.5 and 1; about 5 minutes
#                                                          a round)
#
# Run it on an idle machine: anything beside it halves what it measures on two cores. On a
# shared VM, whose speed drifts for minutes at a time, give ROUNDS > 1: each setting is then
# measured ROUNDS times over (`bench --rounds`) and ranked by its best round. The
# tile and kb knobs act on the per-step products; kc and nc, and apart from them nr (the width
# of B's packed panels) and pa (A packed too), on the cache-blocked ones (weight gradients,
# input projections), and mr=12 (AVX-512's 12 × 32 packed path) with three of those blocks; pf
# (C prefetched a block ahead) on every product. Each group is swept with
# the others at their defaults. Then put the winners in RECURRENT_GEMM (say
# `export RECURRENT_GEMM=tile=12x32,kc=256,nr=64`) and check them in whole steps
# (`recurrent bench --config lstm-large --seconds 3`, alternating with the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1}"
seconds="${2:-0.5}"
rounds="${3:-1}"
cargo build --release -q -p recurrent-cli
bin=target/release/recurrent
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
settings=()
for tile in 6x64 12x32; do
  for kb in 0 128; do settings+=("tile=$tile,kb=$kb"); done
done
for kc in 128 256 384; do
  for nc in 256 512 1024; do settings+=("kc=$kc,nc=$nc"); done
done
for nr in 16 64; do
  for pa in 0 1; do settings+=("nr=$nr,pa=$pa"); done
done
settings+=("pf=0" "pf=1")
# AVX-512 only (the AVX2 kernels take mr=6): the 12 × 32 packed path at three blocks.
for blocks in kc=256,nc=256 kc=384,nc=512 kc=384,nc=1024; do settings+=("mr=12,$blocks"); done
i=0
for s in "${settings[@]}"; do
  echo "[$((i + 1))/${#settings[@]}] RECURRENT_GEMM=$s" >&2
  RECURRENT_GEMM="$s" "$bin" bench --config shapes --json --threads "$threads" --seconds "$seconds" --rounds "$rounds" \
    | sed "s/^{/{\"setting\":\"$s\",/" > "$out/$i.jsonl"
  i=$((i + 1))
done
python3 - "$out" <<'PY'
import json, sys, glob, collections
rows = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl")) for l in open(f)]
rows = [r for r in rows if "config" in r]
best = collections.OrderedDict()
for r in rows:
    shape = f"{r['m']}×{r['k']}×{r['n']}" if "m" in r else ""
    key = (r["config"], r["product"], shape)
    rate = r.get("gflops", r.get("gflops_per_thread"))
    best.setdefault(key, []).append((rate, r["share"], r["setting"]))
print(f"{'config':<13} {'product':<34} {'m×k×n':<16} {'best setting':<22} {'GFLOP/s':>8} {'peak':>5}  (worst)")
for (config, product, shape), runs in best.items():
    rate, share, setting = max(runs)
    worst = min(runs)[0]
    print(f"{config:<13} {product:<34} {shape:<16} {setting:<22} {rate:>8.1f} {100 * share:>4.0f}%  ({worst:.1f})")
PY
