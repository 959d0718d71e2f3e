"""Smoke test of benchmarks/bench_training.py: a tiny run end to end, in a subprocess.

Trains scratchnn and the minimal NumPy reference on 2,000 real MNIST images
for two epochs, in two rounds, and checks the JSON it writes; scikit-learn is
hidden through $SCRATCHNN_BENCH_HIDE, so the report must call that peer "not
installed" and still give scratchnn's numbers.
Skipped (by the ``shared_data`` fixture) when the real MNIST is absent.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_training.py"


def test_tiny_benchmark_reports_scratchnn_and_a_missing_peer(tmp_path, shared_data):
    out = tmp_path / "results.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--train-limit",
        "2000",
        "--epochs",
        "2",
        "--warmup",
        "1",
        "--rounds",
        "2",
        "--peers",
        "scratchnn-adam,numpy-minimal,sklearn-adam",
        "--data-dir",
        str(shared_data),
        "--out",
        str(out),
    ]
    env = {**os.environ, "SCRATCHNN_BENCH_HIDE": "sklearn"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr

    report = json.loads(out.read_text())
    assert report["settings"]["train_rows"] == 2000
    ours = report["peers"]["scratchnn-adam"]
    assert ours["status"] == "ok"
    assert report["settings"]["rounds"] == 2
    assert [len(result["epoch_seconds"]) for result in ours["rounds"]] == [2, 2]
    # The table's figure is the median over the rounds (of two: their mean).
    per_round = [result["seconds_per_epoch"] for result in ours["rounds"]]
    assert ours["seconds_per_epoch"] == pytest.approx(sum(per_round) / 2)
    assert min(per_round) > 0
    assert ours["test_accuracy"] > 0.5  # chance is 0.10
    assert ours["peak_rss_mib"] > 0 and ours["images_per_second"] > 0 and ours["latency_us"] > 0

    # The minimal NumPy reference trains the same network: it must learn too.
    minimal = report["peers"]["numpy-minimal"]
    assert minimal["status"] == "ok" and minimal["test_accuracy"] > 0.5
    assert isinstance(report["ratios"]["scratchnn Adam / minimal NumPy Adam"], float)

    assert report["peers"]["sklearn-adam"]["status"] == "not installed"
    assert "n/a" in report["ratios"]["scratchnn Adam / scikit-learn Adam"]
    assert "not installed" in done.stdout and "[round 2/2" in done.stdout
    assert done.stdout.splitlines()[0] == shlex.join(command)  # the exact command, first


def test_cnn_flop_count_and_the_pytorch_twin_of_an_architecture():
    """The CNN rows' GFLOP/s rest on this count; the PyTorch peer must be the same network."""
    sys.path.insert(0, str(SCRIPT.parent))
    import bench_training as bench

    # Per image: conv1 676*9*32 and conv2 121*288*64 multiply-adds, dense 1600*128 and 128*10;
    # 2 flop each; forward + weight gradient for the first layer, + input gradient for the rest.
    per_image = 2 * (676 * 9 * 32 * 2 + 121 * 288 * 64 * 3 + 1600 * 128 * 3 + 128 * 10 * 3)
    assert bench.architecture_gflop(bench.REFERENCE_CNN, 1000) == pytest.approx(per_image * 1000 / 1e9)
    torch = pytest.importorskip("torch", reason="PyTorch not installed")
    from scratchnn.nn import build_model, parse_architecture

    twin = bench.torch_network(torch.nn, bench.REFERENCE_CNN)
    ours = build_model(parse_architecture(bench.REFERENCE_CNN), (1, 28, 28))
    assert sum(p.numel() for p in twin.parameters()) == ours.params.size
    assert twin(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_layer_profile_times_every_layer_in_the_order_the_model_runs_them(shared_data):
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_layers.py"), "conv4k3 relu maxpool2 flatten dense10"]
    done = subprocess.run(
        [*command, "--steps", "7", "--batch-size", "16"],
        capture_output=True,
        text=True,
        env=os.environ | {"SCRATCHNN_DATA": str(shared_data)},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"batch 16, {lines[0].split(', ')[1]}, median of 2 steps, ms:"
    names = [line.split()[1] for line in lines[1:-1]]
    assert names == ["Conv2D(1,", "MaxPool2D(2,", "ReLU()", "Flatten()", "Dense(676,"]  # ReLU after the pool
    assert lines[-1].startswith("total ") and lines[-1].endswith(" ms a step (layers only)")
