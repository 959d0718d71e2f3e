"""Reading ``.npz`` files that may be anything: a model, a checkpoint, or junk.

``numpy.load`` trusts its input: it allocates whatever an array's header
declares, and for a file that is not an archive it may suggest
``allow_pickle=True``, which would let the file run code, the wrong advice.
:class:`NpzReader` instead checks, before reading any array data, that

* the file is a zip archive (not a plain ``.npy``, not random bytes);
* every member is an ``.npy`` array with a readable header whose dtype is one
  the caller allows (never an object array: those need pickle);
* the data the header declares fits in what the archive says the member
  holds, so a header cannot make us allocate more than the file can deliver.

Callers then compare each array's shape and dtype with what they expect and
only then read it. Every problem is a :class:`ModelFileError` naming the file.
"""

import tokenize
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from .errors import ModelFileError

_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a member, or an empty archive
_NPY_START = b"\x93NUMPY"
# NumPy parses an .npy header as a Python literal: a damaged one can also fail
# in the tokenizer or the parser, not only with ValueError.
HEADER_PARSE_ERRORS = (SyntaxError, tokenize.TokenError)


class NpzReader:
    """The members of the ``.npz`` archive ``path``, as ``{name: (shape, dtype)}`` headers.

    ``what`` names the kind of file in messages ("model file", "checkpoint").
    Use as a context manager; :meth:`read` returns one array after its header
    was checked against the caller's expectations.
    """

    def __init__(self, path, what, allowed_dtypes):
        self.path, self.what = path, what
        try:
            with open(path, "rb") as handle:
                start = handle.read(len(_NPY_START))
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such {what}") from None
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
        if start[:4] not in _ZIP_STARTS:
            found = "a single NumPy .npy array" if start == _NPY_START else "something else"
            raise self.error(f"expected a scratchnn {what} (an .npz archive), found {found}")
        try:
            self._zip = zipfile.ZipFile(path)
            self.headers = {}
            for info in self._zip.infolist():
                self.headers[self._member_name(info)] = self._read_header(info, allowed_dtypes)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            OSError,
            EOFError,
            ValueError,
            NotImplementedError,
            *HEADER_PARSE_ERRORS,
        ) as exc:
            self.close()
            raise self.error(f"damaged .npz archive ({exc})") from None
        except ModelFileError:
            self.close()
            raise

    def error(self, what):
        return ModelFileError(f"{self.path}: not a readable scratchnn {self.what}: {what}")

    def _member_name(self, info):
        if not info.filename.endswith(".npy"):
            raise self.error(f"member {info.filename!r} is not an .npy array")
        return info.filename[: -len(".npy")]

    def _read_header(self, info, allowed_dtypes):
        with self._zip.open(info) as member:
            version = npy_format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(member)
            else:
                raise self.error(f"array {info.filename!r} has an unsupported .npy version {version}")
            header_size = member.tell()
        if dtype.hasobject or dtype.kind not in allowed_dtypes:
            raise self.error(
                f"array {info.filename[:-4]!r} has dtype {dtype}, expected {' or '.join(allowed_dtypes.values())}"
            )
        # What the header declares must fit in what the archive says the member holds.
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header_size + declared > info.file_size:
            raise self.error(
                f"array {info.filename[:-4]!r} declares shape {shape} ({declared:,} bytes), more than the archive holds"
            )
        return tuple(shape), dtype

    def read(self, name, shape=None, dtype=None):
        """Array ``name``, after checking its header against ``shape`` and ``dtype`` (if given)."""
        have_shape, have_dtype = self.headers[name]
        if shape is not None and have_shape != tuple(shape):
            raise self.error(f"array {name!r} has shape {have_shape}, expected {tuple(shape)}")
        if dtype is not None and have_dtype != np.dtype(dtype):
            raise self.error(f"array {name!r} has dtype {have_dtype}, expected {np.dtype(dtype)}")
        try:
            with self._zip.open(name + ".npy") as member:
                return npy_format.read_array(member, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, *HEADER_PARSE_ERRORS) as exc:
            raise self.error(f"array {name!r} cannot be read ({exc})") from None

    def read_text(self, name, max_chars=16_000_000):
        """The string stored as the 0-d unicode array ``name`` (e.g. a JSON description)."""
        shape, dtype = self.headers.get(name, (None, None))
        if shape is None:
            raise self.error(f"no {name} entry")
        if shape != () or dtype.kind != "U" or dtype.itemsize // 4 > max_chars:
            raise self.error(
                f"entry {name} is not a text of at most {max_chars:,} characters (shape {shape}, dtype {dtype})"
            )
        return str(self.read(name))

    def close(self):
        if getattr(self, "_zip", None) is not None:
            self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


FLOATS = {"f": "a float array"}
FLOATS_AND_TEXT = {"f": "a float array", "U": "text"}
