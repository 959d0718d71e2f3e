"""The evaluation report: where a model fails, in numbers and pictures.

``scratchnn evaluate MODEL --report DIR`` (or :func:`write_report`) writes into DIR:

=====================  =====================================================
``per_class.csv``      precision, recall, F1 and support of every class
``per_class.json``     the same, with accuracy, loss and macro averages
``confusion.png``      the confusion matrix, counts written in the cells
``mistakes.png``       the misclassified test images the model was surest of
``loss.png``,          the training run's curves, when its ``metrics.json``
``accuracy.png``       lies next to the model
``first_layer.png``    the first layer's weights: each hidden unit of a dense
                       layer as a 28x28 image, or each first-convolution filter
``report.html``        all of it on one page, pictures embedded (no network)
=====================  =====================================================

Figures use matplotlib's object API on the Agg canvas (no display needed), at
fixed sizes, and every file is written atomically.
"""

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from .atomic import atomic_open, atomic_write_text

DPI = 100
CONFUSION_SIZE = (8.0, 7.0)  # inches at DPI: 800 x 700 pixels
MISTAKE_COLUMNS = 6
MAX_UNITS_SHOWN = 256


def _new_figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path):
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    return path


def confusion_figure(confusion, class_names):
    """The confusion matrix as a heat map: rows true classes, columns predictions.

    Every cell shows its count; the colour scale is logarithmic so that the few
    confusions stay visible next to the large diagonal.
    """
    from matplotlib.colors import LogNorm

    confusion = np.asarray(confusion)
    n = len(class_names)
    fig = _new_figure(CONFUSION_SIZE)
    ax = fig.add_subplot()
    ax.imshow(confusion + 1, cmap="Blues", norm=LogNorm(vmin=1, vmax=confusion.max() + 1))
    threshold = math.sqrt(confusion.max() + 1)  # the middle of the log scale: white text above it
    for i in range(n):
        for j in range(n):
            count = int(confusion[i, j])
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=8 if count < 1000 else 7,
                color="white" if count + 1 > threshold else ("black" if count else "0.7"),
            )
    ax.set_xticks(
        range(n),
        class_names,
        rotation=45 if max(map(len, class_names)) > 2 else 0,
        ha="right" if max(map(len, class_names)) > 2 else "center",
    )
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total, correct = int(confusion.sum()), int(np.trace(confusion))
    ax.set_title(f"confusion matrix: {correct:,} of {total:,} right, {total - correct:,} wrong")
    fig.tight_layout()
    return fig


def mistakes_figure(images, labels, predictions, confidences, class_names):
    """A grid of misclassified images, each titled ``true -> predicted (probability)``."""
    count = len(images)
    columns = MISTAKE_COLUMNS
    rows = max(1, math.ceil(count / columns))
    fig = _new_figure((columns * 1.6, rows * 1.9 + 0.5))
    for k in range(rows * columns):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.set_axis_off()
        if k < count:
            ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(
                f"true {class_names[labels[k]]}\nsaid {class_names[predictions[k]]} {confidences[k]:.1%}", fontsize=8
            )
    if count == 0:
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle("the most confident mistakes", fontsize=11)
    fig.tight_layout()
    return fig


def first_layer_filters(network):
    """The first learned layer's weights as small images, or None.

    Returns ``(tiles, title)``: ``tiles`` is an array (units, height, width).
    A dense layer on 28x28 images gives each hidden unit's 784 incoming weights
    as a 28x28 image; a convolution (weights ``(k, k, in, out)``) gives each
    filter's k x k kernel, averaged over the input channels. Another first
    layer gives None. A new layer kind that learns from pixels adds a branch here.
    """
    for layer in network.layers:
        weights = getattr(layer, "W", None)
        if weights is None:
            continue
        weights = np.asarray(weights, np.float64)
        kind = type(layer).__name__
        if weights.ndim == 2 and weights.shape[0] == 784:
            tiles = weights.T.reshape(-1, 28, 28)
            return tiles, f"first dense layer: the 784 weights into each of its {len(tiles)} units"
        if kind == "Conv2D" and weights.ndim == 4:
            tiles = weights.mean(axis=2).transpose(2, 0, 1)
            k = tiles.shape[1]
            return tiles, f"first convolution: its {len(tiles)} filters ({k}x{k})"
        return None
    return None


def filters_figure(tiles, title):
    """A mosaic of weight images, each scaled to its own largest magnitude (red +, blue -)."""
    shown = tiles[:MAX_UNITS_SHOWN]
    n, height, width = shown.shape
    columns = min(16, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    mosaic = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for k, tile in enumerate(shown):
        r, c = divmod(k, columns)
        scale = np.abs(tile).max() or 1.0
        mosaic[
            1 + r * (height + 1) : 1 + r * (height + 1) + height, 1 + c * (width + 1) : 1 + c * (width + 1) + width
        ] = tile / scale
    fig = _new_figure((8.0, 8.0 * mosaic.shape[0] / mosaic.shape[1] + 0.6))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 - 0.5 / fig.get_figheight()))
    ax.imshow(mosaic, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    more = f" (the first {MAX_UNITS_SHOWN} of {len(tiles)})" if len(tiles) > MAX_UNITS_SHOWN else ""
    fig.suptitle(title + more, fontsize=10)
    return fig


def class_rows(evaluation):
    """Per-class rows, then the macro average (each class counts once)."""
    rows = evaluation.class_table()
    macro = {key: float(np.mean([r[key] for r in rows])) for key in ("precision", "recall", "f1")}
    return rows, {"class": "macro avg", "name": "macro avg", **macro, "support": sum(r["support"] for r in rows)}


def format_class_table(evaluation):
    """The per-class metrics as aligned text lines, for a terminal."""
    rows, macro = class_rows(evaluation)
    width = max(9, *(len(r["name"]) for r in rows))
    lines = [f"{'class':<{width}}  precision  recall      F1  support"]
    for row in rows + [macro]:
        lines.append(
            f"{row['name']:<{width}}  {row['precision']:>9.2%}  {row['recall']:>6.2%}  "
            f"{row['f1']:>6.2%}  {row['support']:>7,}"
        )
    return lines


def write_report(classifier, dataset, out_dir, model_path=None, history=None, mistakes=24):
    """Evaluate ``classifier`` on ``dataset``'s test split and write the report into ``out_dir``.

    Parameters
    ----------
    classifier : scratchnn.Classifier
    dataset : scratchnn.data.Dataset
    out_dir : str or os.PathLike
        Created if missing; files of an earlier report there are replaced.
    model_path : str or os.PathLike, optional
        The model file, named on the page; its folder's ``metrics.json`` (a
        training run's history) is drawn when ``history`` is not given.
    history : list of dict, optional
        Per-epoch metrics to draw as loss and accuracy curves.
    mistakes : int
        How many of the most confident mistakes to show.

    Returns
    -------
    (Evaluation, dict)
        The evaluation, and the written files by kind (``"html"``, ``"csv"``, ...).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = classifier.evaluate(dataset)
    names = evaluation.class_names
    written = {}

    rows, macro = class_rows(evaluation)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows + [macro])
    atomic_write_text(out_dir / "per_class.csv", text.getvalue())
    written["csv"] = out_dir / "per_class.csv"
    summary = {
        "model": str(model_path) if model_path else None,
        "dataset": dataset.name,
        "test_images": int(len(evaluation.labels)),
        "accuracy": evaluation.accuracy,
        "loss": evaluation.loss,
        "macro_avg": macro,
        "classes": rows,
        "confusion_matrix": evaluation.confusion.tolist(),
    }
    atomic_write_text(out_dir / "per_class.json", json.dumps(summary, indent=1) + "\n")
    written["json"] = out_dir / "per_class.json"

    written["confusion"] = _save_png(confusion_figure(evaluation.confusion, names), out_dir / "confusion.png")
    worst = evaluation.confident_mistakes(mistakes)
    predictions = evaluation.predictions
    figure = mistakes_figure(
        dataset.test.images[worst],
        evaluation.labels[worst],
        predictions[worst],
        evaluation.probabilities[worst, predictions[worst]],
        names,
    )
    written["mistakes"] = _save_png(figure, out_dir / "mistakes.png")

    if history is None and model_path is not None:
        history = _read_history(Path(model_path).parent / "metrics.json")
    if history:
        from .plots import save_plots

        written["loss"], written["accuracy"] = save_plots(history, out_dir, dataset.name)
    filters = first_layer_filters(classifier.network)
    if filters is not None:
        written["first_layer"] = _save_png(filters_figure(*filters), out_dir / "first_layer.png")

    page = _html_page(classifier, evaluation, summary, written, worst, model_path, filters)
    atomic_write_text(out_dir / "report.html", page)
    written["html"] = out_dir / "report.html"
    return evaluation, written


def _read_history(path):
    """A run's per-epoch metrics, or None when there are none to read."""
    try:
        history = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return history if isinstance(history, list) and history and isinstance(history[0], dict) else None


def _data_uri(path):
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _html_page(classifier, evaluation, summary, written, worst, model_path, filters):
    """One self-contained page: every picture embedded as a data URI."""
    esc = html.escape
    rows, macro = class_rows(evaluation)
    table = "\n".join(
        f"<tr><td>{esc(str(r['name']))}</td><td>{r['precision']:.2%}</td><td>{r['recall']:.2%}</td>"
        f"<td>{r['f1']:.2%}</td><td>{r['support']:,}</td></tr>"
        for r in rows
    )
    table += (
        f"\n<tr class='total'><td>macro average</td><td>{macro['precision']:.2%}</td>"
        f"<td>{macro['recall']:.2%}</td><td>{macro['f1']:.2%}</td><td>{macro['support']:,}</td></tr>"
    )
    confusions = np.array(evaluation.confusion)
    np.fill_diagonal(confusions, 0)
    top_pairs = np.dstack(np.unravel_index(np.argsort(-confusions, axis=None)[:5], confusions.shape))[0]
    pairs = "".join(
        f"<li>{esc(evaluation.class_names[i])} taken for {esc(evaluation.class_names[j])}: "
        f"{confusions[i, j]} times</li>"
        for i, j in top_pairs
        if confusions[i, j] > 0
    )

    def picture(kind, alt, caption):
        if kind not in written:
            return ""
        return (
            f"<figure><img src='{_data_uri(written[kind])}' alt='{esc(alt)}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )

    config = classifier.metadata.get("config") or {}
    config_rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td>{esc(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
        for k, v in config.items()
    )
    facts = [
        ("model file", str(model_path) if model_path else "(in memory)"),
        ("network", repr(classifier.network)),
        ("parameters", f"{classifier.network.params.size:,}"),
        ("trained on", classifier.dataset),
        ("evaluated on", f"{summary['dataset']} test split, {summary['test_images']:,} images"),
        ("epochs trained", str(classifier.metadata.get("epochs_trained", "unknown"))),
    ]
    fact_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    mistakes_caption = (
        f"The {len(worst)} misclassified test images the model was surest of, surest first: "
        "the true class, what the model said, and the probability it gave that."
    )
    curves = picture("loss", "loss curves", "Loss per epoch of the training run (from metrics.json).") + picture(
        "accuracy", "accuracy curves", "Accuracy per epoch of the training run."
    )
    if not curves:
        curves = "<p>No metrics.json next to the model: no training curves to show.</p>"
    first_layer = picture(
        "first_layer",
        "first-layer weights",
        (filters[1] if filters else "") + ". Red: positive weights, blue: negative; "
        "each image scaled to its own largest weight.",
    )
    if not first_layer:
        first_layer = "<p>The first layer is not one whose weights can be drawn as images.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>scratchnn report: {esc(summary["dataset"])} {evaluation.accuracy:.2%}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ text-align: left; background: #f4f4f4; }} td:first-child {{ text-align: left; }}
tr.total td {{ font-weight: bold; }} table.facts td {{ text-align: left; }} .big {{ font-size: 1.6em; }}
img {{ max-width: 100%; }} figure {{ margin: 1em 0; }} figcaption {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>Evaluation report</h1>
<p class="big">Test accuracy <b>{evaluation.accuracy:.2%}</b>
({int(np.trace(evaluation.confusion)):,} of {len(evaluation.labels):,}), test loss {evaluation.loss:.4f}</p>
<table class="facts">{fact_rows}</table>
<h2>Per class</h2>
<p>Precision: of the images predicted as the class, the share that are. Recall: of the images of the class,
the share found. F1: their harmonic mean.</p>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{table}</table>
<h2>Confusion matrix</h2>
{
        picture(
            "confusion",
            "confusion matrix",
            "Rows: the true class; columns: the predicted class; the diagonal counts the correct predictions.",
        )
    }
<p>The most frequent confusions:</p><ul>{pairs or "<li>none</li>"}</ul>
<h2>Most confident mistakes</h2>
{picture("mistakes", "misclassified images", mistakes_caption)}
<h2>Training curves</h2>
{curves}
<h2>What the first layer learned</h2>
{first_layer}
<h2>Training configuration</h2>
<table>{config_rows or "<tr><td>not recorded in the model file</td></tr>"}</table>
</body></html>
"""
