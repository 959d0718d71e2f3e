"""Training speed of scratchnn against PyTorch and scikit-learn on real MNIST.

    python benchmarks/bench_training.py [--epochs 6] [--warmup 1] [--rounds 5] [--peers NAME,...] [--out PATH]

Every peer trains the same network (784-128-64-10, ReLU, softmax cross-entropy)
on the same data (60,000 training images scaled to [0, 1] float32) with the
same settings (batch 128, reshuffled every epoch, no weight decay; Adam lr 1e-3
betas 0.9/0.999 eps 1e-8, or plain SGD lr 0.1). Each peer runs in its own
subprocess, so its peak resident memory (``ru_maxrss``) is its own and no other
library's imports inflate it. Reported per peer: the median seconds per epoch
(warm-up epochs excluded), the final test accuracy, peak RSS, inference
throughput on the 10,000 test images (batches of 1,000) and the latency of a
single-image prediction.

The whole set of peers runs ``--rounds`` times, interleaved (the order reversed
every other round), because a shared machine's speed drifts by tens of percent
within minutes: every figure is the median over the rounds, and each ratio is
the median of the ratios measured within one round.

A last subprocess times ``np.matmul`` alone on exactly the matrix products one
training epoch needs (the same float32 shapes and layouts as a step of
scratchnn's Dense layers). Its GFLOP/s is the ceiling for a NumPy
implementation on this machine; scratchnn's "achieved fraction" is the GFLOP/s
its Adam epoch delivers on that necessary work divided by the ceiling.

CNN rows (peers named ``*-cnn``, opt-in with ``--peers``, since a CNN epoch
takes ~50x an MLP epoch): the PyTorch reference CNN ``conv(1->32, 3x3) ReLU
maxpool2 conv(32->64, 3x3) ReLU maxpool2 dense(1600->128) ReLU dense(10)``,
Adam 1e-3, batch 128, in scratchnn (``--arch``, the real Trainer) and in
PyTorch, and the ``cnn`` preset's own network likewise (``*-cnn-preset``,
dropout included). For them the table adds the GFLOP/s achieved on the
network's necessary matrix work (forward, weight and input gradients of every
convolution and dense layer, as im2col products).

    python benchmarks/bench_training.py --peers scratchnn-cnn,pytorch-cnn,scratchnn-cnn-preset,pytorch-cnn-preset \
        --epochs 3 --warmup 1 --rounds 3

The table is printed and the same numbers are written as JSON (default
``benchmarks/results/latest.json``). A peer whose library is not installed is
reported as "not installed"; the others still run. For tests, the environment
variable ``SCRATCHNN_BENCH_HIDE`` (comma-separated module names, e.g.
``sklearn,torch``) makes those modules count as not installed.
"""

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Run from a checkout without installing, as train.py does.
sys.path.insert(0, str(ROOT / "src"))

LAYERS = (784, 128, 64, 10)
BATCH_SIZE = 128
ADAM = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
SGD_LR = 0.1
SEED = 0
PREDICT_BATCH = 1000  # inference throughput: test set in batches of this size
THROUGHPUT_REPEATS = 5  # median of this many passes over the test set
LATENCY_CALLS = 2000  # median of this many single-image predictions
HIDE_ENV = "SCRATCHNN_BENCH_HIDE"
# Read by OpenBLAS, OpenMP and MKL when they load; --blas-threads sets them for every worker.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"

# Peer name (for --peers) -> its label in the table. The default order keeps the
# pairs that are compared next to each other in time (the order alternates by round).
PEERS = {
    "sklearn-adam": "scikit-learn Adam",
    "scratchnn-adam": "scratchnn Adam",
    "matmul-peak": "np.matmul peak",
    "numpy-minimal": "minimal NumPy Adam",
    "pytorch-adam": "PyTorch Adam",
    "scratchnn-sgd": "scratchnn SGD",
    "pytorch-sgd": "PyTorch SGD",
}
# The CNN peers are opt-in: not in the default --peers.
PEERS.update(
    {
        "scratchnn-cnn": "scratchnn CNN Adam",
        "pytorch-cnn": "PyTorch CNN Adam",
        "scratchnn-cnn-preset": "scratchnn cnn-preset net",
        "pytorch-cnn-preset": "PyTorch cnn-preset net",
    }
)
DEFAULT_PEERS = [name for name in PEERS if "-cnn" not in name]
REFERENCE_CNN = "conv32k3 relu maxpool2 conv64k3 relu maxpool2 flatten dense128 relu dense10"
RATIOS = (
    ("scratchnn-cnn", "pytorch-cnn"),
    ("scratchnn-cnn-preset", "pytorch-cnn-preset"),
    ("scratchnn-adam", "pytorch-adam"),
    ("scratchnn-sgd", "pytorch-sgd"),
    ("scratchnn-adam", "sklearn-adam"),
    ("scratchnn-adam", "numpy-minimal"),
    ("numpy-minimal", "pytorch-adam"),
)


# -- the work one epoch must do ----------------------------------------------
def epoch_batch_sizes(n_train):
    """Rows of each mini-batch of one epoch: full batches, then the remainder."""
    sizes = [BATCH_SIZE] * (n_train // BATCH_SIZE)
    if n_train % BATCH_SIZE:
        sizes.append(n_train % BATCH_SIZE)
    return sizes


def step_matmuls(m):
    """The matrix products (rows, inner, cols) of one training step on ``m`` rows.

    Per Dense layer: forward ``x W`` (m, n_in) @ (n_in, n_out) and the weight
    gradient ``x^T dy`` (n_in, m) @ (m, n_out). The input gradient ``dy W^T``
    (m, n_out) @ (n_out, n_in) is needed for every layer but the first.
    """
    shapes = []
    for n_in, n_out in zip(LAYERS[:-1], LAYERS[1:]):
        shapes += [(m, n_in, n_out), (n_in, m, n_out)]
    for n_in, n_out in zip(LAYERS[1:-1], LAYERS[2:]):
        shapes.append((m, n_out, n_in))
    return shapes


def epoch_gflop(n_train):
    """Floating-point operations (2 m k n per product) of one epoch's matrix products, in GFLOP."""
    flop = sum(2 * m * k * n for rows in epoch_batch_sizes(n_train) for m, k, n in step_matmuls(rows))
    return flop / 1e9


def architecture_gflop(architecture, n_train):
    """GFLOP of one epoch's necessary matrix work for a network of specs or text.

    Every Conv2D (as im2col: rows = output pixels, inner = KH*KW*C_in, cols =
    filters) and Dense layer: forward, weight gradient, and input gradient for
    all but the first layer; 2 flop per multiply-add. Pooling, activations and
    the optimiser are not counted (they are not matrix work).
    """
    from scratchnn.nn import parse_architecture, plan_model

    specs = parse_architecture(architecture) if isinstance(architecture, str) else architecture
    per_example = 0
    first = True
    for plan in plan_model(specs, (1, 28, 28)):
        kind = plan.spec["type"]
        if kind == "Conv2D":
            pixels = plan.output_shape[1] * plan.output_shape[2]
            macs = pixels * plan.spec["kernel"] ** 2 * plan.input_shape[0] * plan.spec["filters"]
        elif kind == "Dense":
            macs = plan.input_shape[0] * plan.spec["units"]
        else:
            continue
        per_example += 2 * macs * (2 if first else 3)
        first = False
    return per_example * n_train / 1e9


# -- helpers the workers share -------------------------------------------------
def import_optional(name):
    """Import module ``name``; ImportError when missing or hidden by $SCRATCHNN_BENCH_HIDE."""
    hidden = {part.strip() for part in os.environ.get(HIDE_ENV, "").split(",") if part.strip()}
    if name.split(".")[0] in hidden:
        raise ModuleNotFoundError(f"{name} is hidden by ${HIDE_ENV}")
    return importlib.import_module(name)


def load_mnist(data_dir, train_limit):
    """Real MNIST from ``data_dir`` (never downloads), optionally only the first training rows."""
    from scratchnn.data import load_dataset

    dataset = load_dataset("mnist", data_dir=data_dir, download=False, progress=False)
    if train_limit:
        train = dataclasses.replace(
            dataset.train, images=dataset.train.images[:train_limit], labels=dataset.train.labels[:train_limit]
        )
        dataset = dataclasses.replace(dataset, train=train)
    return dataset


def time_inference(predict, x_test):
    """Images per second predicting ``x_test`` batch by batch (median of several passes)."""
    predict(x_test)  # warm-up: buffers, caches
    seconds = []
    for _ in range(THROUGHPUT_REPEATS):
        start = time.perf_counter()
        predict(x_test)
        seconds.append(time.perf_counter() - start)
    return len(x_test) / statistics.median(seconds)


def time_latency(predict_one, x1):
    """Median microseconds of one single-image prediction."""
    for _ in range(100):  # warm-up
        predict_one(x1)
    seconds = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        predict_one(x1)
        seconds.append(time.perf_counter() - start)
    return 1e6 * statistics.median(seconds)


def peak_rss_mib():
    """This process's peak resident set size so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# -- the workers: one per peer, each run in its own subprocess -----------------
def run_scratchnn(args, optimizer):
    """scratchnn through its real training path: Trainer.fit(), per-epoch train_seconds."""
    from scratchnn.training import TrainConfig, Trainer

    dataset = load_mnist(args.data_dir, args.train_limit)
    lr = ADAM["lr"] if optimizer == "adam" else SGD_LR
    config = TrainConfig(
        layers=LAYERS,
        epochs=args.epochs,
        batch_size=BATCH_SIZE,
        optimizer=optimizer,
        lr=lr,
        validation_size=0,
        test_every_epoch=False,
        seed=SEED,
    )
    trainer = Trainer(config, dataset, log=None)
    if optimizer == "adam":
        # TrainConfig sets no betas or eps: the library's defaults must be the ones the peers use.
        opt = trainer.optimizer
        assert ((opt.beta1, opt.beta2), opt.eps) == (ADAM["betas"], ADAM["eps"]), (opt.beta1, opt.beta2, opt.eps)
    result = trainer.fit()
    model = result.model

    x_test = dataset.test.features(np.float32)
    return {
        "epoch_seconds": [row["train_seconds"] for row in result.history],
        "test_accuracy": result.history[-1]["test_accuracy"],
        "images_per_second": time_inference(lambda x: model.predict_logits(x, batch_size=PREDICT_BATCH), x_test),
        "latency_us": time_latency(lambda x1: model.forward(x1, training=False), x_test[:1].copy()),
        "runtime": {"numpy": np.__version__},
    }


def run_scratchnn_cnn(args, architecture):
    """A CNN through scratchnn's real training path (Trainer.fit), Adam 1e-3, batch 128, no augmentation."""
    from scratchnn.training import TrainConfig, Trainer

    dataset = load_mnist(args.data_dir, args.train_limit)
    config = TrainConfig(
        architecture=architecture,
        epochs=args.epochs,
        batch_size=BATCH_SIZE,
        optimizer="adam",
        lr=ADAM["lr"],
        validation_size=0,
        test_every_epoch=False,
        seed=SEED,
    )
    trainer = Trainer(config, dataset, log=None)
    # Processor time of each epoch's training too: on a shared machine it shows the
    # work done, whatever share of the cores the process got (one thread: ~ idle wall time).
    cpu_seconds, train_epoch = [], trainer._train_epoch

    def timed_epoch(epoch):
        start = time.process_time()
        outcome = train_epoch(epoch)
        cpu_seconds.append(time.process_time() - start)
        return outcome

    trainer._train_epoch = timed_epoch
    result = trainer.fit()
    model = result.model
    x_test = dataset.test.features(np.float32)
    return {
        "epoch_seconds": [row["train_seconds"] for row in result.history],
        "epoch_cpu_seconds": cpu_seconds,
        "test_accuracy": result.history[-1]["test_accuracy"],
        "images_per_second": time_inference(lambda x: model.predict_logits(x, batch_size=PREDICT_BATCH), x_test),
        "latency_us": time_latency(lambda x1: model.forward(x1, training=False), x_test[:1].copy()),
        "gflop_per_epoch": architecture_gflop(architecture, len(dataset.train)),
        "runtime": {"numpy": np.__version__},
    }


def torch_network(nn, architecture):
    """The PyTorch twin of a scratchnn architecture (specs from the same text), He-normal weights, zero biases."""
    from scratchnn.nn import parse_architecture, plan_model

    layers = []
    for plan in plan_model(parse_architecture(architecture), (1, 28, 28)):
        spec, kind = plan.spec, plan.spec["type"]
        if kind == "Conv2D":
            layer = nn.Conv2d(plan.input_shape[0], spec["filters"], spec["kernel"], spec["stride"], spec["padding"])
        elif kind == "Dense":
            layer = nn.Linear(plan.input_shape[0], spec["units"])
        elif kind == "BatchNorm":
            # scratchnn's momentum weighs the old running value; PyTorch's weighs the new one.
            norm = nn.BatchNorm2d if len(plan.input_shape) == 3 else nn.BatchNorm1d
            layers.append(norm(plan.input_shape[0], eps=spec["eps"], momentum=1 - spec["momentum"]))
            continue
        else:
            layers.append(
                {
                    # Called at once, inside the loop: spec is this layer's.
                    "MaxPool2D": lambda: nn.MaxPool2d(spec["size"], spec["stride"]),  # noqa: B023
                    "ReLU": nn.ReLU,
                    "Flatten": nn.Flatten,
                    "Dropout": lambda: nn.Dropout(spec["p"]),  # noqa: B023
                }[kind]()
            )
            continue
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
        layers.append(layer)
    return nn.Sequential(*layers)


def train_and_measure_torch(torch, model, opt, loss_fn, x_train, y_train, x_test, y_test, epochs):
    """Train a PyTorch peer for ``epochs`` (a fresh permutation each) and measure it as every peer is measured."""
    n = len(x_train)
    epoch_seconds, cpu_seconds = [], []
    model.train()
    for _ in range(epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for first in range(0, n, BATCH_SIZE):
            rows = order[first : first + BATCH_SIZE]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x_train[rows]), y_train[rows]).backward()
            opt.step()
        epoch_seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    model.eval()

    def predict(x):
        return [model(x[first : first + PREDICT_BATCH]) for first in range(0, len(x), PREDICT_BATCH)]

    with torch.no_grad():
        predicted = torch.cat(predict(x_test)).argmax(dim=1)
        return {
            "epoch_seconds": epoch_seconds,
            "epoch_cpu_seconds": cpu_seconds,
            "test_accuracy": float((predicted == y_test).float().mean()),
            "images_per_second": time_inference(predict, x_test),
            "latency_us": time_latency(model, x_test[:1].clone()),
        }


def run_pytorch_cnn(args, architecture):
    """The same CNN in PyTorch: image tensors (N, 1, 28, 28) in memory, a fresh permutation each epoch."""
    torch = import_optional("torch")
    nn = torch.nn
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(SEED)
    dataset = load_mnist(args.data_dir, args.train_limit)
    x_train = torch.from_numpy(dataset.train.features(np.float32).reshape(-1, 1, 28, 28))
    y_train = torch.from_numpy(dataset.train.labels.astype(np.int64))
    x_test = torch.from_numpy(dataset.test.features(np.float32).reshape(-1, 1, 28, 28))
    y_test = torch.from_numpy(dataset.test.labels.astype(np.int64))
    model = torch_network(nn, architecture)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"])
    loss_fn = nn.CrossEntropyLoss()
    measured = train_and_measure_torch(torch, model, opt, loss_fn, x_train, y_train, x_test, y_test, args.epochs)
    return {
        **measured,
        "gflop_per_epoch": architecture_gflop(architecture, len(dataset.train)),
        "runtime": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        },
    }


def cnn_preset_architecture():
    from scratchnn.training.presets import PRESETS

    return PRESETS["cnn"]["architecture"]


def run_pytorch(args, optimizer):
    """The same network in PyTorch: tensors in memory, indexed by a fresh permutation each epoch."""
    torch = import_optional("torch")
    nn = torch.nn
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(SEED)

    dataset = load_mnist(args.data_dir, args.train_limit)
    x_train = torch.from_numpy(dataset.train.features(np.float32))
    y_train = torch.from_numpy(dataset.train.labels.astype(np.int64))
    x_test = torch.from_numpy(dataset.test.features(np.float32))
    y_test = torch.from_numpy(dataset.test.labels.astype(np.int64))

    layers = []
    for i, (n_in, n_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        linear = nn.Linear(n_in, n_out)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # He normal, as scratchnn
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(LAYERS) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if optimizer == "adam":
        opt = torch.optim.Adam(
            model.parameters(), lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"], weight_decay=0.0
        )
    else:
        opt = torch.optim.SGD(model.parameters(), lr=SGD_LR)
    loss_fn = nn.CrossEntropyLoss()

    measured = train_and_measure_torch(torch, model, opt, loss_fn, x_train, y_train, x_test, y_test, args.epochs)
    return {
        **measured,
        "runtime": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        },
    }


def run_sklearn(args):
    """MLPClassifier, one ``partial_fit`` (one shuffled epoch) at a time.

    Not ``warm_start`` with ``max_iter=1``: each ``fit`` call then builds a new
    Adam optimiser, resetting its moments and step count every epoch.
    """
    sklearn = import_optional("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    dataset = load_mnist(args.data_dir, args.train_limit)
    x_train, y_train = dataset.train.features(np.float32), dataset.train.labels.astype(np.int64)
    x_test, y_test = dataset.test.features(np.float32), dataset.test.labels.astype(np.int64)
    classes = np.arange(len(dataset.class_names))

    clf = MLPClassifier(
        hidden_layer_sizes=LAYERS[1:-1],
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=BATCH_SIZE,
        learning_rate_init=ADAM["lr"],
        beta_1=ADAM["betas"][0],
        beta_2=ADAM["betas"][1],
        epsilon=ADAM["eps"],
        shuffle=True,
        random_state=SEED,
    )
    epoch_seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(args.epochs):
            start = time.perf_counter()
            clf.partial_fit(x_train, y_train, classes=classes if epoch == 0 else None)
            epoch_seconds.append(time.perf_counter() - start)

    def predict(x):
        return [clf.predict_proba(x[first : first + PREDICT_BATCH]) for first in range(0, len(x), PREDICT_BATCH)]

    return {
        "epoch_seconds": epoch_seconds,
        "test_accuracy": float(clf.score(x_test, y_test)),
        "images_per_second": time_inference(predict, x_test),
        "latency_us": time_latency(clf.predict_proba, x_test[:1].copy()),
        "runtime": {"scikit-learn": sklearn.__version__},
    }


def run_matmul_peak(args):
    """Time np.matmul alone on one epoch's products; GFLOP/s of the fastest and the median pass.

    Same float32 shapes and memory layouts as scratchnn's Dense layers (``x.T``
    and ``W.T`` are transposed views), each product written into a
    preallocated output, as the layers do.
    """
    n_train = args.train_limit or 60_000
    rng = np.random.default_rng(SEED)
    weights = [rng.standard_normal((n_in, n_out), dtype=np.float32) for n_in, n_out in zip(LAYERS[:-1], LAYERS[1:])]
    grads = [np.empty_like(w) for w in weights]

    def buffers(m):
        # Activations a[i] (m, LAYERS[i]) and output gradients dy[i] (m, LAYERS[i + 1]).
        acts = [rng.random((m, size), dtype=np.float32) for size in LAYERS]
        dys = [rng.standard_normal((m, size), dtype=np.float32) for size in LAYERS[1:]]
        return acts, dys

    per_size = {m: buffers(m) for m in set(epoch_batch_sizes(n_train))}
    steps = [per_size[m] for m in epoch_batch_sizes(n_train)]

    def one_epoch():
        for acts, dys in steps:
            for i, w in enumerate(weights):
                np.matmul(acts[i], w, out=acts[i + 1])  # forward     x W
            for i in reversed(range(len(weights))):
                np.matmul(acts[i].T, dys[i], out=grads[i])  # weight grad x^T dy
                if i > 0:
                    np.matmul(dys[i], weights[i].T, out=acts[i])  # input grad  dy W^T

    one_epoch()  # warm-up
    seconds = []
    for _ in range(args.matmul_repeats):
        start = time.perf_counter()
        one_epoch()
        seconds.append(time.perf_counter() - start)
    gflop = epoch_gflop(n_train)
    return {
        "gflop_per_epoch": gflop,
        "steps_per_epoch": len(steps),
        "pass_seconds": seconds,
        "peak_gflops": gflop / min(seconds),
        "median_gflops": gflop / statistics.median(seconds),
    }


def run_numpy_minimal(args):
    """The floor for a NumPy implementation: the same training with as little Python as possible.

    One function per step over preallocated buffers: no layer objects, no
    checks, no loss value, no accuracy or history bookkeeping; the same maths
    as scratchnn (uint8 images scaled per batch, He-normal weights, ReLU with
    float masks, fused softmax cross-entropy, Adam on one flat parameter vector). Its time per epoch is
    what NumPy itself costs on this machine; scratchnn's time over it is the
    library's own overhead. Written out independently of the library on purpose.
    """
    dataset = load_mnist(args.data_dir, args.train_limit)
    images = dataset.train.images.reshape(len(dataset.train), -1)
    labels = dataset.train.labels.astype(np.intp)
    x_test = dataset.test.features(np.float32)
    rng = np.random.default_rng(SEED)
    shapes = list(zip(LAYERS[:-1], LAYERS[1:]))
    size = sum(n_in * n_out + n_out for n_in, n_out in shapes)
    params, grads = np.zeros(size, np.float32), np.zeros(size, np.float32)
    m, v, tmp = np.zeros(size, np.float32), np.zeros(size, np.float32), np.empty(size, np.float32)
    W, b, dW, db, offset = [], [], [], [], 0
    for n_in, n_out in shapes:
        W.append(params[offset : offset + n_in * n_out].reshape(n_in, n_out))
        dW.append(grads[offset : offset + n_in * n_out].reshape(n_in, n_out))
        W[-1][...] = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
        offset += n_in * n_out
    for _n_in, n_out in shapes:
        b.append(params[offset : offset + n_out])
        db.append(grads[offset : offset + n_out])
        offset += n_out
    (b1, b2), eps, lr = ADAM["betas"], ADAM["eps"], ADAM["lr"]
    buffers = {}

    def step_buffers(n):
        if n not in buffers:
            buffers[n] = dict(
                x=np.empty((n, LAYERS[0]), np.float32),
                ones=np.ones(n, np.float32),
                rows=np.arange(n),
                class_ones=np.ones(LAYERS[-1], np.float32),
                h=[np.empty((n, k), np.float32) for k in LAYERS[1:]],
                mask=[np.empty((n, k), np.float32) for k in LAYERS[1:-1]],
                dh=[np.empty((n, k), np.float32) for k in LAYERS[1:-1]],
            )
        return buffers[n]

    def step(rows, t):
        nonlocal params, m, v, tmp  # updated in place (augmented assignment would otherwise make them local)
        buf = step_buffers(len(rows))
        x, h, mask, dh, ones, index = buf["x"], buf["h"], buf["mask"], buf["dh"], buf["ones"], buf["rows"]
        y = labels[rows]
        np.divide(images[rows], np.float32(255), out=x)
        a = x
        for i in range(len(W)):  # forward
            np.matmul(a, W[i], out=h[i])
            h[i] += b[i]
            if i < len(W) - 1:
                np.greater(h[i], 0, out=mask[i])
                h[i] *= mask[i]
            a = h[i]
        z = h[-1]  # softmax cross-entropy gradient (p - y) / n
        z -= z[index, z.argmax(axis=1)][:, None]
        np.exp(z, out=z)
        z /= (z @ buf["class_ones"])[:, None]
        z[index, y] -= 1.0
        z *= 1.0 / len(rows)
        d = z
        for i in reversed(range(len(W))):  # backward
            a = h[i - 1] if i else x
            np.matmul(a.T, d, out=dW[i])
            np.matmul(ones, d, out=db[i])
            if i:
                np.matmul(d, W[i].T, out=dh[i - 1])
                dh[i - 1] *= mask[i - 1]
                d = dh[i - 1]
        m *= b1  # Adam, moments kept without their (1 - beta) factors
        m += grads
        np.multiply(grads, grads, out=tmp)
        v *= b2
        v += tmp
        c = math.sqrt((1.0 - b2) / (1.0 - b2**t))
        np.sqrt(v, out=tmp)
        tmp += eps / c
        np.divide(m, tmp, out=tmp)
        tmp *= lr * (1.0 - b1) / ((1.0 - b1**t) * c)
        params -= tmp

    def predict(x):
        out = []
        for first in range(0, len(x), PREDICT_BATCH):
            a = x[first : first + PREDICT_BATCH]
            for i in range(len(W)):
                a = a @ W[i] + b[i]
                if i < len(W) - 1:
                    np.maximum(a, 0, out=a)
            out.append(a)
        return np.concatenate(out)

    t, epoch_seconds = 0, []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = rng.permutation(len(images))
        for first in range(0, len(order), BATCH_SIZE):
            t += 1
            step(order[first : first + BATCH_SIZE], t)
        epoch_seconds.append(time.perf_counter() - start)
    return {
        "epoch_seconds": epoch_seconds,
        "test_accuracy": float(np.mean(predict(x_test).argmax(axis=1) == dataset.test.labels)),
        "images_per_second": time_inference(predict, x_test),
        "latency_us": time_latency(predict, x_test[:1].copy()),
        "runtime": {"numpy": np.__version__},
    }


WORKERS = {
    "numpy-minimal": run_numpy_minimal,
    "scratchnn-adam": lambda args: run_scratchnn(args, "adam"),
    "scratchnn-sgd": lambda args: run_scratchnn(args, "sgd"),
    "pytorch-adam": lambda args: run_pytorch(args, "adam"),
    "pytorch-sgd": lambda args: run_pytorch(args, "sgd"),
    "sklearn-adam": run_sklearn,
    "matmul-peak": run_matmul_peak,
    "scratchnn-cnn": lambda args: run_scratchnn_cnn(args, REFERENCE_CNN),
    "pytorch-cnn": lambda args: run_pytorch_cnn(args, REFERENCE_CNN),
    "scratchnn-cnn-preset": lambda args: run_scratchnn_cnn(args, cnn_preset_architecture()),
    "pytorch-cnn-preset": lambda args: run_pytorch_cnn(args, cnn_preset_architecture()),
}


def worker_main(args):
    """Run one peer in this process and write its result (and peak RSS) as JSON."""
    try:
        result = WORKERS[args.worker](args)
        result["status"] = "ok"
    except ImportError as error:
        result = {"status": "not installed", "detail": str(error)}
    result["peak_rss_mib"] = peak_rss_mib()
    result["blas"] = blas_info()  # as loaded in this process, with its thread count
    Path(args.json_out).write_text(json.dumps(result))


# -- the parent: run every peer, summarise, print, save -------------------------
def run_worker(name, args, data_dir):
    """Run peer ``name`` in a fresh Python process; return its result dict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--epochs",
            str(args.epochs),
            "--warmup",
            str(args.warmup),
            "--data-dir",
            str(data_dir),
            "--torch-threads",
            str(args.torch_threads),
            "--matmul-repeats",
            str(args.matmul_repeats),
            "--json-out",
            str(out),
        ]
        if args.train_limit:
            command += ["--train-limit", str(args.train_limit)]
        env = dict(os.environ)
        if args.blas_threads:
            for variable in BLAS_THREAD_VARIABLES:
                env[variable] = str(args.blas_threads)
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return {"status": "failed", "detail": f"exit status {done.returncode}: {tail}"}
        return json.loads(out.read_text())


def summarise(result, warmup):
    """Add the median (and fastest) seconds per epoch, warm-up epochs excluded."""
    timed = result["epoch_seconds"][warmup:]
    result["seconds_per_epoch"] = statistics.median(timed)
    result["fastest_epoch_seconds"] = min(timed)
    if "epoch_cpu_seconds" in result:
        result["cpu_seconds_per_epoch"] = statistics.median(result["epoch_cpu_seconds"][warmup:])
    return result


# Figures that vary from run to run: a peer's table entry is their median over the rounds.
MEDIAN_OVER_ROUNDS = (
    "seconds_per_epoch",
    "cpu_seconds_per_epoch",
    "images_per_second",
    "latency_us",
    "peak_gflops",
    "median_gflops",
)


def combine_rounds(results):
    """One peer's results from every round: ok only if every round was; medians of the timings.

    The fastest epoch is the fastest of all rounds, peak RSS the largest;
    accuracy, versions and the like come from the first round (training is
    seeded, so they repeat).
    """
    failed = next((result for result in results if result["status"] != "ok"), None)
    if failed is not None:
        return {**failed, "rounds": results}
    combined = {**results[0], "rounds": results}
    for key in MEDIAN_OVER_ROUNDS:
        if key in results[0]:
            combined[key] = statistics.median(result[key] for result in results)
    if "fastest_epoch_seconds" in results[0]:
        combined["fastest_epoch_seconds"] = min(result["fastest_epoch_seconds"] for result in results)
    combined["peak_rss_mib"] = max(result["peak_rss_mib"] for result in results)
    combined.pop("epoch_seconds", None)  # per round, under "rounds"
    combined.pop("epoch_cpu_seconds", None)
    return combined


def find_data(data_dir):
    """The folder holding MNIST: the given one, $SCRATCHNN_DATA, ../shared/data, the cache, else a download."""
    from scratchnn.data import find_dataset_dir, load_dataset
    from scratchnn.errors import ScratchnnError

    if data_dir is None and not os.environ.get("SCRATCHNN_DATA"):
        shared = ROOT.parent / "shared" / "data"
        data_dir = shared if (shared / "mnist").is_dir() else None
    try:
        return find_dataset_dir("mnist", data_dir) or load_dataset("mnist").source
    except ScratchnnError as error:
        sys.exit(f"bench_training.py: cannot find MNIST: {error}")


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def blas_info():
    """NumPy's BLAS: threadpoolctl's view (library, version, threads) if installed, else NumPy's build config."""
    try:
        from threadpoolctl import threadpool_info

        return [
            {key: pool.get(key) for key in ("internal_api", "version", "num_threads", "architecture")}
            for pool in threadpool_info()
            if pool.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return [{key: blas.get(key) for key in ("name", "version")}]
    except Exception:  # older NumPy: no dict mode
        return []


def workers_blas(peers):
    """NumPy's BLAS as the first NumPy-only worker saw it (thread count included), else as this process sees it."""
    for name in ("scratchnn-adam", "scratchnn-sgd", "matmul-peak"):
        if peers.get(name, {}).get("blas"):
            return peers[name]["blas"]
    return blas_info()


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_report(report):
    peers, settings = report["peers"], report["settings"]
    print()
    print(
        f"MNIST, {settings['train_rows']} training rows, {settings['test_rows']} test rows, "
        f"MLP {'-'.join(map(str, LAYERS))} (CNN rows: see the docstring), batch {BATCH_SIZE}, "
        f"{settings['epochs']} epochs "
        f"(median of the last {settings['epochs'] - settings['warmup']}), {settings['rounds']} round(s); "
        f"each figure is the median over the rounds (peak RSS: the largest)"
    )
    header = (
        "implementation",
        "s/epoch (median)",
        "final test acc",
        "peak RSS MiB",
        "inference img/s",
        "1-image latency us",
    )
    rows = []
    for name, result in peers.items():
        if name == "matmul-peak":
            continue
        if result["status"] != "ok":
            rows.append((PEERS[name], result["status"], "", "", "", ""))
            continue
        rows.append(
            (
                PEERS[name],
                fmt(result["seconds_per_epoch"], ".3f"),
                fmt(result["test_accuracy"], ".2%"),
                fmt(result["peak_rss_mib"], ".0f"),
                fmt(result["images_per_second"], ",.0f"),
                fmt(result["latency_us"], ".1f"),
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            " | ".join(
                str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
            )
        )

    print()
    if report["ratios"]:
        print("Ratios of seconds per epoch (below 1: the first one is faster):")
    for key, ratio in report["ratios"].items():
        if isinstance(ratio, float):
            rounds = " ".join(f"{r:.2f}" for r in report["ratio_rounds"][key])
            print(
                f"{key}: {ratio:.2f}x  (s/epoch, median of the rounds' ratios: {rounds}; "
                f"fastest epoch over fastest epoch: {report['fastest_epoch_ratios'][key]:.2f}x)"
            )
        else:
            print(f"{key}: {ratio}")

    matmul = peers.get("matmul-peak")
    if matmul is not None:
        print()
        if matmul["status"] == "ok":
            print(
                f"np.matmul on one epoch's products ({matmul['gflop_per_epoch']:.2f} GFLOP, "
                f"{matmul['steps_per_epoch']} steps): peak {matmul['peak_gflops']:.1f} GFLOP/s, "
                f"median {matmul['median_gflops']:.1f} GFLOP/s (medians over the rounds)"
            )
        else:
            print(f"np.matmul peak: {matmul['status']} ({matmul.get('detail', '')})")
    for name, achieved in report["achieved"].items():
        rounds = " ".join(f"{f:.0%}" for f in achieved["fraction_rounds"])
        print(
            f"{PEERS[name]}: {achieved['gflops']:.1f} GFLOP/s of necessary work = "
            f"{achieved['fraction_of_peak']:.0%} of the matmul peak (median of the rounds: {rounds}; "
            f"fastest epoch against the run's highest peak: {achieved['fastest_epoch_fraction_of_highest_peak']:.0%})"
        )

    for name, figures in report.get("cnn_gflops", {}).items():
        print(
            f"{PEERS[name]}: {figures['gflops']:.1f} GFLOP/s on its {figures['gflop_per_epoch']:.1f} GFLOP "
            f"of necessary matrix work per epoch ({figures['gflops_per_cpu_second']:.1f} per processor second; "
            f"processor time per epoch {report['peers'][name]['cpu_seconds_per_epoch']:.2f} s)"
        )
    for key, ratio in report.get("cnn_cpu_ratios", {}).items():
        rounds = " ".join(f"{r:.2f}" for r in ratio["rounds"])
        print(f"{key}, processor time per epoch: {ratio['median']:.2f}x  (median of the rounds' ratios: {rounds})")

    env = report["environment"]
    print()
    print(f"date: {report['date']}")
    print(
        f"machine: {env['machine']['cpu']}, {env['machine']['cores']} cores "
        f"({env['machine']['usable_cores']} usable), {env['machine']['platform']}"
    )
    print(f"load average at start / end: {env['load_start']} / {env['load_end']}")
    print(
        f"python {env['machine']['python']}, numpy {env['numpy']}, torch {env['torch']}, "
        f"scikit-learn {env['scikit-learn']}"
    )
    print(
        f"numpy BLAS: {env['blas']}"
        + (f" (--blas-threads {settings['blas_threads']})" if settings["blas_threads"] else "")
    )
    for name, result in peers.items():
        if result.get("runtime") and not (name.startswith("scratchnn") or name == "numpy-minimal"):
            print(f"{PEERS[name]} runtime: {result['runtime']}")
    for name, result in peers.items():
        if result["status"] != "ok" and result.get("detail"):
            print(f"{PEERS[name]}: {result['status']} ({result['detail']})")


def parent_main(args, command_line):
    print(command_line, flush=True)
    data_dir = find_data(args.data_dir)
    load_start = [round(x, 2) for x in os.getloadavg()]
    if load_start[0] > 0.5:
        print(f"note: load average {load_start[0]} before starting; timings may be noisy", flush=True)

    # Every peer once per round; the order alternates so that a machine getting
    # slower or faster during the run does not favour whoever runs first.
    results = {name: [] for name in args.peers}
    for round_number in range(1, args.rounds + 1):
        order = args.peers if round_number % 2 else args.peers[::-1]
        for number, name in enumerate(order, 1):
            print(f"[round {round_number}/{args.rounds}, {number}/{len(order)}] {name} ...", end=" ", flush=True)
            start = time.perf_counter()
            result = run_worker(name, args, data_dir)
            if result["status"] == "ok" and "epoch_seconds" in result:
                summarise(result, args.warmup)
            results[name].append(result)
            print(f"{result['status']} ({time.perf_counter() - start:.1f} s)", flush=True)
    peers = {name: combine_rounds(results[name]) for name in args.peers}

    def ok(name):
        return peers.get(name, {}).get("status") == "ok"

    # Ratios within each round (both sides measured minutes apart at most), then their median.
    # Also the fastest epoch of each side over the whole run: on a host whose speed
    # switches between two levels for tens of seconds at a time (seen here: about 2x),
    # a round can pair one side's slow spell with the other's fast one.
    ratios, ratio_rounds, fastest_ratios = {}, {}, {}
    for ours, theirs in RATIOS:
        if ours in peers and theirs in peers:
            key = f"{PEERS[ours]} / {PEERS[theirs]}"
            if ok(ours) and ok(theirs):
                ratio_rounds[key] = [
                    a["seconds_per_epoch"] / b["seconds_per_epoch"]
                    for a, b in zip(peers[ours]["rounds"], peers[theirs]["rounds"])
                ]
                ratios[key] = statistics.median(ratio_rounds[key])
                fastest_ratios[key] = peers[ours]["fastest_epoch_seconds"] / peers[theirs]["fastest_epoch_seconds"]
            else:
                missing = ", ".join(f"{n} {peers[n]['status']}" for n in (ours, theirs) if not ok(n))
                ratios[key] = f"n/a ({missing})"
    cnn_gflops = {
        name: {
            "gflop_per_epoch": peers[name]["gflop_per_epoch"],
            "gflops": peers[name]["gflop_per_epoch"] / peers[name]["seconds_per_epoch"],
            "gflops_per_cpu_second": peers[name]["gflop_per_epoch"] / peers[name]["cpu_seconds_per_epoch"],
        }
        for name in args.peers
        if "-cnn" in name and ok(name)
    }
    # The CNN pairs also by processor time per epoch (the work done, whatever share of the
    # cores each got; with one thread each it is about the wall time on an idle machine).
    cpu_ratios = {}
    for ours, theirs in RATIOS:
        if "-cnn" in ours and ok(ours) and ok(theirs):
            per_round = [
                a["cpu_seconds_per_epoch"] / b["cpu_seconds_per_epoch"]
                for a, b in zip(peers[ours]["rounds"], peers[theirs]["rounds"])
            ]
            cpu_ratios[f"{PEERS[ours]} / {PEERS[theirs]}"] = {
                "median": statistics.median(per_round),
                "rounds": per_round,
            }
    achieved = {}
    if ok("matmul-peak"):
        for name in ("scratchnn-adam", "scratchnn-sgd", "numpy-minimal"):
            if ok(name):
                fractions = [
                    matmul["gflop_per_epoch"] / ours["seconds_per_epoch"] / matmul["peak_gflops"]
                    for ours, matmul in zip(peers[name]["rounds"], peers["matmul-peak"]["rounds"])
                ]
                gflops = peers["matmul-peak"]["gflop_per_epoch"] / peers[name]["seconds_per_epoch"]
                fastest = (
                    peers["matmul-peak"]["gflop_per_epoch"]
                    / peers[name]["fastest_epoch_seconds"]
                    / max(result["peak_gflops"] for result in peers["matmul-peak"]["rounds"])
                )
                achieved[name] = {
                    "gflops": gflops,
                    "fraction_of_peak": statistics.median(fractions),
                    "fraction_rounds": fractions,
                    "fastest_epoch_fraction_of_highest_peak": fastest,
                }

    n_train = args.train_limit or 60_000
    report = {
        "command": command_line,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": {
            "epochs": args.epochs,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "train_rows": n_train,
            "test_rows": 10_000,
            "layers": list(LAYERS),
            "batch_size": BATCH_SIZE,
            "adam": ADAM,
            "sgd_lr": SGD_LR,
            "torch_threads": args.torch_threads,
            "blas_threads": args.blas_threads,
            "data_dir": str(data_dir),
            "necessary_gflop_per_epoch": epoch_gflop(n_train),
        },
        "environment": {
            "machine": machine_info(),
            "numpy": np.__version__,
            "torch": package_version("torch"),
            "scikit-learn": package_version("scikit-learn"),
            "blas": workers_blas(peers),
            "load_start": load_start,
            "load_end": [round(x, 2) for x in os.getloadavg()],
        },
        "peers": peers,
        "ratios": ratios,
        "ratio_rounds": ratio_rounds,
        "fastest_epoch_ratios": fastest_ratios,
        "achieved": achieved,
        "cnn_gflops": cnn_gflops,
        "cnn_cpu_ratios": cpu_ratios,
    }
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


# -- command line --------------------------------------------------------------
def build_parser():
    from scratchnn.cli import int_at_least as count

    def peer_list(text):
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in PEERS]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown peer(s) {unknown or text!r}; choose from {', '.join(PEERS)}")
        return list(dict.fromkeys(names))

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=count(1), default=6, help="epochs each peer trains (default 6)")
    parser.add_argument("--warmup", type=count(0), default=1, help="first epochs left out of the median (default 1)")
    parser.add_argument(
        "--peers",
        type=peer_list,
        default=DEFAULT_PEERS,
        help=f"comma-separated, from {','.join(PEERS)} (default: all but the *-cnn ones)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default %(default)s)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder holding MNIST (default: $SCRATCHNN_DATA, else ../shared/data, else the cache)",
    )
    parser.add_argument("--torch-threads", type=count(1), default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--blas-threads",
        type=count(1),
        help="threads for NumPy's BLAS in every worker (sets "
        + ", ".join(BLAS_THREAD_VARIABLES)
        + "; default: the library's own choice, usually one per core)",
    )
    parser.add_argument(
        "--rounds",
        type=count(1),
        default=5,
        help="run every peer this many times, interleaved; report medians (default 5)",
    )
    parser.add_argument(
        "--matmul-repeats", type=count(1), default=7, help="timed passes of the matmul peak (default 7)"
    )
    # For tests: train on the first N images only. For the parent's own use: run one peer.
    parser.add_argument("--train-limit", type=count(1), help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warmup >= args.epochs:
        parser.error(f"--warmup ({args.warmup}) must be smaller than --epochs ({args.epochs})")
    if args.train_limit and args.train_limit > 60_000:
        parser.error(f"--train-limit must be at most 60000, got {args.train_limit}")
    if args.worker:
        worker_main(args)
    else:
        parent_main(args, shlex.join([sys.executable, sys.argv[0], *argv]))


if __name__ == "__main__":
    main()
