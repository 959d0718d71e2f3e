"""Fixtures for the data tests: the real datasets, a sealed-off environment, fake mirrors.

No test here may touch the network or the user's real cache. Every test runs
with HOME in a temporary folder, no SCRATCHNN_DATA, no system copy, no mirrors
and an ``npm`` that refuses to run; a test opts back in to exactly what it
exercises (the loopback mirror server, a fake npm). The real datasets come
from the fixtures in tests/conftest.py, found before any test seals itself off.
"""

import functools
import gzip
import http.server
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from scratchnn.data import datasets, download

# Written independently of scratchnn.data.idx so that a wrong table there shows up.
IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def encode_idx(array: np.ndarray) -> bytes:
    """Return the IDX bytes of ``array``: zero bytes, type code, ndim, big-endian sizes and data."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    sizes = np.array(array.shape, dtype=">u4").tobytes()
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture(name="encode_idx")
def encode_idx_fixture():
    """The IDX encoder, as a fixture because test modules cannot import conftest."""
    return encode_idx


@pytest.fixture(autouse=True)
def sealed_environment(tmp_path, monkeypatch):
    """Isolate each test from the real home, cache, system copy, mirrors and npm.

    Returns the fake HOME, whose ``.cache/scratchnn`` is the default cache.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("SCRATCHNN_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATASET_DIRS", {})
    monkeypatch.setattr(download, "MIRRORS", {name: () for name in download.DATASET_NAMES})

    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    write_executable(
        bin_dir / "npm",
        "#!/bin/sh\necho 'npm stub: the real npm must not run in tests' >&2\nexit 1\n",
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return home


def write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def mnist_copy(tmp_path, mnist_gz_dir) -> Path:
    """A writable tmp/mnist folder whose files link to the real ones; replace a file to alter it."""
    folder = tmp_path / "copy" / "mnist"
    folder.mkdir(parents=True)
    for filename in download.DATASET_FILES:
        link_or_copy(mnist_gz_dir / f"{filename}.gz", folder / f"{filename}.gz")
    return folder


def link_or_copy(source: Path, target: Path) -> None:
    try:
        target.symlink_to(source)
    except OSError:
        shutil.copyfile(source, target)


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files like a mirror; ``/short/...`` promises 1000 bytes and sends 102."""

    def do_GET(self):
        self.server.requested.append(self.path)
        if self.path.startswith("/short/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + bytes(100))
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep pytest output clean
        pass


@dataclass
class MirrorServer:
    """A loopback HTTP server with one folder per kind of mirror.

    good/    the real MNIST .gz files
    corrupt/ truncated .gz images and recompressed labels with one altered byte
    empty/   nothing (every file is a 404)
    short/   a response cut short of its Content-Length
    """

    base_url: str
    requested: list = field(default_factory=list)

    def mirror(self, folder: str) -> download.Mirror:
        return download.Mirror(folder, f"{self.base_url}/{folder}/")


@pytest.fixture(scope="session")
def _mirror_server_session(tmp_path_factory, mnist_gz_dir):
    root = tmp_path_factory.mktemp("mirrors")
    for folder in ("good", "corrupt", "empty"):
        (root / folder).mkdir()
    for filename in download.DATASET_FILES:
        compressed = (mnist_gz_dir / f"{filename}.gz").read_bytes()
        shutil.copyfile(mnist_gz_dir / f"{filename}.gz", root / "good" / f"{filename}.gz")
        if "images" in filename:
            damaged = compressed[: len(compressed) // 2]
        else:
            raw = bytearray(gzip.decompress(compressed))
            raw[-1] = (raw[-1] + 1) % 10  # still a valid label, so only the checksum can tell
            damaged = gzip.compress(bytes(raw))
        (root / "corrupt" / f"{filename}.gz").write_bytes(damaged)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_MirrorHandler, directory=str(root)))
    server.daemon_threads = True
    server.requested = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield MirrorServer(base_url=f"http://{host}:{port}", requested=server.requested)
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirror_server(_mirror_server_session) -> MirrorServer:
    """The session's mirror server, with its request log cleared for this test."""
    _mirror_server_session.requested.clear()
    return _mirror_server_session
