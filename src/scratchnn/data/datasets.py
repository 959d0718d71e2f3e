"""Load MNIST or Fashion-MNIST as NumPy arrays, from disk or, failing that, the web.

Where the files are looked for, in order:

1. ``data_dir`` when given: the dataset folder itself or a folder holding
   ``<name>/``. An explicit folder without a complete copy is an error, not a
   reason to look elsewhere: the user asked for that copy.
2. ``$SCRATCHNN_DATA/<name>``, so tests and CI can share one read-only copy.
3. The user cache, ``default_cache_dir()/<name>``.
4. A copy installed by the system package manager (:data:`SYSTEM_DATASET_DIRS`).
5. A download into the user cache (see :mod:`scratchnn.data.download`).

A folder counts as a copy when it holds all four IDX files, each raw or
gzip-compressed. Loading checks what the rest of the project relies on
(28x28 uint8 images, labels 0-9, the official split sizes) and, with
``verify=True``, that every file is byte-for-byte the published one.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchnn.data.download import (
    DATASET_FILES,
    DATASET_NAMES,
    SPLIT_FILES,
    check_dataset_name,
    default_cache_dir,
    download_dataset,
    locate_file,
    verify_sha256,
)
from scratchnn.data.idx import parse_idx, read_idx_bytes
from scratchnn.errors import DataError, DownloadError
from scratchnn.nn.backend import module_of

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "Split",
    "default_cache_dir",
    "describe_search",
    "find_dataset_dir",
    "load_dataset",
]

CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": (
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
    ),
}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# Both datasets use the same official split; tests may shrink these to load tiny fakes.
SPLIT_SIZES = {"train": 60_000, "test": 10_000}

DATA_DIR_ENV = "SCRATCHNN_DATA"
# Copies installed by a system package (Debian: dataset-fashion-mnist).
# Tests replace this mapping so a machine's own copy cannot leak in.
SYSTEM_DATASET_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


def scale_pixels(images, out=None, dtype=np.float32):
    """uint8 pixels (N, ...) -> an (N, features) matrix of floats in [0, 1].

    Written into ``out`` when given (the training loop reuses one buffer per
    batch size); one pass that converts and scales, with no temporary.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"pixels scale to a floating-point dtype, got {dtype}")
    xp = module_of(images)  # numpy, or cupy for images on the GPU
    flat = images.reshape(len(images), -1)
    if out is None:
        out = xp.empty(flat.shape, dtype)
    return xp.divide(flat, dtype.type(255), out=out)


def as_model_input(values, out=None, dtype=np.float32):
    """A batch (N, ...) as an (N, features) float matrix a model consumes.

    uint8 pixels are scaled to [0, 1] (:func:`scale_pixels`); any other numbers
    (float features, already-scaled images) are used as they are, converted to
    ``dtype``. Written into ``out`` when given.
    """
    if module_of(values) is np:
        values = np.asarray(values)
    if values.dtype == np.uint8:
        return scale_pixels(values, out=out, dtype=dtype)
    if values.dtype.kind not in "fiub":
        raise TypeError(f"model input must be numbers, got dtype {values.dtype}")
    flat = values.reshape(len(values), -1)
    if out is None:
        return flat.astype(dtype)
    module_of(out).copyto(out, flat, casting="unsafe")
    return out


@dataclass(frozen=True, eq=False)
class Split:
    """One part of a dataset: images and their labels, row for row.

    Images stay uint8 (N, 28, 28), a quarter of the memory of float32;
    :meth:`features` makes the float matrix a model consumes when needed.
    (``eq=False``: comparing arrays element-wise has no single truth value.)

    Attributes
    ----------
    images : numpy.ndarray
        The examples, row for row: uint8 pixels (N, 28, 28) for the datasets here;
        the training loop also takes floats of any example shape, used as they are
        (the scikit-learn estimator's features).
    labels : numpy.ndarray
        Class indices (N,).

    Raises
    ------
    ValueError
        If ``images`` and ``labels`` differ in length.
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"Split needs one label per image, got {len(self.images)} images and {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def features(self, dtype: type = np.float32) -> np.ndarray:
        """Return the images as an (N, 784) matrix of pixels scaled to [0, 1] in ``dtype``.

        Each call allocates a new matrix, so callers may modify it freely.

        Parameters
        ----------
        dtype : numpy dtype
            A floating-point type.

        Returns
        -------
        numpy.ndarray
            (N, pixels per image): uint8 pixels divided by 255.

        Raises
        ------
        TypeError
            If ``dtype`` is not a floating-point type.
        """
        return scale_pixels(self.images, dtype=dtype)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset's official train and test splits, with the names of its classes.

    Attributes
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"`` (another text for data from elsewhere,
        as in the scikit-learn estimator).
    train : Split
        The training split.
    test : Split or None
        The test split; None for data without a test set.
    class_names : tuple of str
        One name per class, by class index (``"0"`` to ``"9"`` for MNIST).
    source : pathlib.Path or None
        The folder the files were loaded from; None for data not read from disk.
    """

    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]
    source: Path


def find_dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the first folder holding a complete copy of dataset ``name``, or None.

    Follows the search order in the module docstring, download excepted.

    Parameters
    ----------
    name : str
        The dataset: ``"mnist"`` or ``"fashion-mnist"``.
    data_dir : str or os.PathLike, optional
        A folder to look in (the dataset folder itself or a folder holding
        ``<name>/``); when given, no other place is searched.

    Returns
    -------
    pathlib.Path or None
        The folder holding all four IDX files (raw or .gz); None if no place
        searched has a complete copy (never None when ``data_dir`` is given).

    Raises
    ------
    DataError
        If ``name`` is unknown, or ``data_dir`` is given but holds no complete copy.
    """
    check_dataset_name(name)
    if data_dir is not None:
        return _explicit_dataset_dir(name, Path(data_dir))
    for folder, _why_here in _implicit_places(name):
        if folder is not None and not _missing_files(folder):
            return folder
    return None


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load dataset ``name``, downloading it into the cache if no copy is found.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    data_dir : str or os.PathLike, optional
        Folder to load from: the dataset folder itself or a folder holding
        ``<name>/``. When given, no other place is searched.
    download : bool
        Download into :func:`default_cache_dir` when no copy is found.
    verify : bool
        Check each file's SHA-256 against the published value. Costs well
        under 0.1 s for MNIST; turn off only for deliberately altered files.
    progress : bool
        Show download progress bars.

    Returns
    -------
    Dataset
        The train and test splits (uint8 images (N, 28, 28), uint8 labels 0-9),
        the class names and the folder they came from.

    Raises
    ------
    DataError
        If no copy is found (and download is off), a file is corrupt, or its
        content does not fit the dataset.
    DownloadError
        If no copy is found and downloading fails.
    """
    folder = find_dataset_dir(name, data_dir)
    if folder is None:
        looked = describe_search(name)
        if not download:
            raise DataError(
                f"no complete copy of {name} found; looked in:\n{looked}\n"
                "Allow downloading, or point data_dir (or $SCRATCHNN_DATA) at a folder "
                "holding the four IDX files."
            )
        try:
            folder = download_dataset(name, dest_dir=default_cache_dir(), progress=progress)
        except DownloadError as error:
            raise DownloadError(
                f"no complete copy of {name} found on disk; looked in:\n{looked}\nand then {error}"
            ) from error
    return _load_folder(name, folder, verify)


def _explicit_dataset_dir(name: str, data_dir: Path) -> Path:
    """Return the copy of ``name`` in a user-given folder, or raise saying what is missing."""
    candidates = [data_dir / name]
    # data_dir may be the dataset folder itself, unless it is obviously
    # another dataset's folder: loading mnist/ as fashion-mnist would "work".
    if data_dir.name == name or data_dir.name not in DATASET_NAMES:
        candidates.append(data_dir)
    for folder in candidates:
        if not _missing_files(folder):
            return folder
    states = "; ".join(f"{folder} {_describe_folder(folder)}" for folder in candidates)
    raise DataError(
        f"data_dir {data_dir} holds no complete copy of {name}: expected the files "
        f"{', '.join(DATASET_FILES)} (each raw or .gz) in {' or '.join(map(str, candidates))}; "
        f"{states}"
    )


def _implicit_places(name: str):
    """Yield (folder or None, how it was chosen) for each place searched without data_dir."""
    env_root = os.environ.get(DATA_DIR_ENV, "")
    if env_root:
        yield Path(env_root) / name, f"${DATA_DIR_ENV}"
    else:
        yield None, f"${DATA_DIR_ENV} (not set)"
    yield default_cache_dir() / name, "user cache"
    system_dir = SYSTEM_DATASET_DIRS.get(name)
    if system_dir is not None:
        yield Path(system_dir), "system package"


def describe_search(name: str) -> str:
    """List every place searched for ``name`` (download excepted) and what was found there.

    Parameters
    ----------
    name : str
        The dataset, e.g. ``"mnist"``.

    Returns
    -------
    str
        One ``  - place (why it is searched): state`` line per place, for error
        messages and for the tests' skip reasons.
    """
    lines = []
    for folder, why_here in _implicit_places(name):
        if folder is None:
            lines.append(f"  - {why_here}")
        else:
            lines.append(f"  - {folder} ({why_here}): {_describe_folder(folder)}")
    return "\n".join(lines)


def _missing_files(folder: Path) -> list[str]:
    """Return the dataset files found in ``folder`` neither raw nor as .gz."""
    return [filename for filename in DATASET_FILES if locate_file(folder, filename) is None]


def _describe_folder(folder: Path) -> str:
    """Say in a few words why ``folder`` is or is not a complete copy."""
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is not a folder"
    missing = _missing_files(folder)
    if missing:
        return f"is missing {', '.join(missing)}"
    return "is complete"


def _load_folder(name: str, folder: Path, verify: bool) -> Dataset:
    """Read, verify and validate the four files of ``name`` in ``folder``."""
    splits = {}
    for split, (images_file, labels_file) in SPLIT_FILES.items():
        images, images_path = _read_file(name, folder, images_file, verify)
        labels, labels_path = _read_file(name, folder, labels_file, verify)
        _check_split(split, images, images_path, labels, labels_path)
        splits[split] = Split(images=images, labels=labels)
    return Dataset(
        name=name,
        train=splits["train"],
        test=splits["test"],
        class_names=CLASS_NAMES[name],
        source=folder,
    )


def _read_file(name: str, folder: Path, filename: str, verify: bool) -> tuple[np.ndarray, Path]:
    """Return the array stored in ``folder/filename[.gz]`` and the path it came from."""
    path = locate_file(folder, filename)
    if path is None:
        raise DataError(f"{folder}: {filename} (raw or .gz) has disappeared")
    raw = read_idx_bytes(path)
    if verify:
        verify_sha256(name, filename, raw, str(path))
    return parse_idx(raw, source=str(path)), path


def _check_split(split, images, images_path, labels, labels_path) -> None:
    """Raise DataError unless the arrays have the layout the rest of the project assumes."""
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, {IMAGE_SHAPE[0]}, "
            f"{IMAGE_SHAPE[1]}), found {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected a 1-D array of uint8 labels, found {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds "
            f"{len(images)} images: expected one label per image"
        )
    if len(images) != SPLIT_SIZES[split]:
        raise DataError(
            f"{images_path}: expected the official {split} split of {SPLIT_SIZES[split]} images, found {len(images)}"
        )
    out_of_range = np.flatnonzero(labels >= NUM_CLASSES)
    if out_of_range.size:
        first = out_of_range[0]
        raise DataError(
            f"{labels_path}: expected labels 0..{NUM_CLASSES - 1}, found {labels[first]} at index {first} "
            f"({out_of_range.size} labels out of range)"
        )
