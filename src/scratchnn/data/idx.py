"""Read the IDX file format that MNIST and Fashion-MNIST are published in.

An IDX file is a tiny header followed by one big-endian C-order array::

    bytes 0-1   0x00 0x00                 (always zero)
    byte  2     type code                 (0x08 = uint8, ... see IDX_DTYPES)
    byte  3     ndim                      (number of dimensions)
    then        ndim big-endian uint32    (size of each dimension)
    then        prod(sizes) items         (the data, big-endian, no padding)

Files are usually distributed gzip-compressed. Compression is detected from
the gzip magic bytes rather than from the ``.gz`` suffix, because people
rename files and some mirrors serve decompressed files under ``.gz`` names.

Everything that can go wrong with a file raises :class:`DataError` whose
message names the file and says what was expected and what was found,
because a truncated download is a user problem, not a bug.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from scratchnn.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# Type code -> dtype of the items as stored (big-endian where it matters).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MAGIC_SIZE = 4
_DIM_SIZE = 4


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or .gz, detected by the gzip magic bytes, not the suffix).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        A writeable, native-endian array with the shape stored in the header.

    Raises
    ------
    DataError
        If the file cannot be read, is not valid gzip, or is not valid IDX.
    """
    path = Path(path)
    return parse_idx(read_idx_bytes(path), source=str(path))


def read_idx_bytes(path) -> bytes:
    """Return the uncompressed IDX bytes of ``path``, decompressing gzip if needed.

    Kept separate from :func:`read_idx` so that a caller can checksum exactly
    the bytes it parses without decompressing the file twice.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read file: {error.strerror or error}") from error
    return maybe_decompress(data, source=str(path))


def maybe_decompress(data: bytes, source: str = "<bytes>") -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic bytes, else return it unchanged.

    zlib and gzip report damage as ``EOFError``, ``zlib.error`` or
    ``gzip.BadGzipFile`` depending on where the damage is; all three become one
    :class:`DataError` so callers only ever have to handle that.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(
            f"{source}: corrupt gzip data ({len(data)} compressed bytes): {error}; "
            "the file is probably truncated or damaged, delete it and fetch it again"
        ) from error


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file into a native-endian array.

    Parameters
    ----------
    data : bytes-like
        The whole file content, header included.
    source : str
        Name of the file the bytes came from; used only in error messages.

    Returns
    -------
    numpy.ndarray
        A writeable array of the header's shape, in native byte order.

    Raises
    ------
    DataError
        If the header or the data do not match the IDX layout exactly.
    """
    data = memoryview(data).cast("B")
    if len(data) < _MAGIC_SIZE:
        raise DataError(
            f"{source}: truncated IDX header: expected at least {_MAGIC_SIZE} bytes "
            f"(the magic number), found {len(data)}"
        )
    zero0, zero1, type_code, ndim = data[:_MAGIC_SIZE]
    if (zero0, zero1) != (0, 0):
        raise DataError(
            f"{source}: not an IDX file: expected the magic number to start with "
            f"bytes 0x00 0x00, found 0x{zero0:02X} 0x{zero1:02X}"
        )
    if type_code not in IDX_DTYPES:
        supported = ", ".join(f"0x{code:02X} ({dtype.name})" for code, dtype in IDX_DTYPES.items())
        raise DataError(f"{source}: unknown IDX type code 0x{type_code:02X}: expected one of {supported}")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions: expected at least 1")

    header_size = _MAGIC_SIZE + _DIM_SIZE * ndim
    if len(data) < header_size:
        raise DataError(
            f"{source}: truncated IDX header: {ndim} dimensions need a "
            f"{header_size}-byte header, found only {len(data)} bytes"
        )
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=_MAGIC_SIZE))

    dtype = IDX_DTYPES[type_code]
    count = math.prod(shape)
    expected_size = count * dtype.itemsize
    found_size = len(data) - header_size
    if found_size < expected_size:
        raise DataError(
            f"{source}: truncated IDX data: shape {shape} of {dtype.name} needs "
            f"{expected_size} bytes after the {header_size}-byte header, found {found_size}"
        )
    if found_size > expected_size:
        raise DataError(
            f"{source}: {found_size - expected_size} unexpected trailing bytes: shape {shape} "
            f"of {dtype.name} needs {expected_size} bytes after the {header_size}-byte "
            f"header, found {found_size}"
        )

    stored = np.frombuffer(data, dtype, count=count, offset=header_size).reshape(shape)
    # astype copies, which both converts to native byte order and gives the
    # caller an array that owns its memory (frombuffer views are read-only).
    return stored.astype(dtype.newbyteorder("="))
