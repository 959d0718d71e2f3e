"""Latency and correctness of ``scratchnn serve`` on loopback, under load.

    python benchmarks/bench_serve.py [MODEL] [--requests 1000] [--clients 20] [--sequential 300]
                                     [--data-dir DIR] [--out PATH]

Starts ``scratchnn serve MODEL --port 0`` in a subprocess (without MODEL it
first trains the small MLP the tests use: 784-128-64-10, 3 epochs of Adam, a
few seconds) and sends it MNIST test digits drawn as a person's dark ink on a
white 280x280 canvas and sent at 140x140 as PNG data URLs in JSON, exactly
what the page sends.
Every answer is checked against the class the same model gives in this
process for the same picture through the same preprocessing.

1. Round trip, one request at a time (``--sequential``): plain requests
   (class and probabilities), then requests as the page makes them (also the
   activations, the saliency map and the 28x28 input).
2. Load: ``--requests`` plain requests from ``--clients`` concurrent clients
   (threads of this process, each request on its own connection).

Prints the median and 99th-percentile latency of each, and the load's
throughput; exits 1 if any answer was missing or wrong. The request loops are
bounded in count and every request has a 30 s timeout; only 127.0.0.1 is used.
"""

import argparse
import base64
import http.client
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from scratchnn.classifier import Classifier, load_model  # noqa: E402
from scratchnn.data import load_dataset  # noqa: E402
from scratchnn.serve.inputs import picture_to_pixels  # noqa: E402
from scratchnn.serve.model_view import ModelView  # noqa: E402

DISTINCT_DIGITS = 200


def drawn_digit(image):
    """An MNIST digit as the page sends it: dark ink on white, drawn at 280x280, sent at 140x140 (PNG bytes)."""
    buffer = io.BytesIO()
    drawn = Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BICUBIC).convert("RGBA")
    drawn.resize((140, 140), Image.Resampling.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def train_small_mlp(dataset, path):
    from scratchnn.training.config import TrainConfig
    from scratchnn.training.trainer import Trainer

    config = TrainConfig(
        epochs=3, batch_size=128, optimizer="adam", lr=2e-3, schedule="cosine", test_every_epoch=False, seed=0
    )
    trainer = Trainer(config, dataset, log=None)
    Classifier.from_training(trainer, trainer.fit()).save(path)


def start_server(model_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-m", "scratchnn", "serve", str(model_path), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = process.stdout.readline()
    if not line:
        process.wait()
        sys.exit(f"bench_serve: scratchnn serve exited with status {process.returncode}")
    return process, next(word for word in line.split() if word.startswith("http://"))


def post(url, body):
    """One request on a fresh connection: (seconds, status, answer)."""
    parts = urlsplit(url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/api/predict", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - started
        return seconds, response.status, json.loads(payload)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return time.perf_counter() - started, None, {"error": str(exc)}
    finally:
        connection.close()


def summary(seconds):
    ms = np.array(seconds) * 1e3
    return {"median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def run_sequential(url, bodies, expected, n):
    seconds, wrong = [], 0
    for i in range(n):
        took, status, answer = post(url, bodies[i % len(bodies)])
        seconds.append(took)
        wrong += status != 200 or answer.get("class") != expected[i % len(bodies)]
    return seconds, wrong


def run_load(url, bodies, expected, n_requests, n_clients):
    todo = queue.Queue()
    for i in range(n_requests):
        todo.put(i)
    seconds, wrong, lock = [None] * n_requests, [], threading.Lock()

    def client():
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            took, status, answer = post(url, bodies[i % len(bodies)])
            seconds[i] = took
            if status != 200 or answer.get("class") != expected[i % len(bodies)]:
                with lock:
                    wrong.append((i, status, answer.get("error", answer.get("class"))))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(n_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seconds, wrong, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="model.npz (default: train a small MLP first)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=300, help="one-at-a-time requests of each kind")
    parser.add_argument("--data-dir", type=Path, help="folder holding mnist/ (default: as scratchnn finds it)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    dataset = load_dataset("mnist", data_dir=args.data_dir, download=False, progress=False)
    with tempfile.TemporaryDirectory() as scratch:
        model_path = args.model
        if model_path is None:
            model_path = Path(scratch) / "model.npz"
            started = time.perf_counter()
            train_small_mlp(dataset, model_path)
            print(f"trained a 784-128-64-10 MLP in {time.perf_counter() - started:.1f} s -> {model_path}")
        classifier = load_model(model_path)
        view = ModelView(classifier)
        pngs = [drawn_digit(image) for image in dataset.test.images[:DISTINCT_DIGITS]]
        expected = [view.predict(picture_to_pixels(png, classifier.dataset, "png"))["class"] for png in pngs]
        urls = ["data:image/png;base64," + base64.b64encode(png).decode() for png in pngs]
        plain = [json.dumps({"image": u}).encode() for u in urls]
        detailed = [
            json.dumps({"image": u, "activations": True, "saliency": True, "input": True}).encode() for u in urls
        ]

        process, url = start_server(model_path)
        try:
            run_sequential(url, plain, expected, 20)  # warm-up
            plain_s, plain_wrong = run_sequential(url, plain, expected, args.sequential)
            page_s, page_wrong = run_sequential(url, detailed, expected, args.sequential)
            load_s, load_wrong, load_wall = run_load(url, plain, expected, args.requests, args.clients)
        finally:
            process.terminate()
            process.wait(timeout=10)

    results = {
        "model": str(args.model or "a 784-128-64-10 MLP trained for 3 epochs"),
        "round_trip_plain": {**summary(plain_s), "requests": args.sequential, "wrong": plain_wrong},
        "round_trip_as_the_page_asks": {**summary(page_s), "requests": args.sequential, "wrong": page_wrong},
        "load": {
            **summary(load_s),
            "requests": args.requests,
            "clients": args.clients,
            "wrong_or_missing": len(load_wrong),
            "requests_per_second": args.requests / load_wall,
        },
    }
    for name, figures in results.items():
        if name == "model":
            continue
        extra = (
            f", {figures['requests_per_second']:.0f} requests/s from {figures['clients']} clients"
            if name == "load"
            else ""
        )
        bad = figures.get("wrong", figures.get("wrong_or_missing"))
        print(
            f"{name:28s} {figures['requests']:5d} requests: median {figures['median_ms']:6.2f} ms, "
            f"p99 {figures['p99_ms']:6.2f} ms, max {figures['max_ms']:7.2f} ms; {bad} wrong{extra}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if load_wrong:
        print(f"wrong or missing answers under load (first 5): {load_wrong[:5]}", file=sys.stderr)
    return 1 if (load_wrong or plain_wrong or page_wrong) else 0


if __name__ == "__main__":
    sys.exit(main())
