"""The Python API: train, load, use and save an image classifier in a few lines.

A :class:`Classifier` is a trained network together with what is needed to use
it: which dataset it was trained on (hence its class names and how a user's
picture should be framed), the training configuration and the test result.
The ``scratchnn`` command is built on these same functions.

>>> import scratchnn
>>> model = scratchnn.load_model("runs/mlp/model.npz")      # doctest: +SKIP
>>> model.predict(images)                 # uint8 (N, 28, 28) -> class indices
>>> model.predict_images(["seven.jpg"])   # any picture -> ImagePrediction records
"""

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data.datasets import CLASS_NAMES, Dataset, Split, load_dataset, scale_pixels
from .data.images import ImageSource, preprocess_image
from .errors import ConfigError, ImageError, ModelFileError
from .nn.losses import softmax
from .nn.model import PREDICT_BATCH, Sequential
from .nn.serialize import load_model as load_network, save_model as save_network
from .training.config import AUGMENTATION_SETTINGS, TrainConfig
from .training.evaluation import Evaluation
from .training.presets import PRESETS, preset_settings
from .training.run_folder import open_new_run
from .training.trainer import Trainer, TrainResult


@dataclass
class ImagePrediction:
    """What a classifier made of one picture.

    Attributes
    ----------
    source : str
        The file's path, or ``"image <i>"`` for an in-memory picture.
    label : int or None
        The predicted class index (None when the picture could not be used).
    name : str or None
        The class's name (``"7"``, or ``"Sneaker"`` for Fashion-MNIST).
    probability : float or None
        The probability the network gives to ``label``.
    top : list of (int, str, float)
        The most probable classes, most probable first: (index, name, probability).
    image : numpy.ndarray or None
        The 28x28 float32 array the network saw (after preprocessing).
    error : str or None
        Why the picture could not be used (unreadable, blank, ...), else None.
    """

    source: str
    label: int | None = None
    name: str | None = None
    probability: float | None = None
    top: list[tuple[int, str, float]] = field(default_factory=list)
    image: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the picture was classified."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (without the image array), as ``scratchnn predict --json`` prints it.

        Returns
        -------
        dict
            ``path``, ``class``, ``name``, ``probability`` and ``top`` (a list of
            ``{"class", "name", "probability"}``); for a picture that could not
            be used, ``path`` and ``error`` only.
        """
        if not self.ok:
            return {"path": self.source, "error": self.error}
        return {
            "path": self.source,
            "class": self.label,
            "name": self.name,
            "probability": self.probability,
            "top": [{"class": c, "name": n, "probability": p} for c, n, p in self.top],
        }


class Classifier:
    """A trained network and what is needed to use it.

    Parameters
    ----------
    network : scratchnn.nn.Sequential
        The network; its last layer gives one logit per class.
    dataset : str
        ``"mnist"`` or ``"fashion-mnist"``: what it was trained on. Decides the
        class names (unless given) and how pictures are framed for it.
    class_names : sequence of str, optional
    metadata : dict, optional
        JSON-able facts saved with the model (configuration, test accuracy, ...).
    history : list of dict, optional
        The per-epoch metrics of the run that trained it, when known.
    """

    def __init__(
        self,
        network: Sequential,
        dataset: str = "mnist",
        class_names: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        self.network = network
        self.dataset = dataset
        if class_names is None:
            class_names = CLASS_NAMES.get(dataset) or tuple(str(i) for i in range(network.output_size))
        self.class_names = tuple(class_names)
        self.metadata = dict(metadata or {})
        self.history = list(history or [])

    # -- making one ----------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> "Classifier":
        """Read a model file written by :meth:`save` (or ``scratchnn train``).

        Parameters
        ----------
        path : str or os.PathLike
            A model ``.npz``, trained on either device.
        device : {"cpu", "gpu"}
            Where the network computes its predictions.

        Returns
        -------
        Classifier

        Raises
        ------
        ModelFileError
            The file is missing or not a valid scratchnn model.
        DeviceError
            ``device="gpu"`` without CuPy or a CUDA GPU.
        """
        network, metadata = load_network(path)
        dataset = metadata.get("dataset", "mnist")
        return cls(network.to(device), dataset, metadata.get("class_names"), metadata)

    def to(self, device: str) -> "Classifier":
        """Move the network to ``device`` in place; predictions come back as NumPy arrays either way.

        Parameters
        ----------
        device : {"cpu", "gpu"}
            Where the network computes (``"gpu"`` needs CuPy and a CUDA GPU).

        Returns
        -------
        Classifier
            This classifier.
        """
        self.network.to(device)
        return self

    @classmethod
    def from_training(cls, trainer: Trainer, result: TrainResult) -> "Classifier":
        """The classifier a finished :class:`~scratchnn.training.Trainer` run produced.

        Its metadata records the dataset, class names, configuration, epochs
        trained and the test loss and accuracy of the final weights (the best
        ones, after early stopping).

        Parameters
        ----------
        trainer : scratchnn.training.Trainer
            The trainer that ran; gives the configuration and the dataset.
        result : scratchnn.training.TrainResult
            What its :meth:`~scratchnn.training.Trainer.fit` returned.

        Returns
        -------
        Classifier
            With the run's per-epoch metrics as its ``history``.
        """
        dataset = trainer.dataset
        last = result.history[-1]
        if result.best_epoch is None and "test_accuracy" in last:
            test_loss, test_accuracy = last["test_loss"], last["test_accuracy"]
        else:
            from .training.evaluation import evaluate

            test_loss, test_accuracy = evaluate(result.model, dataset.test.images, dataset.test.labels)
        metadata = {
            "dataset": trainer.config.dataset,
            "class_names": list(dataset.class_names),
            "config": trainer.config.to_dict(),
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "epochs_trained": len(result.history),
        }
        return cls(result.model, trainer.config.dataset, dataset.class_names, metadata, result.history)

    def save(self, path: str | os.PathLike) -> None:
        """Write the network and its metadata to ``path`` (a ``.npz``), atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; :func:`load_model` reads it back.
        """
        metadata = {**self.metadata, "dataset": self.dataset, "class_names": list(self.class_names)}
        save_network(path, self.network, metadata)

    # -- shapes --------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example the network takes, e.g. (784,) or (1, 28, 28)."""
        shape = getattr(self.network, "input_shape", None)
        return tuple(shape) if shape is not None else (self.network.input_size,)

    @property
    def input_size(self) -> int:
        """Number of values in one example (784 for a 28x28 image)."""
        return int(np.prod(self.input_shape))

    def _batch(self, x):
        """(batch as (N, *input_shape) floats, whether ``x`` was a single example)."""
        x = np.asarray(x)
        single = x.ndim <= 2 and x.size == self.input_size and x.shape != (1, self.input_size)
        if single:
            x = x[None]
        if x.ndim == 0 or x[0].size != self.input_size:
            raise ValueError(
                f"expected images of {self.input_size} values each (e.g. shape (N, 28, 28)), "
                f"got an array of shape {x.shape}"
            )
        if x.dtype == np.uint8:
            x = scale_pixels(x, dtype=self.network.dtype)
        else:
            x = x.astype(self.network.dtype, copy=False)
        return x.reshape((len(x),) + self.input_shape), single

    # -- using it ------------------------------------------------------------
    def predict_logits(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """The network's raw scores (logits).

        Parameters
        ----------
        images : array_like
            As for :meth:`predict`.
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray
            Shape (N, classes), or (classes,) for one image.
        """
        x, single = self._batch(images)
        logits = self.network.predict_logits(x, batch_size)
        return logits[0] if single else logits

    def predict_proba(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Class probabilities: the softmax of the logits.

        Parameters
        ----------
        images : array_like
            As for :meth:`predict`.
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray
            Shape (N, classes), or (classes,) for one image; rows sum to 1.
        """
        x, single = self._batch(images)
        probabilities = softmax(self.network.predict_logits(x, batch_size))
        return probabilities[0] if single else probabilities

    def predict(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray | int:
        """The predicted class index of every image.

        Parameters
        ----------
        images : array_like
            A batch (N, 28, 28), (N, 784) or (N, *input_shape), or one image
            (28, 28) or (784,). uint8 pixels are scaled by 1/255 as in training;
            floats are used as they are (so they should lie in [0, 1]).
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray or int
            Class indices (N,), or one int for one image.
        """
        predicted = self.predict_logits(images, batch_size).argmax(axis=-1)
        return int(predicted) if np.ndim(predicted) == 0 else predicted

    def preprocess(self, image: ImageSource, ink: str = "auto") -> np.ndarray:
        """A picture as the 28x28 array this classifier's network expects.

        See :func:`scratchnn.preprocess_image`; the framing follows the
        classifier's dataset (digits or clothes).

        Parameters
        ----------
        image : str, os.PathLike, PIL.Image.Image or numpy.ndarray
            A file, a PIL image, or an (H, W[, C]) array of any size.
        ink : {"auto", "dark", "light"}
            Ink polarity; ``"auto"`` detects it.

        Returns
        -------
        numpy.ndarray
            float32, shape (28, 28), ink 1.0 on background 0.0.

        Raises
        ------
        ImageError
            The picture cannot be read, or shows no ink (blank).
        """
        return preprocess_image(image, self.dataset if self.dataset in CLASS_NAMES else "mnist", ink)

    def predict_images(
        self, images: Iterable[ImageSource], ink: str = "auto", top: int = 3, errors: str = "raise"
    ) -> list[ImagePrediction]:
        """Classify pictures: files, PIL images or arrays of any size and mode.

        Every picture is preprocessed to look like an MNIST image (see
        :meth:`preprocess`), then all go through the network as one batch.

        Parameters
        ----------
        images : iterable
            Paths (str or os.PathLike), PIL images, or (H, W[, C]) arrays.
        ink : {"auto", "dark", "light"}
            Ink polarity; ``"auto"`` detects it per picture.
        top : int
            How many of the most probable classes each record lists.
        errors : {"raise", "keep"}
            ``"raise"`` stops at the first picture that cannot be used (an
            :class:`~scratchnn.errors.ImageError`); ``"keep"`` returns a record
            with ``error`` set for it and classifies the rest.

        Returns
        -------
        list of ImagePrediction
            One per picture, in order.
        """
        if errors not in ("raise", "keep"):
            raise ValueError(f"errors must be 'raise' or 'keep', got {errors!r}")
        records = []
        for i, image in enumerate(images):
            source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else f"image {i}"
            try:
                records.append(ImagePrediction(source, image=self.preprocess(image, ink)))
            except ImageError as exc:
                if errors == "raise":
                    raise
                records.append(ImagePrediction(source, error=str(exc)))
        good = [r for r in records if r.ok]
        if good:
            probabilities = self.predict_proba(np.stack([r.image for r in good if r.image is not None]))
            for record, row in zip(good, probabilities):
                order = np.argsort(row)[::-1][:top]
                record.top = [(int(c), self.class_names[c], float(row[c])) for c in order]
                record.label, record.name, record.probability = record.top[0]
        return records

    def predict_image(self, image: ImageSource, ink: str = "auto", top: int = 3) -> ImagePrediction:
        """Classify one picture.

        Parameters
        ----------
        image : str, os.PathLike, PIL.Image.Image or array_like
            A file, a PIL image, or an (H, W[, C]) array of any size.
        ink : {"auto", "dark", "light"}
            Ink polarity; ``"auto"`` detects it.
        top : int
            How many of the most probable classes the record lists.

        Returns
        -------
        ImagePrediction

        Raises
        ------
        ImageError
            The picture cannot be read or is blank.
        """
        return self.predict_images([image], ink, top)[0]

    def evaluate(
        self, images: Dataset | Split | np.ndarray, labels: np.ndarray | None = None, batch_size: int = PREDICT_BATCH
    ) -> Evaluation:
        """Loss, accuracy, confusion matrix and per-class metrics on labelled images.

        Parameters
        ----------
        images : Dataset, Split or array_like
            A dataset (its test split is used), a split, or images as for
            :meth:`predict` together with ``labels``.
        labels : array_like of int, optional
            Needed when ``images`` is an array.
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        Evaluation

        Raises
        ------
        ModelFileError
            A dataset's images or classes do not fit the network.
        ValueError
            ``images`` is an array and ``labels`` is missing.
        """
        class_names = self.class_names
        if isinstance(images, Dataset):
            self._check_fits(images)
            class_names = images.class_names
            images = images.test
        if isinstance(images, Split):
            labels = images.labels
            images = images.images
        if labels is None:
            raise ValueError("evaluate needs labels for an array of images")
        logits = self.predict_logits(images, batch_size)
        return Evaluation.from_logits(np.asarray(labels), np.atleast_2d(logits), class_names)

    def _check_fits(self, dataset):
        """Raise ModelFileError when ``dataset``'s images or classes do not fit the network."""
        n_pixels = int(dataset.test.images[0].size)
        n_classes = len(dataset.class_names)
        if self.input_size != n_pixels or self.network.output_size != n_classes:
            raise ModelFileError(
                f"the model takes {self.input_size} inputs and gives {self.network.output_size} "
                f"classes; {dataset.name} needs {n_pixels} and {n_classes}"
            )

    def __repr__(self):
        accuracy = self.metadata.get("test_accuracy")
        result = f", test accuracy {accuracy:.2%}" if isinstance(accuracy, float) else ""
        return f"Classifier({self.network!r}, dataset={self.dataset!r}{result})"


def load_model(path: str | os.PathLike, device: str = "cpu") -> Classifier:
    """Load a model file written by ``scratchnn train`` or :meth:`Classifier.save`.

    Parameters
    ----------
    path : str or os.PathLike
        A model ``.npz``, trained on either device.
    device : {"cpu", "gpu"}
        Where the network computes (``"gpu"`` needs CuPy and a CUDA GPU).

    Returns
    -------
    Classifier

    Raises
    ------
    ModelFileError
        The file is missing or not a valid scratchnn model.

    Examples
    --------
    >>> model = scratchnn.load_model("runs/mlp/model.npz")   # doctest: +SKIP
    >>> model.predict(images)                                 # doctest: +SKIP
    """
    return Classifier.load(path, device)


def make_config(config: str | TrainConfig | dict[str, Any] = "classic", **settings: Any) -> TrainConfig:
    """A validated :class:`~scratchnn.training.TrainConfig` from a preset, a config or a dict.

    Parameters
    ----------
    config : str, TrainConfig or dict
        A preset name (``"classic"``, ``"mlp"``, ...; adapted to the
        ``dataset`` setting as ``scratchnn train --preset`` does), an existing
        configuration, or a dict of settings.
    **settings
        Settings laid over it, e.g. ``epochs=5, dataset="fashion-mnist"``.

    Returns
    -------
    TrainConfig

    Raises
    ------
    ConfigError
        An unknown preset or setting, or a value that cannot work.
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ConfigError(f"unknown preset {config!r}; expected one of {sorted(PRESETS)}")
        base = preset_settings(config, settings.get("dataset"))
    elif isinstance(config, TrainConfig):
        base = config.to_dict()
    elif isinstance(config, dict):
        base = dict(config)
    else:
        raise ConfigError(f"expected a preset name, a TrainConfig or a dict, got {type(config).__name__}")
    if settings.get("augment") is False:  # augmentation off also drops the base's distortion settings
        for name in AUGMENTATION_SETTINGS:
            base.pop(name, None)
    return TrainConfig.from_dict({**base, **settings})


def train(
    config: str | TrainConfig | dict[str, Any] = "classic",
    dataset: Dataset | str | None = None,
    *,
    run_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    log: Callable[[str], object] | None = print,
    progress: bool = False,
    **settings: Any,
) -> Classifier:
    """Train a network and return it as a :class:`Classifier`.

    Parameters
    ----------
    config : str, TrainConfig or dict
        A preset name, a configuration or a dict (see :func:`make_config`).
    dataset : Dataset or str, optional
        Loaded data, or a dataset name; default: the configuration's dataset,
        found or downloaded as :func:`scratchnn.load_dataset` does.
    run_dir : str or os.PathLike, optional
        A run folder, as ``scratchnn train`` makes: its ``config.json``, then a
        checkpoint and the metrics after every epoch. It is locked for the
        whole run (a second run into it raises
        :class:`~scratchnn.errors.RunFolderError`), and a folder that
        already holds a run is refused unless ``overwrite``.
    overwrite : bool
        Replace an existing run in ``run_dir`` whole (none of its files survive).
    data_dir, download
        Passed to :func:`scratchnn.load_dataset` when the data must be loaded.
    log : callable or None
        Receives one line per epoch (default ``print``; None is silent).
    progress : bool
        A progress bar over each epoch's batches.
    **settings
        Settings laid over ``config``, e.g. ``epochs=5``.

    Returns
    -------
    Classifier
        Its ``history`` holds the per-epoch metrics; its ``metadata`` the test result.

    Examples
    --------
    >>> model = scratchnn.train("mlp", epochs=5)              # doctest: +SKIP
    """
    name = dataset if isinstance(dataset, str) else getattr(dataset, "name", None)
    if name is not None:
        settings.setdefault("dataset", name)
    config = make_config(config, **settings)
    if run_dir is None:
        run = contextlib.nullcontext()
    else:  # locked and prepared before any data is loaded, as the command line does
        run_dir = Path(run_dir)
        run = open_new_run(run_dir.parent, run_dir.name, overwrite, config)
    with run:
        if dataset is None or isinstance(dataset, str):
            dataset = load_dataset(dataset or config.dataset, data_dir=data_dir, download=download, progress=False)
        trainer = Trainer(config, dataset, run_dir, log, progress)
        return Classifier.from_training(trainer, trainer.fit())
