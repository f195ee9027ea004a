"""numpy arrays in, as the Rust core takes them: float64, any order; clear errors otherwise."""

import numpy as np


def f64(a, name, ndim, shape_hint):
    """`a` as a float64 array of `ndim` dimensions, or a ValueError/TypeError naming it."""
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be a numpy array of shape {shape_hint}, not {type(a).__name__}")
    try:
        out = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric numpy array of shape {shape_hint}: {e}") from None
    if out.ndim != ndim:
        raise ValueError(f"{name} has shape {out.shape} but must be {ndim}-d: {shape_hint}")
    return out


def params(parameters, names):
    """The course's parameters dict as float64 2-d arrays (biases are (n, 1) columns)."""
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a dict with {', '.join(names)}, not {type(parameters).__name__}")
    out = {}
    for k, v in parameters.items():
        out[k] = f64(v, f"parameters[{k!r}]", 2, "2-d (biases are (n, 1) columns)")
    return out
