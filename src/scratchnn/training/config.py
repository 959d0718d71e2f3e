"""Everything that defines a training run, in one JSON-able record."""

import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..nn.architecture import mlp_specs, normalize_spec, parse_architecture
from ..parameters import CONSTRAINTS, check as check_setting, flag
from .schedules import LRSchedule

# AdamW's decoupled weight decay when none is given (PyTorch's default too);
# without it AdamW would silently be plain Adam.
ADAMW_WEIGHT_DECAY = 0.01
# Settings that only act when another setting switches them on: a value other
# than the default while that setting is off would be silently ignored, so it
# is refused. setting -> (test of whether it acts, what switches it on)
AUGMENTATION_SETTINGS = ("max_shift", "max_rotation", "max_scale", "elastic_alpha", "elastic_sigma", "hflip")
ONLY_WITH = {
    **{name: (lambda c: c.augment, "--augment") for name in AUGMENTATION_SETTINGS},
    "step_size": (lambda c: c.schedule == "step", "--schedule step"),
    "gamma": (lambda c: c.schedule == "step", "--schedule step"),
    "min_lr": (lambda c: c.schedule == "cosine", "--schedule cosine"),
    "monitor": (lambda c: c.early_stopping > 0, "--early-stopping"),
}


def _iterable(value):
    """``value`` if it can be iterated over, else a list holding it (so that the check refuses it)."""
    try:
        return list(value)
    except TypeError:
        return [value]


@dataclass
class TrainConfig:
    """A training run's settings. The defaults are the classic system:
    784-128-64-10, full-batch vanilla gradient descent, 120 epochs.

    ``architecture`` (a list of layer specs, or the ``--arch`` text form, see
    :mod:`scratchnn.nn.architecture`) describes any network; when it is None,
    ``layers`` (with ``dropout`` and ``batch_norm``) is the MLP shorthand.

    ``batch_size`` 0 means the whole training split in one batch (one update per
    epoch). ``validation_size`` images are held out of the training set (seeded)
    to watch for over-fitting and drive early stopping; the test set is only
    reported, never used to choose anything.

    Each setting is also a ``scratchnn train`` flag (``min_lr`` is ``--min-lr``).
    A setting that acts only when another switches it on (the augmentation
    settings, ``step_size``, ``gamma``, ``min_lr``, ``monitor``) must keep its
    default otherwise.

    Parameters
    ----------
    dataset : str
        The dataset to train on: ``"mnist"`` or ``"fashion-mnist"``.
    layers : tuple of int
        The MLP's sizes, input first and classes last, when ``architecture`` is None.
    architecture : list of dict or str, optional
        The network as layer specs or in the ``--arch`` text form (a text is parsed
        into specs); None for the ``layers`` MLP.
    epochs : int
        Passes over the training split, >= 1.
    batch_size : int
        Examples per optimiser step, >= 0; 0 for the whole split (full batch).
    optimizer : {"sgd", "adam", "adamw", "rmsprop"}
        The optimiser (:func:`scratchnn.nn.optimizers.make_optimizer`).
    lr : float
        The (base) learning rate, > 0.
    momentum : float
        SGD's momentum, in [0, 1); sgd only.
    nesterov : bool
        Nesterov momentum; sgd with ``momentum`` > 0 only.
    weight_decay : float, optional
        Weight decay (>= 0) on the weights, never the biases: coupled L2, decoupled
        for adamw. None (the default) becomes 0.01 for adamw and 0 otherwise.
    dropout : float
        Dropout after each hidden ReLU of the ``layers`` MLP, in [0, 1); 0 for none.
    batch_norm : bool
        BatchNorm between each hidden Dense and its ReLU in the ``layers`` MLP.
    schedule : {"constant", "step", "cosine"}
        The learning-rate schedule (:class:`~scratchnn.training.LRSchedule`).
    warmup_epochs : float
        Epochs of linear learning-rate warm-up, >= 0.
    step_size : float
        Epochs between two step decays, > 0; ``schedule="step"`` only.
    gamma : float
        The step decay's factor, > 0; ``schedule="step"`` only.
    min_lr : float
        Where cosine annealing ends, >= 0 and at most ``lr``; ``schedule="cosine"`` only.
    augment : bool
        Randomly distort every training batch (:class:`scratchnn.data.augment.Augmentation`).
    max_shift : float
        Augmentation: the largest shift in pixels, >= 0.
    max_rotation : float
        Augmentation: the largest rotation in degrees, >= 0.
    max_scale : float
        Augmentation: the largest zoom fraction, in [0, 1).
    elastic_alpha : float
        Augmentation: the elastic distortion's strength in pixels, >= 0; 0 for none.
    elastic_sigma : float
        Augmentation: the smoothness of the elastic distortion in pixels, > 0.
    hflip : bool
        Augmentation: mirror images left-right (for clothes, not digits).
    validation_size : int
        Training images held out (seeded) as the validation split, >= 0.
    early_stopping : int
        Patience: stop after this many epochs without improvement of ``monitor``
        and keep the best epoch's weights; 0 for off. Needs ``validation_size`` > 0.
    monitor : {"val_loss", "val_accuracy"}
        What early stopping watches.
    test_every_epoch : bool
        Evaluate the test split after every epoch; if False, after the last one only.
    seed : int
        Seeds the weights, dropout, the validation split, the shuffling and the
        augmentation, >= 0: the same seed gives the same run.
    dtype : {"float32", "float64"}
        The floating-point type of the model and its arithmetic.
    device : {"cpu", "gpu"}
        Where to train: NumPy on the CPU, or CuPy on an NVIDIA GPU.

    Raises
    ------
    ConfigError
        If a setting is out of its range or settings contradict each other; the
        message says which and why.
    """

    dataset: str = "mnist"
    layers: tuple = (784, 128, 64, 10)
    architecture: list | None = None
    epochs: int = 120
    batch_size: int = 0
    optimizer: str = "sgd"
    lr: float = 0.3
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None  # None: 0.01 for adamw, else 0
    dropout: float = 0.0
    batch_norm: bool = False
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    step_size: float = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    augment: bool = False
    max_shift: float = 2.0
    max_rotation: float = 10.0
    max_scale: float = 0.1
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    hflip: bool = False  # random left-right mirroring (clothes, not digits)
    validation_size: int = 0
    early_stopping: int = 0  # patience in epochs; 0 = off
    monitor: str = "val_loss"  # or val_accuracy
    test_every_epoch: bool = True
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"  # or "gpu" (CuPy); the results are the same maths, see nn/backend.py

    def __post_init__(self):
        if isinstance(self.layers, (str, bytes)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in _iterable(self.layers)
        ):
            raise ConfigError(f"layers must be whole-number sizes like 784,128,64,10; got {self.layers!r}")
        self.layers = tuple(int(s) for s in _iterable(self.layers))  # a bare 0 becomes (0,), refused below
        if self.weight_decay is None:
            self.weight_decay = ADAMW_WEIGHT_DECAY if self.optimizer == "adamw" else 0.0
        if isinstance(self.architecture, str):
            self.architecture = parse_architecture(self.architecture)
        elif not isinstance(self.architecture, (list, tuple, type(None))):
            raise ConfigError(
                f"an architecture is a text like 'conv8k3 relu flatten dense10' or a list of "
                f"layer specs, got {self.architecture!r}"
            )
        elif self.architecture is not None:
            self.architecture = [
                normalize_spec(spec, f"architecture layer {i}") for i, spec in enumerate(self.architecture, 1)
            ]
        self.validate()

    def validate(self) -> None:
        """Every value against :mod:`scratchnn.parameters`, then the rules that tie settings together."""
        for f in fields(self):
            if f.name in CONSTRAINTS:
                check_setting(f.name, getattr(self, f.name))

        def need(ok, what):
            if not ok:
                raise ConfigError(what)

        need(
            len(self.layers) >= 2 and min(self.layers) >= 1,
            f"layers must be at least two positive sizes like 784,128,64,10; got {self.layers}",
        )
        need(
            self.architecture is None or (self.architecture and not self.dropout and not self.batch_norm),
            "dropout and batch norm settings shape the --layers MLP; with an architecture, write them as "
            "layers (dropout0.25, bn) instead",
        )
        need(
            not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0),
            "--nesterov needs --optimizer sgd and --momentum > 0",
        )
        need(self.momentum == 0 or self.optimizer == "sgd", "--momentum applies to --optimizer sgd only")
        need(
            not self.early_stopping or self.validation_size > 0,
            "early stopping watches the validation split: set --validation-size > 0",
        )
        need(
            not (self.batch_norm and self.batch_size == 1),
            "--batch-norm needs batches of at least 2 images (the variance of one row is undefined)",
        )
        defaults = {f.name: f.default for f in fields(type(self))}
        for name, (acts, switch) in ONLY_WITH.items():
            value = getattr(self, name)
            need(value == defaults[name] or acts(self), f"{flag(name)} {value} has no effect without {switch}")
        # The schedule checks how its own settings fit together (e.g. --min-lr <= --lr).
        LRSchedule(self.lr, self.schedule, self.epochs, self.step_size, self.gamma, self.min_lr, self.warmup_epochs)

    def model_specs(self) -> list[dict[str, Any]]:
        """The layer specs of the network: ``architecture``, or the MLP ``layers`` describe.

        Returns
        -------
        list of dict
            New dicts, one per layer, such as ``{"type": "Dense", "units": 128}``
            (see :mod:`scratchnn.nn.architecture`).
        """
        if self.architecture is not None:
            return [dict(spec) for spec in self.architecture]
        return mlp_specs(self.layers, self.dropout, self.batch_norm)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain, JSON-ready data (what a run's ``config.json`` holds).

        Returns
        -------
        dict
        """
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """A validated configuration from a dict of settings (e.g. a run's ``config.json``).

        Parameters
        ----------
        d : dict
            Settings by name; those not given keep their defaults.

        Returns
        -------
        TrainConfig

        Raises
        ------
        ConfigError
            If ``d`` is not a dict, names an unknown setting, or holds a value that cannot work.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"training settings must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training settings {unknown}")
        return cls(**d)
