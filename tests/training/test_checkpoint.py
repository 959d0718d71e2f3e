"""Checkpoint files from anywhere: a project error, never a traceback or a NumPy hint."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scratchnn.errors import ModelFileError, ScratchnnError
from scratchnn.training import TrainConfig, Trainer
from scratchnn.training.checkpoint import STATE_KEY, load_checkpoint

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_model_file_error(tmp_path, data):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(path)
    assert "allow_pickle" not in str(info.value)


def test_non_float_arrays_and_a_non_object_state_are_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    np.savez(path, **{STATE_KEY: np.array("{}"), "model/layer0.W": np.zeros(3, np.int64)})
    with pytest.raises(ModelFileError, match="'model/layer0.W' has dtype int64"):
        load_checkpoint(path)
    with pytest.raises(ModelFileError, match=rf"^{path.parent / 'missing.npz'}: no such checkpoint$"):
        load_checkpoint(path.parent / "missing.npz")
    np.savez(path, **{STATE_KEY: np.array("[1, 2]")})
    with pytest.raises(ModelFileError, match="its state is not a JSON object"):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def saved_run(small_mnist, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    Trainer(
        TrainConfig(layers=(784, 8, 10), epochs=1, batch_size=500, optimizer="adam", lr=1e-3),
        small_mnist,
        run_dir,
        log=None,
    ).fit()
    return run_dir, (run_dir / "checkpoint.npz").read_bytes()


@PROPERTY
@given(position=st.integers(min_value=0), value=st.integers(0, 255))
def test_a_damaged_checkpoint_resumes_or_gives_a_project_error(small_mnist, saved_run, tmp_path, position, value):
    _, data = saved_run
    data = bytearray(data)
    data[position % len(data)] = value
    (tmp_path / "checkpoint.npz").write_bytes(bytes(data))
    try:
        Trainer.resume(tmp_path, small_mnist, log=None)
    except ScratchnnError:
        pass
