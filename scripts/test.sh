#!/usr/bin/env bash
# Every test: the Rust workspace's (`cargo test --workspace`), then the Python package's, in a
# virtual environment made here with pip (maturin, pytest, numpy, torch), against the extension built
# from this checkout and the `recurrent` command built beside it. Needs python3 with venv/pip.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace

cargo build --release -p recurrent-cli
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/pyenv"
# A fresh virtual environment every time (pip's cache keeps it quick): nothing left over from an
# earlier run can make the tests pass.
python3 -m venv --clear "$VENV"
"$VENV/bin/pip" install -q "maturin>=1.5,<2" pytest numpy
# recurrent.torch's tests need PyTorch (the package's optional `torch` extra): PyPI's wheel,
# with its CUDA libraries (a few GB; pip's cache makes a second run quick). They fail rather
# than skip without it.
"$VENV/bin/pip" install -q torch
export RECURRENT_REQUIRE_TORCH=1
(cd python && VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --release -q)
RECURRENT_BIN="$TARGET/release/recurrent" "$VENV/bin/python" -m pytest -q python/tests
