"""Turning the compact uint8 dataset (or any float features) into float batches.

Batches are rows (N, features) whatever the example shape; the model reshapes
them to its input shape (a view, no copy). The images stay uint8 (one byte a pixel, 47 MB for MNIST's training set) and
each batch is gathered and scaled to [0, 1] float32 only when it is used: four
times less memory than a float32 copy, and no second copy per epoch when the
order is reshuffled (only the index array is shuffled).

On a GPU (``xp`` cupy) the uint8 images and the labels are copied there once,
and each batch is gathered and scaled there; only the shuffled order (an index
array, drawn on the host so that both devices see the same order) is copied
over, once per epoch.
"""

from typing import Any

import numpy as np

from ..data.datasets import as_model_input
from ..nn import backend


class BatchSampler:
    """Mini-batches of ``(x, y)`` in a fresh random order each epoch.

    The last batch of an epoch holds the remainder and may be smaller; a
    remainder of fewer than ``min_batch`` rows is skipped for that epoch. The
    order is reshuffled every epoch, so a different row is left out each time.

    Parameters
    ----------
    images : numpy.ndarray or cupy.ndarray
        All examples (N, ...): uint8 pixels, scaled by 1/255 per batch, or floats
        used as they are. Copied once to ``xp``'s device if they are not there.
    labels : numpy.ndarray or cupy.ndarray
        Class indices (N,).
    indices : array_like of int
        The rows that belong to this split (e.g. the training part after a
        validation split was carved off).
    batch_size : int, optional
        Rows per batch; None or 0 means the whole split as one batch (vanilla
        batch gradient descent), whose float copy is then made once and reused,
        since every epoch needs the same one.
    dtype : numpy dtype
        The floating-point type of the batches.
    min_batch : int
        The fewest rows a batch may hold (batch normalisation needs 2: one row has
        no variance).
    xp : module
        Where the batches are made: numpy, or cupy on a GPU.
    """

    def __init__(self, images, labels, indices, batch_size=None, dtype=np.float32, min_batch=1, xp: Any = np):
        self.xp = xp
        # uint8 images are scaled by 1/255 per batch; float arrays of any example shape are used as they are.
        self.images = backend.to_module(images.reshape(images.shape[0], -1), xp)
        # As the index type once (480 kB for MNIST), not per batch: the loss indexes with them.
        self.labels = backend.to_module(backend.to_numpy(labels).astype(np.intp), xp)
        self.indices = np.asarray(indices)  # on the host
        self.batch_size = len(self.indices) if not batch_size else min(int(batch_size), len(self.indices))
        self.dtype = dtype
        self.min_batch = min_batch
        self._full = None

    def __len__(self):
        """Number of batches per epoch."""
        full, remainder = divmod(len(self.indices), self.batch_size)
        return full + (remainder >= self.min_batch)

    @property
    def full_batch(self):
        return self.batch_size >= len(self.indices)

    def epoch(self, rng):
        """Yield the batches of one epoch.

        Parameters
        ----------
        rng : numpy.random.Generator
            Shuffles the rows (not used for a full batch).

        Yields
        ------
        tuple
            ``(x, y)``: x a float batch (rows, features) of ``xp`` (a buffer reused
            by later batches of the same size), y its class indices.
        """
        xp = self.xp
        if self.full_batch:
            if self._full is None:
                rows = backend.to_module(self.indices, xp)
                self._full = (as_model_input(self.images[rows], dtype=self.dtype), self.labels[rows])
            yield self._full
            return
        order = backend.to_module(self.indices[rng.permutation(len(self.indices))], xp)
        buffers = {}
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            if len(rows) < self.min_batch:
                break
            # One float buffer per batch size (the last one may be smaller), reused.
            buf = buffers.get(len(rows))
            if buf is None:
                buf = buffers[len(rows)] = xp.empty((len(rows), self.images.shape[1]), self.dtype)
            yield as_model_input(self.images[rows], out=buf, dtype=self.dtype), self.labels[rows]
