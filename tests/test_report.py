"""The evaluation report: numbers in CSV/JSON, pictures of the expected size, one self-contained page."""

import base64
import csv
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from scratchnn.cli import main
from scratchnn.data.datasets import CLASS_NAMES
from scratchnn.nn import build_mlp
from scratchnn.report import confusion_figure, filters_figure, first_layer_filters, format_class_table, write_report


def png_size(data):
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()  # decodes every pixel: a truncated file fails here
    assert np.asarray(image).std() > 0  # not one flat colour
    return image.size


@pytest.fixture(scope="module")
def report(digit_classifier, mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "train_accuracy": 1 - 0.1 / e,
            "test_loss": 1.1 / e,
            "test_accuracy": 1 - 0.12 / e,
        }
        for e in range(1, 6)
    ]
    evaluation, written = write_report(digit_classifier, mnist, out, history=history)
    return out, evaluation, written


def test_every_picture_is_a_png_of_the_expected_size(report):
    out, _, written = report
    expected = {"confusion": (800, 700), "mistakes": (960, 810), "loss": (700, 450), "accuracy": (700, 450)}
    for kind, size in expected.items():
        assert png_size(written[kind].read_bytes()) == size, kind
    width, height = png_size((out / "first_layer.png").read_bytes())
    assert width == 800 and 700 < height < 900  # 100 units: 10 rows of 10


def test_per_class_numbers_in_csv_and_json_match_the_evaluation(report, mnist):
    out, evaluation, _ = report
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert [r["name"] for r in rows] == [str(d) for d in range(10)] + ["macro avg"]
    metrics = evaluation.class_metrics()
    for i in range(10):
        assert float(rows[i]["recall"]) == pytest.approx(metrics["recall"][i])
        assert float(rows[i]["precision"]) == pytest.approx(metrics["precision"][i])
        assert int(rows[i]["support"]) == np.sum(mnist.test.labels == i)
    assert float(rows[10]["f1"]) == pytest.approx(metrics["f1"].mean())
    summary = json.loads((out / "per_class.json").read_text())
    assert summary["accuracy"] == evaluation.accuracy and summary["test_images"] == 10000
    confusion = np.array(summary["confusion_matrix"])
    assert confusion.sum() == 10000 and np.trace(confusion) == round(evaluation.accuracy * 10000)
    assert confusion.sum(axis=1).tolist() == np.bincount(mnist.test.labels).tolist()


def test_the_page_is_self_contained_and_shows_the_numbers(report, digit_classifier):
    out, evaluation, written = report
    page = (out / "report.html").read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing fetched from the network
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 5  # confusion, mistakes, loss, accuracy, first layer
    for data in images:
        png_size(base64.b64decode(data))
    assert f"{evaluation.accuracy:.2%}" in page and repr(digit_classifier.network) in page
    assert f"{evaluation.class_metrics()['f1'][3]:.2%}" in page
    assert '"optimizer": "adam"' not in page and ">adam<" in page  # the configuration, as a table


def test_mistakes_are_the_most_confident_ones(report):
    _, evaluation, _ = report
    worst = evaluation.confident_mistakes(24)
    confidence = evaluation.probabilities[worst, evaluation.predictions[worst]]
    assert np.all(evaluation.predictions[worst] != evaluation.labels[worst])
    assert np.all(np.diff(confidence) <= 0)
    wrong = evaluation.predictions != evaluation.labels
    assert confidence[-1] >= np.sort(evaluation.probabilities[wrong].max(axis=1))[-24]


def test_first_layer_pictures_for_dense_and_convolution_layers():
    dense = build_mlp((784, 12, 10))
    tiles, title = first_layer_filters(dense)
    assert tiles.shape == (12, 28, 28) and "12 units" in title
    assert np.array_equal(tiles[5], dense.layers[0].W[:, 5].reshape(28, 28))

    class Conv2D:  # the weight layout of scratchnn's convolution: (k, k, in, out)
        W = np.random.default_rng(0).normal(size=(5, 5, 1, 8))

    class Network:
        layers = [Conv2D()]

    tiles, title = first_layer_filters(Network())
    assert tiles.shape == (8, 5, 5) and np.array_equal(tiles[3], Conv2D.W[:, :, 0, 3]) and "5x5" in title
    fig = filters_figure(tiles, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert png_size(buffer.getvalue())[0] == 800
    assert first_layer_filters(build_mlp((20, 5, 3))) is None  # not an image: nothing to draw
    from scratchnn.nn.architecture import build_model, parse_architecture

    cnn = build_model(parse_architecture("conv6k5 relu flatten dense10"), (1, 28, 28))
    tiles, title = first_layer_filters(cnn)
    assert tiles.shape == (6, 5, 5) and np.array_equal(tiles[2], cnn.layers[0].W[:, :, 0, 2])


def test_confusion_picture_takes_class_names():
    confusion = np.random.default_rng(0).integers(0, 50, (10, 10)) + np.eye(10, dtype=int) * 900
    fig = confusion_figure(confusion, CLASS_NAMES["fashion-mnist"])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == list(CLASS_NAMES["fashion-mnist"])
    assert fig.axes[0].get_xlabel() == "predicted class" and fig.axes[0].get_ylabel() == "true class"
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {str(v) for v in confusion.ravel()} <= texts


def test_evaluate_report_on_the_command_line(digit_classifier, mnist, shared_data, tmp_path, capsys):
    run = tmp_path / "run"
    digit_classifier.save(run / "model.npz")
    (run / "metrics.json").write_text(json.dumps(digit_classifier.history))
    code = main(
        ["evaluate", str(run / "model.npz"), "--data-dir", str(shared_data), "--report", str(tmp_path / "report")]
    )
    out = capsys.readouterr().out
    assert code == 0
    evaluation = digit_classifier.evaluate(mnist)
    assert "\n".join(format_class_table(evaluation)) in out
    assert f"test accuracy {evaluation.accuracy:.2%}" in out
    for name in (
        "per_class.csv",
        "per_class.json",
        "confusion.png",
        "mistakes.png",
        "loss.png",
        "accuracy.png",
        "first_layer.png",
        "report.html",
    ):
        assert (tmp_path / "report" / name).stat().st_size > 0, name
    (run / "metrics.json").unlink()  # no run history: no curves, and the page says so
    assert (
        main(["evaluate", str(run / "model.npz"), "--data-dir", str(shared_data), "--report", str(tmp_path / "bare")])
        == 0
    )
    assert not (tmp_path / "bare" / "loss.png").exists()
    assert "No metrics.json next to the model" in (tmp_path / "bare" / "report.html").read_text()
