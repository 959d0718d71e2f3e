"""Loss and accuracy of a model on a labelled split, in large batches."""

import numpy as np

from ..nn.losses import SoftmaxCrossEntropy
from ..data.datasets import scale_pixels


def evaluate(model, images_u8, labels, batch_size=1000):
    """Mean cross-entropy loss and accuracy over all rows (evaluation mode).

    Works batch by batch so memory stays flat whatever the split's size.
    """
    loss_fn = SoftmaxCrossEntropy()
    n = images_u8.shape[0]
    total_loss = 0.0
    correct = 0
    buf = None
    for start in range(0, n, batch_size):
        chunk = images_u8[start : start + batch_size]
        # One float buffer for every full chunk; scale_pixels makes a new one for the last, shorter chunk.
        reuse = buf if buf is not None and len(buf) == len(chunk) else None
        x = buf = scale_pixels(chunk, out=reuse, dtype=model.dtype)
        y = labels[start : start + batch_size].astype(np.intp)
        logits = model.forward(x, training=False)
        correct += int((logits.argmax(axis=1) == y).sum())
        total_loss += loss_fn.forward(logits, y) * len(y)
    return total_loss / n, correct / n
