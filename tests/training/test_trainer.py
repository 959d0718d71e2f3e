"""The training loop on real MNIST data: learning, determinism, resuming, guards."""

import dataclasses
import json
import time

import numpy as np
import pytest

from scratchnn.errors import ConfigError, DivergenceError
from scratchnn.nn import BatchNorm, Dropout
from scratchnn.training import TrainConfig, Trainer
from scratchnn.training.batches import BatchSampler
from scratchnn.training.evaluation import evaluate
from scratchnn.training.schedules import LRSchedule
from scratchnn.training.trainer import format_epoch, split_train_validation

FAST = dict(layers=(784, 32, 10), epochs=3, batch_size=64, optimizer="adam", lr=3e-3)


def fit(dataset, run_dir=None, **settings):
    trainer = Trainer(TrainConfig(**{**FAST, **settings}), dataset, run_dir, log=None)
    return trainer, trainer.fit()


def test_minibatch_training_clearly_beats_chance(small_mnist):
    _, result = fit(small_mnist)
    assert result.history[-1]["test_accuracy"] > 0.85  # chance is 0.10
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]


def test_full_batch_gradient_descent_lowers_the_loss_every_epoch(small_mnist):
    _, result = fit(small_mnist, layers=(784, 128, 64, 10), batch_size=0, optimizer="sgd", lr=0.1, epochs=20)
    losses = [row["train_loss"] for row in result.history]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert result.history[-1]["test_accuracy"] > 0.6


def test_same_seed_same_numbers_other_seed_other_numbers(small_mnist):
    a, ra = fit(small_mnist, dropout=0.1, augment=True)
    b, rb = fit(small_mnist, dropout=0.1, augment=True)
    c, _ = fit(small_mnist, dropout=0.1, augment=True, seed=1)
    np.testing.assert_array_equal(a.model.params, b.model.params)

    def strip(history):
        return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]

    assert strip(ra.history) == strip(rb.history)
    assert not np.array_equal(a.model.params, c.model.params)


def test_resume_gives_exactly_the_uninterrupted_result(small_mnist, tmp_path):
    settings = dict(
        epochs=4, dropout=0.2, augment=True, validation_size=500, early_stopping=10, schedule="cosine", warmup_epochs=1
    )
    full, full_result = fit(small_mnist, tmp_path / "full", **settings)

    def interrupt_in_epoch_3(line):
        if line.startswith("epoch 3/"):
            raise KeyboardInterrupt  # as if killed before epoch 3's checkpoint

    with pytest.raises(KeyboardInterrupt):
        Trainer(TrainConfig(**{**FAST, **settings}), small_mnist, tmp_path / "half", log=interrupt_in_epoch_3).fit()
    resumed = Trainer.resume(tmp_path / "half", small_mnist, log=None)
    assert len(resumed.history) == 2
    resumed_result = resumed.fit()
    np.testing.assert_array_equal(resumed.model.params, full.model.params)
    assert [r["val_loss"] for r in resumed_result.history] == [r["val_loss"] for r in full_result.history]


def test_checkpoint_and_metrics_written_each_epoch(small_mnist, tmp_path):
    fit(small_mnist, tmp_path, epochs=2)
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss")
    assert (tmp_path / "checkpoint.npz").exists()
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_divergence_stops_with_a_clear_message_and_keeps_the_checkpoint(small_mnist, tmp_path):
    trainer = Trainer(
        TrainConfig(**{**FAST, "optimizer": "sgd", "lr": 1.0, "epochs": 5}), small_mnist, tmp_path, log=None
    )
    trainer.fit()  # a sane run writes its checkpoint...
    before = (tmp_path / "checkpoint.npz").read_bytes()
    trainer.config.epochs = 7
    trainer.schedule = LRSchedule(1e35)  # ...then a rate that overflows float32
    with pytest.raises(DivergenceError, match=r"epoch 6, batch \d+/\d+.*learning rate 1e\+35.*epoch 5"):
        trainer.fit()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_early_stopping_stops_and_restores_the_best_weights(small_mnist):
    # A rate too high for SGD makes validation loss worsen after a few epochs.
    trainer, result = fit(
        small_mnist, epochs=30, validation_size=500, early_stopping=2, optimizer="sgd", lr=0.5, batch_size=32
    )
    assert result.stopped_early and len(result.history) < 30
    best = min(result.history, key=lambda r: r["val_loss"])
    assert result.best_epoch == best["epoch"]
    from scratchnn.training.evaluation import evaluate

    val_loss, _ = evaluate(
        trainer.model, small_mnist.train.images[trainer.val_idx], small_mnist.train.labels[trainer.val_idx]
    )
    assert abs(val_loss - best["val_loss"]) < 1e-6


def test_validation_split_is_disjoint_seeded_and_sized():
    train, val = split_train_validation(1000, 100, seed=0)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val)
    np.testing.assert_array_equal(val, split_train_validation(1000, 100, seed=0)[1])
    assert not np.array_equal(val, split_train_validation(1000, 100, seed=1)[1])
    with pytest.raises(ConfigError, match="leaves no training data"):
        split_train_validation(100, 100, seed=0)


def test_validation_images_are_not_trained_on(small_mnist):
    trainer = Trainer(TrainConfig(**{**FAST, "validation_size": 700}), small_mnist, log=None)
    assert len(trainer.sampler.indices) == 4000 - 700
    assert not set(trainer.sampler.indices) & set(trainer.val_idx)
    result = trainer.fit()
    assert "val_accuracy" in result.history[0]


def test_batch_sampler_covers_every_row_once_with_a_partial_last_batch():
    images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2)
    labels = np.arange(10, dtype=np.uint8)
    sampler = BatchSampler(images, labels, np.arange(10), batch_size=4)
    # Copy x: the sampler reuses its float buffer from one batch to the next.
    batches = [(x.copy(), y) for x, y in sampler.epoch(np.random.default_rng(0))]
    assert [len(y) for _, y in batches] == [4, 4, 2] and len(sampler) == 3
    seen = np.concatenate([y for _, y in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))  # all, shuffled
    for x, y in batches:
        np.testing.assert_allclose(x, images[y].reshape(len(y), -1) / 255, rtol=1e-6)


def test_layer_options_reach_the_model(small_mnist):
    trainer = Trainer(
        TrainConfig(**{**FAST, "layers": (784, 16, 8, 10), "dropout": 0.3, "batch_norm": True}), small_mnist, log=None
    )
    kinds = [type(layer).__name__ for layer in trainer.model.layers]
    assert kinds == ["Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "BatchNorm", "ReLU", "Dropout", "Dense"]
    assert all(layer.p == 0.3 for layer in trainer.model.layers if isinstance(layer, Dropout))
    assert sum(isinstance(layer, BatchNorm) for layer in trainer.model.layers) == 2


# Each option against the same run without it, so that dropping the option's
# wiring anywhere (config, CLI, trainer, layer) makes the two runs equal.
OPTION_PAIRS = {
    "weight_decay": (dict(), dict(weight_decay=0.01)),
    "augment": (dict(), dict(augment=True)),
    "adamw weight decay": (dict(optimizer="adamw", weight_decay=0.0), dict(optimizer="adamw", weight_decay=0.1)),
    "adamw default decay": (dict(optimizer="adam"), dict(optimizer="adamw")),
    "schedule cosine": (dict(), dict(schedule="cosine")),
    "min_lr": (dict(schedule="cosine"), dict(schedule="cosine", min_lr=1e-3)),
    "warmup_epochs": (dict(), dict(warmup_epochs=1)),
    "batch_size": (dict(), dict(batch_size=32)),
    "dropout": (dict(), dict(dropout=0.2)),
    "batch_norm": (dict(), dict(batch_norm=True)),
    "schedule step": (dict(), dict(schedule="step", step_size=0.5)),
    "step_size": (dict(schedule="step", step_size=0.5), dict(schedule="step", step_size=0.25)),
    "gamma": (dict(schedule="step", step_size=0.5), dict(schedule="step", step_size=0.5, gamma=0.5)),
    "max_shift": (dict(augment=True), dict(augment=True, max_shift=4)),
    "max_rotation": (dict(augment=True), dict(augment=True, max_rotation=30)),
    "max_scale": (dict(augment=True), dict(augment=True, max_scale=0.3)),
    "elastic_alpha": (dict(augment=True), dict(augment=True, elastic_alpha=2.0)),
    "elastic_sigma": (dict(augment=True, elastic_alpha=2.0), dict(augment=True, elastic_alpha=2.0, elastic_sigma=2)),
    "hflip": (dict(augment=True), dict(augment=True, hflip=True)),
    "optimizer rmsprop": (dict(), dict(optimizer="rmsprop", lr=1e-3)),
    "momentum": (dict(optimizer="sgd", lr=0.1), dict(optimizer="sgd", lr=0.1, momentum=0.9)),
    "nesterov": (
        dict(optimizer="sgd", lr=0.1, momentum=0.9),
        dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True),
    ),
    "seed": (dict(), dict(seed=1)),
    "validation_size": (dict(), dict(validation_size=100)),
    "dtype": (dict(), dict(dtype="float64")),
}


@pytest.mark.parametrize("option", OPTION_PAIRS)
def test_each_option_changes_the_trained_weights(small_mnist, option):
    without, with_option = OPTION_PAIRS[option]
    a, _ = fit(small_mnist, epochs=1, **without)
    b, _ = fit(small_mnist, epochs=1, **with_option)
    assert a.model.params.shape != b.model.params.shape or not np.allclose(a.model.params, b.model.params), option


def test_monitor_val_accuracy_keeps_the_most_accurate_epoch(small_mnist):
    trainer, result = fit(
        small_mnist,
        epochs=5,
        validation_size=500,
        early_stopping=5,
        monitor="val_accuracy",
        optimizer="sgd",
        lr=0.5,
        batch_size=32,
    )
    accuracies = [row["val_accuracy"] for row in result.history]
    assert max(accuracies) != min(accuracies)
    assert result.best_epoch == 1 + accuracies.index(max(accuracies))


def test_monitor_val_loss_keeps_the_lowest_loss_epoch(small_mnist):
    trainer, result = fit(
        small_mnist, epochs=5, validation_size=500, early_stopping=5, optimizer="sgd", lr=0.5, batch_size=32
    )
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))


def test_adamw_without_weight_decay_gets_pytorchs_default():
    assert TrainConfig(optimizer="adamw", lr=1e-3).weight_decay == 0.01
    assert TrainConfig(optimizer="adam", lr=1e-3).weight_decay == 0.0
    assert TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=0.0).weight_decay == 0.0  # asked for


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(max_rotation=30), "--max-rotation 30 has no effect without --augment"),
        (dict(hflip=True), "--hflip True has no effect without --augment"),
        (dict(elastic_alpha=1.0), "--elastic-alpha 1.0 has no effect without --augment"),
        (dict(gamma=0.5), "--gamma 0.5 has no effect without --schedule step"),
        (dict(step_size=3), "--step-size 3 has no effect without --schedule step"),
        (dict(min_lr=0.01), "--min-lr 0.01 has no effect without --schedule cosine"),
        (dict(monitor="val_accuracy"), "--monitor val_accuracy has no effect without --early-stopping"),
        (dict(schedule="cosine", min_lr=0.5), "--min-lr.*above the learning rate"),
        (dict(schedule="step", gamma=0), "--gamma"),
        (dict(schedule="step", step_size=0), "--step-size"),
        (dict(schedule="cosine", min_lr=-0.1), "--min-lr"),
        (dict(batch_norm=True, batch_size=1), "at least 2"),
        (dict(layers=("a", 10)), "layers must be whole-number sizes"),
    ],
)
def test_settings_that_would_do_nothing_or_cannot_work_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)


def test_full_batch_rates_per_epoch_follow_the_schedule_as_pytorch_steps_it(small_mnist):
    full = dict(batch_size=0, optimizer="sgd", lr=0.2, epochs=4)
    _, cosine = fit(small_mnist, **full, schedule="cosine")
    assert [r["lr"] for r in cosine.history] == pytest.approx([0.2, 0.17071068, 0.1, 0.02928932])  # last > 0
    _, step = fit(small_mnist, **full, schedule="step", step_size=2, gamma=0.5)
    assert [r["lr"] for r in step.history] == pytest.approx([0.2, 0.2, 0.1, 0.1])
    _, warm = fit(small_mnist, **full, warmup_epochs=1)
    assert [r["lr"] for r in warm.history] == pytest.approx([0.1, 0.2, 0.2, 0.2])


def test_full_batch_augmentation_leaves_the_cached_batch_alone(small_mnist):
    trainer, _ = fit(small_mnist, batch_size=0, optimizer="sgd", lr=0.1, epochs=3, augment=True)
    cached, _ = trainer.sampler._full
    expected = small_mnist.train.images[trainer.sampler.indices].reshape(len(cached), -1) / np.float32(255)
    np.testing.assert_allclose(cached, expected, rtol=1e-6)


def test_float64_training_with_augmentation(small_mnist):
    trainer, result = fit(small_mnist, dtype="float64", augment=True, epochs=1)
    assert trainer.model.dtype == np.float64 and result.history[0]["test_accuracy"] > 0.5


def test_batch_norm_skips_a_final_batch_of_one_row(small_mnist):
    # 4000 - 499 = 3501 training rows in batches of 100: 35 full batches and one row left over.
    trainer, result = fit(small_mnist, batch_norm=True, batch_size=100, validation_size=499, epochs=1)
    assert len(trainer.sampler) == 35 and np.isfinite(trainer.model.params).all()
    assert len(fit(small_mnist, batch_size=100, validation_size=499, epochs=1)[0].sampler) == 36


def test_a_loss_far_above_the_start_counts_as_divergence(small_mnist):
    trainer = Trainer(TrainConfig(**FAST), small_mnist, log=None)
    for layer in trainer.model.layers:
        if hasattr(layer, "W"):
            layer.W *= 1e3  # finite but absurd logits: a loss around 1e8
    # Without a run folder there is no checkpoint to name: the message ends with the advice.
    with pytest.raises(
        DivergenceError,
        match=r"^training diverged at epoch 1, batch 1/\d+: the loss is \d\S* at learning rate \S+\. "
        r"Try a smaller --lr \(or warm-up\)\.$",
    ):
        trainer.fit()


def test_each_epoch_records_its_training_time_within_its_whole_time(small_mnist):
    started = time.perf_counter()
    _, result = fit(small_mnist, epochs=2)
    elapsed = time.perf_counter() - started
    for row in result.history:
        assert 0 < row["train_seconds"] <= row["seconds"] <= elapsed


def test_an_epochs_loss_and_accuracy_are_means_over_every_training_image(small_mnist):
    # A rate of 1e-12 leaves the weights as they start, so the epoch's running figures
    # must equal one evaluation of those weights on the training images. 4,000 images
    # in batches of 300: the last batch (100) must weigh a third of the others.
    trainer = Trainer(
        TrainConfig(**{**FAST, "optimizer": "sgd", "lr": 1e-12, "batch_size": 300, "epochs": 1}), small_mnist, log=None
    )
    start_loss, start_accuracy = evaluate(trainer.model, small_mnist.train.images, small_mnist.train.labels)
    row = trainer.fit().history[0]
    assert row["train_loss"] == pytest.approx(start_loss, rel=1e-5)
    assert row["train_accuracy"] == pytest.approx(start_accuracy, abs=1e-9)


def test_dead_relus_count_as_divergence(small_mnist):
    # SGD at 2.5 kills every hidden ReLU of this net within an epoch.
    with pytest.raises(DivergenceError, match="dead ReLUs"):
        fit(small_mnist, epochs=3, optimizer="sgd", lr=2.5, batch_size=32)


class _RateBlowsUpAtTheLastStep:
    """A schedule whose very last step uses an absurd rate."""

    def __init__(self, last_progress, rate):
        self.last_progress, self.rate = last_progress, rate

    def at(self, progress):
        return self.rate if progress >= self.last_progress else 0.1


@pytest.mark.parametrize(
    "rate, message",
    [
        (float("inf"), "NaN or infinite"),  # weights become inf/NaN
        (1e36, "the (val|test) loss is"),  # weights finite but absurd: the evaluation overflows
    ],
)
def test_a_last_step_that_ruins_the_weights_fails_and_keeps_a_finite_checkpoint(small_mnist, tmp_path, rate, message):
    from scratchnn.training.checkpoint import load_checkpoint

    trainer = Trainer(
        TrainConfig(**{**FAST, "batch_size": 0, "optimizer": "sgd", "epochs": 2}), small_mnist, tmp_path, log=None
    )
    trainer.schedule = _RateBlowsUpAtTheLastStep(1, rate)
    with pytest.raises(DivergenceError, match=f"end of epoch 2.*{message}.*epoch 1"):
        trainer.fit()
    state, arrays = load_checkpoint(tmp_path / "checkpoint.npz")
    assert len(state["history"]) == 1 and all(np.isfinite(a).all() for a in arrays.values())


def test_metrics_json_stays_valid_json_with_non_finite_values(tmp_path):
    from scratchnn.training.metrics import write_metrics

    write_metrics(tmp_path, [{"epoch": 1, "val_loss": float("nan"), "test_loss": float("inf"), "lr": 0.1}])

    def refuse(name):
        raise ValueError(f"bare {name} in metrics.json")

    rows = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=refuse)
    assert rows == [{"epoch": 1, "val_loss": None, "test_loss": None, "lr": 0.1}]


def test_wrong_layer_sizes_for_the_dataset_are_refused(small_mnist):
    with pytest.raises(ConfigError, match="first layer size must be 784"):
        Trainer(TrainConfig(layers=(100, 10)), small_mnist)
    with pytest.raises(ConfigError, match="last layer size must be 10"):
        Trainer(TrainConfig(layers=(784, 5)), small_mnist)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(epochs=0), "epochs"),
        (dict(lr=-1), "learning rate"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(dropout=1.0), "dropout"),
        (dict(early_stopping=3), "validation"),
        (dict(nesterov=True), "nesterov"),
        (dict(schedule="exp"), "schedule"),
        (dict(layers=(784,)), "layers"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(bad, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**bad)


def test_test_set_can_be_left_to_the_final_epoch(small_mnist):
    _, result = fit(small_mnist, test_every_epoch=False)
    assert ["test_accuracy" in row for row in result.history] == [False, False, True]


TINY_CNN = "conv4k3 relu maxpool2 flatten dense10"


def test_an_architecture_trains_through_the_same_loop_and_saves_in_checkpoints(small_mnist, tmp_path):
    trainer, result = fit(small_mnist, tmp_path, architecture=TINY_CNN, epochs=2, validation_size=500)
    assert trainer.model.input_shape == (1, 28, 28)
    assert [type(layer).__name__ for layer in trainer.model.layers] == [
        "Conv2D",
        "ReLU",
        "MaxPool2D",
        "Flatten",
        "Dense",
    ]
    assert result.history[-1]["test_accuracy"] > 0.8  # chance is 0.10
    resumed = Trainer.resume(tmp_path, small_mnist, log=None)
    np.testing.assert_array_equal(resumed.model.params, trainer.model.params)
    assert resumed.config.architecture == trainer.config.architecture


def test_architecture_settings_are_checked(small_mnist):
    with pytest.raises(ConfigError, match="cannot read 'conv4q3'"):
        TrainConfig(architecture="conv4q3 flatten dense10")
    with pytest.raises(ConfigError, match="write them as layers"):
        TrainConfig(architecture=TINY_CNN, dropout=0.5)
    with pytest.raises(ConfigError, match="gives 7 outputs; mnist has 10 classes"):
        Trainer(TrainConfig(**{**FAST, "architecture": "conv4k3 flatten dense7"}), small_mnist)
    with pytest.raises(ConfigError, match="too large for memory"):
        Trainer(TrainConfig(**{**FAST, "layers": (784, 100_000_000, 10)}), small_mnist)
    config = TrainConfig(architecture=[{"type": "Flatten"}, {"type": "Dense", "units": 10}])
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_float_features_of_any_shape_train_and_evaluate_as_they_are():
    """The data path takes float arrays unscaled (uint8 alone is divided by 255)."""

    from scratchnn.data.datasets import Split
    from scratchnn.training.evaluation import evaluate

    rng = np.random.default_rng(0)
    features = rng.standard_normal((600, 5)).astype(np.float32) * 3  # outside [0, 1]
    labels = (features[:, 0] > 0).astype(np.uint8)
    sampler = BatchSampler(features, labels, np.arange(600), batch_size=100)
    x, y = next(iter(sampler.epoch(rng)))
    rows = [np.flatnonzero((features == row).all(axis=1))[0] for row in x]
    np.testing.assert_array_equal(x, features[rows])  # used as they are, not scaled
    np.testing.assert_array_equal(y, labels[rows])
    split = Split(features, labels)

    class Data:
        name, class_names = "features", ["neg", "pos"]
        train = test = split

    trainer = Trainer(
        TrainConfig(layers=(5, 8, 2), epochs=3, batch_size=50, optimizer="adam", lr=0.01), Data(), log=None
    )
    assert trainer.model.input_shape == (5,)
    trainer.fit()
    _, acc = evaluate(trainer.model, features, labels)
    assert acc > 0.9  # chance is 0.5
    _, acc_as_maps = evaluate(trainer.model, features.reshape(600, 5, 1), labels)
    assert acc_as_maps == acc


def test_a_run_that_stopped_early_stays_stopped_when_resumed(small_mnist, tmp_path):
    settings = dict(epochs=30, validation_size=500, early_stopping=2, optimizer="sgd", lr=0.5, batch_size=32)
    trainer, result = fit(small_mnist, tmp_path, **settings)
    assert result.stopped_early
    for _ in range(2):
        resumed = Trainer.resume(tmp_path, small_mnist, log=None)
        again = resumed.fit()
        assert len(again.history) == len(result.history) and again.best_epoch == result.best_epoch
        np.testing.assert_array_equal(resumed.model.params, trainer.model.params)


def test_resume_refuses_fewer_epochs_than_done(small_mnist, tmp_path):
    fit(small_mnist, tmp_path, epochs=2)
    with pytest.raises(ConfigError, match="--epochs 1 is fewer than the 2 epochs"):
        Trainer.resume(tmp_path, small_mnist, log=None, epochs=1)


def test_a_dataset_without_a_test_split_trains_and_reports_no_test_metrics(small_mnist):
    # The scikit-learn estimator trains on arrays that come without a test set.
    _, result = fit(dataclasses.replace(small_mnist, test=None), epochs=2, validation_size=500)
    assert [sorted(k for k in row if k.startswith("test")) for row in result.history] == [[], []]
    assert result.history[-1]["val_accuracy"] > 0.8


def test_the_epoch_line_shows_every_split_it_has():
    row = dict(epoch=3, train_loss=0.12345, train_accuracy=0.9612, lr=0.001, train_seconds=4.5)
    assert format_epoch(row, 12) == "epoch  3/12  loss 0.1235  acc 96.12%  lr 0.001  4.50s"
    row |= dict(val_loss=0.2, val_accuracy=0.95, test_loss=0.25, test_accuracy=0.9444)
    assert format_epoch(row, 12) == (
        "epoch  3/12  loss 0.1235  acc 96.12%  val_loss 0.2000  val_acc 95.00%  "
        "test_loss 0.2500  test_acc 94.44%  lr 0.001  4.50s"
    )


def test_the_progress_bar_counts_batches_and_clears_itself_for_the_epoch_line(small_mnist, capsys):
    trainer = Trainer(TrainConfig(**{**FAST, "epochs": 1, "batch_size": 500}), small_mnist, log=None, progress=True)
    row = trainer.fit().history[0]
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "batch/s" in err
    # Its last figures are the epoch's own, last batch included.
    assert err.rsplit("acc=", 1)[1].startswith(f"{row['train_accuracy']:.2%}, loss={row['train_loss']:.4f}]")
    # Erased at the end of the epoch (blanks, carriage return): the log's epoch line takes its place.
    assert err.endswith("\r") and err.split("\r")[-2].strip() == ""
