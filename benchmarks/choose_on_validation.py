"""Choose a recipe's settings on the validation split, never on the test set.

Each candidate trains on the training set minus a seeded validation split of
``--validation-size`` images (5,000 by default) and is judged only by its final
validation accuracy and loss; the test accuracy is printed beside them for the
record, after the choice. Two sweeps:

* ``classic-lr``: the classic full-batch run's learning rate (over seeds).
* ``fashion-distortions``: the ``mlp`` preset's distortions on Fashion-MNIST.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/choose_on_validation.py classic-lr
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from scratchnn.data import load_dataset  # noqa: E402
from scratchnn.training import TrainConfig, Trainer  # noqa: E402
from scratchnn.training.presets import CLOTHES, preset_settings  # noqa: E402

DIGITS = dict(max_shift=2.0, max_rotation=10.0, max_scale=0.1, elastic_alpha=0.0, hflip=False)


def candidates(sweep, args):
    """(label, settings) pairs; the settings differ only in what is being chosen."""
    if sweep == "classic-lr":
        for lr in args.lrs:
            for seed in args.seeds:
                yield f"lr {lr:g} seed {seed}", dict(lr=lr, seed=seed)
    else:
        base = {**preset_settings("mlp", "fashion-mnist"), "dataset": "fashion-mnist", "epochs": args.epochs}
        yield "digit distortions", {**base, **DIGITS}
        yield "no distortions", {k: v for k, v in base.items() if k not in DIGITS} | {"augment": False}
        yield "clothes (shift 1 px, mirror)", {**base, **CLOTHES}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=("classic-lr", "fashion-distortions"))
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--lrs", type=lambda t: [float(x) for x in t.split(",")], default=[0.2, 0.25, 0.3, 0.35])
    parser.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=60, help="fashion-distortions only")
    parser.add_argument(
        "--data-dir", type=Path, default=os.environ.get("SCRATCHNN_DATA") or ROOT.parent / "shared" / "data"
    )
    args = parser.parse_args()
    datasets = {}
    print(f"{'candidate':32} {'val acc':>8} {'val loss':>9} {'test acc':>9} {'seconds':>8}", flush=True)
    for label, settings in candidates(args.sweep, args):
        # The test set is evaluated once, after the last epoch, only to be reported.
        config = TrainConfig(**{**settings, "validation_size": args.validation_size, "test_every_epoch": False})
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(
                config.dataset, data_dir=args.data_dir, download=False, progress=False
            )
        t0 = time.perf_counter()
        last = Trainer(config, datasets[config.dataset], log=None).fit().history[-1]
        print(
            f"{label:32} {last['val_accuracy']:8.2%} {last['val_loss']:9.4f} {last['test_accuracy']:9.2%} "
            f"{time.perf_counter() - t0:8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
