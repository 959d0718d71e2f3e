"""Learning-rate schedules, as pure functions of training progress.

The rate is a function of ``progress``, the number of epochs done so far as a
float (2.5 = halfway through the third epoch), so it can change every batch and
a resumed run computes exactly the rates an uninterrupted one would.
"""

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """``kind`` is one of:

    * ``constant``: ``lr``.
    * ``step``: ``lr * gamma ** floor(progress / step_size)`` (step decay).
    * ``cosine``: ``min_lr + (lr - min_lr) * (1 + cos(pi * progress / epochs)) / 2``
      (cosine annealing from ``lr`` down to ``min_lr`` at the last epoch).

    With ``warmup_epochs`` > 0 the rate first rises linearly from 0 to the
    schedule's value over that many epochs (linear warm-up), which keeps the
    first large, noisy steps of Adam or momentum from throwing the weights off.
    """

    lr: float
    kind: str = "constant"
    epochs: int = 1
    step_size: float = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_epochs: float = 0.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; expected one of {list(SCHEDULES)}")
        if self.kind == "step" and self.step_size <= 0:
            raise ValueError(f"step decay needs step_size > 0, got {self.step_size}")
        if self.lr <= 0 or self.min_lr < 0 or self.gamma <= 0 or self.warmup_epochs < 0 or self.epochs < 1:
            raise ValueError(f"schedule needs lr > 0, min_lr >= 0, gamma > 0, warmup_epochs >= 0 "
                             f"and epochs >= 1; got {self}")

    def at(self, progress):
        if self.kind == "constant":
            rate = self.lr
        elif self.kind == "step":
            # The tiny epsilon keeps 0.3 / 0.1 = 2.9999999999999996 from missing a boundary.
            rate = self.lr * self.gamma ** math.floor(progress / self.step_size + 1e-9)
        else:
            fraction = min(progress / max(self.epochs, 1), 1.0)
            rate = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * fraction))
        if self.warmup_epochs > 0 and progress < self.warmup_epochs:
            rate *= progress / self.warmup_epochs
        return rate
