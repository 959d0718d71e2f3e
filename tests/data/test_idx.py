"""Tests for scratchnn.data.idx: decoding IDX files and reporting every way they can be broken."""

import gzip

import numpy as np
import pytest

from scratchnn.data.idx import parse_idx, read_idx
from scratchnn.errors import DataError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)]


def sample_array(dtype, shape, seed=0):
    """Values that use the whole range of ``dtype``, so byte order mistakes show."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 1e3).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_parse_round_trips_every_type_and_rank(encode_idx, dtype, shape):
    array = sample_array(dtype, shape)
    decoded = parse_idx(encode_idx(array))
    assert decoded.dtype == np.dtype(dtype)
    assert decoded.dtype.isnative
    assert decoded.shape == shape
    np.testing.assert_array_equal(decoded, array)
    assert decoded.flags.writeable


def test_parse_reads_multibyte_items_as_big_endian():
    # Written by hand, not by the test encoder: type 0x0B (int16), 1 dim of size 2.
    data = b"\x00\x00\x0b\x01" + b"\x00\x00\x00\x02" + b"\x01\x02" + b"\xff\xfe"
    np.testing.assert_array_equal(parse_idx(data), np.array([258, -2], dtype=np.int16))


def test_parse_accepts_empty_dimension(encode_idx):
    decoded = parse_idx(encode_idx(np.zeros((0, 28, 28), dtype=np.uint8)))
    assert decoded.shape == (0, 28, 28)


def test_read_detects_gzip_by_content_not_suffix(tmp_path, encode_idx):
    array = sample_array(np.int32, (4, 6))
    data = encode_idx(array)
    raw_named_gz = tmp_path / "raw.gz"
    raw_named_gz.write_bytes(data)
    gzip_named_raw = tmp_path / "compressed-ubyte"
    gzip_named_raw.write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gzip_named_raw), array)
    np.testing.assert_array_equal(read_idx(str(gzip_named_raw)), array)


def test_read_real_mnist_labels(mnist_gz_dir):
    labels = read_idx(mnist_gz_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,)
    assert labels.dtype == np.uint8
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


def valid_idx(encode_idx):
    return encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4))


BROKEN_FILES = {
    # name: (bytes builder, words the message must contain)
    "bad-magic": (lambda ok: b"\x01" + ok[1:], ["not an IDX file", "0x00 0x00", "0x01 0x00"]),
    "unknown-type": (lambda ok: ok[:2] + b"\x0a" + ok[3:], ["unknown IDX type code 0x0A", "0x08 (uint8)"]),
    "zero-dims": (lambda ok: b"\x00\x00\x08\x00", ["0 dimensions", "at least 1"]),
    "short-magic": (lambda ok: ok[:3], ["truncated IDX header", "at least 4 bytes", "found 3"]),
    "short-dims": (lambda ok: ok[:10], ["truncated IDX header", "12-byte header", "found only 10 bytes"]),
    "short-data": (lambda ok: ok[:-5], ["truncated IDX data", "(3, 4)", "needs 12 bytes", "found 7"]),
    "trailing": (lambda ok: ok + b"\x00\x00", ["2 unexpected trailing bytes", "needs 12 bytes", "found 14"]),
    "empty": (lambda ok: b"", ["truncated IDX header", "found 0"]),
}


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_files_raise_data_error_naming_the_file(tmp_path, encode_idx, case):
    build, expected_words = BROKEN_FILES[case]
    path = tmp_path / f"{case}-idx1-ubyte"
    path.write_bytes(build(valid_idx(encode_idx)))
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message
    for word in expected_words:
        assert word in message


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_bytes_name_the_given_source(encode_idx, case):
    build, _ = BROKEN_FILES[case]
    with pytest.raises(DataError, match="^from-the-network: "):
        parse_idx(build(valid_idx(encode_idx)), source="from-the-network")


def test_broken_gzip_file_is_still_checked_as_idx(tmp_path, encode_idx):
    path = tmp_path / "trailing.gz"
    path.write_bytes(gzip.compress(valid_idx(encode_idx) + b"\x00"))
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(path)


CORRUPT_GZIP = {
    "truncated": lambda gz: gz[: len(gz) // 2],
    "header-only": lambda gz: gz[:10],
    "garbage-deflate": lambda gz: gz[:10] + b"\xff" * 40,
    "bad-crc": lambda gz: gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:],
}


@pytest.mark.parametrize("case", CORRUPT_GZIP)
def test_corrupt_gzip_raises_data_error_not_zlib_errors(tmp_path, encode_idx, case):
    # A valid IDX file inside (random bytes: no compression, so halving cuts into its data).
    compressed = gzip.compress(encode_idx(sample_array(np.uint8, (64, 256))))
    path = tmp_path / f"{case}.gz"
    path.write_bytes(CORRUPT_GZIP[case](compressed))
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    assert "corrupt gzip" in str(caught.value)


def test_missing_file_raises_data_error(tmp_path):
    path = tmp_path / "nowhere-idx3-ubyte"
    with pytest.raises(DataError, match="cannot read file") as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
