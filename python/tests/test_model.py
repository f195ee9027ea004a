"""The character model from Python is the command's: the same training loop (the library's
Session), so the same checkpoints bit for bit; the same samples and the same scores."""

import json
import pathlib
import subprocess

import pytest

import recurrent

SMALL = dict(hidden=16, seq_len=16, batch=4, steps=30, eval_every=10, sample_every=0, threads=1)


def flags(settings):
    out = []
    for k, v in settings.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def checkpoint(path):
    """A safetensors file as (header, tensor bytes): its header is JSON whose key order is not
    fixed, so two equal files are compared parsed."""
    b = pathlib.Path(path).read_bytes()
    n = int.from_bytes(b[:8], "little")
    return json.loads(b[8:8 + n]), b[8 + n:]


def cli(bin_, *args):
    return subprocess.run([bin_, *map(str, args)], capture_output=True, text=True, check=True)


def test_training_equals_the_cli_bit_for_bit(tmp_path, recurrent_bin, shakespeare_head):
    steps = []
    run = recurrent.train(text_file=shakespeare_head, out=tmp_path / "py", callback=lambda s: steps.append(s["step"]), **SMALL)
    assert run.outcome == "done" and run.steps == 30 and steps == list(range(1, 31))
    cli(recurrent_bin, "train", shakespeare_head, "--out", tmp_path / "cli", *flags(SMALL))
    for name in ("last.safetensors", "best.safetensors"):
        assert checkpoint(tmp_path / "py" / name) == checkpoint(tmp_path / "cli" / name), name
    assert (tmp_path / "py" / "config.json").read_bytes() == (tmp_path / "cli" / "config.json").read_bytes()
    m = run.model()
    assert m.path.endswith("best.safetensors")
    assert m.config == {"cell": "lstm", "layers": 2, "hidden": 16, "vocab": len(m.vocab)}


def test_samples_and_scores_equal_the_cli(tmp_path, recurrent_bin, shakespeare_head):
    recurrent.train(text_file=shakespeare_head, out=tmp_path / "r", **SMALL)
    m = recurrent.Model.load(tmp_path / "r")
    ck = tmp_path / "r" / "best.safetensors"
    got = m.sample("ROMEO:", length=120, temperature=0.8, top_k=10, seed=3)
    out = cli(recurrent_bin, "sample", ck, "--prime", "ROMEO:", "--length", 120, "--temperature", 0.8, "--top-k", 10, "--seed", 3).stdout
    assert "ROMEO:" + got + "\n" == out
    got = m.sample("ROMEO:", length=120, top_p=0.9, seed=5)
    out = cli(recurrent_bin, "sample", ck, "--prime", "ROMEO:", "--length", 120, "--temperature", 1, "--top-p", 0.9, "--seed", 5).stdout
    assert "ROMEO:" + got + "\n" == out
    text = shakespeare_head.read_text()[:5000]
    (tmp_path / "e.txt").write_text(text)
    j = json.loads(cli(recurrent_bin, "eval", ck, tmp_path / "e.txt", "--json").stdout)
    assert m.evaluate(text) == j["nats_per_char"]


def test_a_string_trains_in_memory_and_a_callback_stops_and_resumes(tmp_path):
    text = "the cat sat on the mat. the dog sat on the log. " * 60
    run = recurrent.train(text, preset="min-char-rnn", hidden=32, steps=200)
    assert run.outcome == "done" and run.folder is None
    with pytest.raises(ValueError, match="trained in memory"):
        run.model()
    stopped = recurrent.train(text, out=tmp_path / "s", preset="min-char-rnn", hidden=32, steps=200,
                              callback=lambda s: s["step"] < 50)
    assert stopped.outcome == "stopped" and stopped.steps == 50
    done = recurrent.train(text, resume=tmp_path / "s")
    assert done.outcome == "done" and done.steps == 200
    whole = recurrent.train(text, out=tmp_path / "w", preset="min-char-rnn", hidden=32, steps=200)
    (ha, a), (hb, b) = checkpoint(tmp_path / "s" / "last.safetensors"), checkpoint(tmp_path / "w" / "last.safetensors")
    assert a == b, "stopped and resumed is the uninterrupted run"


def test_the_shakespeare_preset_and_its_settings_train_from_python(tmp_path):
    # The preset's schedule, weight decay and dropout before the head, by their config.json keys;
    # the saved configuration holds them, and the learning rate of metrics.jsonl follows the
    # warm-up (2e-3 · step / 4) and then the cosine down to lr_min at the last step.
    text = "the cat sat on the mat. the dog sat on the log. " * 200
    run = recurrent.train(text, out=tmp_path / "r", preset="shakespeare", hidden=16, seq_len=16, batch=4,
                          steps=8, warmup=4, eval_every=4, log_every=1, threads=1, patience=3)
    assert run.outcome == "done" and run.steps == 8
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["preset"], cfg["schedule"], cfg["weight_decay"], cfg["dropout_head"]) == ("shakespeare", "cosine", 0.1, 0.3)
    lrs = [json.loads(l)["lr"] for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert lrs[:4] == pytest.approx([5e-4, 1e-3, 1.5e-3, 2e-3], rel=1e-12)
    assert lrs[-1] == pytest.approx(1e-4, rel=1e-12)
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:])), lrs


def test_bad_inputs_raise(tmp_path, shakespeare_head):
    with pytest.raises(OSError, match="cannot read"):
        recurrent.Model.load(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="is a folder without a checkpoint"):
        recurrent.Model.load(tmp_path)
    with pytest.raises(ValueError, match='unknown setting "hiden"' ):
        recurrent.train("abc" * 1000, hiden=3)
    with pytest.raises(ValueError, match="--hidden is 0"):
        recurrent.train("abc" * 1000, hidden=0)
    with pytest.raises(ValueError, match="unknown preset"):
        recurrent.train("abc" * 1000, preset="gpt")
    with pytest.raises(TypeError):
        recurrent.train(b"bytes")
    recurrent.train(text_file=shakespeare_head, out=tmp_path / "r", **SMALL)
    m = recurrent.Model.load(tmp_path / "r")
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        m.evaluate("日本語のテキスト")
    with pytest.raises(ValueError, match="temperature"):
        m.sample(temperature=-1)
    with pytest.raises(ValueError, match="top_k is 0"):
        m.sample(top_k=0)
