"""Loss functions.

Softmax and cross-entropy are fused into one loss, for two reasons:

* Stability. ``log(softmax(z))`` computed as ``z - logsumexp(z)`` never
  overflows (``exp`` only sees ``z - max(z) <= 0``) and never takes ``log(0)``.
* Simplicity. With ``p = softmax(z)`` and a one-hot target ``y``, the chain rule
  through softmax and log collapses: ``dL/dz = p - y`` per example, so for the
  mean over a batch of N, ``dL/dz = (p - y) / N``.
"""

import numpy as np


class SoftmaxCrossEntropy:
    """Mean categorical cross-entropy of softmax(logits) against integer labels.

    ``L = -(1/N) sum_i log p[i, y_i]`` with ``p = softmax(z)`` row by row.
    Labels are class indices (the one-hot ``y`` of the maths is never built).
    """

    def forward(self, logits, labels):
        """Return the mean loss; cache the probabilities for ``backward``."""
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        # log p[i, y_i] = shifted[i, y_i] - log(sum_j exp(shifted[i, j]))
        rows = np.arange(n)
        log_likelihood = shifted[rows, labels] - np.log(sum_exp[:, 0])
        exp /= sum_exp
        self.probs = exp
        self.labels = labels
        return float(-log_likelihood.mean())

    def backward(self):
        """dL/dlogits = (p - y) / N.

        Reuses the cached probabilities as the gradient buffer, so call it once
        per ``forward``.
        """
        n = self.probs.shape[0]
        grad = self.probs
        grad[np.arange(n), self.labels] -= 1.0
        grad *= 1.0 / n
        return grad


def softmax(logits):
    """Row-wise softmax, stable for any finite logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    exp /= exp.sum(axis=1, keepdims=True)
    return exp
