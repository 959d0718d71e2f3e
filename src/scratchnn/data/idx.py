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

import math
import zlib
from pathlib import Path

import numpy as np

from scratchnn.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# Type code -> dtype of the items as stored (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MAGIC_SIZE = 4
_DIM_SIZE = 4

# Gzip data is decompressed only as far as its IDX header declares, and a header
# may declare at most this much: 1 GiB, twenty times MNIST's largest file (47 MB).
MAX_DECOMPRESSED_SIZE = 1 << 30
# DEFLATE expands by at most about 1032:1, so n compressed bytes hold at most 1032 n.
MAX_DEFLATE_RATIO = 1032


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


def maybe_decompress(data: bytes, source: str = "<bytes>", max_size: int = MAX_DECOMPRESSED_SIZE) -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic bytes, else return it unchanged.

    A small .gz can inflate to gigabytes (a "gzip bomb"), so the data is never
    decompressed blindly: the IDX header is decompressed first and checked, and
    then exactly the bytes it declares (plus one, to notice extra data). A
    header that declares more than ``max_size`` bytes, or more than the
    compressed bytes can possibly hold, is refused before anything more is
    decompressed.

    Damaged gzip data (truncated, bad deflate data, a wrong CRC) and a header
    that is not IDX both raise :class:`DataError`, so callers only ever have
    to handle that.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    stream = _GzipReader(data, source)
    head = stream.read(_MAGIC_SIZE)
    if len(head) == _MAGIC_SIZE:
        head += stream.read(_DIM_SIZE * head[3])
    dtype, shape, header_size = _read_header(head, source)
    needed = math.prod(shape) * dtype.itemsize
    declared = f"{source}: the IDX header declares shape {shape} of {dtype.name}, {header_size + needed} bytes"
    if header_size + needed > max_size:
        raise DataError(
            f"{declared}, more than the {max_size} bytes allowed for a decompressed IDX file; "
            "the file is damaged or not a dataset"
        )
    if header_size + needed > len(data) * MAX_DEFLATE_RATIO:
        raise DataError(
            f"{source}: corrupt gzip data ({len(data)} compressed bytes): the IDX header declares "
            f"shape {shape} of {dtype.name}, {header_size + needed} bytes, more than they can hold "
            f"(at most {len(data) * MAX_DEFLATE_RATIO}); the file is probably truncated or damaged, "
            "delete it and fetch it again"
        )
    body = stream.read(needed + 1)
    if len(body) > needed:
        raise DataError(
            f"{source}: unexpected trailing bytes: shape {shape} of {dtype.name} needs {needed} bytes "
            f"after the {header_size}-byte header, and the gzip data holds more (decompression stopped there)"
        )
    return head + body


class _GzipReader:
    """Decompress gzip data a requested number of bytes at a time.

    Members follow one another as in :func:`gzip.decompress` (zero padding
    between them is skipped); zlib checks each member's CRC at its end. The
    input is fed in chunks, so no copy of the whole compressed data is made.
    """

    CHUNK = 1 << 16

    def __init__(self, data, source):
        self._source = source
        self._data = memoryview(data).cast("B")
        self._fed = 0  # input bytes handed to zlib so far
        self._member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: gzip header and trailer
        self._pending = b""  # input handed over but not yet consumed (zlib's unconsumed_tail)

    def read(self, n):
        """Up to ``n`` decompressed bytes (fewer only at the end of the data)."""
        pieces, size = [], 0
        try:
            while size < n:
                if self._member.eof and not self._next_member():
                    break
                if not self._pending:
                    if self._fed == len(self._data):
                        raise zlib.error("compressed data ended before the end-of-stream marker")
                    self._pending = self._data[self._fed : self._fed + self.CHUNK]
                    self._fed += len(self._pending)
                piece = self._member.decompress(self._pending, n - size)
                self._pending = self._member.unconsumed_tail
                pieces.append(piece)
                size += len(piece)
        except zlib.error as error:
            raise DataError(
                f"{self._source}: corrupt gzip data ({len(self._data)} compressed bytes): {error}; "
                "the file is probably truncated or damaged, delete it and fetch it again"
            ) from error
        return b"".join(pieces)

    def _next_member(self):
        """Start the member after the one that just ended; False at the end of the data."""
        self._fed -= len(self._member.unused_data)  # handed over, but it belongs to what follows
        while self._fed < len(self._data) and self._data[self._fed] == 0:
            self._fed += 1
        if self._fed == len(self._data):
            return False
        if self._data[self._fed : self._fed + len(GZIP_MAGIC)] != GZIP_MAGIC:
            raise zlib.error("data after the last gzip member is not gzip")
        self._member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = b""
        return True


def parse_idx(data: bytes | memoryview, source: str = "<bytes>") -> np.ndarray:
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
    dtype, shape, header_size = _read_header(data, source)
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


def _read_header(data, source):
    """Check the IDX header at the start of ``data``; return ``(dtype, shape, header_size)``."""
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

    return IDX_DTYPES[type_code], shape, header_size
