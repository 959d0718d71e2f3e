"""The package as its users get it: built, checked, installed elsewhere, used.

``python -m build`` makes the sdist and, from it, the wheel (so a file missing
from the sdist is missing from the wheel too); ``twine check`` must accept both.
The wheel is installed into a fresh virtual environment (its dependencies come
from the package index, through pip's cache), and the commands run from a folder
outside the repository: nothing of the checkout is importable there, so a package
that needs a file only the repository has fails here.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import scratchnn

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "scratchnn"


def run(command, **kwargs):
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def package_files():
    """Every file of the package in the source tree, as the wheel names it."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_installs_into_a_fresh_environment_and_trains(tmp_path, shared_data):
    pytest.importorskip("build")
    pytest.importorskip("twine")
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    (wheel,) = dist.glob("scratchnn-*.whl")
    (sdist,) = dist.glob("scratchnn-*.tar.gz")
    assert wheel.name.startswith(f"scratchnn-{scratchnn.__version__}-")
    assert sdist.name == f"scratchnn-{scratchnn.__version__}.tar.gz"
    checked = run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist])
    assert checked.stdout.count("PASSED") == 2

    # Everything the package holds (code, the web page's files, py.typed) is in the wheel.
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert "scratchnn/serve/static/index.html" in in_wheel and "scratchnn/py.typed" in in_wheel
    assert package_files() <= in_wheel, sorted(package_files() - in_wheel)

    fresh = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", fresh])
    python, command = fresh / "bin" / "python", fresh / "bin" / "scratchnn"
    # The test environment's pip installs into the fresh one (no pip needed inside it).
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SCRATCHNN_DATA=str(shared_data), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    version = run([command, "--version"], cwd=elsewhere, env=env)
    assert version.stdout == f"scratchnn {scratchnn.__version__}\n"

    # One epoch, small but real: a 784-32-10 network with Adam on MNIST's training images.
    train = [command, "train", "--layers", "784,32,10", "--epochs", "1", "--batch-size", "256"]
    train += ["--optimizer", "adam", "--lr", "0.003", "--validation-size", "1000", "--no-download"]
    run([*train, "--output-dir", "runs", "--name", "one", "--quiet"], cwd=elsewhere, env=env)
    model = elsewhere / "runs" / "one" / "model.npz"
    assert model.is_file() and (elsewhere / "runs" / "one" / "loss.png").is_file()

    # The installed copy did the work, and the model it wrote loads and has learnt.
    script = "import scratchnn, sys; m = scratchnn.load_model(sys.argv[1]); print(scratchnn.__file__); "
    script += "print(m.metadata['epochs_trained'], m.metadata['test_accuracy'])"
    where, result = run([python, "-c", script, model], cwd=elsewhere, env=env).stdout.splitlines()
    assert Path(where).resolve().is_relative_to(fresh.resolve())
    epochs, accuracy = result.split()
    assert int(epochs) == 1 and float(accuracy) > 0.85  # chance is 0.10
