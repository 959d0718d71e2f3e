"""Saving and loading models as plain ``.npz`` arrays plus a JSON description.

A model file holds one array per parameter or running statistic, and one string
``__model__`` with the architecture (and whatever metadata the caller adds, such
as the training configuration) as JSON. No pickle: loading uses
``allow_pickle=False``, so opening a model file can never run code.

Format 2 (written now) describes the model as its input shape and the list of
layer specs that :func:`scratchnn.nn.architecture.build_model` reads, so the
description is checked (layers chain, sizes fit in memory) before any array is
allocated. Format 1 (MLPs written before convolutions existed; each layer
listed its own sizes) still loads: it is translated to format 2 first.
"""

import json

import numpy as np

from ..atomic import atomic_open
from ..errors import ModelFileError, ScratchnnError
from ..npz import FLOATS_AND_TEXT, NpzReader
from .architecture import build_model, model_specs
from .backend import to_numpy

FORMAT_VERSION = 2
META_KEY = "__model__"


def model_spec(model):
    """The JSON-able description of ``model`` (without its arrays)."""
    return {
        "format": FORMAT_VERSION,
        "dtype": str(model.dtype),
        "input_shape": list(model.input_shape),
        "layers": model_specs(model),
    }


def upgrade_spec(spec):
    """A format-1 description (an MLP whose layers list their sizes) as format 2."""
    layers, input_shape = [], None
    for layer in spec["layers"]:
        layer = dict(layer)
        kind = layer.get("type")
        if kind == "Dense":
            if input_shape is None:
                input_shape = [int(layer["n_in"])]
            layers.append({"type": "Dense", "units": int(layer["n_out"])})
        elif kind == "BatchNorm":
            layers.append({"type": "BatchNorm", "momentum": layer["momentum"], "eps": layer["eps"]})
        else:
            layers.append(layer)
    if input_shape is None:
        raise ValueError("a format-1 model needs a Dense layer")
    return {
        "format": FORMAT_VERSION,
        "dtype": spec.get("dtype", "float32"),
        "input_shape": input_shape,
        "layers": layers,
    }


def model_from_spec(spec):
    """The model a description (format 1 or 2) describes, with fresh weights.

    Raises ValueError (or a ScratchnnError) for a description that does not work.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"a model description is a JSON object, got {type(spec).__name__}")
    version = spec.get("format")
    if version == 1:
        spec = upgrade_spec(spec)
    elif version != FORMAT_VERSION:
        raise ValueError(f"format {version!r}, expected 1 or {FORMAT_VERSION}")
    dtype = spec.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype {dtype!r}, expected float32 or float64")
    return build_model(spec["layers"], spec["input_shape"], seed=0, dtype=np.dtype(dtype))


def save_model(path, model, metadata=None):
    """Write ``model`` (and JSON-able ``metadata``) to ``path`` atomically."""
    meta = {"model": model_spec(model), "metadata": metadata or {}}
    # Host copies: a model file is the same whichever device trained the model.
    arrays = {name: to_numpy(array) for name, array in model.state_arrays().items()}
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_model(path):
    """Read a model file written by :func:`save_model` (format 1 or 2).

    Returns ``(model, metadata)``. Raises :class:`ModelFileError` naming the file
    for anything that is not a valid scratchnn model. Nothing is allocated from
    the file before it is checked: the description first (layers chain, sizes
    fit in memory), then every array's shape and dtype against the model it
    describes, and only then the array data.
    """
    with NpzReader(path, "model file", FLOATS_AND_TEXT) as archive:
        try:
            meta = json.loads(archive.read_text(META_KEY))
            if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
                raise ValueError("the description must be a JSON object with a 'model' object")
            metadata = meta.get("metadata", {})
            if not isinstance(metadata, dict):
                raise ValueError("its metadata must be a JSON object")
            model = model_from_spec(meta["model"])
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError, ScratchnnError) as exc:
            raise ModelFileError(f"{path}: not a usable scratchnn model description ({exc})") from None
        expected = model.state_arrays()
        names = set(archive.headers) - {META_KEY}
        missing, unexpected = sorted(set(expected) - names), sorted(names - set(expected))
        if missing or unexpected:
            raise ModelFileError(
                f"{path}: the arrays do not fit the model it describes: missing {missing}, unexpected {unexpected}"
            )
        model.load_state_arrays(
            {name: archive.read(name, target.shape, target.dtype) for name, target in expected.items()}
        )
    return model, metadata
