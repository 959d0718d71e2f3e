"""Loss and accuracy curves of a run, as PNG files.

Figures are drawn with matplotlib's object API on the Agg canvas, so saving
works on a machine with no display; only :func:`show_plots` needs a screen.
"""

import os
import sys
from pathlib import Path

from .atomic import atomic_open

SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def _figure(history, metric, ylabel, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for prefix, label in SPLITS:
        key = f"{prefix}_{metric}"
        points = [(row["epoch"], row[key]) for row in history if key in row]
        if points:
            epochs, values = zip(*points)
            if metric == "accuracy":
                values = [100 * v for v in values]
            ax.plot(epochs, values, label=label, marker="." if len(points) < 30 else None)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers, even on short runs
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_plots(history, out_dir, title=""):
    """Write ``loss.png`` and ``accuracy.png`` into ``out_dir``; return their paths.

    ``title`` says which run the curves show (the CLI gives the run's name, the
    dataset and the final test accuracy); each plot's title is "<metric> of <title>".
    """
    out_dir = Path(out_dir)
    paths = []
    for metric, ylabel, name in (
        ("loss", "cross-entropy loss", "loss.png"),
        ("accuracy", "accuracy (%)", "accuracy.png"),
    ):
        fig = _figure(history, metric, ylabel, f"{metric} of {title}" if title else metric)
        path = out_dir / name
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, format="png")
        paths.append(path)
    return paths


def display_available():
    """True where a window can open: a desktop OS, or X11/Wayland on Linux."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def show_plots(paths):
    """Open the saved PNGs in windows (blocks until they are closed)."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    for path in paths:
        fig = plt.figure(figsize=(7, 4.5))
        fig.canvas.manager.set_window_title(Path(path).name)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(mpimg.imread(path))
        ax.axis("off")
    plt.show()
