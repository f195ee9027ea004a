#!/usr/bin/env bash
# The shakespeare preset's ablation (docs/shakespeare.md): the preset at a shorter budget, then
# each ingredient removed in turn (and variational dropout added), one run after another on an
# otherwise idle machine; prints one Markdown row per run: best validation loss, the step it was
# reached at, minutes of training.
#
#   scripts/ablation.sh [STEPS] [OUT_DIR]      # defaults: 600 steps, runs/ablation
#
# Every run is the preset with --steps STEPS (the cosine spans them) and the flags of its row.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-600}"
OUT="${2:-runs/ablation}"
BIN="${RECURRENT_BIN:-target/release/recurrent}"
[ -x "$BIN" ] || cargo build --release -p recurrent-cli
mkdir -p "$OUT"
rows=(
  "preset|"
  "no dropout before the head|--dropout-head 0"
  "no weight decay|--weight-decay 0"
  "constant learning rate, no warm-up|--schedule constant --warmup 0"
  "no dropout at all|--dropout 0 --dropout-head 0"
  "variational dropout added|--variational-dropout"
)
echo "| run ($STEPS steps) | best validation (nats/char) | at step | minutes |"
echo "|---|---|---|---|"
i=0
for row in "${rows[@]}"; do
  name="${row%%|*}"
  flags="${row#*|}"
  dir="$OUT/$i"
  i=$((i + 1))
  if [ ! -f "$dir/metrics.jsonl" ] || ! grep -q "\"step\":$STEPS," "$dir/metrics.jsonl"; then
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$BIN" train --preset shakespeare --steps "$STEPS" --sample-every 0 --out "$dir" $flags >/dev/null
  fi
  python3 - "$dir/metrics.jsonl" "$name" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
val = [(r["val_loss"], r["step"]) for r in rows if r.get("val_loss") is not None]
best, at = min(val)
print(f"| {sys.argv[2]} | {best:.4f} | {at} | {rows[-1]['elapsed_s'] / 60:.1f} |")
PY
done
