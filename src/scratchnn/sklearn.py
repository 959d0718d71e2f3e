"""A scikit-learn estimator around scratchnn: the same network, in Pipelines.

:class:`NeuralNetClassifier` takes any table of numbers ``X`` (n_samples,
n_features) and labels ``y`` of any type, and trains an MLP with scratchnn's own
:class:`~scratchnn.training.Trainer` (the loop, optimisers and early stopping
that ``scratchnn train`` uses); its hyperparameters are that trainer's options.
Everything scikit-learn expects of a classifier works: ``fit``, ``partial_fit``,
``predict``, ``predict_proba``, ``score``, ``get_params``/``set_params``,
cloning, pickling, ``Pipeline``, ``GridSearchCV``, ``cross_val_score``.

scikit-learn is an optional extra (``pip install 'scratchnn[sklearn]'``); the
rest of the library never imports this module.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("scratchnn.sklearn needs scikit-learn >= 1.6: pip install 'scratchnn[sklearn]'") from exc

from .data.datasets import Dataset, Split
from .errors import ConfigError, DivergenceError
from .nn.architecture import parse_architecture
from .nn.losses import softmax
from .nn.serialize import model_from_spec, model_spec
from .training.config import TrainConfig
from .training.trainer import Trainer, _rng_states, _set_rng_states


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer perceptron classifier trained by scratchnn.

    The network is ``n_features -> hidden_layer_sizes... -> n_classes``, ReLU
    between the layers, softmax cross-entropy loss, He-normal initialisation:
    the network of ``scratchnn train --layers``; or, with ``architecture``, any
    network the library builds, such as a CNN. Inputs are used as given (scale
    them first, e.g. with ``MinMaxScaler`` or ``StandardScaler``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Units of each hidden layer; ``()`` gives softmax regression. Not used
        with ``architecture``.
    architecture : str or list of dict, default=None
        The layers before the output layer, in the ``--arch`` text form
        (``"conv8k3 relu maxpool2 flatten"``) or as layer specs; a Dense layer
        with one unit per class is added after them. Dropout and batch norm are
        written as layers here (``dropout0.25``, ``bn``).
    input_shape : tuple of int, default=None
        The shape of one example, e.g. ``(1, 28, 28)`` for images given as rows
        of 784 pixels to a CNN; None: each row as a vector.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
    lr : float, default=1e-3
        Learning rate.
    momentum : float, default=0.0
        Momentum of ``optimizer="sgd"``.
    epochs : int, default=20
        Passes over the training data in :meth:`fit` (early stopping may end sooner).
        :meth:`partial_fit` always makes one pass.
    batch_size : int, default=128
        Rows per update; 0 = the whole training set in one batch (full-batch
        gradient descent).
    weight_decay : float, default=0.0
        L2 penalty on the weights (decoupled for ``adamw``), never on biases.
    dropout : float, default=0.0
        Drop probability after each hidden layer, in training only.
    batch_norm : bool, default=False
        Batch normalisation between each hidden layer and its ReLU.
    early_stopping : int, default=0
        Patience in epochs: with ``early_stopping > 0``, ``validation_fraction``
        of the rows are held out (seeded), training stops after this many epochs
        without a lower validation loss, and the best epoch's weights are kept.
        0 = off, all rows train.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping (ignored when it is off).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of the arithmetic.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, dropout and the validation
        split: the same integer gives the same model, to the last bit.
    verbose : bool, default=False
        Print one line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit`` (or given to the first ``partial_fit``), sorted.
    n_features_in_ : int
    model_ : scratchnn.nn.Sequential
        The trained network; it outputs logits for class indices into ``classes_``.
    history_ : list of dict
        One row per epoch trained: loss, accuracy, validation metrics, seconds.
    n_epochs_ : int
        Epochs trained in all (``len(history_)``).
    best_epoch_ : int or None
        The epoch whose weights early stopping kept.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (128, 64),
        architecture: str | list[dict[str, Any]] | None = None,
        input_shape: tuple[int, ...] | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.0,
        epochs: int = 20,
        batch_size: int = 128,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        batch_norm: bool = False,
        early_stopping: int = 0,
        validation_fraction: float = 0.1,
        dtype: str = "float32",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.architecture = architecture
        self.input_shape = input_shape
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- training ------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike) -> "NeuralNetClassifier":
        """Train a new network on ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training rows, numbers (scaled; see the class text).
        y : array-like of shape (n_samples,)
            The labels, of any type; at least two classes.

        Returns
        -------
        self : NeuralNetClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad input (NaN, wrong shape, one class only) or a hyperparameter that cannot work.
        DivergenceError
            The loss became NaN or infinite (usually unscaled features or a too large ``lr``).
        """
        X, y = validate_data(self, X, y, dtype=self._dtype())
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"y holds one class only ({self.classes_[0]})"
            )
        self._seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._train(X, codes, self.epochs, previous=None)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> "NeuralNetClassifier":
        """One more epoch over ``X``, ``y``, continuing from the current weights and optimiser state.

        The first call starts a new network and needs ``classes``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows of this step.
        y : array-like of shape (n_samples,)
            Their labels, all among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every label the estimator will see; required on the first call,
            and when given later it must be the same set.

        Returns
        -------
        self : NeuralNetClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad input, ``classes`` missing on the first call or different from it,
            or a label not in ``classes``.
        DivergenceError
            The loss became NaN or infinite.
        """
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=self._dtype(), reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self.classes_ = np.unique(classes)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes, got {list(self.classes_)}")
            self._seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {list(np.unique(classes))} differ from the first call's {list(self.classes_)}")
        codes = np.searchsorted(self.classes_, y)
        unknown = (codes >= len(self.classes_)) | (self.classes_[np.minimum(codes, len(self.classes_) - 1)] != y)
        if unknown.any():
            raise ValueError(
                f"y holds labels that are not in classes: {sorted(set(np.asarray(y)[unknown].tolist()))[:5]}"
            )
        self._train(X, codes, 1, previous=None if first else self._state)
        return self

    def _dtype(self):
        return np.float64 if self.dtype == "float64" else np.float32

    def _architecture(self):
        """The layer specs of ``architecture`` with the output layer added, or None."""
        if self.architecture is None:
            return None
        specs = parse_architecture(self.architecture) if isinstance(self.architecture, str) else list(self.architecture)
        return specs + [{"type": "Dense", "units": len(self.classes_)}]

    def _examples(self, X):
        """``X``'s rows in the shape ``input_shape`` asks for (a view, no copy)."""
        if self.input_shape is None:
            return X
        shape = tuple(int(s) for s in self.input_shape)
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(f"input_shape {shape} holds {int(np.prod(shape))} numbers; X has {X.shape[1]} features")
        return X.reshape(len(X), *shape)

    def _config(self, n_features, epochs, validation_size):
        try:
            # (``dataset`` stays at its default: it names the data for the CLI, and the trainer does not read it.)
            return TrainConfig(
                layers=(n_features, *self.hidden_layer_sizes, len(self.classes_)),
                architecture=self._architecture(),
                epochs=epochs,
                batch_size=self.batch_size,
                optimizer=self.optimizer,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                dropout=self.dropout,
                batch_norm=self.batch_norm,
                early_stopping=self.early_stopping if validation_size else 0,
                validation_size=validation_size,
                test_every_epoch=False,
                seed=self._seed,
                dtype=self.dtype,
            )
        except (ConfigError, TypeError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None

    def _train(self, X, codes, epochs, previous):
        """Train with scratchnn's Trainer: ``epochs`` new epochs, starting from
        ``previous`` (the state a former call left) or from a new network."""
        done = 0 if previous is None else len(previous["history"])
        validation_size = 0
        if previous is None and self.early_stopping:
            validation_size = max(1, round(self.validation_fraction * len(X)))
            if not 0 < self.validation_fraction < 1 or validation_size >= len(X):
                raise ValueError(
                    f"validation_fraction must be in (0, 1) and leave rows to train on; got "
                    f"{self.validation_fraction} of {len(X)} rows"
                )
        config = self._config(X.shape[1], done + epochs, validation_size)
        data = Dataset(
            name="the training data",
            train=Split(self._examples(X), codes),
            test=None,
            class_names=tuple(map(str, self.classes_)),
            source=None,
        )
        try:
            trainer = Trainer(config, data, log=print if self.verbose else None)
        except ConfigError as exc:  # e.g. layers that do not fit input_shape
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        if previous is not None:  # as Trainer.resume does from a checkpoint file
            try:
                trainer.model.load_state_arrays(self.model_.state_arrays())
            except ValueError as exc:
                raise ValueError(f"the network changed since the last fit ({exc}); call fit to start anew") from None
            trainer.optimizer.load_state_dict(previous["optimizer"])
            trainer.data_rng.bit_generator.state = previous["data_rng"]
            _set_rng_states(trainer.model, previous["model_rngs"])
            trainer.history = list(previous["history"])
        try:
            result = trainer.fit()
        except DivergenceError as exc:
            scale = float(np.abs(X).max())
            hint = (
                f" The features reach |x| = {scale:.3g}: scale them (e.g. StandardScaler in a Pipeline)."
                if scale > 10
                else ""
            )
            raise DivergenceError(f"{exc}{hint}") from None
        self.model_ = result.model
        self.history_ = result.history
        self.n_epochs_ = len(result.history)
        self.best_epoch_ = result.best_epoch
        self._state = {
            "optimizer": trainer.optimizer.state_dict(),
            "data_rng": trainer.data_rng.bit_generator.state,
            "model_rngs": _rng_states(trainer.model),
            "history": list(result.history),
        }

    # -- prediction ----------------------------------------------------------------
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order; each row sums to 1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit` or :meth:`partial_fit`.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self._dtype(), reset=False)
        return softmax(self.model_.predict_logits(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit` or :meth:`partial_fit`.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self._dtype(), reset=False)
        return self.classes_[self.model_.predict(X)]

    # -- pickling ------------------------------------------------------------------
    def __getstate__(self):
        # The layers keep their last batch and work buffers (for backward); a
        # pickle needs only the weights, so store a freshly built copy.
        state = super().__getstate__()
        if "model_" in state:
            model = model_from_spec(model_spec(self.model_))
            model.load_state_arrays(self.model_.state_arrays())
            state["model_"] = model
        return state
