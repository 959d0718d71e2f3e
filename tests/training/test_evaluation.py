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
