"""The character model of the ``recurrent`` command, from Python: the same checkpoints, the same
training loop (the library's ``Session``), the same numbers."""

import os

from . import _core


class Model:
    """A trained character model: a checkpoint, or a run folder (its best checkpoint, else its
    last)."""

    def __init__(self, core):
        self._m = core

    @classmethod
    def load(cls, path):
        """Loads ``path``: a ``.safetensors`` checkpoint, or a run folder."""
        return cls(_core.Model.load(os.fspath(path)))

    @property
    def path(self):
        """The checkpoint file it came from."""
        return self._m.path

    @property
    def vocab(self):
        """Its characters, in token order."""
        return self._m.vocab

    @property
    def config(self):
        """``{"cell", "layers", "hidden", "vocab"}``."""
        return self._m.config

    def sample(self, prime="", length=200, temperature=1.0, top_k=None, seed=0, top_p=None):
        """``length`` characters after ``prime`` (``top_k``, nucleus ``top_p``); the same as
        ``recurrent sample`` with the same seed."""
        return self._m.sample(prime, int(length), float(temperature), top_k, int(seed), top_p)

    def evaluate(self, text):
        """The mean loss of ``text`` in nats per character (``recurrent eval``'s figure)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        return self._m.evaluate(text)

    def __repr__(self):
        c = self.config
        return f"Model({c['cell']} {c['layers']}×{c['hidden']}, vocabulary {c['vocab']}, from {self.path})"


class Run:
    """How a call of :func:`train` ended."""

    def __init__(self, outcome, folder, steps, best_val):
        self.outcome, self.folder, self.steps, self.best_val = outcome, folder, steps, best_val

    def model(self):
        """The run's model (its best checkpoint, else its last); needs a folder."""
        if self.folder is None:
            raise ValueError("this run was trained in memory (out=None): give out=FOLDER to keep a model")
        return Model.load(self.folder)

    def __repr__(self):
        best = f", best validation {self.best_val:.4f} nats/char" if self.best_val is not None else ""
        return f"Run({self.outcome}, {self.steps} steps{best}, folder={self.folder!r})"


def train(text=None, *, text_file=None, out=None, resume=None, callback=None, preset="default", **settings):
    """Trains a character model through the library's training loop, exactly as ``recurrent
    train`` does (the same seed gives the same checkpoints, bit for bit).

    ``text`` is the text itself, ``text_file`` a path (neither: the bundled tiny-shakespeare);
    ``preset`` is ``default``, ``char-rnn``, ``min-char-rnn`` or ``shakespeare``; ``settings`` are any
    of a run's ``config.json`` keys (``steps=600``, ``hidden=128``, ``lr=1e-3``, ``threads=1``,
    ``weight_decay=0.1``, ``schedule="cosine"``, ``warmup=100``, ``dropout_head=0.3``,
    ``patience=5`` …); ``out`` a
    folder for checkpoints and metrics (``None``: in memory); ``resume`` a run folder to continue.
    ``callback(step_info)`` is called after every step with ``step``, ``total``, ``epoch``,
    ``loss`` and ``smooth_loss``; returning ``False`` stops the run (saved, and resumable).
    """
    if text is not None and not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    config = dict(settings)
    if resume is None:
        config["preset"] = preset
    fspath = lambda p: None if p is None else os.fspath(p)  # noqa: E731
    outcome, folder, steps, best = _core.train(config, text, fspath(text_file), fspath(out), fspath(resume), callback)
    return Run(outcome, folder, steps, best)
