"""The training loop.

One epoch: for every mini-batch, forward pass, loss, backward pass, optimiser
step. After it: validation and test metrics, one history row, a checkpoint.
Full-batch gradient descent (the classic method) is the case of one batch
per epoch; nothing else changes. With ``device="gpu"`` the model, the optimiser's
state and the images (uint8, copied once) live on the GPU and the same loop runs
there through CuPy (see :mod:`scratchnn.nn.backend`).
"""

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import Dataset, as_model_input
from ..errors import ConfigError, DivergenceError, ModelFileError
from ..nn import backend
from ..nn.architecture import build_model, input_shape_for, plan_model
from ..nn.layers import ReLU
from ..nn.losses import SoftmaxCrossEntropy
from ..nn.model import Sequential
from ..nn.optimizers import make_optimizer
from .batches import BatchSampler
from .checkpoint import load_checkpoint, prefixed, save_checkpoint, unprefixed
from .config import TrainConfig
from .evaluation import evaluate
from .metrics import write_metrics
from .schedules import LRSchedule

CHECKPOINT_NAME = "checkpoint.npz"
DIVERGED_LOSS_FACTOR = 100


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    model : scratchnn.nn.Sequential
        The trained network (with the best epoch's weights after early stopping).
    history : list of dict
        One row of metrics per epoch: ``epoch``, ``lr``, ``train_loss``,
        ``train_accuracy``, ``val_*`` and ``test_*`` where measured, ``seconds``.
    stopped_early : bool
        True when early stopping ended the run.
    best_epoch : int or None
        The epoch whose weights were kept, with early stopping; else None.
    """

    model: Sequential
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None


def split_train_validation(n_train, validation_size, seed):
    """Seeded disjoint index sets (train, validation) over ``range(n_train)``."""
    if validation_size >= n_train:
        raise ConfigError(f"validation size {validation_size} leaves no training data (of {n_train})")
    order = np.random.default_rng([seed, 1]).permutation(n_train)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


def _rng_states(model):
    return [layer.rng.bit_generator.state for layer in model.layers if hasattr(layer, "rng")]


def _set_rng_states(model, states):
    for layer, state in zip([layer for layer in model.layers if hasattr(layer, "rng")], states):
        layer.rng.bit_generator.state = state


def check_model_fits(config, example_shape, n_classes, dataset_name):
    """Check that ``config``'s network fits examples of ``example_shape`` and
    ``n_classes`` classes (shapes, memory) without allocating it.

    Returns ``(layer specs, input shape)`` for ``build_model``. Needs only the
    dataset's shapes, so a run can be refused before its data is loaded.
    """
    n_pixels = int(np.prod(example_shape))
    specs = config.model_specs()
    if config.architecture is None:
        if config.layers[0] != n_pixels:
            raise ConfigError(
                f"the first layer size must be {n_pixels} (pixels per {dataset_name} image), got {config.layers[0]}"
            )
        if config.layers[-1] != n_classes:
            raise ConfigError(
                f"the last layer size must be {n_classes} ({dataset_name} classes), got {config.layers[-1]}"
            )
    input_shape = input_shape_for(specs, example_shape)
    # Checked layer by layer (shapes, memory) before anything is allocated.
    plans = plan_model(specs, input_shape, np.dtype(config.dtype))
    n_outputs = plans[-1].output_shape[0]
    if n_outputs != n_classes:
        raise ConfigError(
            f"the network gives {n_outputs} outputs; {dataset_name} has "
            f"{n_classes} classes, so the last layer must be dense{n_classes}"
        )
    return specs, input_shape


class Trainer:
    """Trains a model described by a :class:`TrainConfig` on a loaded dataset.

    The model is built from the configuration's seed on the host and moved to its
    ``device``; nothing is trained until :meth:`fit`.

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    dataset : Dataset
        The loaded data. Its ``test`` split may be None (data without a test set,
        e.g. in the scikit-learn estimator).
    run_dir : str or os.PathLike, optional
        A run folder: a checkpoint and the metrics are written there after every
        epoch, so :meth:`resume` can continue the run. None writes nothing.
    log : callable, optional
        Receives one line of text per epoch (default: ``print``); None for silence.
    progress : bool
        Show a tqdm bar over the batches of each epoch.

    Raises
    ------
    ConfigError
        If the network does not fit the dataset's images or classes (or its memory),
        or ``validation_size`` leaves no training data.
    DeviceError
        If ``config.device`` is ``"gpu"`` and CuPy or a CUDA GPU is missing.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        run_dir: str | os.PathLike | None = None,
        log: Callable[[str], object] | None = print,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.run_dir = Path(run_dir) if run_dir else None
        self.log = log or (lambda line: None)
        self.progress = progress
        dtype = np.dtype(config.dtype)
        n_classes = len(dataset.class_names)
        specs, input_shape = check_model_fits(config, dataset.train.images.shape[1:], n_classes, dataset.name)
        # Built on the host from the seed (so both devices start from the same weights), then moved.
        self.model = build_model(specs, input_shape, config.seed, dtype.type).to(config.device)
        xp = self.model.xp
        self.loss_fn = SoftmaxCrossEntropy(xp)
        self.optimizer = make_optimizer(
            config.optimizer, config.lr, config.momentum, config.nesterov, config.weight_decay
        )
        self.optimizer.xp = xp
        train_idx, self.val_idx = split_train_validation(len(dataset.train), config.validation_size, config.seed)
        # Gathered once: 5,000 uint8 images are 4 MB, cheaper than re-indexing each epoch.
        self.val_images = backend.to_module(dataset.train.images[self.val_idx], xp)
        self.val_labels = backend.to_module(dataset.train.labels[self.val_idx], xp)
        self.test_split = None
        if dataset.test is not None:  # on the GPU once, not per evaluation
            self.test_split = (backend.to_module(dataset.test.images, xp), backend.to_module(dataset.test.labels, xp))
        self.sampler = BatchSampler(
            dataset.train.images,
            dataset.train.labels,
            train_idx,
            config.batch_size,
            dtype.type,
            min_batch=self.model.min_batch,
            xp=xp,
        )
        self.schedule = LRSchedule(
            config.lr,
            config.schedule,
            config.epochs,
            config.step_size,
            config.gamma,
            config.min_lr,
            config.warmup_epochs,
            steps_per_epoch=len(self.sampler),
        )
        self.augmentation = None
        if config.augment:
            from ..data.augment import Augmentation

            self.augmentation = Augmentation(
                max_shift=config.max_shift,
                max_rotation=config.max_rotation,
                max_scale=config.max_scale,
                elastic_alpha=config.elastic_alpha,
                elastic_sigma=config.elastic_sigma,
                flip_horizontal=config.hflip,
            )
        # Shuffling and augmentation draw from this generator; dropout from the model's.
        self.data_rng = np.random.default_rng([config.seed, 2])
        self._aug_out = self._aug_cast = None
        # Divergence (see README): a loss above this, NaN or infinite. A fresh model
        # guesses about uniformly, a loss of ln(classes); 100 times that is no longer learning.
        self.loss_limit = DIVERGED_LOSS_FACTOR * math.log(n_classes)
        self.history: list[dict[str, Any]] = []
        self.stopped_early = False
        # (value, epoch, copy of the model's arrays) for early stopping
        self.best: tuple[float, int, dict[str, np.ndarray]] | None = None
        self.bad_epochs = 0

    # -- one epoch -----------------------------------------------------------
    def _train_epoch(self, epoch):
        """Train on every batch once; return (mean loss, accuracy, the rate of its last step)."""
        n_batches = len(self.sampler)
        bar = None
        batches = self.sampler.epoch(self.data_rng)
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(
                batches,
                total=n_batches,
                desc=f"epoch {epoch}/{self.config.epochs}",
                leave=False,
                unit="batch",
                file=sys.stderr,
            )
            batches = bar
        # Overflow shows up as a non-finite loss, which is checked and reported below.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._run_batches(epoch, batches, n_batches, bar)

    def _run_batches(self, epoch, batches, n_batches, bar):
        model, loss_fn, opt = self.model, self.loss_fn, self.optimizer
        total_loss = 0.0
        correct = 0
        seen = 0
        for i, (x, y) in enumerate(batches):
            # The rate of a step is fixed by the progress at its start (see schedules).
            opt.lr = self.schedule.at(epoch - 1 + i / n_batches)
            if self.augmentation is not None:
                x = self._augment(x)
            logits = model.forward(x, training=True)
            loss = loss_fn.forward(logits, y)
            if not loss <= self.loss_limit:  # also true for NaN
                self._diverged(
                    f"epoch {epoch}, batch {i + 1}/{n_batches}", f"the loss is {loss:g} at learning rate {opt.lr:g}"
                )
            correct += int(model.xp.count_nonzero(logits.argmax(axis=1) == y))
            model.backward(loss_fn.backward())
            opt.step(model.params, model.grads, model.n_decayed)
            total_loss += loss * len(y)
            seen += len(y)
            if bar is not None and (i % 20 == 0 or i == n_batches - 1):
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.2%}")
        if bar is not None:
            bar.close()
        return total_loss / seen, correct / seen, opt.lr

    def _augment(self, x):
        """A distorted copy of the batch ``x``, in the trainer's own buffer.

        Never in place: with a full batch ``x`` is the sampler's cached batch,
        and warping it in place would warp the warped images again each epoch.
        Augmentation computes in float32; a float64 run gets a float64 copy.
        """
        xp = self.model.xp
        if not _same_place(self._aug_out, x):
            self._aug_out = xp.empty(x.shape, np.float32)
        warped = self.augmentation.apply(x, self.data_rng, out=self._aug_out)
        if x.dtype == warped.dtype:
            return warped
        if not _same_place(self._aug_cast, x):
            self._aug_cast = xp.empty(x.shape, x.dtype)
        xp.copyto(self._aug_cast, warped)
        return self._aug_cast

    def _check_epoch_result(self, epoch):
        """Raise :class:`DivergenceError` if the epoch left non-finite weights or a dead layer."""
        for name, array in self.model.state_arrays().items():
            if not self.model.xp.isfinite(array).all():
                self._diverged(f"the end of epoch {epoch}", f"{name} holds NaN or infinite values")
        relus = [(i, layer) for i, layer in enumerate(self.model.layers) if isinstance(layer, ReLU)]
        if all(layer.any_active() for _, layer in relus):
            return
        # The last batch may be small: confirm on up to 256 training images.
        probe = self.sampler.images[backend.to_module(self.sampler.indices[:256], self.model.xp)]
        self.model.forward(as_model_input(probe, dtype=self.model.dtype), training=False)
        dead = [i for i, layer in relus if not layer.any_active()]
        if dead:
            self._diverged(
                f"the end of epoch {epoch}",
                f"every unit of layer {dead[0]} (ReLU) is 0 for the whole last batch (dead ReLUs): "
                f"the output no longer depends on the input",
            )

    def _diverged(self, where, what):
        kept = ""
        if self.run_dir is not None and self.history:
            kept = f" The last good checkpoint (epoch {self.history[-1]['epoch']}) is kept in {self.run_dir}."
        raise DivergenceError(f"training diverged at {where}: {what}.{kept} Try a smaller --lr (or warm-up).")

    # -- the run -------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train for the configuration's remaining epochs (all of them, unless resumed).

        After every epoch: one line to ``log``, and with a run folder a checkpoint
        and the metrics files.

        Returns
        -------
        TrainResult

        Raises
        ------
        DivergenceError
            If the loss or the weights stop being finite or blow up, or a ReLU layer
            dies; the last good checkpoint is kept.
        """
        cfg = self.config
        start_epoch = len(self.history) + 1
        # A resumed run that had already stopped early stays stopped.
        stopped_early = self.stopped_early
        last_epoch = start_epoch - 1 if stopped_early else cfg.epochs
        for epoch in range(start_epoch, last_epoch + 1):
            t0 = time.perf_counter()
            train_loss, train_acc, lr = self._train_epoch(epoch)
            self._check_epoch_result(epoch)
            train_seconds = time.perf_counter() - t0
            row = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_accuracy": train_acc}
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught as divergence below
                if len(self.val_idx):
                    row["val_loss"], row["val_accuracy"] = evaluate(self.model, self.val_images, self.val_labels)
                if self.test_split is not None and (cfg.test_every_epoch or epoch == cfg.epochs):
                    row["test_loss"], row["test_accuracy"] = evaluate(self.model, *self.test_split)
            for key in ("val_loss", "test_loss"):
                if key in row and not row[key] <= self.loss_limit:  # the last step's weights, evaluated
                    self._diverged(f"the end of epoch {epoch}", f"the {key.replace('_', ' ')} is {row[key]:g}")
            row["train_seconds"] = train_seconds
            row["seconds"] = time.perf_counter() - t0
            self.history.append(row)
            self.log(format_epoch(row, cfg.epochs))
            if cfg.early_stopping and self._early_stop_check(row):
                stopped_early = self.stopped_early = True
            if self.run_dir is not None:
                self.save_checkpoint()
                write_metrics(self.run_dir, self.history)
            if stopped_early:
                assert self.best is not None  # stopping early counts epochs since the best one
                self.log(
                    f"early stopping: no better {cfg.monitor} for {cfg.early_stopping} epochs; "
                    f"restoring the weights of epoch {self.best[1]}"
                )
                break
        best_epoch = None
        if cfg.early_stopping and self.best is not None:
            self._restore_best()
            best_epoch = self.best[1]
        return TrainResult(self.model, self.history, stopped_early, best_epoch)

    def _early_stop_check(self, row):
        """Track the best monitored value; True when patience has run out."""
        value = row[self.config.monitor]
        if self.config.monitor == "val_accuracy":
            value = -value  # lower is better for both
        if self.best is None or value < self.best[0]:
            self.best = (value, row["epoch"], {k: v.copy() for k, v in self.model.state_arrays().items()})
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.config.early_stopping

    def _restore_best(self):
        self.model.load_state_arrays(self.best[2])

    # -- checkpoints ---------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write ``checkpoint.npz`` into the run folder, atomically: the weights, the
        optimiser's state, the random generators' states and the history so far."""
        assert self.run_dir is not None, "a trainer without run_dir has nowhere to save"
        opt_state = self.optimizer.state_dict()
        opt_arrays = {k: v for k, v in opt_state.items() if isinstance(v, np.ndarray)}
        state = {
            "config": self.config.to_dict(),
            "history": self.history,
            "data_rng": self.data_rng.bit_generator.state,
            "model_rngs": _rng_states(self.model),
            "optimizer": {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)},
            "stopped_early": self.stopped_early,
            "early_stopping": None
            if self.best is None
            else {"value": self.best[0], "epoch": self.best[1], "bad_epochs": self.bad_epochs},
        }
        arrays = {**prefixed("model", self.model.state_arrays()), **prefixed("optimizer", opt_arrays)}
        if self.best is not None:
            arrays.update(prefixed("best", self.best[2]))
        # The same file whatever the device: host arrays, so a run resumes on either.
        arrays = {key: backend.to_numpy(value) for key, value in arrays.items()}
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, state, arrays)

    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike,
        dataset: Dataset,
        log: Callable[[str], object] | None = print,
        progress: bool = False,
        epochs: int | None = None,
        device: str | None = None,
    ) -> "Trainer":
        """A trainer restored from ``run_dir/checkpoint.npz``, ready to :meth:`fit` on.

        Parameters
        ----------
        run_dir : str or os.PathLike
            The run folder whose checkpoint to continue from.
        dataset : Dataset
            The loaded data the run trains on.
        log, progress
            As for the constructor.
        epochs : int, optional
            A new total number of epochs (never fewer than already trained); default:
            the run's own.
        device : {"cpu", "gpu"}, optional
            Continue on this device; default: the run's own. A checkpoint is the same
            file on either device, so a run can move, but only when asked.

        Returns
        -------
        Trainer
        """
        path = Path(run_dir) / CHECKPOINT_NAME
        state, arrays = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(state["config"])
            done = len(state["history"])
            if epochs is not None:
                if epochs < done:
                    raise ConfigError(f"--epochs {epochs} is fewer than the {done} epochs this run has already trained")
                config.epochs = int(epochs)
                config.validate()
            if device is not None and device != config.device:
                if log:
                    log(f"moving the run from {config.device} to {device}, as asked")
                config.device = device
                config.validate()
            trainer = cls(config, dataset, run_dir, log, progress)
            trainer.model.load_state_arrays(unprefixed("model", arrays))
            trainer.optimizer.load_state_dict({**state["optimizer"], **unprefixed("optimizer", arrays)})
            trainer.data_rng.bit_generator.state = state["data_rng"]
            _set_rng_states(trainer.model, state["model_rngs"])
            trainer.history = state["history"]
            trainer.stopped_early = bool(state.get("stopped_early", False))
            es = state["early_stopping"]
            if es is not None:
                trainer.best = (es["value"], es["epoch"], unprefixed("best", arrays))
                trainer.bad_epochs = es["bad_epochs"]
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: checkpoint does not fit ({exc})") from None
        return trainer


def _same_place(buffer, x):
    """True if ``buffer`` can hold a copy of ``x``: the same shape, on the same device."""
    return buffer is not None and buffer.shape == x.shape and backend.module_of(buffer) is backend.module_of(x)


def format_epoch(row, total_epochs):
    """One human-readable line for an epoch's history row."""
    width = len(str(total_epochs))
    parts = [
        f"epoch {row['epoch']:>{width}}/{total_epochs}",
        f"loss {row['train_loss']:.4f}",
        f"acc {row['train_accuracy']:.2%}",
    ]
    if "val_loss" in row:
        parts += [f"val_loss {row['val_loss']:.4f}", f"val_acc {row['val_accuracy']:.2%}"]
    if "test_loss" in row:
        parts += [f"test_loss {row['test_loss']:.4f}", f"test_acc {row['test_accuracy']:.2%}"]
    parts += [f"lr {row['lr']:.3g}", f"{row['train_seconds']:.2f}s"]
    return "  ".join(parts)
