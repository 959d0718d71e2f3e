"""--device on the command line, checked where CuPy cannot be imported (as on a CPU-only machine).

Each command runs in a fresh interpreter with ``cupy`` made unimportable, so these
hold whether or not CuPy is installed here.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np

from scratchnn.classifier import Classifier
from scratchnn.nn import build_mlp

SRC = Path(__file__).resolve().parents[1] / "src"
WITHOUT_CUPY = "import sys; sys.modules['cupy'] = None; from scratchnn.cli import main; sys.exit(main(sys.argv[1:]))"


def run_without_cupy(args, cwd):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_CUPY, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(SRC)},
    )


def test_train_on_a_missing_gpu_stops_in_one_line_before_writing_anything(tmp_path):
    done = run_without_cupy(["train", "--device", "gpu", "--output-dir", "runs", "--no-download"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "--device gpu needs CuPy, which is not installed" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before the run folder was made


def test_evaluate_and_predict_pass_their_device_on(tmp_path):
    path = tmp_path / "model.npz"
    Classifier(build_mlp([784, 8, 10], seed=0)).save(path)
    picture = tmp_path / "digit.npy"
    np.save(picture, np.zeros((28, 28), np.uint8))
    for args in (["evaluate", str(path)], ["predict", str(path), str(picture)]):
        done = run_without_cupy([*args, "--device", "gpu"], tmp_path)
        assert done.returncode == 2, args
        assert "--device gpu needs CuPy" in done.stderr, args
