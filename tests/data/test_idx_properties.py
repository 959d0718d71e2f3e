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
