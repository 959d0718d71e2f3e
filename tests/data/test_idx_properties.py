"""Property-based tests of the IDX reader: any bytes give an array or a
DataError, and a header is never trusted to size an allocation."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchnn.data.idx import parse_idx, read_idx
from scratchnn.errors import DataError

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
TYPE_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_give_an_array_or_a_data_error(data):
    try:
        parse_idx(data)
    except DataError:
        pass


@PROPERTY
@given(
    type_code=st.sampled_from(sorted(TYPE_CODES) + [0x00, 0x0A, 0xFF]),
    shape=st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4),
    body=st.binary(max_size=64),
)
def test_any_header_with_any_body(type_code, shape, body):
    data = bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + body
    try:
        array = parse_idx(data)
    except DataError:
        return
    # Accepted only when the body is exactly what the header declares.
    assert array.shape == tuple(shape)
    assert array.nbytes == len(body) and array.dtype == np.dtype(TYPE_CODES[type_code]).newbyteorder("=")


@PROPERTY
@given(st.lists(st.integers(0, 255), min_size=1, max_size=50), st.integers(1, 5))
def test_well_formed_files_round_trip(values, columns):
    rows = len(values) // columns
    array = np.array(values[: rows * columns], np.uint8).reshape(rows, columns)
    data = bytes([0, 0, 0x08, 2]) + struct.pack(">II", rows, columns) + array.tobytes()
    np.testing.assert_array_equal(parse_idx(data), array)


def test_a_header_declaring_terabytes_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2**31, 2**16, 2**16) + b"x" * 100))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=str(path)):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # bytes, against the 2**63 the header declares


def _zeros_gzip(size, member=16 << 20):
    """Gzip members that inflate to ``size`` zero bytes: 1 GiB costs about 1 MB and 0.1 s."""
    block = gzip.compress(bytes(member), compresslevel=9)
    return block * (size // member)


def _peak_memory(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_declaring_gigabytes_is_refused_before_decompressing(tmp_path):
    # 4 GiB of images (65536 of 256x256) in a 4 MB file: over the 1 GiB limit for a decompressed IDX file.
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(
        gzip.compress(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 65536, 256, 256)) + _zeros_gzip(4 << 30)
    )
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "(65536, 256, 256)" in message and "1073741824 bytes allowed" in message
    peak = _peak_memory(lambda: pytest.raises(DataError, read_idx, path))
    assert peak < 3 * path.stat().st_size  # the file itself, never the 4 GiB it inflates to


def test_a_gzip_bomb_behind_a_small_header_stops_at_the_declared_size(tmp_path):
    # The header declares 16 bytes; the gzip data goes on for 2 GiB of zeros.
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 16)) + _zeros_gzip(2 << 30))
    peak = _peak_memory(lambda: pytest.raises(DataError, read_idx, path))
    assert peak < 3 * path.stat().st_size
    with pytest.raises(DataError, match="unexpected trailing bytes: shape \\(16,\\) of uint8 needs 16 bytes"):
        read_idx(path)


def test_a_header_declaring_more_than_the_gzip_bytes_can_hold_is_refused(tmp_path):
    # 100 MB declared (under the limit), in a file of about 60 bytes: DEFLATE cannot expand that far.
    path = tmp_path / "short-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 100_000_000) + b"x" * 20))
    with pytest.raises(
        DataError,
        match=r"corrupt gzip data \([0-9]+ compressed bytes\): the IDX header declares "
        r"shape \(100000000,\) of uint8, 100000008 bytes, more than they can hold",
    ):
        read_idx(path)


def test_gzip_members_one_after_another_are_read_as_one_file(tmp_path):
    array = np.arange(600, dtype=np.uint8).reshape(20, 30)
    data = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 20, 30) + array.tobytes()
    path = tmp_path / "members-idx2-ubyte.gz"
    path.write_bytes(gzip.compress(data[:5]) + gzip.compress(data[5:300]) + b"\0" * 4 + gzip.compress(data[300:]))
    np.testing.assert_array_equal(read_idx(path), array)
