"""Confusion matrix, per-class precision/recall/F1 and the Evaluation record, checked by hand."""

import numpy as np
import pytest

from scratchnn.training.evaluation import Evaluation, class_metrics, confusion_matrix, evaluate

# Nine examples of three classes, and a fourth class that never occurs.
LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTIONS = [0, 0, 1, 1, 2, 2, 2, 0, 1]


def test_confusion_matrix_by_hand():
    confusion = confusion_matrix(LABELS, PREDICTIONS, 4)
    assert confusion.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 1, 2, 0], [0, 0, 0, 0]]
    assert confusion.sum() == len(LABELS)
    assert confusion.sum(axis=1).tolist() == [3, 2, 4, 0]  # rows: true classes


def test_precision_recall_f1_by_hand():
    metrics = class_metrics(confusion_matrix(LABELS, PREDICTIONS, 4))
    # precision = diagonal / column sums (3, 3, 3, 0); recall = diagonal / row sums (3, 2, 4, 0).
    assert metrics["precision"] == pytest.approx([2 / 3, 1 / 3, 2 / 3, 0])
    assert metrics["recall"] == pytest.approx([2 / 3, 1 / 2, 1 / 2, 0])
    # F1 = 2PR / (P + R): class 1: 2(1/3)(1/2) / (5/6) = 2/5; class 2: (2/3) / (7/6) = 4/7.
    assert metrics["f1"] == pytest.approx([2 / 3, 2 / 5, 4 / 7, 0])
    assert metrics["support"].tolist() == [3, 2, 4, 0]


def test_evaluation_from_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(9, 4))
    logits[np.arange(9), PREDICTIONS] += 10  # make PREDICTIONS the argmax
    logits[7, 0] += 5  # the surest mistake: true 2, predicted 0
    result = Evaluation.from_logits(LABELS, logits, ("a", "b", "c", "d"))
    assert result.predictions.tolist() == PREDICTIONS
    assert result.accuracy == pytest.approx(5 / 9)
    assert result.confusion.tolist() == confusion_matrix(LABELS, PREDICTIONS, 4).tolist()
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert result.loss == pytest.approx(-log_p[np.arange(9), LABELS].mean())
    assert np.allclose(result.probabilities.sum(axis=1), 1, atol=1e-6)
    mistakes = result.confident_mistakes(10)
    assert sorted(mistakes.tolist()) == [2, 4, 7, 8] and mistakes[0] == 7
    assert len(result.confident_mistakes(2)) == 2
    table = result.class_table()
    assert table[1] == {
        "class": 1,
        "name": "b",
        "precision": pytest.approx(1 / 3),
        "recall": 0.5,
        "f1": pytest.approx(0.4),
        "support": 2,
    }


def test_evaluation_agrees_with_the_training_loops_evaluate(digit_classifier, mnist):
    test = mnist.test
    result = digit_classifier.evaluate(mnist)
    loss, accuracy = evaluate(digit_classifier.network, test.images, test.labels)
    assert result.accuracy == accuracy
    assert result.loss == pytest.approx(loss, rel=1e-5)
    assert result.confusion.sum() == len(test) == result.class_metrics()["support"].sum()


def test_confusion_matrix_counts_uint8_labels_of_many_classes_without_overflow():
    # Dataset labels are uint8; label * classes + prediction must not wrap around at 256.
    labels = np.array([25, 25, 3, 17], np.uint8)
    predictions = np.array([25, 24, 3, 0], np.uint8)
    confusion = confusion_matrix(labels, predictions, 26)
    assert confusion.dtype == np.int64 and confusion.sum() == 4
    assert confusion[25, 25] == confusion[25, 24] == confusion[3, 3] == confusion[17, 0] == 1


def test_class_metrics_types_and_a_class_never_predicted():
    metrics = class_metrics(np.array([[3, 0], [2, 0]]))  # class 1 is never predicted
    assert metrics["precision"].tolist() == [0.6, 0.0] and metrics["f1"][1] == 0.0
    assert metrics["support"].dtype == np.int64 and metrics["precision"].dtype == np.float64


def test_the_loss_is_computed_in_float64_from_float32_logits():
    logits = np.random.default_rng(3).normal(size=(50, 10)).astype(np.float32) * 20
    labels = np.arange(50) % 10
    result = Evaluation.from_logits(labels, logits, tuple("abcdefghij"))
    wide = logits.astype(np.float64)
    shifted = wide - wide.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert result.loss == pytest.approx(-log_p[np.arange(50), labels].mean(), rel=1e-13)
    assert result.probabilities.dtype == np.float32  # (N, classes): kept at half the size


def test_equally_sure_mistakes_come_in_example_order():
    # 64 mistakes (true class 0, predicted 1) at three levels of confidence; ties keep example order.
    sure = np.tile(np.array([0.9, 0.8, 0.9, 0.7], np.float32), 16)
    result = Evaluation(np.zeros(64, np.intp), np.stack([1 - sure, sure], axis=1), 1.0, ("a", "b"))
    index = np.arange(64)
    expected = np.concatenate([index[index % 2 == 0], index[index % 4 == 1], index[index % 4 == 3]])
    assert result.confident_mistakes(64).tolist() == expected.tolist()
    assert result.confident_mistakes().tolist() == expected[:16].tolist()  # 16 by default
