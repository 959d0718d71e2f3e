"""Checkpoints: everything needed to continue a run exactly where it stopped.

One ``.npz`` file (no pickle) written atomically after every epoch, holding the
model's arrays, the optimiser's state vectors, the best weights seen so far
(for early stopping) and, as one JSON string, the scalars: configuration,
history, epoch counter, and the states of the random generators. Restoring all
of them makes a resumed run bit-for-bit identical to an uninterrupted one.
"""

import json
import zipfile

import numpy as np

from ..atomic import atomic_open
from ..errors import ModelFileError

STATE_KEY = "__state__"


def save_checkpoint(path, state, arrays):
    """Write JSON-able ``state`` and a dict of named ``arrays`` to ``path``."""
    payload = dict(arrays)
    payload[STATE_KEY] = np.array(json.dumps(state))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **payload)


def load_checkpoint(path):
    """Return ``(state, arrays)`` as saved by :func:`save_checkpoint`."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        state = json.loads(str(arrays.pop(STATE_KEY)))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no checkpoint to resume from") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a readable scratchnn checkpoint ({exc})") from None
    return state, arrays


def prefixed(prefix, arrays):
    """``{name: a}`` -> ``{prefix/name: a}`` (to keep groups apart in one file)."""
    return {f"{prefix}/{name}": value for name, value in arrays.items()}


def unprefixed(prefix, arrays):
    """The inverse of :func:`prefixed` for one group."""
    start = len(prefix) + 1
    return {name[start:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
