"""Image layers: forward against plain direct loops (and PyTorch when installed), and
finite-difference gradient checks in float64 for several shapes, strides, paddings and channels."""

import numpy as np
import pytest
from test_layers import check_layer

from scratchnn.nn import AvgPool2D, BatchNorm, Conv2D, Flatten, MaxPool2D


def direct_convolution(x, W, b, stride, padding):
    """The convolution formula written out with plain loops (W is (KH, KW, C_in, C_out))."""
    n, c_in, h, w = x.shape
    k, _, _, c_out = W.shape
    xp = np.zeros((n, c_in, h + 2 * padding, w + 2 * padding))
    xp[:, :, padding : padding + h, padding : padding + w] = x
    out_h, out_w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    y = np.zeros((n, c_out, out_h, out_w))
    for e in range(n):
        for o in range(c_out):
            for i in range(out_h):
                for j in range(out_w):
                    total = b[o]
                    for a in range(k):
                        for bb in range(k):
                            for c in range(c_in):
                                total += xp[e, c, i * stride + a, j * stride + bb] * W[a, bb, c, o]
                    y[e, o, i, j] = total
    return y


def direct_pool(x, size, stride, reduce):
    n, c, h, w = x.shape
    out_h, out_w = (h - size) // stride + 1, (w - size) // stride + 1
    y = np.zeros((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y[:, :, i, j] = reduce(x[:, :, i * stride : i * stride + size, j * stride : j * stride + size], axis=(2, 3))
    return y


CONV_CASES = [  # (in_channels, filters, kernel, stride, padding, height, width)
    (1, 3, 3, 1, 0, 6, 6),
    (2, 4, 3, 2, 1, 7, 5),
    (3, 2, 1, 1, 0, 4, 4),
    (2, 3, 5, 3, 2, 8, 9),
    (1, 1, 2, 2, 0, 5, 5),
]


@pytest.mark.parametrize("c_in, filters, k, s, p, h, w", CONV_CASES)
def test_conv_forward_matches_direct_convolution(c_in, filters, k, s, p, h, w):
    rng = np.random.default_rng(0)
    layer = Conv2D(c_in, filters, k, s, p, rng, np.float64)
    layer.b[...] = rng.standard_normal(filters)
    x = rng.standard_normal((3, c_in, h, w))
    np.testing.assert_allclose(layer.forward(x), direct_convolution(x, layer.W, layer.b, s, p), atol=1e-12)


@pytest.mark.parametrize("c_in, filters, k, s, p, h, w", CONV_CASES)
def test_conv_gradients(c_in, filters, k, s, p, h, w):
    rng = np.random.default_rng(1)
    layer = Conv2D(c_in, filters, k, s, p, rng, np.float64)
    layer.b[...] = rng.standard_normal(filters)
    check_layer(layer, rng.standard_normal((2, c_in, h, w)))


@pytest.mark.parametrize("size, stride, h, w", [(2, 2, 6, 6), (2, 2, 7, 5), (3, 1, 5, 6), (3, 2, 7, 7)])
def test_pool_forward_matches_direct_loops(size, stride, h, w):
    x = np.random.default_rng(2).standard_normal((2, 3, h, w))
    np.testing.assert_array_equal(MaxPool2D(size, stride).forward(x), direct_pool(x, size, stride, np.max))
    np.testing.assert_allclose(AvgPool2D(size, stride).forward(x), direct_pool(x, size, stride, np.mean))


@pytest.mark.parametrize("size, stride, h, w", [(2, 2, 6, 6), (2, 2, 7, 5), (3, 1, 5, 6), (3, 2, 7, 7)])
def test_pool_gradients(size, stride, h, w):
    rng = np.random.default_rng(3)
    # Distinct values, so every window has one clear maximum (the kink is elsewhere).
    x = rng.permutation(2 * 3 * h * w).reshape(2, 3, h, w) * 0.1
    check_layer(MaxPool2D(size, stride), x)
    check_layer(AvgPool2D(size, stride), rng.standard_normal((2, 3, h, w)))


def test_max_pool_sends_the_gradient_to_the_first_maximum_only():
    x = np.ones((1, 1, 2, 2))
    layer = MaxPool2D(2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 5.0)), [[[[5.0, 0.0], [0.0, 0.0]]]])


def test_batchnorm_over_feature_map_channels():
    rng = np.random.default_rng(4)
    layer = BatchNorm(3, momentum=0.0, dtype=np.float64)
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1.0, 4.0, 0.5])[:, None, None] + 2
    y = layer.forward(x.copy(), training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(layer.running_var, x.var(axis=(0, 2, 3), ddof=1))  # unbiased, over N*H*W
    layer.gamma[...] = rng.standard_normal(3)
    layer.beta[...] = rng.standard_normal(3)
    check_layer(layer, x)


def test_flatten_gradients_and_order():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(Flatten().forward(x), x.reshape(2, 12))
    check_layer(Flatten(), np.random.default_rng(5).standard_normal((2, 3, 2, 2)))


def test_conv_and_pool_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the independent reference is skipped")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3, 11, 9))
    layer = Conv2D(3, 5, 3, 2, 1, rng, np.float64)
    layer.b[...] = rng.standard_normal(5)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.W.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (C_out, C_in, KH, KW)
    ty = torch.nn.functional.conv2d(tx, tw, torch.tensor(layer.b), stride=2, padding=1)
    pooled = torch.nn.functional.max_pool2d(ty, 2)
    dout = rng.standard_normal(pooled.shape)
    pooled.backward(torch.tensor(dout))
    pool = MaxPool2D(2)
    ours = pool.forward(layer.forward(x.copy(), training=True))
    np.testing.assert_allclose(ours, pooled.detach().numpy(), atol=1e-12)
    dx = layer.backward(pool.backward(dout.copy()))
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.dW, tw.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)


def test_pools_and_flatten_describe_themselves_and_float32_layers_stay_float32():
    assert repr(MaxPool2D(2)) == "MaxPool2D(2, stride=2)" and repr(AvgPool2D(3, 1)) == "AvgPool2D(3, stride=1)"
    assert repr(Flatten()) == "Flatten()"
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    for pool in (AvgPool2D(2), MaxPool2D(2)):
        y = pool.forward(x, training=True)
        assert y.dtype == np.float32 and pool.backward(np.ones_like(y)).dtype == np.float32
    conv = Conv2D(3, 2, kernel=3, padding=1, dtype=np.float32)
    y = conv.forward(x, training=True)
    assert y.dtype == np.float32 and conv.backward(np.ones_like(y)).dtype == np.float32


def test_batch_norm_on_a_matrix_per_example_names_the_shape():
    from scratchnn.errors import ConfigError
    from scratchnn.nn import plan_model

    with pytest.raises(ConfigError, match=r"BatchNorm needs vectors \(F,\) or feature maps \(C, H, W\), got \(3, 4\)"):
        plan_model([{"type": "BatchNorm"}, {"type": "Flatten"}, {"type": "Dense", "units": 2}], (3, 4))
