"""Saving and loading models as plain ``.npz`` arrays plus a JSON description.

A model file holds one array per parameter or running statistic, and one string
``__model__`` with the architecture (and whatever metadata the caller adds, such
as the training configuration) as JSON. No pickle: loading uses
``allow_pickle=False``, so opening a model file can never run code.
"""

import json
import zipfile

import numpy as np

from ..atomic import atomic_open
from ..errors import ModelFileError
from .layers import BatchNorm, Dense, Dropout, ReLU
from .model import Sequential

FORMAT_VERSION = 1
META_KEY = "__model__"


def layer_spec(layer):
    """A JSON-able description of one layer (without its arrays)."""
    if isinstance(layer, Dense):
        return {"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out}
    if isinstance(layer, ReLU):
        return {"type": "ReLU"}
    if isinstance(layer, Dropout):
        return {"type": "Dropout", "p": layer.p}
    if isinstance(layer, BatchNorm):
        return {"type": "BatchNorm", "n_features": int(layer.gamma.shape[0]),
                "momentum": layer.momentum, "eps": layer.eps}
    raise TypeError(f"cannot describe layer {layer!r}")


def build_layer(spec, dtype):
    kind = spec.get("type")
    if kind == "Dense":
        return Dense(int(spec["n_in"]), int(spec["n_out"]), np.random.default_rng(0), dtype)
    if kind == "ReLU":
        return ReLU()
    if kind == "Dropout":
        return Dropout(float(spec["p"]))
    if kind == "BatchNorm":
        return BatchNorm(int(spec["n_features"]), spec["momentum"], spec["eps"], dtype)
    raise ValueError(f"unknown layer type {kind!r}")


def model_spec(model):
    return {"format": FORMAT_VERSION, "dtype": str(model.dtype),
            "layers": [layer_spec(layer) for layer in model.layers]}


def model_from_spec(spec):
    dtype = np.dtype(spec.get("dtype", "float32"))
    return Sequential([build_layer(layer, dtype) for layer in spec["layers"]])


def save_model(path, model, metadata=None):
    """Write ``model`` (and JSON-able ``metadata``) to ``path`` atomically."""
    meta = {"model": model_spec(model), "metadata": metadata or {}}
    arrays = dict(model.state_arrays())
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_model(path):
    """Read a model file written by :func:`save_model`.

    Returns ``(model, metadata)``. Raises :class:`ModelFileError` naming the file
    for anything that is not a valid scratchnn model.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz model file ({exc})") from None
    if META_KEY not in arrays:
        raise ModelFileError(f"{path}: not a scratchnn model (no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        if meta["model"].get("format") != FORMAT_VERSION:
            raise ValueError(f"format {meta['model'].get('format')}, expected {FORMAT_VERSION}")
        model = model_from_spec(meta["model"])
        model.load_state_arrays(arrays)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: model description does not fit its arrays ({exc})") from None
    return model, meta.get("metadata", {})
