"""How well and how fast `scratchnn predict` classifies pictures as people make them.

    PYTHONPATH=src python benchmarks/bench_predict.py runs/mlp/model.npz [--count 1000] [--start 0] [--rounds 3]

Writes ``--count`` pictures built from MNIST test digits (from index ``--start``) (see
``tests/user_images.py``: ~300 px, thicker strokes, off-centre, dark-on-white,
light-on-dark, coloured, transparent and 16-bit, JPEG-compressed where lossy)
into a temporary folder, runs ``scratchnn predict MODEL FOLDER --json`` on it
as a user would (a fresh process, ``--rounds`` times), and prints:

- the wall-clock and CPU seconds of each run (median of the rounds);
- how often the prediction on a picture agrees with the model's prediction on
  the original 28x28 digit, and how often it is right (the digit's label);
- the same two figures when the preprocessing centres the ink's bounding box
  instead of its centre of mass (``Framing(centre="box")``), and when it skips
  cropping and centring altogether (the whole picture's ink shrunk to 28x28);
- agreement and accuracy per kind of picture.

The test set is only measured here; nothing is chosen by it.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from user_images import KINDS, write_user_style_files  # noqa: E402

import scratchnn  # noqa: E402
from scratchnn.data import images as preprocessing  # noqa: E402


def run_cli(model, folder):
    """(wall seconds, CPU seconds, records) of one `scratchnn predict --json` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scratchnn", "predict", str(model), str(folder), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT / "src",
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"scratchnn predict failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, [json.loads(line) for line in done.stdout.splitlines()]


def whole_picture(path):
    """No crop and no centring: the whole picture's ink map shrunk to 28x28."""
    colour, alpha = preprocessing._channels(preprocessing.open_image(path))
    strength = preprocessing._ink_strength(colour, alpha, "auto", str(path)).astype(np.float32)
    small = np.asarray(Image.fromarray(strength, "F").resize((28, 28), Image.Resampling.LANCZOS))
    return np.clip(small / max(small.max(), 1e-6), 0, 1)


def scores(predicted, reference, labels):
    predicted = np.asarray(predicted)
    return float(np.mean(predicted == reference)), float(np.mean(predicted == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="first test digit used")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    args.model = args.model.resolve()  # the CLI runs from src/
    model = scratchnn.load_model(args.model)
    test = scratchnn.load_dataset("mnist", download=False).test
    chosen = slice(args.start, args.start + args.count)
    digits, labels = test.images[chosen], test.labels[chosen].astype(int)
    reference = model.predict(digits)
    print(
        f"model {args.model}: {model.network}, MNIST test accuracy "
        f"{model.evaluate(test).accuracy:.2%}; on test digits {args.start}-{args.start + args.count - 1} "
        f"{np.mean(reference == labels):.2%}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_user_style_files(digits, folder, args.seed)
        size = sum(p.stat().st_size for p in paths)
        sides = [max(Image.open(p).size) for p in paths]
        print(
            f"{len(paths)} pictures, {size / 1e6:.1f} MB, {min(sides)}-{max(sides)} px on the longer side, "
            f"kinds in turn: {', '.join(KINDS)}"
        )

        timings = [run_cli(args.model, folder) for _ in range(args.rounds)]
        records = timings[-1][2]
        walls = [t[0] for t in timings]
        cpus = [t[1] for t in timings]
        print(
            f"scratchnn predict FOLDER --json: wall {statistics.median(walls):.2f} s (runs: "
            f"{', '.join(f'{w:.2f}' for w in walls)}), CPU {statistics.median(cpus):.2f} s"
        )
        assert [r["path"] for r in records] == [str(p) for p in paths]
        predicted = [r["class"] for r in records]
        agree, right = scores(predicted, reference, labels)
        print(f"full preprocessing (centre of mass):   agreement {agree:.1%}, accuracy {right:.1%}")

        box = preprocessing.Framing(box=20, centre="box", ink_percentile=95.0)
        by_box = model.predict(np.stack([preprocessing.preprocess_image(p, framing=box) for p in paths]))
        agree, right = scores(by_box, reference, labels)
        print(f"bounding box centred instead:          agreement {agree:.1%}, accuracy {right:.1%}")
        naive = model.predict(np.stack([whole_picture(p) for p in paths]))
        agree, right = scores(naive, reference, labels)
        print(f"no crop, no centring (whole picture):  agreement {agree:.1%}, accuracy {right:.1%}")

        for k, kind in enumerate(KINDS):
            agree, right = scores(
                np.asarray(predicted)[k :: len(KINDS)], reference[k :: len(KINDS)], labels[k :: len(KINDS)]
            )
            print(f"  {kind:<14} agreement {agree:.1%}, accuracy {right:.1%}")


if __name__ == "__main__":
    main()
