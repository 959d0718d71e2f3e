"""How good a model is on a labelled split: loss, accuracy, confusions, per-class metrics."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.datasets import as_model_input
from ..nn import backend
from ..nn.losses import SoftmaxCrossEntropy
from ..nn.model import PREDICT_BATCH


def evaluate(model, images, labels, batch_size=PREDICT_BATCH):
    """Mean cross-entropy loss and accuracy over all examples (evaluation mode).

    Works batch by batch, so memory stays flat whatever the split's size.

    Parameters
    ----------
    model : scratchnn.nn.Sequential
    images : numpy.ndarray or cupy.ndarray
        uint8 pixels (scaled by 1/255) or floats used as they are, of any
        example shape with as many numbers as the model's input; on the host or
        already on the model's GPU (then nothing is copied).
    labels : numpy.ndarray or cupy.ndarray
        Class indices (N,).
    batch_size : int
        Examples per forward pass.

    Returns
    -------
    tuple of float
        ``(loss, accuracy)``, the accuracy as a fraction in [0, 1].
    """
    loss_fn = SoftmaxCrossEntropy(model.xp)
    n = images.shape[0]
    total_loss = 0.0
    correct = 0
    buf = None
    for start in range(0, n, batch_size):
        chunk = images[start : start + batch_size]
        # One float buffer for every full chunk; as_model_input makes a new one for the last, shorter chunk.
        reuse = buf if buf is not None and len(buf) == len(chunk) else None
        x = buf = as_model_input(chunk, out=reuse, dtype=model.dtype)
        y = backend.to_module(labels[start : start + batch_size], model.xp).astype(np.intp)
        logits = model.forward(x, training=False)
        correct += int((logits.argmax(axis=1) == y).sum())
        total_loss += loss_fn.forward(logits, y) * len(y)
    return total_loss / n, correct / n


def confusion_matrix(labels, predictions, n_classes):
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    Parameters
    ----------
    labels, predictions : array_like of int, shape (N,)
    n_classes : int

    Returns
    -------
    numpy.ndarray
        int64, shape (n_classes, n_classes); rows are true classes, columns
        predictions, so the diagonal counts the correct ones and ``C.sum()`` is N.
    """
    labels = np.asarray(labels, np.intp)
    predictions = np.asarray(predictions, np.intp)
    flat = np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def class_metrics(confusion):
    """Precision, recall, F1 and support of every class, from a confusion matrix.

    precision = TP / (TP + FP): of the examples predicted as the class, the share
    that are; recall = TP / (TP + FN): of the examples of the class, the share
    found; F1 = their harmonic mean. A ratio with nothing to count (0 / 0) is 0,
    as scikit-learn reports it.

    Returns
    -------
    dict of numpy.ndarray
        ``precision``, ``recall``, ``f1`` (float64) and ``support`` (int64,
        examples of the class), each of shape (n_classes,).
    """
    confusion = np.asarray(confusion)
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)

    def ratio(num, den):
        return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)

    precision = ratio(true_pos, predicted)
    recall = ratio(true_pos, support)
    f1 = ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


@dataclass(eq=False)
class Evaluation:
    """A model's results on a labelled set: loss, accuracy, confusions, per class.

    Attributes
    ----------
    labels : numpy.ndarray
        True class indices (N,).
    probabilities : numpy.ndarray
        The model's class probabilities (N, classes).
    loss : float
        Mean cross-entropy.
    class_names : tuple of str
    """

    labels: np.ndarray
    probabilities: np.ndarray
    loss: float
    class_names: tuple

    @classmethod
    def from_logits(cls, labels: np.ndarray, logits: np.ndarray, class_names: Sequence[str]) -> "Evaluation":
        """Build one from true labels and the model's logits.

        Parameters
        ----------
        labels : array_like of int
            True class indices (N,).
        logits : array_like
            The model's scores (N, classes), on the host (e.g. from
            :meth:`Sequential.predict_logits`); the loss is computed in float64.
        class_names : sequence of str
            One name per class.

        Returns
        -------
        Evaluation
        """
        labels = np.asarray(labels).astype(np.intp)
        loss_fn = SoftmaxCrossEntropy()
        loss = loss_fn.forward(np.asarray(logits, np.float64), labels)
        return cls(labels, loss_fn.probs.astype(np.float32), loss, tuple(class_names))

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class indices (N,)."""
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        """Share of examples predicted correctly."""
        return float(np.mean(self.predictions == self.labels))

    @property
    def confusion(self) -> np.ndarray:
        """The confusion matrix (rows true, columns predicted); see :func:`confusion_matrix`."""
        return confusion_matrix(self.labels, self.predictions, len(self.class_names))

    def class_metrics(self) -> dict[str, np.ndarray]:
        """Precision, recall, F1 and support per class; see :func:`class_metrics`.

        Returns
        -------
        dict of numpy.ndarray
            ``precision``, ``recall``, ``f1`` (float64) and ``support`` (int64), each
            of shape (classes,).
        """
        return class_metrics(self.confusion)

    def class_table(self) -> list[dict[str, Any]]:
        """The per-class metrics as rows, one per class (for reports and JSON).

        Returns
        -------
        list of dict
            ``class`` (index), ``name``, ``precision``, ``recall``, ``f1`` and
            ``support`` (examples of the class), as plain Python numbers.
        """
        metrics = self.class_metrics()
        return [
            {"class": i, "name": name, **{key: metrics[key][i].item() for key in metrics}}
            for i, name in enumerate(self.class_names)
        ]

    def confident_mistakes(self, count: int = 16) -> np.ndarray:
        """Indices of the misclassified examples the model was surest of, surest first.

        Parameters
        ----------
        count : int
            The most indices to return.

        Returns
        -------
        numpy.ndarray
            Indices into ``labels`` (fewer than ``count`` when there are fewer
            mistakes), ordered by the probability of the wrong prediction, highest first.
        """
        predictions = self.predictions
        wrong = np.flatnonzero(predictions != self.labels)
        confidence = self.probabilities[wrong, predictions[wrong]]
        return wrong[np.argsort(-confidence, kind="stable")[:count]]
