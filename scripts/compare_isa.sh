#!/usr/bin/env bash
# recurrent's own speed with each kernel set this CPU runs (RECURRENT_ISA), measured in one run,
# interleaved, best of REPEATS per figure; a markdown table with the ratio of each set to avx2.
#
#   scripts/compare_isa.sh [SECONDS] [REPEATS]
#
# Needs only cargo and python3 (no numpy or torch). Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
reps=${2:-3}
cargo build --release -q -p recurrent-cli
bin=target/release/recurrent
out=$(mktemp)
sets=$(python3 -c 'import sys; f=set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split(":",1)[1].split()); s=["portable"]; s+=["avx2"] if {"avx2","fma"}<=f else []; s+=["avx512"] if {"avx512f","avx512vl","avx512bw","avx512dq"}<=f and "avx2" in f else []; print(" ".join(s))')
for rep in $(seq "$reps"); do
  for th in 1 2; do
    for c in min-char-rnn lstm-small lstm-large gru-medium; do
      for isa in $sets; do
        [ "$isa" = portable ] && [ "$c" = lstm-large ] && continue
        echo "$(RECURRENT_ISA=$isa $bin bench --config $c --threads $th --seconds $secs --json)" >> "$out"
      done
    done
  done
  for isa in $sets; do
    echo "$(RECURRENT_ISA=$isa $bin bench --config gemm --seconds 3 --json)" >> "$out"
    echo "$(RECURRENT_ISA=$isa $bin bench --config peak --seconds 2 --json)" >> "$out"
  done
done
python3 - "$out" "$sets" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    key = (j["config"], j["threads"], j["kernels"])
    speed = j["chars_per_sec"] or j["gflops"]
    if key not in best or speed > best[key]:
        best[key] = speed
sets = sys.argv[2].split()
print("| config | threads | " + " | ".join(sets) + " | avx512 / avx2 |")
print("|---|---|" + "---|" * (len(sets) + 1))
for key in sorted({(c, t) for c, t, _ in best}):
    row = [best.get(key + (s,)) for s in sets]
    ratio = ""
    if best.get(key + ("avx2",)) and best.get(key + ("avx512",)):
        ratio = "%.3f×" % (best[key + ("avx512",)] / best[key + ("avx2",)])
    unit = " GFLOP/s" if key[0] in ("gemm", "peak") else ""
    print("| %s | %d | " % key + " | ".join("—" if v is None else ("%.1f" % v if unit else "%.0f" % v) + unit for v in row) + " | %s |" % ratio)
PY
rm -f "$out"
