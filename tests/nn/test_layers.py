"""Layers: shapes, and finite-difference gradient checks in float64."""

import re

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error

from scratchnn.nn import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, MaxPool2D, ReLU

TOL = 1e-6


def check_layer(layer, x, training=True, seed=0):
    """Compare backward() with central differences of L = sum(forward(x) * R).

    With a fixed random R, dL/dy = R, so backward(R) must equal dL/dx, and each
    parameter gradient dP must equal dL/dP.
    """
    rng = np.random.default_rng(seed)
    out = layer.forward(x.copy(), training)
    weights = rng.standard_normal(out.shape)

    def loss():
        if isinstance(layer, Dropout):
            layer.rng = np.random.default_rng(123)  # the same mask at every evaluation
        return float(np.sum(layer.forward(x_eval.copy(), training) * weights))

    x_eval = x.copy()
    loss()
    dx = layer.backward(weights.copy())
    analytic = {"x": dx} | {name: getattr(layer, "d" + name).copy() for name in layer.param_names}
    numeric = {"x": numerical_gradient(loss, x_eval)}
    for name in layer.param_names:
        numeric[name] = numerical_gradient(loss, getattr(layer, name))
    for name in analytic:
        err = relative_error(analytic[name], numeric[name])
        assert err < TOL, f"{type(layer).__name__} d{name}: relative error {err:.2e}"


def test_dense_forward_is_affine_map():
    rng = np.random.default_rng(0)
    layer = Dense(5, 3, rng, np.float64)
    layer.b[...] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(layer.forward(x), x @ layer.W + layer.b)


def test_dense_gradients():
    rng = np.random.default_rng(1)
    layer = Dense(6, 4, rng, np.float64)
    layer.b[...] = rng.standard_normal(4)
    check_layer(layer, rng.standard_normal((5, 6)))


def test_dense_gradient_shapes_match_parameters():
    layer = Dense(7, 3, np.random.default_rng(2))
    x = np.ones((4, 7), np.float32)
    layer.forward(x)
    dx = layer.backward(np.ones((4, 3), np.float32))
    assert dx.shape == x.shape
    for param, grad in layer.parameters():
        assert grad.shape == param.shape and grad.dtype == param.dtype == np.float32


def test_dense_first_layer_skips_input_gradient_but_not_weights():
    rng = np.random.default_rng(3)
    layer = Dense(4, 2, rng, np.float64)
    layer.needs_input_grad = False
    x = rng.standard_normal((3, 4))
    layer.forward(x)
    assert layer.backward(np.ones((3, 2))) is None
    np.testing.assert_allclose(layer.dW, x.T @ np.ones((3, 2)))


def test_relu_gradients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of the kink, where the derivative is undefined
    check_layer(ReLU(), x)


def test_relu_zeroes_negatives():
    out = ReLU().forward(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.0]])


def test_dropout_gradients():
    rng = np.random.default_rng(5)
    layer = Dropout(0.4, np.random.default_rng(123))
    check_layer(layer, rng.standard_normal((6, 8)))


def test_dropout_is_identity_at_evaluation():
    x = np.random.default_rng(6).standard_normal((10, 10))
    np.testing.assert_array_equal(Dropout(0.5).forward(x.copy(), training=False), x)
    np.testing.assert_array_equal(Dropout(0.5).forward(x.copy()), x)  # evaluation unless told to train


def test_dropout_drops_the_right_fraction_and_keeps_the_mean():
    layer = Dropout(0.3, np.random.default_rng(7))
    out = layer.forward(np.ones((400, 500)), training=True)
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / 0.7)
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout: expectation unchanged


def test_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)


def test_batchnorm_gradients():
    rng = np.random.default_rng(8)
    layer = BatchNorm(5, dtype=np.float64)
    layer.gamma[...] = rng.standard_normal(5)
    layer.beta[...] = rng.standard_normal(5)
    check_layer(layer, rng.standard_normal((8, 5)) * 3 + 1)


def test_batchnorm_gradients_in_evaluation_use_the_running_statistics():
    rng = np.random.default_rng(10)
    layer = BatchNorm(5, dtype=np.float64)
    layer.gamma[...] = rng.standard_normal(5)
    layer.beta[...] = rng.standard_normal(5)
    layer.running_mean[...] = rng.standard_normal(5)
    layer.running_var[...] = rng.uniform(0.5, 2.0, 5)
    check_layer(layer, rng.standard_normal((8, 5)) * 3 + 1, training=False)


def test_batchnorm_normalises_in_training_and_uses_running_stats_in_evaluation():
    rng = np.random.default_rng(9)
    layer = BatchNorm(3, momentum=0.0, dtype=np.float64)  # momentum 0: running = last batch
    x = rng.standard_normal((256, 3)) * [1.0, 5.0, 0.1] + [0.0, -3.0, 10.0]
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, x.var(axis=0, ddof=1))  # unbiased, as PyTorch
    one = layer.forward(x[:1], training=False)
    # A single row normalised with the stored stats (which differ by the factor 256/255 in variance).
    np.testing.assert_allclose(one, y[:1] * np.sqrt(255 / 256), atol=1e-4)


def test_batchnorm_refuses_to_train_on_one_row_but_evaluates_one():
    layer = BatchNorm(3)
    with pytest.raises(ValueError, match="^batch normalisation needs at least 2 rows to train on, got 1$"):
        layer.forward(np.ones((1, 3), np.float32), training=True)
    assert layer.forward(np.ones((1, 3), np.float32), training=False).shape == (1, 3)


def test_batchnorm_running_statistics_match_torch_batchnorm1d():
    """Our momentum 0.9 (weight of the old value) is PyTorch's momentum 0.1 (weight of the new)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    ours = BatchNorm(4, momentum=0.9, eps=1e-5, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(4, momentum=0.1, eps=1e-5, dtype=torch.float64)
    theirs.train()
    for n in (7, 2, 32):
        x = rng.standard_normal((n, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]
        y = ours.forward(x.copy(), training=True)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    theirs.eval()
    x = rng.standard_normal((5, 4))
    with torch.no_grad():
        np.testing.assert_allclose(ours.forward(x.copy()), theirs(torch.from_numpy(x)).numpy(), rtol=1e-10)


def test_batchnorm_running_statistics_by_hand():
    """momentum 0.5, two batches: running = 0.5 * running + 0.5 * batch statistic (variance unbiased)."""
    layer = BatchNorm(1, momentum=0.5)
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    layer.forward(np.array([[1.0], [3.0]], np.float32), training=True)  # mean 2, unbiased var 2
    np.testing.assert_allclose([layer.running_mean[0], layer.running_var[0]], [1.0, 1.5])
    layer.forward(np.array([[0.0], [0.0], [6.0]], np.float32), training=True)  # mean 2, unbiased var 12
    np.testing.assert_allclose([layer.running_mean[0], layer.running_var[0]], [1.5, 6.75])
    assert layer.running_mean.dtype == np.float32
    # The default keeps 0.9 of the old value (PyTorch's momentum 0.1).
    layer = BatchNorm(1)
    layer.forward(np.array([[1.0], [3.0]], np.float32), training=True)
    np.testing.assert_allclose([layer.running_mean[0], layer.running_var[0]], [0.2, 0.9 + 0.1 * 2], rtol=1e-6)


def test_layer_reprs_name_the_layer_and_its_sizes():
    assert repr(ReLU()) == "ReLU()" and repr(Dropout(0.25)) == "Dropout(0.25)"
    assert repr(Dense(3, 2)) == "Dense(3, 2)" and repr(BatchNorm(4)) == "BatchNorm(4)"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Dense(0, 5), "n_in must be a whole number >= 1, got 0"),
        (lambda: Dense(784, 2.5), "n_out must be a whole number >= 1, got 2.5"),
        (lambda: BatchNorm(-3), "n_features must be a whole number >= 1, got -3"),
        (lambda: Conv2D(0, 8), "in_channels must be a whole number >= 1, got 0"),
        (lambda: Conv2D(1, 8, kernel=0), "kernel must be a whole number >= 1, got 0"),
        (lambda: Conv2D(1, 8, stride=True), "stride must be a whole number >= 1, got True"),
        (lambda: Conv2D(1, 8, padding=-1), "padding must be a whole number >= 0, got -1"),
        (lambda: MaxPool2D(0), "size must be a whole number >= 1, got 0"),
        (lambda: AvgPool2D(2, stride=1.5), "stride must be a whole number >= 1, got 1.5"),
    ],
)
def test_layers_built_directly_refuse_bad_sizes_in_one_clear_line(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
