"""Model pieces: layers, losses, initialisation, the Sequential model, optimisers,
and architectures as data (layer specs and the one builder that reads them)."""

from .architecture import (
    architecture_text,
    build_model,
    input_shape_for,
    mlp_specs,
    model_specs,
    parse_architecture,
    plan_model,
)
from .conv import AvgPool2D, Conv2D, MaxPool2D
from .init import he_normal
from .layers import LAYER_TYPES, BatchNorm, Dense, Dropout, Flatten, Layer, ReLU
from .losses import SoftmaxCrossEntropy, softmax
from .model import Sequential, build_mlp

__all__ = [
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "LAYER_TYPES",
    "Layer",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "SoftmaxCrossEntropy",
    "architecture_text",
    "build_mlp",
    "build_model",
    "he_normal",
    "input_shape_for",
    "mlp_specs",
    "model_specs",
    "parse_architecture",
    "plan_model",
    "softmax",
]
