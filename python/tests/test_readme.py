"""The README's Python cell runs as written (in a scratch folder holding the bundled corpus's
path), and its check names the mistake."""

import os
import re
import shutil

from conftest import ROOT


def test_the_readme_cell_runs(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    cell = re.search(r"## From Python.*?```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data/tinyshakespeare.txt", tmp_path / "data")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(cell, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "your numbers equal the classic mistake 'no_da_prev'" in out
    assert "nats/char" in out
    assert (tmp_path / "runs/py/best.safetensors").exists()
