"""Tests for scratchnn.data.datasets: the real data's known facts, the search order, validation."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from scratchnn.data import datasets
from scratchnn.data.datasets import (
    DATASET_NAMES,
    Split,
    default_cache_dir,
    find_dataset_dir,
    load_dataset,
)
from scratchnn.data.download import DATASET_FILES, RAW_SHA256
from scratchnn.errors import DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# --- the real datasets -------------------------------------------------------


def test_dataset_names():
    assert DATASET_NAMES == ("mnist", "fashion-mnist")


def test_mnist_shapes_and_dtypes(mnist, mnist_dir):
    assert mnist.name == "mnist"
    assert mnist.source == mnist_dir
    assert mnist.class_names == tuple("0123456789")
    for split, size in ((mnist.train, 60000), (mnist.test, 10000)):
        assert len(split) == size
        assert split.images.shape == (size, 28, 28)
        assert split.images.dtype == np.uint8
        assert split.labels.shape == (size,)
        assert split.labels.dtype == np.uint8


def test_mnist_known_facts(mnist):
    assert np.bincount(mnist.train.labels, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.test.labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert round(mnist.train.images.mean(dtype=np.float64) / 255, 4) == 0.1307


def test_fashion_mnist_known_facts(fashion):
    assert fashion.name == "fashion-mnist"
    assert fashion.class_names == FASHION_CLASSES
    assert fashion.train.images.shape == (60000, 28, 28)
    assert fashion.test.images.shape == (10000, 28, 28)
    assert np.bincount(fashion.train.labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(fashion.test.labels, minlength=10).tolist() == [1000] * 10
    assert round(fashion.train.images.mean(dtype=np.float64) / 255, 4) == 0.2860


def test_features_are_scaled_flat_float32_by_default(mnist):
    features = mnist.test.features()
    assert features.shape == (10000, 784)
    assert features.dtype == np.float32
    assert features.min() == 0.0
    assert features.max() == 1.0
    np.testing.assert_allclose(features[123], mnist.test.images[123].ravel() / 255, rtol=1e-6)


def test_features_honour_dtype_and_leave_images_alone(mnist):
    features = mnist.test.features(np.float64)
    assert features.dtype == np.float64
    np.testing.assert_array_equal(features[:10], mnist.test.images[:10].reshape(10, -1) / 255.0)
    features[:] = -1  # a fresh array: writing it must not touch the dataset
    assert mnist.test.images.min() == 0


def test_features_reject_integer_dtypes(mnist):
    with pytest.raises(TypeError, match="floating-point"):
        mnist.test.features(np.int32)


def test_split_requires_one_label_per_image():
    with pytest.raises(ValueError, match="one label per image"):
        Split(images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros(2, np.uint8))


def test_split_is_frozen(mnist):
    with pytest.raises(AttributeError):
        mnist.test.labels = np.zeros(1)


def test_loading_from_parent_folder_and_without_verification(shared_data, mnist):
    unverified = load_dataset("mnist", data_dir=shared_data, download=False, verify=False)
    assert unverified.source == shared_data / "mnist"
    np.testing.assert_array_equal(unverified.test.labels, mnist.test.labels)


# --- default cache folder ----------------------------------------------------


def test_default_cache_dir_uses_home(sealed_environment):
    assert default_cache_dir() == sealed_environment / ".cache" / "scratchnn"


def test_default_cache_dir_prefers_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "scratchnn"


def test_default_cache_dir_ignores_relative_xdg_cache_home(sealed_environment, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert default_cache_dir() == sealed_environment / ".cache" / "scratchnn"


# --- search order (placeholder files: finding never reads them) -------------


def make_copy(folder: Path, skip=(), raw=()) -> Path:
    """Create ``folder`` holding empty stand-ins for the four files (.gz unless in ``raw``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename in DATASET_FILES:
        if filename not in skip:
            (folder / (filename if filename in raw else f"{filename}.gz")).touch()
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch, sealed_environment):
    """A complete copy of mnist in each of: explicit dir, $SCRATCHNN_DATA, cache, system dir."""
    explicit = make_copy(tmp_path / "explicit" / "mnist")
    env = make_copy(tmp_path / "env" / "mnist")
    cache = make_copy(sealed_environment / ".cache" / "scratchnn" / "mnist")
    system = make_copy(tmp_path / "system" / "mnist")
    monkeypatch.setenv("SCRATCHNN_DATA", str(env.parent))
    monkeypatch.setattr(datasets, "SYSTEM_DATASET_DIRS", {"mnist": system})
    return {"explicit": explicit, "env": env, "cache": cache, "system": system}


def test_explicit_dir_beats_everything(places):
    assert find_dataset_dir("mnist", places["explicit"].parent) == places["explicit"]
    assert find_dataset_dir("mnist", places["explicit"]) == places["explicit"]
    assert find_dataset_dir("mnist", str(places["explicit"])) == places["explicit"]


def test_env_var_beats_cache(places):
    assert find_dataset_dir("mnist") == places["env"]


def test_cache_beats_system_copy(places, monkeypatch):
    monkeypatch.delenv("SCRATCHNN_DATA")
    assert find_dataset_dir("mnist") == places["cache"]


def test_incomplete_copies_are_skipped(places):
    (places["env"] / "t10k-labels-idx1-ubyte.gz").unlink()
    (places["cache"] / "train-images-idx3-ubyte.gz").unlink()
    assert find_dataset_dir("mnist") == places["system"]


def test_nothing_found_returns_none(places):
    for name in ("env", "cache", "system"):
        (places[name] / "train-labels-idx1-ubyte.gz").unlink()
    assert find_dataset_dir("mnist") is None


def test_system_copy_of_fashion_mnist_is_the_debian_path(monkeypatch):
    monkeypatch.undo()  # the sealed environment hides the module's own value
    expected = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
    assert datasets.SYSTEM_DATASET_DIRS == expected  # noqa: SIM300 (the module's value is under test)


def test_raw_and_gzip_files_may_be_mixed(tmp_path):
    folder = make_copy(tmp_path / "mnist", raw=("t10k-labels-idx1-ubyte", "train-images-idx3-ubyte"))
    assert find_dataset_dir("mnist", folder) == folder


def test_explicit_dir_without_copy_is_an_error_not_a_fall_through(places, tmp_path):
    incomplete = make_copy(tmp_path / "incomplete", skip=("t10k-images-idx3-ubyte",))
    with pytest.raises(DataError) as caught:
        find_dataset_dir("mnist", incomplete)
    message = str(caught.value)
    assert str(incomplete) in message
    assert "is missing t10k-images-idx3-ubyte" in message
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "no-such-folder")


def test_explicit_dir_of_another_dataset_is_refused(tmp_path):
    mnist_folder = make_copy(tmp_path / "mnist")
    with pytest.raises(DataError, match="no complete copy of fashion-mnist"):
        find_dataset_dir("fashion-mnist", mnist_folder)


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown dataset 'cifar10': expected one of mnist, fashion-mnist"):
        load_dataset("cifar10")


def test_load_uses_env_var_copy(tmp_path, monkeypatch, mnist_copy):
    monkeypatch.setenv("SCRATCHNN_DATA", str(mnist_copy.parent))
    assert load_dataset("mnist", download=False, verify=False).source == mnist_copy


def test_load_without_copy_or_download_lists_every_place(places, monkeypatch):
    for name in ("env", "cache", "system"):
        (places[name] / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", download=False)
    message = str(caught.value)
    for name in ("env", "cache", "system"):
        assert f"{places[name]} (" in message
    assert "is missing train-labels-idx1-ubyte" in message

    monkeypatch.delenv("SCRATCHNN_DATA")
    with pytest.raises(DataError, match=r"\$SCRATCHNN_DATA \(not set\)"):
        load_dataset("mnist", download=False)


# --- validation of altered copies --------------------------------------------


def rewrite(path: Path, change) -> None:
    """Replace the (possibly symlinked) gzip file ``path`` by ``change(raw bytes)``, recompressed."""
    raw = gzip.decompress(path.read_bytes())
    path.unlink()
    path.write_bytes(gzip.compress(change(raw), compresslevel=1))


def with_byte(index, value):
    def change(raw):
        altered = bytearray(raw)
        altered[index] = value
        return bytes(altered)

    return change


def test_checksum_mismatch_names_file_and_both_hashes(mnist_copy, mnist):
    labels_file = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    new_label = (int(mnist.test.labels[-1]) + 1) % 10  # still a valid label
    rewrite(labels_file, with_byte(-1, new_label))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", data_dir=mnist_copy)
    message = str(caught.value)
    assert str(labels_file) in message
    assert RAW_SHA256["mnist"]["t10k-labels-idx1-ubyte"] in message
    actual = hashlib.sha256(gzip.decompress(labels_file.read_bytes())).hexdigest()
    assert actual in message

    # verify=False is the escape hatch for deliberately altered files.
    altered = load_dataset("mnist", data_dir=mnist_copy, verify=False)
    assert altered.test.labels[-1] == new_label


def test_label_out_of_range(mnist_copy):
    labels_file = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    rewrite(labels_file, with_byte(8 + 17, 10))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", data_dir=mnist_copy, verify=False)
    message = str(caught.value)
    assert str(labels_file) in message
    assert "expected labels 0..9, found 10 at index 17" in message


def test_label_count_must_match_image_count(mnist_copy, encode_idx, mnist):
    labels_file = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    labels_file.unlink()
    labels_file.write_bytes(gzip.compress(encode_idx(mnist.test.labels[:-1])))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", data_dir=mnist_copy, verify=False)
    message = str(caught.value)
    assert f"{labels_file} holds 9999 labels" in message
    assert "t10k-images-idx3-ubyte.gz holds 10000 images" in message


def test_split_must_have_official_size(mnist_copy, encode_idx, mnist):
    for filename, array in (
        ("t10k-images-idx3-ubyte", mnist.test.images[:9000]),
        ("t10k-labels-idx1-ubyte", mnist.test.labels[:9000]),
    ):
        (mnist_copy / f"{filename}.gz").unlink()
        (mnist_copy / filename).write_bytes(encode_idx(array))  # raw files work too
    with pytest.raises(DataError, match="expected the official test split of 10000 images, found 9000"):
        load_dataset("mnist", data_dir=mnist_copy, verify=False)


def test_images_must_be_28_by_28(mnist_copy, encode_idx, mnist):
    (mnist_copy / "t10k-images-idx3-ubyte.gz").unlink()
    images_file = mnist_copy / "t10k-images-idx3-ubyte"
    images_file.write_bytes(encode_idx(mnist.test.images.reshape(10000, 14, 56)))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", data_dir=mnist_copy, verify=False)
    message = str(caught.value)
    assert str(images_file) in message
    assert "expected uint8 images of shape (N, 28, 28), found uint8 of shape (10000, 14, 56)" in message


def test_truncated_download_in_cache_is_reported(sealed_environment, mnist_copy):
    images_file = mnist_copy / "t10k-images-idx3-ubyte.gz"
    compressed = images_file.read_bytes()
    images_file.unlink()
    images_file.write_bytes(compressed[:1000])
    with pytest.raises(DataError, match="corrupt gzip") as caught:
        load_dataset("mnist", data_dir=mnist_copy)
    assert str(images_file) in str(caught.value)
