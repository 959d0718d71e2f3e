import os
import sys
from pathlib import Path

import pytest

# Tests import the package from src/ even when it is not installed, and the
# shared helpers (gradcheck) from this folder.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

# Resolved once at start-up, before any test changes the environment.
SHARED_DATA = Path(os.environ.get("SCRATCHNN_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding the real mnist/ and fashion-mnist/ (tests never download)."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"real MNIST not found in {SHARED_DATA} (set SCRATCHNN_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist(shared_data):
    from scratchnn.data import load_dataset

    return load_dataset("mnist", data_dir=shared_data, download=False, progress=False)


@pytest.fixture(scope="session")
def digit_classifier(mnist):
    """A small MLP trained here on 20,000 real MNIST digits in a few seconds (about 95%)."""
    import dataclasses

    import scratchnn

    head = dataclasses.replace(mnist.train, images=mnist.train.images[:20000], labels=mnist.train.labels[:20000])
    data = dataclasses.replace(mnist, train=head)
    return scratchnn.train("mlp", data, layers=(784, 100, 10), epochs=4, validation_size=0, augment=False,
                           schedule="constant", warmup_epochs=0, test_every_epoch=False, log=None)
