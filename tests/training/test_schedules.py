"""Tests for ``scratchnn.training.schedules.LRSchedule``.

``at(progress)`` is the learning rate after ``progress`` epochs (a float), so the
values are checked at chosen points: boundaries, midpoints and the ends.
"""

import math

import pytest

from scratchnn.errors import ConfigError
from scratchnn.training.schedules import SCHEDULES, LRSchedule


def test_constant_is_lr_everywhere():
    schedule = LRSchedule(0.05)
    assert schedule.kind == "constant"
    for progress in (0.0, 0.3, 1.0, 7.5, 1000.0):
        assert schedule.at(progress) == 0.05


# -- step decay ---------------------------------------------------------------


@pytest.mark.parametrize(
    "progress, expected",
    [
        (0.0, 0.1),
        (2.999, 0.1),  # just below the first boundary
        (3.0, 0.05),  # at it: one decay
        (5.999, 0.05),
        (6.0, 0.025),
        (9.0, 0.0125),
        (10.5, 0.0125),
    ],
)
def test_step_decay_multiplies_by_gamma_at_each_step_size_multiple(progress, expected):
    # lr * gamma ** floor(progress / step_size) with lr 0.1, gamma 0.5, step_size 3.
    schedule = LRSchedule(0.1, kind="step", step_size=3, gamma=0.5)
    assert schedule.at(progress) == pytest.approx(expected, rel=1e-12)


def test_step_decay_with_fractional_step_size():
    schedule = LRSchedule(1.0, kind="step", step_size=2.5, gamma=0.1)
    assert schedule.at(2.49) == pytest.approx(1.0)
    assert schedule.at(2.5) == pytest.approx(0.1)
    assert schedule.at(7.49) == pytest.approx(0.01)
    assert schedule.at(7.5) == pytest.approx(0.001)


def test_step_decay_defaults_are_gamma_0_1_every_10_epochs():
    schedule = LRSchedule(0.5, kind="step")
    assert schedule.at(9.99) == pytest.approx(0.5)
    assert schedule.at(10.0) == pytest.approx(0.05)
    assert schedule.at(20.0) == pytest.approx(0.005)


@pytest.mark.parametrize("step_size", [0, -1.0])
def test_step_decay_rejects_non_positive_step_size(step_size):
    with pytest.raises(ValueError, match="step-size"):
        LRSchedule(0.1, kind="step", step_size=step_size)


# -- cosine annealing ---------------------------------------------------------


def test_cosine_ends_and_midpoint():
    lr, min_lr = 0.1, 0.001
    schedule = LRSchedule(lr, kind="cosine", epochs=10, min_lr=min_lr)
    assert schedule.at(0.0) == pytest.approx(lr, rel=1e-12)
    assert schedule.at(5.0) == pytest.approx((lr + min_lr) / 2, rel=1e-12)
    assert schedule.at(10.0) == pytest.approx(min_lr, rel=1e-12)
    # Past the last epoch it stays at the floor instead of climbing back up.
    assert schedule.at(12.5) == pytest.approx(min_lr, rel=1e-12)
    assert schedule.at(20.0) == pytest.approx(min_lr, rel=1e-12)


def test_cosine_quarter_point_by_hand():
    # min_lr + (lr - min_lr) * (1 + cos(pi/4)) / 2 = 0.001 + 0.099 * 0.8535534 = 0.0855018
    schedule = LRSchedule(0.1, kind="cosine", epochs=10, min_lr=0.001)
    assert schedule.at(2.5) == pytest.approx(0.0855018, rel=1e-6)
    assert schedule.at(7.5) == pytest.approx(0.001 + 0.099 * (1 - math.cos(math.pi / 4)) / 2, rel=1e-12)


def test_cosine_decreases_monotonically_to_zero_by_default():
    schedule = LRSchedule(0.2, kind="cosine", epochs=4)
    values = [schedule.at(k / 8) for k in range(0, 33)]  # 0 to 4 epochs in eighths
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.0, abs=1e-15)


# -- linear warm-up -----------------------------------------------------------


@pytest.mark.parametrize("kind", SCHEDULES)
def test_warmup_ramps_linearly_to_the_schedule(kind):
    """Step k of W warm-up steps runs at (k + 1) / (W + 1) times the schedule's rate; after it, the schedule's."""
    kwargs = dict(lr=0.1, kind=kind, epochs=10, step_size=1, gamma=0.5, min_lr=0.01)
    base = LRSchedule(**kwargs, steps_per_epoch=2)
    warm = LRSchedule(**kwargs, warmup_epochs=2.0, steps_per_epoch=2)  # W = 4 steps
    assert warm.at(0.0) == pytest.approx(base.at(0.0) / 5, rel=1e-12)  # never 0: the first step learns
    assert warm.at(0.5) == pytest.approx(2 / 5 * base.at(0.5), rel=1e-12)
    assert warm.at(1.0) == pytest.approx(3 / 5 * base.at(1.0), rel=1e-12)
    assert warm.at(1.5) == pytest.approx(4 / 5 * base.at(1.5), rel=1e-12)
    for progress in (2.0, 2.5, 5.0, 10.0, 11.0):  # from the end of the warm-up on: unchanged
        assert warm.at(progress) == base.at(progress)


def test_warmup_on_constant_by_hand():
    schedule = LRSchedule(0.4, warmup_epochs=4)  # one step per epoch: W = 4
    assert [schedule.at(e) for e in range(6)] == pytest.approx([0.08, 0.16, 0.24, 0.32, 0.4, 0.4])


def test_one_warmup_epoch_takes_effect_with_full_batches():
    """With one step per epoch, a one-epoch warm-up still halves the first epoch's rate."""
    schedule = LRSchedule(0.25, warmup_epochs=1)
    assert schedule.at(0) == pytest.approx(0.125)
    assert schedule.at(1) == 0.25


# -- the rate per epoch of a full-batch run, worked by hand ---------------------


def test_full_batch_cosine_last_epoch_still_learns():
    # epochs 0..3 of 4 at lr 0.2: 0.2 * (1 + cos(pi * e / 4)) / 2
    schedule = LRSchedule(0.2, kind="cosine", epochs=4)
    rates = [schedule.at(e) for e in range(4)]
    assert rates == pytest.approx([0.2, 0.17071068, 0.1, 0.02928932], rel=1e-7)
    assert rates[-1] > 0


def test_full_batch_step_decay_first_fires_in_epoch_step_size():
    schedule = LRSchedule(1.0, kind="step", step_size=2, gamma=0.1)
    assert [schedule.at(e) for e in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_min_lr_above_lr_is_refused():
    with pytest.raises(ConfigError, match="min-lr.*climb"):
        LRSchedule(0.1, kind="cosine", min_lr=0.2)


@pytest.mark.parametrize(
    "bad, flag",
    [
        (dict(gamma=0), "--gamma"),
        (dict(gamma=-0.5), "--gamma"),
        (dict(step_size=0), "--step-size"),
        (dict(min_lr=-1e-3), "--min-lr"),
        (dict(warmup_epochs=-1), "--warmup-epochs"),
        (dict(lr=0), "--lr"),
        (dict(epochs=0), "--epochs"),
    ],
)
def test_bad_settings_are_refused_with_the_flag_named(bad, flag):
    with pytest.raises(ConfigError, match=flag):
        LRSchedule(**{"lr": 0.1, "kind": "step", **bad})


# -- against PyTorch's schedulers ---------------------------------------------


def _torch_rates(make_scheduler, lr, n_steps):
    """The rate PyTorch's optimizer uses at each of ``n_steps`` steps under a scheduler."""
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    rates = []
    for _ in range(n_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("steps_per_epoch", [1, 3])
def test_step_decay_matches_torch_steplr(steps_per_epoch):
    n, epochs = steps_per_epoch, 9
    ours = LRSchedule(0.5, kind="step", step_size=2, gamma=0.3, epochs=epochs, steps_per_epoch=n)
    theirs = _torch_rates(lambda s, o: s.StepLR(o, step_size=2 * n, gamma=0.3), 0.5, epochs * n)
    assert [ours.at(k / n) for k in range(epochs * n)] == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("steps_per_epoch", [1, 4])
def test_cosine_matches_torch_cosine_annealing(steps_per_epoch):
    n, epochs = steps_per_epoch, 7
    ours = LRSchedule(0.3, kind="cosine", epochs=epochs, min_lr=0.01, steps_per_epoch=n)
    theirs = _torch_rates(lambda s, o: s.CosineAnnealingLR(o, T_max=epochs * n, eta_min=0.01), 0.3, epochs * n)
    assert [ours.at(k / n) for k in range(epochs * n)] == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("steps_per_epoch, warmup_epochs", [(1, 3), (4, 2), (4, 0.5)])
def test_warmup_matches_torch_linear_lr(steps_per_epoch, warmup_epochs):
    n = steps_per_epoch
    w = round(warmup_epochs * n)
    ours = LRSchedule(0.2, warmup_epochs=warmup_epochs, epochs=5, steps_per_epoch=n)
    theirs = _torch_rates(
        lambda s, o: s.LinearLR(o, start_factor=1 / (w + 1), end_factor=1.0, total_iters=w), 0.2, 5 * n
    )
    assert [ours.at(k / n) for k in range(5 * n)] == pytest.approx(theirs, rel=1e-9)


# -- validation and purity ----------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "", "Cosine", "exponential"])
def test_unknown_kind_raises_value_error(kind):
    with pytest.raises(ValueError, match="schedule.*must be one of constant, step, cosine"):
        LRSchedule(0.1, kind=kind)


def test_at_is_a_pure_function_of_progress():
    """A resumed run must see the same rates: no hidden state between calls."""
    schedule = LRSchedule(0.1, kind="cosine", epochs=10, warmup_epochs=1)
    first = [schedule.at(p) for p in (0.5, 3.0, 9.0)]
    schedule.at(7.0)
    schedule.at(0.1)
    assert [schedule.at(p) for p in (0.5, 3.0, 9.0)] == first
