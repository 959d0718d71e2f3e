"""Model pieces: layers, losses, initialisation, the Sequential model, optimisers."""

from .init import he_normal
from .layers import BatchNorm, Dense, Dropout, Layer, ReLU
from .losses import SoftmaxCrossEntropy, softmax
from .model import Sequential, build_mlp

__all__ = [
    "BatchNorm", "Dense", "Dropout", "Layer", "ReLU", "Sequential",
    "SoftmaxCrossEntropy", "build_mlp", "he_normal", "softmax",
]
