"""The GPU path's plumbing, checked on the CPU (CI has no GPU).

Every layer, the loss, the optimisers, the model and the training loop compute
with an array module ``xp`` that ``Sequential.to`` and the trainer set, so CuPy
can stand in for NumPy. Here a recording stand-in for NumPy (tests/xp_double.py)
takes that place: the results must be bit-identical to plain NumPy's, the
recorder must have seen the work, and no array function may be called through a
hard-wired ``np.`` in the code that runs per batch.
"""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from xp_double import RecordingNumpy

from scratchnn.nn import SoftmaxCrossEntropy, build_model, parse_architecture
from scratchnn.nn.optimizers import make_optimizer
from scratchnn.training import TrainConfig, Trainer

SRC = Path(__file__).resolve().parents[2] / "src" / "scratchnn"
ARCH = "conv4k3p1 bn relu maxpool2 conv6k3s2 relu avgpool2 flatten dense12 bn relu dropout0.3 dense10"


def train_steps(model, optimizer, loss_fn, x, y, steps=3):
    losses = []
    for _ in range(steps):
        logits = model.forward(x, training=True)
        losses.append(loss_fn.forward(logits, y))
        model.backward(loss_fn.backward())
        optimizer.step(model.params, model.grads, model.n_decayed)
    return losses


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd-nesterov", "rmsprop"])
def test_training_steps_through_a_stand_in_module_are_bit_identical(optimizer):
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 12, 12), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    results = {}
    for name in ("numpy", "recorder"):
        model = build_model(parse_architecture(ARCH), (1, 12, 12), seed=3, dtype=np.float32)
        xp = RecordingNumpy() if name == "recorder" else np
        if name == "recorder":
            model.to(xp)
        kind, _, nesterov = optimizer.partition("-")
        opt = make_optimizer(kind, 0.01, momentum=0.9 if nesterov else 0.0, nesterov=bool(nesterov), weight_decay=1e-3)
        opt.xp = xp
        losses = train_steps(model, opt, SoftmaxCrossEntropy(xp), x, y)
        results[name] = (losses, model.params.copy(), model.predict_logits(x))
        if name == "recorder":
            calls = xp.calls
    assert results["numpy"][0] == results["recorder"][0]
    np.testing.assert_array_equal(results["numpy"][1], results["recorder"][1])
    np.testing.assert_array_equal(results["numpy"][2], results["recorder"][2])
    # The work went through xp: products, the windows of the convolution, the
    # pools' comparisons, batch norm's statistics, the loss and the optimiser.
    for name in ("matmul", "lib.stride_tricks.as_strided", "copyto", "greater", "maximum", "einsum", "exp", "log"):
        assert calls[name] > 0, name
    assert calls["sqrt"] > 0 if optimizer != "sgd-nesterov" else calls["multiply"] > 0


def test_a_model_moved_to_a_module_and_back_keeps_its_weights_and_statistics():
    model = build_model(parse_architecture("dense8 bn relu dense3"), (5,), seed=1, dtype=np.float64)
    model.forward(np.random.default_rng(0).random((6, 5)), training=True)  # moves the running statistics
    before = {k: v.copy() for k, v in model.state_arrays().items()}
    xp = RecordingNumpy()
    assert model.to(xp) is model and model.xp is xp and model.device == "cpu"
    assert all(layer.xp is xp for layer in model.layers)
    model.to("cpu")
    assert model.xp is np and all(layer.xp is np for layer in model.layers)
    for key, value in model.state_arrays().items():
        np.testing.assert_array_equal(value, before[key])
    # The layers' parameters are still views into the flat vector the optimiser updates.
    model.params[...] = 0
    assert not model.layers[0].W.any()


@pytest.fixture(scope="module")
def tiny_mnist(mnist):
    """300 real training and 100 test images."""

    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    return dataclasses.replace(mnist, train=head(mnist.train, 300), test=head(mnist.test, 100))


def test_the_trainer_runs_through_the_module_it_is_given(tiny_mnist):
    config = TrainConfig(
        architecture="conv4k3 relu maxpool2 flatten dense10",
        epochs=2,
        batch_size=32,
        optimizer="adam",
        lr=0.01,
        augment=True,
        validation_size=40,
        seed=5,
    )
    histories = []
    for xp in (np, RecordingNumpy()):
        trainer = Trainer(config, tiny_mnist, log=None)
        if xp is not np:
            trainer.model.to(xp)
            trainer.loss_fn.xp = trainer.optimizer.xp = xp
        histories.append([{k: v for k, v in row.items() if "seconds" not in k} for row in trainer.fit().history])
    assert histories[0] == histories[1]
    assert xp.calls["matmul"] > 0 and xp.calls["count_nonzero"] > 0


# Calls through a hard-wired ``np.`` allowed in the code that runs per batch: types,
# shapes and the host's random generator, never an array operation.
HOST_ONLY = {"dtype", "prod", "uint64", "errstate", "intp", "float32"}
PER_BATCH = {  # module -> its functions that run per batch (None: all but BUILD_TIME)
    "nn/layers.py": None,
    "nn/conv.py": None,
    "nn/losses.py": None,
    "nn/optimizers.py": None,
    "nn/model.py": None,
    "training/batches.py": None,
    "training/evaluation.py": {"evaluate"},  # the rest reads host-side confusion counts
}
BUILD_TIME = {"__init__", "plan", "from_config", "_flatten_parameters", "build_mlp"}


@pytest.mark.parametrize("path", sorted(PER_BATCH))
def test_per_batch_code_calls_no_numpy_function_directly(path):
    tree = ast.parse((SRC / path).read_text())
    offenders = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or function.name in BUILD_TIME:
            continue
        if PER_BATCH[path] is not None and function.name not in PER_BATCH[path]:
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "np"
                and node.func.attr not in HOST_ONLY
            ):
                offenders.append(f"{function.name}: np.{node.func.attr} (line {node.lineno})")
    # Sequential.predict_logits and as_batch build the host-side result and read host input.
    allowed = {"predict_logits: np.empty", "as_batch: np.asarray"}
    assert [o for o in offenders if o.split(" (")[0] not in allowed] == []


def test_the_cpu_path_never_imports_cupy(tmp_path):
    code = """
import builtins, sys
asked = []
real_import = builtins.__import__
def watching_import(name, *args, **kwargs):
    if name.split(".")[0] == "cupy":
        asked.append(name)
    return real_import(name, *args, **kwargs)
builtins.__import__ = watching_import
import numpy as np
from scratchnn.data.datasets import Dataset, Split
from scratchnn.training import TrainConfig, Trainer
rng = np.random.default_rng(0)
split = Split(rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64).astype(np.uint8))
data = Dataset("mnist", split, split, tuple(str(i) for i in range(10)), None)
config = TrainConfig(architecture="conv2k3 bn relu maxpool2 flatten dropout0.2 dense10", epochs=1,
                     batch_size=16, optimizer="adam", lr=0.01, augment=True, elastic_alpha=1.0)
Trainer(config, data, log=None).fit()
print(asked, "cupy" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(SRC.parent)}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] False"
