import dataclasses
import os
from pathlib import Path

import pytest

from scratchnn.data import load_dataset


def shared_data_dir():
    env = os.environ.get("SCRATCHNN_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (path / "mnist").is_dir():
        pytest.skip(f"real MNIST not found at {path} (set SCRATCHNN_DATA)")
    return path


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist", data_dir=shared_data_dir(), download=False, progress=False)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 4,000 training and 1,000 test images: real data, fast epochs."""
    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    return dataclasses.replace(mnist, train=head(mnist.train, 4000), test=head(mnist.test, 1000))
