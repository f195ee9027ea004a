"""Shared by the Python package's tests: the committed fixtures (made by the repository's
scripts: scripts/course_reference.py writes PyTorch float64 gradients of the course's cells) and
the `recurrent` command the CLI comparisons run (scripts/test.sh builds it and sets
RECURRENT_BIN)."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def torch_reference():
    with np.load(ROOT / "crates/recurrent/tests/fixtures/course_reference.npz") as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(scope="session")
def recurrent_bin():
    b = os.environ.get("RECURRENT_BIN")
    if not b:
        for p in (ROOT / "target/release/recurrent", ROOT / "target/debug/recurrent"):
            if p.exists():
                b = str(p)
                break
    assert b and os.path.exists(b), "build the command first (cargo build --release -p recurrent-cli) or set RECURRENT_BIN"
    return b


@pytest.fixture(scope="session")
def shakespeare_head(tmp_path_factory):
    p = tmp_path_factory.mktemp("text") / "t.txt"
    p.write_text((ROOT / "data/tinyshakespeare.txt").read_text()[:30000])
    return p
