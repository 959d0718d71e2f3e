"""Where a training step's time goes: each layer's forward and backward, timed alone.

    python benchmarks/profile_layers.py "conv32k3 relu maxpool2 conv64k3 relu maxpool2 flatten dense128 relu dense10"

Runs training steps (batch 128 of real MNIST images) through a model built from the
``--arch`` text, layer by layer in the order the model runs them
(``Sequential.execution_order``), and prints the median wall time of each layer's
forward and backward pass, in milliseconds, with the layers' own threads (see
``scratchnn/nn/parallel.py``; ``SCRATCHNN_THREADS=1`` for one). The sum leaves out
the loss and the optimiser step. Timings on a shared machine are noisy: run it alone.
"""

import argparse
import time

import numpy as np

from scratchnn.data import load_dataset
from scratchnn.nn import build_model, parse_architecture
from scratchnn.nn.parallel import threads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", help='an --arch text, e.g. "conv32k3 relu maxpool2 flatten dense10"')
    parser.add_argument("--steps", type=int, default=40, help="steps to time (the first 5 warm up)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    model = build_model(parse_architecture(args.arch), (1, 28, 28), seed=0)
    n = args.batch_size
    images = load_dataset("mnist").train.features(np.float32)[: n * args.steps].reshape(-1, 1, 28, 28)
    labels = np.random.default_rng(0).integers(0, 10, n)
    order = model.execution_order
    forward, backward = [[] for _ in order], [[] for _ in order]
    for step in range(args.steps):
        h = images[n * step : n * (step + 1)].copy()
        for i, layer in enumerate(order):
            start = time.perf_counter()
            h = layer.forward(h, training=True)
            forward[i].append(time.perf_counter() - start)
        grad = h.copy()  # dL/dlogits of softmax cross-entropy, as its backward gives it
        grad[np.arange(n), labels] -= 1
        grad /= n
        for i in reversed(range(len(order))):
            start = time.perf_counter()
            grad = order[i].backward(grad)
            backward[i].append(time.perf_counter() - start)
            if grad is None:  # the first layer with parameters: no dL/dx needed
                break
    print(f"batch {n}, {threads()} thread(s), median of {args.steps - 5} steps, ms:")
    total = 0.0
    for i, layer in enumerate(order):
        f = np.median(forward[i][5:]) * 1e3
        b = np.median(backward[i][5:]) * 1e3 if backward[i] else 0.0
        total += f + b
        print(f"{i:2d}  {layer!r:50.50s}  forward {f:6.2f}  backward {b:6.2f}")
    print(f"total {total:.1f} ms a step (layers only)")


if __name__ == "__main__":
    main()
