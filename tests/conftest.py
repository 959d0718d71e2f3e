import os
import sys
from pathlib import Path

import pytest

# Tests import the package from src/ even when it is not installed, and the
# shared helpers (gradcheck, skip_policy) from this folder.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

# A development checkout has the datasets in ../shared/data beside it; CI points
# $SCRATCHNN_DATA there, and so do plain `pytest` runs here, through the same lookup.
_beside = ROOT.parent / "shared" / "data"
if not os.environ.get("SCRATCHNN_DATA") and _beside.is_dir():
    os.environ["SCRATCHNN_DATA"] = str(_beside)

from skip_policy import dataset_missing_reason  # noqa: E402

from scratchnn.data import DATASET_NAMES, find_dataset_dir  # noqa: E402
from scratchnn.errors import DataError  # noqa: E402

# name -> the folder holding the real dataset, or the skip reason saying why there is none.
# Found as the program finds them (--data-dir, $SCRATCHNN_DATA, the user cache, a system
# copy; never downloaded here), once, before any test changes the environment.
REAL_DATASETS = {}


def pytest_addoption(parser):
    parser.addoption(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding the real mnist/ and fashion-mnist/ (default: found as scratchnn finds "
        "them: $SCRATCHNN_DATA, the user cache, a system copy)",
    )


def pytest_configure(config):
    data_dir = config.getoption("--data-dir")
    for name in DATASET_NAMES:
        try:
            folder = find_dataset_dir(name, data_dir)
        except DataError as error:
            REAL_DATASETS[name] = dataset_missing_reason(name, str(error))
            continue
        REAL_DATASETS[name] = folder.resolve() if folder else dataset_missing_reason(name)


def real_dataset_dir(name: str) -> Path:
    """The folder holding the real dataset ``name``; skips the test, saying how to get it, if there is none."""
    found = REAL_DATASETS[name]
    if not isinstance(found, Path):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the real MNIST files."""
    return real_dataset_dir("mnist")


@pytest.fixture(scope="session")
def mnist_gz_dir(mnist_dir, tmp_path_factory) -> Path:
    """A folder holding the four real MNIST files gzip-compressed, as the mirrors serve them.

    The found copy itself when it is compressed; else (npm ships raw files) compressed copies.
    """
    import gzip

    from scratchnn.data.download import DATASET_FILES, locate_file

    if all((mnist_dir / f"{filename}.gz").is_file() for filename in DATASET_FILES):
        return mnist_dir
    folder = tmp_path_factory.mktemp("mnist-gz")
    for filename in DATASET_FILES:
        path = locate_file(mnist_dir, filename)
        data = path.read_bytes()
        if not data.startswith(b"\x1f\x8b"):
            data = gzip.compress(data, compresslevel=1)
        (folder / f"{filename}.gz").write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The folder holding the real Fashion-MNIST files."""
    return real_dataset_dir("fashion-mnist")


@pytest.fixture(scope="session")
def shared_data(mnist_dir, tmp_path_factory) -> Path:
    """A folder holding ``mnist/`` (and ``fashion-mnist/`` where found), for ``--data-dir``.

    The copies may live in different places (say MNIST in the cache, Fashion-MNIST
    in the system copy); then this is a folder of links to them.
    """
    folders = {name: found for name, found in REAL_DATASETS.items() if isinstance(found, Path)}
    parents = {folder.parent for folder in folders.values()}
    if len(parents) == 1 and all(folder.name == name for name, folder in folders.items()):
        return parents.pop()
    root = tmp_path_factory.mktemp("real-data")
    for name, folder in folders.items():
        (root / name).symlink_to(folder, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """Real MNIST, loaded and verified once per session (about 0.4 s)."""
    from scratchnn.data import load_dataset

    return load_dataset("mnist", data_dir=mnist_dir, download=False, progress=False)


@pytest.fixture(scope="session")
def fashion(fashion_dir):
    """Real Fashion-MNIST, loaded and verified once per session."""
    from scratchnn.data import load_dataset

    return load_dataset("fashion-mnist", data_dir=fashion_dir, download=False, progress=False)


@pytest.fixture(scope="session")
def digit_classifier(mnist):
    """A small MLP trained here on 20,000 real MNIST digits in a few seconds (about 95%)."""
    import dataclasses

    import scratchnn

    head = dataclasses.replace(mnist.train, images=mnist.train.images[:20000], labels=mnist.train.labels[:20000])
    data = dataclasses.replace(mnist, train=head)
    return scratchnn.train(
        "mlp",
        data,
        layers=(784, 100, 10),
        epochs=4,
        validation_size=0,
        augment=False,
        schedule="constant",
        warmup_epochs=0,
        test_every_epoch=False,
        log=None,
    )
