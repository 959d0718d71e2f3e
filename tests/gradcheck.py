"""Finite-difference gradient checking, shared by the layer and model tests."""

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function ``f()`` w.r.t. array ``x`` (in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|), which is 0 for equal arrays and ~1 for unrelated ones."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-12))
