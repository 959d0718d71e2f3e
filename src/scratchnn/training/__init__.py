"""The training loop and what surrounds it: batches, schedules, checkpoints, presets."""

from .config import TrainConfig
from .evaluation import evaluate
from .presets import PRESETS
from .schedules import LRSchedule
from .trainer import Trainer, TrainResult

__all__ = ["LRSchedule", "PRESETS", "TrainConfig", "TrainResult", "Trainer", "evaluate"]
