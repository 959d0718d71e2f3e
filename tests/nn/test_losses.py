"""The fused softmax-cross-entropy loss: value, gradient, stability."""

import numpy as np
from gradcheck import numerical_gradient, relative_error

from scratchnn.nn import SoftmaxCrossEntropy, softmax


def naive_loss(logits, labels):
    """Textbook form, fine for moderate logits: -mean(log(exp(z_y) / sum exp(z)))."""
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(labels)), labels]))


def test_loss_matches_textbook_formula():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    assert abs(SoftmaxCrossEntropy().forward(logits, labels) - naive_loss(logits, labels)) < 1e-12


def test_uniform_logits_give_log_k():
    loss = SoftmaxCrossEntropy().forward(np.zeros((3, 10)), np.array([0, 5, 9]))
    assert abs(loss - np.log(10)) < 1e-12


def test_gradient_is_p_minus_y_over_n_and_matches_finite_differences():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    grad = loss_fn.backward().copy()
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(grad, (softmax(logits) - onehot) / 5, atol=1e-15)
    numeric = numerical_gradient(lambda: SoftmaxCrossEntropy().forward(logits, labels), logits)
    assert relative_error(grad, numeric) < 1e-6


def test_extreme_logits_stay_finite():
    loss_fn = SoftmaxCrossEntropy()
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], np.float32)
    correct = loss_fn.forward(logits, np.array([0, 1]))
    assert correct == 0.0
    wrong = SoftmaxCrossEntropy().forward(logits, np.array([2, 0]))
    assert np.isfinite(wrong) and abs(wrong - 2e4) < 1  # log p = -2e4 in both rows, no log(0)
    loss_fn.forward(logits, np.array([2, 0]))
    grad = loss_fn.backward()
    assert np.all(np.isfinite(grad))
    assert np.all(np.isfinite(softmax(np.array([[1e4, -1e4]]))))


def test_float32_in_float32_out():
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert loss_fn.backward().dtype == np.float32


def test_softmax_shifts_each_row_by_its_own_maximum():
    # Rows 2000 apart: one shift for the whole batch would underflow the second row to 0/0.
    p = softmax(np.array([[1000.0, 1000.0], [-1000.0, -1000.0 - np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.75, 0.25]], rtol=1e-12)
