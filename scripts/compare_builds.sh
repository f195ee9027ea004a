#!/usr/bin/env bash
# Two builds of recurrent on the standard configurations, interleaved, best of REPEATS per
# figure: e.g. the build before a restructuring against the one after, both on the same kernel
# set (set RECURRENT_ISA, which a build that predates it ignores).
#
#   scripts/compare_builds.sh OLD_BINARY NEW_BINARY [SECONDS] [REPEATS]
#
# Needs python3. Run it on an idle machine.
set -euo pipefail
old=$1
new=$2
secs=${3:-5}
reps=${4:-3}
out=$(mktemp)
for rep in $(seq "$reps"); do
  for th in 1 2; do
    for c in min-char-rnn lstm-small lstm-large gru-medium; do
      echo "old $($old bench --config $c --threads $th --seconds $secs --json)" >> "$out"
      echo "new $($new bench --config $c --threads $th --seconds $secs --json)" >> "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    side, js = line.split(" ", 1)
    j = json.loads(js)
    k = (j["config"], j["threads"], side)
    best[k] = max(best.get(k, 0), j["chars_per_sec"])
print("| config | threads | old chars/s | new chars/s | new / old |")
print("|---|---|---|---|---|")
for c in ["min-char-rnn", "lstm-small", "lstm-large", "gru-medium"]:
    for th in (1, 2):
        o, n = best[(c, th, "old")], best[(c, th, "new")]
        print(f"| {c} | {th} | {o:,.0f} | {n:,.0f} | {n / o:.3f}× |")
PY
rm -f "$out"
