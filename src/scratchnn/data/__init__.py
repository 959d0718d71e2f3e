"""The data layer: the IDX file format, the MNIST-style datasets, and fetching them.

Imports flow one way: ``datasets`` uses ``download``, which uses ``idx``.
"""

from scratchnn.data.datasets import (
    DATASET_NAMES,
    Dataset,
    Split,
    default_cache_dir,
    describe_search,
    find_dataset_dir,
    load_dataset,
)
from scratchnn.data.download import MIRRORS, Mirror, download_dataset
from scratchnn.data.idx import parse_idx, read_idx

__all__ = [
    "DATASET_NAMES",
    "MIRRORS",
    "Dataset",
    "Mirror",
    "Split",
    "default_cache_dir",
    "describe_search",
    "download_dataset",
    "find_dataset_dir",
    "load_dataset",
    "parse_idx",
    "read_idx",
]
