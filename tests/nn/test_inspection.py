"""Layer outputs and input gradients (saliency) of a whole model."""

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error

from scratchnn.nn import build_mlp, build_model, parse_architecture
from scratchnn.nn.inspection import input_gradient, layer_outputs


def _model(batch_norm=False, dropout=0.0):
    rng = np.random.default_rng(3)
    model = build_mlp([6, 5, 4, 3], seed=1, batch_norm=batch_norm, dropout=dropout, dtype=np.float64)
    model.params[:] += 0.1 * rng.standard_normal(model.params.size)
    if batch_norm:  # running statistics other than the initial 0 and 1
        for layer in model.layers:
            if hasattr(layer, "running_var"):
                layer.running_mean[...] = rng.standard_normal(layer.running_mean.shape)
                layer.running_var[...] = rng.uniform(0.5, 2.0, layer.running_var.shape)
    return model


@pytest.mark.parametrize("batch_norm, dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
@pytest.mark.parametrize("class_index", [0, 2])
def test_input_gradient_matches_central_differences_of_the_logit(batch_norm, dropout, class_index):
    model = _model(batch_norm, dropout)
    x = np.random.default_rng(4).standard_normal((2, 6))

    def logit_sum():
        return float(model.forward(x.copy(), training=False)[:, class_index].sum())

    analytic = input_gradient(model, x, class_index)
    numeric = numerical_gradient(logit_sum, x)
    assert analytic.shape == x.shape
    assert relative_error(analytic, numeric) < 1e-7


@pytest.mark.parametrize(
    "arch",
    [
        "conv3k3 bn relu maxpool2 flatten dense4 relu dense3",
        "flatten dense5 relu dense3",
        "avgpool2 conv2k3p1 relu flatten dense3",
    ],
)
def test_input_gradient_of_convolutional_and_flattening_models(arch):
    """Through Conv2D, BatchNorm over channels, pooling and Flatten, whatever the first layer is."""
    model = build_model(parse_architecture(arch), (1, 6, 6), seed=2, dtype=np.float64)
    model.params[:] += 0.1 * np.random.default_rng(6).standard_normal(model.params.size)
    x = np.random.default_rng(7).standard_normal((2, 1, 6, 6))

    def logit_sum():
        return float(model.forward(x.copy(), training=False)[:, 1].sum())

    analytic = input_gradient(model, x, 1)
    assert relative_error(analytic, numerical_gradient(logit_sum, x)) < 1e-7
    flat = input_gradient(model, x.reshape(2, 36), 1)  # rows of the right size work too
    np.testing.assert_allclose(flat, analytic.reshape(2, 36))


def test_input_gradient_leaves_the_model_as_it_was():
    model = _model()
    model.grads[:] = np.arange(model.grads.size)
    before = model.grads.copy()
    input_gradient(model, np.ones((1, 6)), 1)
    np.testing.assert_array_equal(model.grads, before)
    assert model.layers[0].needs_input_grad is False  # training still skips the first layer's dx
    assert [layer.needs_input_grad for layer in model.layers] == [False, True, True, True, True]


def test_input_gradient_differs_between_classes():
    model = _model()
    x = np.ones((1, 6))
    assert not np.allclose(input_gradient(model, x, 0), input_gradient(model, x, 1))


def test_layer_outputs_are_copies_of_each_step_ending_in_the_logits():
    model = _model()
    x = np.random.default_rng(5).standard_normal((3, 6))
    outputs = layer_outputs(model, x)
    assert [type(layer).__name__ for layer, _ in outputs] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert [out.shape for _, out in outputs] == [(3, 5), (3, 5), (3, 4), (3, 4), (3, 3)]
    np.testing.assert_allclose(outputs[-1][1], model.forward(x.copy()))
    dense0 = model.layers[0]
    np.testing.assert_allclose(outputs[1][1], np.maximum(x @ dense0.W + dense0.b, 0))
    assert outputs[0][1].min() < 0  # the pre-activation was not overwritten by the ReLU after it
