"""recurrent: RNN, LSTM and GRU with backpropagation through time written by hand (in Rust),
checked by finite differences and against PyTorch.

- ``recurrent.course``: the numpy course "Building your Recurrent Neural Network - Step by
  Step", function for function (same names, signatures, parameter dicts, caches, gradients).
- ``recurrent.check(fn)``: calls your version of a course function on random cases, compares
  every array with the reference, walks back step by step to the first that differs, and names
  the classic mistake your numbers equal.
- ``recurrent.Model`` and ``recurrent.train``: the character model of the ``recurrent``
  command (load a checkpoint or a run folder, sample, evaluate, train with a callback).
"""

from . import course
from .check import Report, check
from .model import Model, train

__all__ = ["course", "check", "Report", "Model", "train"]
