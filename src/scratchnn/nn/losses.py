"""Loss functions.

Softmax and cross-entropy are fused into one loss, for two reasons:

* Stability. ``log(softmax(z))`` computed as ``z - logsumexp(z)`` never
  overflows (``exp`` only sees ``z - max(z) <= 0``) and never takes ``log(0)``.
* Simplicity. With ``p = softmax(z)`` and a one-hot target ``y``, the chain rule
  through softmax and log collapses: ``dL/dz = p - y`` per example, so for the
  mean over a batch of N, ``dL/dz = (p - y) / N``.
"""

from typing import Any

import numpy as np

from . import backend


class SoftmaxCrossEntropy(backend.ComputesOnDevice):
    """Mean categorical cross-entropy of softmax(logits) against integer labels.

    ``L = -(1/N) sum_i log p[i, y_i]`` with ``p = softmax(z)`` row by row.
    Labels are class indices (the one-hot ``y`` of the maths is never built).

    Parameters
    ----------
    xp : module
        The array module of the logits (numpy, or cupy on a GPU).
    """

    def __init__(self, xp: Any = np) -> None:
        self.xp = xp

    def forward(self, logits, labels):
        """The mean loss over the batch; caches the probabilities for :meth:`backward`.

        Parameters
        ----------
        logits : numpy.ndarray
            Class scores z, shape (N, classes).
        labels : numpy.ndarray
            The true class index of each row, shape (N,).

        Returns
        -------
        float
            ``L = -(1/N) sum_i log p[i, y_i]``.
        """
        xp = self.xp
        n, n_classes = logits.shape
        rows = xp.arange(n)
        # The row maximum, found as logits[i, argmax_i]: for a batch of a few
        # classes that is several times faster than logits.max(axis=1).
        shifted = logits - logits[rows, logits.argmax(axis=1)][:, None]
        exp = xp.exp(shifted)
        # Row sums as a product with a ones vector (BLAS), again faster than .sum(axis=1).
        sum_exp = exp @ xp.ones(n_classes, exp.dtype)
        # log p[i, y_i] = shifted[i, y_i] - log(sum_j exp(shifted[i, j]))
        log_likelihood = shifted[rows, labels] - xp.log(sum_exp)
        exp /= sum_exp[:, None]
        self.probs = exp
        self.rows, self.labels = rows, labels
        return float(-log_likelihood.sum() / n)

    def backward(self):
        """dL/dlogits = (p - y) / N, for the batch of the last :meth:`forward`.

        Reuses the cached probabilities as the gradient buffer, so call it once
        per ``forward``.

        Returns
        -------
        numpy.ndarray
            dL/dz, shape (N, classes).
        """
        grad = self.probs
        grad[self.rows, self.labels] -= 1.0
        grad *= 1.0 / len(self.rows)
        return grad


def softmax(logits):
    """Row-wise softmax, stable for any finite logits.

    Parameters
    ----------
    logits : numpy.ndarray
        Class scores, shape (N, classes).

    Returns
    -------
    numpy.ndarray
        Probabilities, shape (N, classes); each row sums to 1.
    """
    xp = backend.module_of(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    exp /= exp.sum(axis=1, keepdims=True)
    return exp
