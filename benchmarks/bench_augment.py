"""Time scratchnn.data.augment: milliseconds per augmented mini-batch.

    PYTHONPATH=src python benchmarks/bench_augment.py [--batch-size 128] [--repeats 500]

Uses the first MNIST test digits from ``$SCRATCHNN_DATA/mnist`` (by default
``shared/data/mnist`` beside the repository) if present, else random pixels:
the cost does not depend on the pixel values. Prints the median and the
fastest wall-clock time, and the median CPU time of this process: on a busy
machine the wall clock includes waiting for a core, CPU time does not.
"""

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

from scratchnn.data.augment import Augmentation


def load_digits(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` MNIST test digits as float32 (count, 784) in [0, 1], or random pixels."""
    beside_repository = Path(__file__).resolve().parents[2] / "shared" / "data"
    data_root = Path(os.environ.get("SCRATCHNN_DATA") or beside_repository)
    path = data_root / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        return rng.random((count, 784), dtype=np.float32)
    with gzip.open(path) as handle:
        pixels = np.frombuffer(handle.read(), dtype=np.uint8, offset=16)
    return pixels.reshape(-1, 784)[:count].astype(np.float32) / 255.0


def time_batches(augmentation: Augmentation, images: np.ndarray, repeats: int):
    """(median wall ms, fastest wall ms, median CPU ms) of one ``apply`` call."""
    rng = np.random.default_rng(0)
    out = np.empty_like(images)
    for _ in range(20):  # warm-up: caches, work buffers
        augmentation.apply(images, rng, out=out)
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        augmentation.apply(images, rng, out=out)
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return 1e3 * np.median(wall), 1e3 * np.min(wall), 1e3 * np.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()

    images = load_digits(args.batch_size, np.random.default_rng(0))
    cases = {
        "affine (defaults)": Augmentation(),
        "affine + elastic (alpha=1.5, sigma=4)": Augmentation(elastic_alpha=1.5),
    }
    print(f"batch of {len(images)}, {args.repeats} repeats")
    for name, augmentation in cases.items():
        median, fastest, cpu = time_batches(augmentation, images, args.repeats)
        print(f"{name:40s} {median:6.3f} ms median  {fastest:6.3f} ms fastest  {cpu:6.3f} ms CPU (median)")


if __name__ == "__main__":
    main()
