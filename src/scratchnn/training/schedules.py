"""Learning-rate schedules, as pure functions of training progress.

The rate of an optimiser step is fixed when the step starts: ``at(progress)``
takes the number of epochs done before the step, as a float (2.5 = halfway
through the third epoch), so it can change every batch and a resumed run
computes exactly the rates an uninterrupted one would. With one batch per epoch
(full batch) epoch ``e`` (counted from 0) runs at ``at(e)``, as PyTorch's
schedulers do when ``scheduler.step()`` is called once per epoch:

* the first epoch runs at ``lr``;
* step decay multiplies by ``gamma`` first in epoch ``step_size`` (``StepLR``);
* cosine annealing reaches ``min_lr`` only after the last epoch, so the last
  epoch still learns (``CosineAnnealingLR(T_max=epochs)``).

With several batches per epoch the same formulas are evaluated at fractional
progress, which is what those schedulers give when stepped every batch with
their periods counted in batches (``tests/training/test_schedules.py`` compares
them with ``torch.optim.lr_scheduler`` when PyTorch is installed).
"""

import math
from dataclasses import dataclass

from ..errors import ConfigError
from ..parameters import SCHEDULE_NAMES, check as check_setting

SCHEDULES = SCHEDULE_NAMES


@dataclass(frozen=True)
class LRSchedule:
    """A learning rate that follows a schedule over the epochs, with an optional warm-up.

    ``kind`` is one of:

    * ``constant``: ``lr``.
    * ``step``: ``lr * gamma ** floor(progress / step_size)`` (step decay).
    * ``cosine``: ``min_lr + (lr - min_lr) * (1 + cos(pi * progress / epochs)) / 2``
      (cosine annealing from ``lr`` towards ``min_lr``).

    With ``warmup_epochs`` > 0 the rate first rises linearly over that many
    epochs, which keeps the first large, noisy steps of Adam or momentum from
    throwing the weights off. Counted in optimiser steps, with ``W =
    warmup_epochs * steps_per_epoch`` warm-up steps, step ``k`` (from 0) gets
    the schedule's rate times ``(k + 1) / (W + 1)`` while ``k < W``: never 0,
    and still below ``lr`` for the whole warm-up, also with one step per epoch
    (``LinearLR(start_factor=1 / (W + 1), total_iters=W)``).

    Parameters
    ----------
    lr : float
        The base learning rate, > 0.
    kind : {"constant", "step", "cosine"}
        The schedule.
    epochs : int
        The run's length; cosine annealing reaches ``min_lr`` at its end.
    step_size : float
        Epochs between two step decays (> 0).
    gamma : float
        The step decay's factor (> 0).
    min_lr : float
        Where cosine annealing ends (>= 0, at most ``lr``).
    warmup_epochs : float
        Epochs of linear warm-up (>= 0; 0 for none).
    steps_per_epoch : int
        Optimiser steps (batches) per epoch, >= 1.

    Raises
    ------
    ConfigError
        A setting is out of its range, or ``min_lr`` is above ``lr`` for cosine annealing.
    """

    lr: float
    kind: str = "constant"
    epochs: int = 1
    step_size: float = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_epochs: float = 0.0
    steps_per_epoch: int = 1

    def __post_init__(self):
        for name, value in [
            ("lr", self.lr),
            ("schedule", self.kind),
            ("epochs", self.epochs),
            ("step_size", self.step_size),
            ("gamma", self.gamma),
            ("min_lr", self.min_lr),
            ("warmup_epochs", self.warmup_epochs),
        ]:
            check_setting(name, value)
        if not isinstance(self.steps_per_epoch, int) or self.steps_per_epoch < 1:
            raise ConfigError(f"steps per epoch must be a whole number >= 1, got {self.steps_per_epoch!r}")
        if self.kind == "cosine" and self.min_lr > self.lr:
            raise ConfigError(
                f"minimum learning rate (--min-lr) {self.min_lr:g} is above the learning rate "
                f"(--lr) {self.lr:g}: cosine annealing would make the rate climb"
            )

    def at(self, progress):
        """The rate of the step that starts after ``progress`` epochs.

        Parameters
        ----------
        progress : float
            Epochs done before the step, e.g. 2.5 halfway through the third epoch.

        Returns
        -------
        float
        """
        if self.kind == "constant":
            rate = self.lr
        elif self.kind == "step":
            # The tiny epsilon keeps 0.3 / 0.1 = 2.9999999999999996 from missing a boundary.
            rate = self.lr * self.gamma ** math.floor(progress / self.step_size + 1e-9)
        else:
            fraction = min(progress / self.epochs, 1.0)
            rate = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * fraction))
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        step = progress * self.steps_per_epoch
        if step < warmup_steps - 1e-9:
            rate *= (step + 1) / (warmup_steps + 1)
        return rate
