"""Everything that defines a training run, in one JSON-able record."""

from dataclasses import asdict, dataclass, fields

from ..errors import ConfigError
from ..nn.optimizers import OPTIMIZERS
from .schedules import SCHEDULES


@dataclass
class TrainConfig:
    """A training run's settings. The defaults are the classic system:
    784-128-64-10, full-batch vanilla gradient descent, 120 epochs.

    ``batch_size`` 0 means the whole training split in one batch (one update per
    epoch). ``validation_size`` images are held out of the training set (seeded)
    to watch for over-fitting and drive early stopping; the test set is only
    reported, never used to choose anything.
    """

    dataset: str = "mnist"
    layers: tuple = (784, 128, 64, 10)
    epochs: int = 120
    batch_size: int = 0
    optimizer: str = "sgd"
    lr: float = 0.25
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
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
    hflip: bool = False              # random left-right mirroring (clothes, not digits)
    validation_size: int = 0
    early_stopping: int = 0          # patience in epochs; 0 = off
    monitor: str = "val_loss"        # or val_accuracy
    test_every_epoch: bool = True
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        self.layers = tuple(int(s) for s in self.layers)
        self.validate()

    def validate(self):
        def need(ok, what):
            if not ok:
                raise ConfigError(what)

        need(len(self.layers) >= 2 and min(self.layers) >= 1,
             f"layers must be at least two positive sizes like 784,128,64,10; got {self.layers}")
        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        need(self.batch_size >= 0, f"batch size must be >= 0 (0 = full batch), got {self.batch_size}")
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.lr > 0, f"learning rate must be > 0, got {self.lr}")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        need(not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0),
             "--nesterov needs --optimizer sgd and --momentum > 0")
        need(self.momentum == 0 or self.optimizer == "sgd", "--momentum applies to --optimizer sgd only")
        need(self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        need(self.schedule in SCHEDULES, f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        need(self.warmup_epochs >= 0, f"warm-up epochs must be >= 0, got {self.warmup_epochs}")
        need(self.validation_size >= 0, f"validation size must be >= 0, got {self.validation_size}")
        need(self.early_stopping >= 0, f"early-stopping patience must be >= 0, got {self.early_stopping}")
        need(not self.early_stopping or self.validation_size > 0,
             "early stopping watches the validation split: set --validation-size > 0")
        need(self.monitor in ("val_loss", "val_accuracy"),
             f"monitor must be val_loss or val_accuracy, got {self.monitor!r}")
        need(self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, got {self.dtype!r}")
        need(self.max_shift >= 0 and self.max_rotation >= 0 and 0 <= self.max_scale < 1 and self.elastic_alpha >= 0,
             "augmentation ranges must be >= 0 (and --max-scale < 1)")

    def to_dict(self):
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training settings {unknown}")
        return cls(**d)
