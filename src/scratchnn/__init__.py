"""scratchnn: neural networks from scratch in NumPy.

Use it from Python in a few lines::

    import scratchnn

    data = scratchnn.load_dataset("mnist")                 # found on disk or downloaded
    model = scratchnn.train("mlp", data, epochs=5)          # a preset, with changes
    print(model.evaluate(data.test).accuracy)
    model.predict(data.test.images[:10])                    # uint8 (N, 28, 28) -> classes
    model.predict_images(["my_digit.jpg"])[0].name          # any picture, any size
    model.save("my_model.npz")
    model = scratchnn.load_model("my_model.npz")

The top-level names:

- :func:`load_dataset` -- MNIST or Fashion-MNIST as uint8 arrays.
- :func:`train`, :func:`make_config`, :class:`TrainConfig`, ``PRESETS`` -- training.
- :func:`load_model`, :class:`Classifier` -- a trained network to predict, evaluate
  and save with; :class:`ImagePrediction` and :class:`Evaluation` are its results.
- :func:`preprocess_image`, :func:`open_image` -- a user's picture as an MNIST-style array.
- :class:`ScratchnnError` and its subclasses -- errors a user's input can cause.

The pieces below, in the order imports flow: ``scratchnn.nn`` (layers, losses,
optimisers, the model), ``scratchnn.data`` (IDX files, datasets, download,
augmentation, images), ``scratchnn.training`` (the loop, checkpoints, presets,
evaluation), and the surfaces ``scratchnn.classifier`` (this API),
``scratchnn.cli`` and ``scratchnn.plots``.
"""

__version__ = "0.1.0"

from .classifier import Classifier, ImagePrediction, load_model, make_config, train
from .data.datasets import load_dataset
from .data.images import open_image, preprocess_image
from .errors import ConfigError, DataError, ImageError, ModelFileError, ScratchnnError
from .training import PRESETS, TrainConfig, Trainer
from .training.evaluation import Evaluation

__all__ = [
    "Classifier",
    "ConfigError",
    "DataError",
    "Evaluation",
    "ImageError",
    "ImagePrediction",
    "ModelFileError",
    "PRESETS",
    "ScratchnnError",
    "TrainConfig",
    "Trainer",
    "load_dataset",
    "load_model",
    "make_config",
    "open_image",
    "preprocess_image",
    "train",
]
