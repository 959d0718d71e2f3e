"""What a valid training setting is, in one table.

Following scikit-learn's ``_parameter_constraints``: every setting has one entry
here, and :func:`check` is the only code that decides whether a single value is
acceptable. The configuration (:class:`scratchnn.training.TrainConfig`), the
command line's flag parsers and the constructors of schedules, optimisers,
layers and augmentation all call it, so a value is refused with the same
message wherever it enters. Rules that tie two settings together (``min_lr``
at most ``lr``, ``nesterov`` needs momentum, ...) live in ``TrainConfig``.
"""

import math
import numbers
from dataclasses import dataclass

from .errors import ConfigError

# Names the table accepts for settings whose values are words. The optimiser and
# schedule modules check that their own tables have exactly these names.
OPTIMIZER_NAMES = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULE_NAMES = ("constant", "step", "cosine")
DATASET_NAMES = ("mnist", "fashion-mnist")


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (int or float) between ``low`` and ``high``.

    ``None`` leaves a side open-ended; ``strict_low``/``strict_high`` exclude
    the bound itself. Floats must be finite.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    strict_low: bool = False
    strict_high: bool = False

    def accepts(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.strict_low and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.strict_high and value == self.high)):
            return False
        return True

    def describe(self):
        what = "a whole number" if self.kind is int else "a finite number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.strict_low else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.strict_high else '<='} {self.high:g}")
        return what + (" " + " and ".join(bounds) if bounds else "")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple

    def accepts(self, value):
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self):
        return "one of " + ", ".join(map(str, self.values))


BOOLEAN = OneOf((False, True))

# setting -> (what a person calls it, the constraint on its value)
CONSTRAINTS = {
    "dataset": ("dataset", OneOf(DATASET_NAMES)),
    "epochs": ("number of epochs", Interval(int, 1)),
    "batch_size": ("batch size (0 = full batch)", Interval(int, 0)),
    "optimizer": ("optimizer", OneOf(OPTIMIZER_NAMES)),
    "lr": ("learning rate", Interval(float, 0, strict_low=True)),
    "momentum": ("momentum", Interval(float, 0, 1, strict_high=True)),
    "nesterov": ("nesterov", BOOLEAN),
    "weight_decay": ("weight decay", Interval(float, 0)),
    "dropout": ("dropout probability", Interval(float, 0, 1, strict_high=True)),
    "batch_norm": ("batch norm", BOOLEAN),
    "schedule": ("schedule", OneOf(SCHEDULE_NAMES)),
    "warmup_epochs": ("warm-up epochs", Interval(float, 0)),
    "step_size": ("step size (epochs between decays)", Interval(float, 0, strict_low=True)),
    "gamma": ("step decay factor gamma", Interval(float, 0, strict_low=True)),
    "min_lr": ("minimum learning rate", Interval(float, 0)),
    "augment": ("augment", BOOLEAN),
    "max_shift": ("augmentation max_shift (pixels)", Interval(float, 0)),
    "max_rotation": ("augmentation max_rotation (degrees)", Interval(float, 0)),
    "max_scale": ("augmentation max_scale (zoom fraction)", Interval(float, 0, 1, strict_high=True)),
    "elastic_alpha": ("augmentation elastic_alpha (pixels)", Interval(float, 0)),
    "elastic_sigma": ("augmentation elastic_sigma (pixels)", Interval(float, 0, strict_low=True)),
    "hflip": ("hflip", BOOLEAN),
    "validation_size": ("validation size", Interval(int, 0)),
    "early_stopping": ("early-stopping patience", Interval(int, 0)),
    "monitor": ("monitor", OneOf(("val_loss", "val_accuracy"))),
    "test_every_epoch": ("test_every_epoch", BOOLEAN),
    "seed": ("seed", Interval(int, 0)),
    "dtype": ("dtype", OneOf(("float32", "float64"))),
    "device": ("device", OneOf(("cpu", "gpu"))),
}


def flag(name):
    """The command-line flag of a setting: ``min_lr`` -> ``--min-lr``."""
    return "--" + name.replace("_", "-")


def check(name, value):
    """Return ``value`` if it is a valid ``name``; else raise :class:`ConfigError`.

    The message names the setting (and its flag) and what was expected.
    """
    label, constraint = CONSTRAINTS[name]
    if not constraint.accepts(value):
        raise ConfigError(f"{label} ({flag(name)}) must be {constraint.describe()}, got {value!r}")
    return value


def check_all(settings):
    """:func:`check` every entry of the dict ``settings`` that the table knows."""
    for name, value in settings.items():
        if name in CONSTRAINTS:
            check(name, value)
