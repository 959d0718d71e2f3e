"""Architectures as data: a list of layer specs, checked and built in one place.

A spec is a plain dict, the layer's type name and its settings:

    [{"type": "Conv2D", "filters": 32, "kernel": 3}, {"type": "ReLU"},
     {"type": "MaxPool2D", "size": 2}, {"type": "Flatten"},
     {"type": "Dense", "units": 10}]

Sizes that follow from the input (a Dense layer's inputs, a Conv2D's input
channels) are not written: :func:`plan_model` infers every layer's shape from the
input shape, checks that the layers chain and counts the parameters, all
before anything is allocated; :func:`build_model` then builds the model. The
trainer, the model file, the CLI and the presets all go through these two
functions, and the layers describe themselves (see :mod:`.layers`), so a new
layer type needs no edit here.

The text form (``--arch``) writes each layer as one word, separated by spaces
or commas: the layer's name, an optional number for its main setting, then
optional letter-number pairs, e.g. ``conv32k3s1p1`` (32 filters, 3x3 kernel,
stride 1, padding 1), ``maxpool2``, ``dense128``, ``dropout0.25``, ``bn``,
``relu``, ``flatten``. See :func:`parse_architecture`.
"""

import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from . import conv  # noqa: F401  (registers the image layers in LAYER_TYPES)
from .layers import LAYER_TYPES, REQUIRED, shape_text
from .model import Sequential

# Bytes per parameter a training run holds: the weights, their gradients, two
# Adam moments, and the float64 draw that initialises them (8 bytes).
BYTES_PER_PARAM = {np.dtype(np.float32): 4 * 4 + 8, np.dtype(np.float64): 8 * 4 + 8}


@dataclass(frozen=True)
class LayerPlan:
    """One layer's place in a model: its full spec, input and output shapes, parameter count."""

    spec: dict
    input_shape: tuple
    output_shape: tuple
    n_params: int


def normalize_spec(spec, where="layer"):
    """``spec`` with every setting filled in (defaults) and checked for unknown ones."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ConfigError(f"{where}: a layer spec is a dict with a 'type', got {spec!r}")
    cls = LAYER_TYPES.get(spec["type"])
    if cls is None:
        raise ConfigError(f"{where}: unknown layer type {spec['type']!r}; known: {', '.join(sorted(LAYER_TYPES))}")
    settings = {k: v for k, v in spec.items() if k != "type"}
    unknown = sorted(set(settings) - set(cls.defaults))
    if unknown:
        known = ", ".join(cls.defaults) or "none"
        raise ConfigError(f"{where}: {spec['type']} has no setting {', '.join(unknown)} (settings: {known})")
    full = {**cls.defaults, **settings}
    missing = [k for k, v in full.items() if v is REQUIRED]
    if missing:
        raise ConfigError(f"{where}: {spec['type']} needs {', '.join(missing)}")
    return {"type": spec["type"], **full}


def plan_model(specs, input_shape, dtype=np.float32, memory_limit=None):
    """Shapes and parameter counts of every layer, checked before anything is allocated.

    Parameters
    ----------
    specs : list of dict
        Layer specs, e.g. ``[{"type": "Dense", "units": 10}]``.
    input_shape : tuple of int
        The shape of one example, e.g. ``(784,)`` or ``(1, 28, 28)``.
    dtype : numpy dtype
        The parameters' type, for the memory estimate.
    memory_limit : int, optional
        Bytes available; default: this machine's physical memory.

    Returns
    -------
    list of LayerPlan
        Per layer: its full spec, input shape, output shape and parameter count.

    Raises
    ------
    ConfigError
        One line naming the layer and what does not fit: an unknown type or
        setting, layers that do not chain (a Dense layer on feature maps, a pool
        larger than its input), or a model whose parameters, gradients and
        optimiser state would not fit in ``memory_limit`` bytes.
    """
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ConfigError(f"an architecture is a non-empty list of layer specs, got {specs!r}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"input shape must be a tuple of sizes, got {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise ConfigError(f"input shape must be positive sizes, got {input_shape!r}")
    plans = []
    for i, raw in enumerate(specs, 1):
        where = f"layer {i}"
        spec = normalize_spec(raw, where)
        cls = LAYER_TYPES[spec["type"]]
        try:
            out_shape, n_params = cls.plan(shape, **{k: v for k, v in spec.items() if k != "type"})
        except ValueError as exc:
            raise ConfigError(f"{where} ({spec_text(spec)}) on input {shape_text(shape)}: {exc}") from None
        plans.append(LayerPlan(spec, shape, tuple(out_shape), int(n_params)))
        shape = tuple(out_shape)
    if len(shape) != 1:
        raise ConfigError(
            f"the last layer gives feature maps {shape_text(shape)}, not class scores; "
            f"end with flatten and a dense layer"
        )
    total = sum(p.n_params for p in plans)
    need = total * BYTES_PER_PARAM.get(np.dtype(dtype), 24)
    limit = physical_memory() if memory_limit is None else memory_limit
    if limit and need > limit:
        raise ConfigError(
            f"the model is too large for memory: {total:,} parameters need about "
            f"{_bytes_text(need)} for weights, gradients and optimiser state; "
            f"this machine has {_bytes_text(limit)}"
        )
    return plans


def build_model(specs, input_shape, seed=0, dtype=np.float32):
    """The :class:`Sequential` model that ``specs`` describe, for examples of ``input_shape``.

    Everything is checked by :func:`plan_model` first.

    Parameters
    ----------
    specs : list of dict
        Layer specs, as :func:`parse_architecture` or :func:`mlp_specs` give them.
    input_shape : tuple of int
        The shape of one example.
    seed : int
        Weights are drawn from one generator seeded with it, layer by layer
        (dropout layers draw their masks from it too): the same seed gives the same model.
    dtype : numpy dtype
        The parameters' floating-point type.

    Returns
    -------
    Sequential

    Raises
    ------
    ConfigError
        If the specs do not describe a model that can work (see :func:`plan_model`).
    """
    plans = plan_model(specs, input_shape, dtype)
    rng = np.random.default_rng(seed)
    layers = []
    for plan in plans:
        cls = LAYER_TYPES[plan.spec["type"]]
        config = {k: v for k, v in plan.spec.items() if k != "type"}
        layers.append(cls.from_config(config, plan.input_shape, rng, np.dtype(dtype).type))
    return Sequential(layers, input_shape=plans[0].input_shape)


def model_specs(model):
    """The spec list of a built model (the inverse of :func:`build_model`).

    Parameters
    ----------
    model : Sequential
        A built model.

    Returns
    -------
    list of dict
        One spec per layer, its type and its settings, e.g. ``{"type": "Dense", "units": 10}``.
    """
    return [{"type": type(layer).__name__, **layer.get_config()} for layer in model.layers]


def mlp_specs(sizes, dropout=0.0, batch_norm=False):
    """Specs of an MLP with layer ``sizes`` (input first), the ``--layers`` shorthand.

    ``(784, 128, 64, 10)`` gives dense128 relu dense64 relu dense10.

    Parameters
    ----------
    sizes : sequence of int
        The input size, the hidden layers' sizes, the number of classes. The
        input size ``sizes[0]`` is the input shape, not a layer.
    dropout : float
        When > 0, a Dropout layer with this probability follows each hidden ReLU.
    batch_norm : bool
        Put a BatchNorm layer between each hidden Dense layer and its ReLU.

    Returns
    -------
    list of dict
        The layer specs, for :func:`build_model`.
    """
    specs = []
    hidden = list(sizes[1:-1])
    for units in hidden:
        specs.append({"type": "Dense", "units": int(units)})
        if batch_norm:
            specs.append({"type": "BatchNorm"})
        specs.append({"type": "ReLU"})
        if dropout > 0:
            specs.append({"type": "Dropout", "p": float(dropout)})
    specs.append({"type": "Dense", "units": int(sizes[-1])})
    return specs


def input_shape_for(specs, example_shape):
    """The input shape a model of ``specs`` takes for data of ``example_shape``.

    Layers that need feature maps (C, H, W) first get images as one channel,
    (28, 28) -> (1, 28, 28); anything else gets each example as a vector
    (784,). Decided by which the first shape-sensitive layer accepts, so the
    trainer needs to know nothing about the layer types.

    Parameters
    ----------
    specs : list of dict
        Layer specs.
    example_shape : tuple of int
        The shape of one example of the data, e.g. ``(28, 28)``.

    Returns
    -------
    tuple of int
        ``(784,)`` or ``(1, 28, 28)`` for 28x28 images; an example that already
        has three dimensions keeps its shape when the layers take feature maps.

    Raises
    ------
    ConfigError
        If a spec names an unknown layer type or setting.
    """
    example_shape = tuple(int(s) for s in example_shape)
    size = int(np.prod(example_shape))
    as_maps = example_shape if len(example_shape) == 3 else (1,) + example_shape[-2:]
    if len(example_shape) < 2:
        return (size,)
    for raw in specs:
        spec = normalize_spec(raw)
        cls = LAYER_TYPES[spec["type"]]
        config = {k: v for k, v in spec.items() if k != "type"}
        fits = []
        for candidate in ((size,), as_maps):
            try:
                cls.plan(candidate, **config)
                fits.append(candidate)
            except ValueError:
                pass
        if len(fits) == 1:
            return fits[0]
        if not fits:
            break  # the layer fits neither; plan_model will say why
    return (size,)


# -- the text form ----------------------------------------------------------------
_NUMBER = r"\d+(?:\.\d+)?"
_SETTINGS = re.compile(rf"({_NUMBER})?((?:[a-z]{_NUMBER})*)")
_LETTER = re.compile(rf"([a-z])({_NUMBER})")
_ALIASES = {"pool": "maxpool", "batchnorm": "bn"}


def _text_names():
    return {cls.text_name: cls for cls in LAYER_TYPES.values() if cls.text_name}


def _number(text):
    return float(text) if "." in text else int(text)


def parse_architecture(text):
    """The spec list written in the ``--arch`` text form.

    Parameters
    ----------
    text : str
        Words separated by spaces or commas, one per layer, e.g.
        ``"conv32k3 relu pool2 conv64k3 relu pool2 flatten dense128 relu dense10"``.

    Returns
    -------
    list of dict
        One spec per word, e.g. ``{"type": "Conv2D", "filters": 32, "kernel": 3}``.

    Raises
    ------
    ConfigError
        Naming the first word that is not understood.
    """
    names = _text_names()
    words = [w for w in re.split(r"[\s,]+", text.strip().lower()) if w]
    if not words:
        raise ConfigError("--arch: expected layers like 'conv32k3 relu pool2 flatten dense10', got nothing")
    specs = []
    for word in words:
        spec = _parse_word(word, names)
        if spec is None:
            raise ConfigError(
                f"--arch: cannot read {word!r}; write layers like conv32k3s1p1, maxpool2, avgpool2s1, "
                f"bn, relu, dropout0.25, flatten, dense128 (known: {', '.join(sorted(names))})"
            )
        specs.append(normalize_spec(spec, f"--arch {word!r}"))
    return specs


def _parse_word(word, names):
    """One word -> one spec, or None. The name is the longest known layer name
    the word starts with; the rest is an optional number and letter-number pairs."""
    every = sorted(list(names) + list(_ALIASES), key=len, reverse=True)
    for name in every:
        if not word.startswith(name):
            continue
        m = _SETTINGS.fullmatch(word[len(name) :])
        if m is None:
            continue
        cls = names[_ALIASES.get(name, name)]
        spec = {"type": cls.__name__}
        if m.group(1) is not None:
            if cls.text_number is None:
                return None
            spec[cls.text_number] = _number(m.group(1))
        for letter, value in _LETTER.findall(m.group(2)):
            if letter not in cls.text_letters:
                return None
            spec[cls.text_letters[letter]] = _number(value)
        return spec
    return None


def spec_text(spec):
    """One spec in the text form, e.g. ``conv32k3s2`` (most settings at their defaults are left out)."""
    cls = LAYER_TYPES[spec["type"]]
    if cls.text_name is None:
        return spec["type"]
    text = cls.text_name
    full = {**cls.defaults, **{k: v for k, v in spec.items() if k != "type"}}
    if cls.text_number:
        text += _format_number(full[cls.text_number])
    for place, (letter, name) in enumerate(cls.text_letters.items()):
        # The first letter setting (a convolution's kernel) is always written, the rest when not default.
        if full.get(name) is not None and (place == 0 or full[name] != cls.defaults.get(name)):
            text += letter + _format_number(full[name])
    return text


def architecture_text(specs):
    """A spec list in the ``--arch`` text form; :func:`parse_architecture` reads it back.

    Parameters
    ----------
    specs : list of dict
        Layer specs.

    Returns
    -------
    str
        One word per layer, e.g. ``"conv32k3 relu maxpool2 flatten dense10"``.

    Raises
    ------
    ConfigError
        If a spec names an unknown layer type or setting.
    """
    return " ".join(spec_text(normalize_spec(spec)) for spec in specs)


def _format_number(value):
    return str(int(value)) if float(value) == int(value) and not isinstance(value, float) else repr(float(value))


def physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes_text(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
