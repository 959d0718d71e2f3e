"""Checkpoints: everything needed to continue a run exactly where it stopped.

One ``.npz`` file (no pickle) written atomically after every epoch, holding the
model's arrays, the optimiser's state vectors, the best weights seen so far
(for early stopping) and, as one JSON string, the scalars: configuration,
history, epoch counter, and the states of the random generators. Restoring all
of them makes a resumed run bit-for-bit identical to an uninterrupted one.
"""

import json

import numpy as np

from ..atomic import atomic_open
from ..errors import ModelFileError
from ..npz import FLOATS_AND_TEXT, NpzReader

STATE_KEY = "__state__"


def save_checkpoint(path, state, arrays):
    """Write JSON-able ``state`` and a dict of named ``arrays`` to ``path``."""
    payload = dict(arrays)
    payload[STATE_KEY] = np.array(json.dumps(state))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **payload)


def load_checkpoint(path):
    """Return ``(state, arrays)`` as saved by :func:`save_checkpoint`.

    Every array's header is checked (float dtype, a size the file can hold)
    before its data is read; the caller checks the shapes against the model.
    """
    with NpzReader(path, "checkpoint", FLOATS_AND_TEXT) as archive:
        try:
            state = json.loads(archive.read_text(STATE_KEY))
        except (ValueError, RecursionError) as exc:
            raise ModelFileError(f"{path}: not a readable scratchnn checkpoint ({exc})") from None
        if not isinstance(state, dict):
            raise ModelFileError(f"{path}: not a readable scratchnn checkpoint (its state is not a JSON object)")
        names = [name for name in archive.headers if name != STATE_KEY]
        not_float = [name for name in names if archive.headers[name][1].kind != "f"]
        if not_float:
            raise ModelFileError(f"{path}: not a readable scratchnn checkpoint ({not_float[0]} is not a float array)")
        arrays = {name: archive.read(name) for name in names}
    return state, arrays


def prefixed(prefix, arrays):
    """``{name: a}`` -> ``{prefix/name: a}`` (to keep groups apart in one file)."""
    return {f"{prefix}/{name}": value for name, value in arrays.items()}


def unprefixed(prefix, arrays):
    """The inverse of :func:`prefixed` for one group."""
    start = len(prefix) + 1
    return {name[start:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
