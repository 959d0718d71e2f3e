"""The GPU path (CuPy) against the CPU path (NumPy): the same maths, on either device.

These run only where CuPy finds a CUDA GPU; elsewhere they skip with the reason
"needs a GPU" (an optional kind in tests/skip_policy.py). The CPU tests of the
plumbing are in tests/nn/test_xp_plumbing.py.
"""

import dataclasses

import numpy as np
import pytest
from gradcheck import relative_error

from scratchnn.classifier import load_model
from scratchnn.cli import main as cli_main
from scratchnn.nn import SoftmaxCrossEntropy, backend, build_model, parse_architecture
from scratchnn.nn.layers import Dropout
from scratchnn.nn.optimizers import make_optimizer
from scratchnn.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def cp():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # ImportError, or CuPy's CUDA errors without a driver
        pytest.skip(f"needs a GPU: CuPy with a CUDA device not found ({type(exc).__name__}: {exc})")
    return cupy


@pytest.fixture(params=[True, False], ids=["fused", "unfused"])
def fused(request):
    before = backend.fused_kernels()
    backend.fused_kernels(request.param)
    yield request.param
    backend.fused_kernels(before)


ARCHITECTURES = {
    "mlp-bn": ("dense32 bn relu dense16 relu dense10", (20,)),
    "conv-pad-bn-maxpool": ("conv6k3p1 bn relu maxpool2 conv8k3 relu flatten dense10", (2, 10, 10)),
    "conv-stride-avgpool": ("conv5k3s2p1 relu avgpool2 flatten dense10", (1, 12, 12)),
    "maxpool-3-stride-2": ("conv4k2 relu maxpool3s2 flatten dense10", (3, 11, 11)),
}


def step(model, x, y):
    loss_fn = SoftmaxCrossEntropy(model.xp)
    loss = loss_fn.forward(model.forward(x, training=True), y)
    model.backward(loss_fn.backward())
    return loss


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_a_training_step_on_the_gpu_equals_the_cpu_one(cp, fused, name):
    text, shape = ARCHITECTURES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16,) + shape)
    y = rng.integers(0, 10, 16)
    cpu = build_model(parse_architecture(text), shape, seed=1, dtype=np.float64)
    gpu = build_model(parse_architecture(text), shape, seed=1, dtype=np.float64).to("gpu")
    assert gpu.device == "gpu" and isinstance(gpu.params, cp.ndarray)
    loss_cpu = step(cpu, x, y)
    loss_gpu = step(gpu, cp.asarray(x), cp.asarray(y))
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-12)
    assert relative_error(backend.to_numpy(gpu.grads), cpu.grads) < 1e-12
    for key, value in cpu.state_arrays().items():  # running statistics too
        np.testing.assert_allclose(backend.to_numpy(gpu.state_arrays()[key]), value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gpu.predict_logits(x), cpu.predict_logits(x), rtol=1e-10, atol=1e-12)


def test_gradients_on_the_gpu_match_finite_differences(cp):
    text, shape = "conv4k3p1 bn relu maxpool2 flatten dense8 relu dense10", (2, 8, 8)
    rng = np.random.default_rng(2)
    x, y = cp.asarray(rng.standard_normal((6,) + shape)), cp.asarray(rng.integers(0, 10, 6))
    model = build_model(parse_architecture(text), shape, seed=3, dtype=np.float64).to("gpu")
    step(model, x, y)
    analytic = backend.to_numpy(model.grads).copy()
    loss_fn = SoftmaxCrossEntropy(cp)
    picks = rng.choice(model.params.size, 40, replace=False)
    numeric = []
    for i in picks.tolist():
        old = float(model.params[i])
        values = []
        for shifted in (old + 1e-6, old - 1e-6):
            model.params[i] = shifted
            values.append(loss_fn.forward(model.forward(x, training=True), y))
        model.params[i] = old
        numeric.append((values[0] - values[1]) / 2e-6)
    assert relative_error(analytic[picks], np.array(numeric)) < 1e-6


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_optimisers_on_the_gpu_equal_the_cpu(cp, fused, name):
    rng = np.random.default_rng(4)
    params = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(5)]
    results = []
    for xp in (np, cp):
        opt = make_optimizer(name, 0.01, momentum=0.9 if name == "sgd" else 0.0, weight_decay=1e-3)
        opt.xp = xp
        p = xp.asarray(params.copy())
        for g in grads:
            opt.step(p, xp.asarray(g.copy()), 600)
        results.append((backend.to_numpy(p), opt.state_dict()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    for key, value in results[0][1].items():
        np.testing.assert_allclose(results[1][1][key], value, rtol=1e-5, atol=1e-6)


def test_dropout_on_the_gpu_keeps_the_right_share_repeats_with_its_seed_and_masks_backward(cp, fused):
    x = cp.ones((1000, 1000), cp.float32)
    outputs = []
    for _ in range(2):
        layer = Dropout(0.3, np.random.default_rng(7))
        layer.xp = cp
        outputs.append(backend.to_numpy(layer.forward(x.copy(), training=True)))
    y = outputs[0]
    np.testing.assert_array_equal(outputs[0], outputs[1])  # same seed, same mask
    values = np.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0 and values[1] == pytest.approx(1 / 0.7, rel=1e-6)
    assert abs((y > 0).mean() - 0.7) < 0.002
    dx = backend.to_numpy(layer.backward(cp.ones_like(x)))
    np.testing.assert_array_equal(dx, y)  # dL/dx = dL/dy * m / q, the same mask
    if not fused:  # the host's generator draws the numbers, so the CPU's mask is the same
        cpu = Dropout(0.3, np.random.default_rng(7))
        np.testing.assert_array_equal(cpu.forward(np.ones((1000, 1000), np.float32), training=True), y)


@pytest.fixture(scope="module")
def small_mnist_gpu(mnist):
    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    return dataclasses.replace(mnist, train=head(mnist.train, 3000), test=head(mnist.test, 1000))


def test_training_on_the_gpu_reaches_the_cpus_accuracy_and_runs_move_between_devices(cp, small_mnist_gpu, tmp_path):
    config = TrainConfig(
        architecture="conv8k3 bn relu maxpool2 flatten dense32 relu dropout0.2 dense10",
        epochs=2,
        batch_size=64,
        optimizer="adam",
        lr=3e-3,
        augment=True,
        elastic_alpha=1.0,
        validation_size=500,
        seed=0,
    )
    accuracy = {}
    for device in ("cpu", "gpu"):
        trainer = Trainer(dataclasses.replace(config, device=device), small_mnist_gpu, tmp_path / device, log=None)
        assert trainer.model.device == device
        accuracy[device] = trainer.fit().history[-1]["val_accuracy"]
    assert accuracy["gpu"] > 0.75 and abs(accuracy["gpu"] - accuracy["cpu"]) < 0.03, accuracy
    # Checkpoints are the same file on both devices: each resumes on the other.
    for saved, other in (("gpu", "cpu"), ("cpu", "gpu")):
        resumed = Trainer.resume(tmp_path / saved, small_mnist_gpu, log=None, epochs=3, device=other)
        assert resumed.model.device == other and resumed.config.device == other
        assert resumed.fit().history[-1]["val_accuracy"] > 0.75


def test_the_cli_trains_on_the_gpu_and_the_model_predicts_on_either_device(cp, mnist_dir, tmp_path, capsys):
    code = cli_main(
        ["train", "--preset", "mlp", "--epochs", "1", "--device", "gpu", "--no-plots", "--quiet"]
        + ["--output-dir", str(tmp_path), "--name", "run", "--data-dir", str(mnist_dir), "--no-download"]
    )
    assert code == 0
    assert "final test accuracy" in capsys.readouterr().out
    on_gpu, on_cpu = load_model(tmp_path / "run" / "model.npz", "gpu"), load_model(tmp_path / "run" / "model.npz")
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(on_gpu.predict_proba(images), on_cpu.predict_proba(images), atol=1e-5)
