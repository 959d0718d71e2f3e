"""Train the classic network: 784-128-64-10, full-batch gradient descent, 120 epochs.

Prints the loss and accuracy of every epoch and the final test accuracy, saves
the model, metrics and plots under runs/, and shows the plots where a display
exists. Extra arguments go to `scratchnn train` (e.g. `python train.py --preset mlp`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from scratchnn.cli import main  # noqa: E402
from scratchnn.plots import display_available  # noqa: E402

if __name__ == "__main__":
    extra = ["--show"] if display_available() else []
    sys.exit(main(["train", *extra, *sys.argv[1:]]))
