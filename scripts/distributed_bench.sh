#!/usr/bin/env bash
# Step times of `recurrent train` on the standard configurations (as `recurrent bench` defines
# them, no dropout, no validation): one process on one thread, one process on two threads (batch
# shards), and two MPI ranks of one thread each (`--distributed`), interleaved, best of N rounds.
# Also prints the time rank 0 spent in MPI_Allreduce per step. Needs the binary built with
# `cargo build --release -p recurrent-cli --features mpi` and OpenMPI's mpirun.
#
#   scripts/distributed_bench.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
R=target/release/recurrent
ROUNDS=${1:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A CFG=(
  [lstm-small]="--cell lstm --layers 1 --hidden 128 --batch 32 --seq-len 64 --steps 150"
  [gru-medium]="--cell gru --layers 1 --hidden 256 --batch 32 --seq-len 64 --steps 60"
  [lstm-large]="--cell lstm --layers 2 --hidden 512 --batch 64 --seq-len 64 --steps 16"
)
COMMON="--dropout 0 --val-frac 0 --eval-every 100000 --log-every 100000 --sample-every 0"
ms() { sed -n 's/^done: \([0-9]*\) steps in \([0-9.]*\) s.*/\1 \2/p' "$1" | awk '{printf "%.1f", 1000*$2/$1}'; }
lscpu | grep -E "Model name|^CPU\(s\)" | sed 's/  */ /g'
echo "config        1 process 1 thread   1 process 2 threads   2 ranks × 1 thread   allreduce (ms/step, rank 0)"
for name in lstm-small gru-medium lstm-large; do
  best1=999999; best2=999999; bestm=999999; comm=""
  for r in $(seq "$ROUNDS"); do
    $R train ${CFG[$name]} $COMMON --threads 1 --out "$tmp/a$r$name" > "$tmp/a.log" 2>&1; a=$(ms "$tmp/a.log")
    $R train ${CFG[$name]} $COMMON --threads 2 --out "$tmp/b$r$name" > "$tmp/b.log" 2>&1; b=$(ms "$tmp/b.log")
    mpirun -n 2 --oversubscribe $R train ${CFG[$name]} $COMMON --distributed --out "$tmp/c$r$name" > "$tmp/c.log" 2>&1; c=$(ms "$tmp/c.log")
    cm=$(sed -n 's/^2 ranks: \([0-9.]*\) ms per step in MPI_Allreduce.*/\1/p' "$tmp/c.log")
    best1=$(echo "$a $best1" | awk '{print ($1<$2)?$1:$2}'); best2=$(echo "$b $best2" | awk '{print ($1<$2)?$1:$2}')
    if awk "BEGIN{exit !($c < $bestm)}"; then bestm=$c; comm=$cm; fi
  done
  printf "%-13s %10s ms %19s ms %19s ms %17s\n" "$name" "$best1" "$best2" "$bestm" "$comm"
done
