"""The training configuration and its table of constraints, for any input."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from scratchnn.errors import ConfigError
from scratchnn.parameters import CONSTRAINTS, check
from scratchnn.training import TrainConfig
from scratchnn.training.config import ONLY_WITH

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
FIELDS = sorted(TrainConfig.__dataclass_fields__)
VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**6)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["sgd", "adamw", "cosine", "step", "fashion-mnist", "val_accuracy", "float64"])
    | st.lists(st.integers(-1, 2000), max_size=5)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS + ["bogus"]), VALUE, max_size=6))
def test_any_settings_give_a_valid_config_or_a_config_error(settings_):
    try:
        config = TrainConfig.from_dict(settings_)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    # What was accepted satisfies the table and survives a round trip.
    for name in CONSTRAINTS:
        if hasattr(config, name):
            check(name, getattr(config, name))
    assert TrainConfig.from_dict(config.to_dict()) == config


@PROPERTY
@given(st.one_of(VALUE, st.lists(VALUE, max_size=3)))
def test_any_json_value_as_settings(value):
    try:
        TrainConfig.from_dict(value)
    except ConfigError:
        pass


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_every_setting_refuses_a_value_of_the_wrong_kind(name):
    with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')}"):
        check(name, object())
    with pytest.raises(ConfigError):
        check(name, math.nan)


def test_every_conditional_setting_is_refused_alone_and_accepted_with_its_switch():
    switched_on = {
        "--augment": dict(augment=True),
        "--schedule step": dict(schedule="step"),
        "--schedule cosine": dict(schedule="cosine"),
        "--early-stopping": dict(early_stopping=2, validation_size=10),
    }
    other = dict(
        max_shift=3.0,
        max_rotation=5.0,
        max_scale=0.2,
        elastic_alpha=1.0,
        elastic_sigma=3.0,
        hflip=True,
        step_size=3,
        gamma=0.5,
        min_lr=0.01,
        monitor="val_accuracy",
    )
    for name, (_, switch) in ONLY_WITH.items():
        with pytest.raises(ConfigError, match="has no effect without"):
            TrainConfig(**{name: other[name]})
        assert getattr(TrainConfig(**{name: other[name]}, **switched_on[switch]), name) == other[name]


def test_the_optimizer_and_schedule_names_match_their_modules():
    from scratchnn.nn.optimizers import OPTIMIZERS
    from scratchnn.parameters import OPTIMIZER_NAMES, SCHEDULE_NAMES
    from scratchnn.training.schedules import SCHEDULES

    assert sorted(OPTIMIZERS) == sorted(OPTIMIZER_NAMES) and tuple(SCHEDULES) == SCHEDULE_NAMES


@pytest.mark.parametrize("layers", [0, 784])
def test_a_bare_number_as_layers_is_a_config_error(layers):
    """Found by the property test above: a single int passed the element check and then crashed."""
    with pytest.raises(ConfigError):
        TrainConfig(layers=layers)


def test_elastic_smoothness_must_be_positive():
    # Checked as a setting of its own, whether the elastic distortion is on or off.
    with pytest.raises(ConfigError, match=r"\(--elastic-sigma\) must be a finite number > 0, got 0.0$"):
        TrainConfig(augment=True, elastic_alpha=1.0, elastic_sigma=0.0)
