"""A run's folder: where it is, who holds it, and how it is replaced.

A run writes ``config.json``, a checkpoint and the metrics after every epoch,
and at the end the model and the plots, all into one folder under the output
folder. This module makes sure that

* the folder stays inside the output folder (``--name`` is one plain name);
* one process at a time uses it: a lock is held for the whole run, and a
  second run (or ``--resume``) of the same folder is refused with one line. The
  lock is ``fcntl.flock`` on a file beside the folder, so the kernel releases it
  when its process dies: a lock left by a killed run is stale and simply taken;
* ``--overwrite`` replaces the old run whole: the old folder is renamed aside
  and deleted before anything new is written, so none of its files (plots,
  checkpoint) survive and a killed new run can never resume as the old one;
* temporary files left by a killed writer (``.*.tmp``) are removed;
* a run killed before its first checkpoint (only ``config.json`` written) can
  be started again under the same name, or with ``--resume``.
"""

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import RunFolderError

CHECKPOINT_NAME = "checkpoint.npz"
CONFIG_NAME = "config.json"


def check_run_name(name):
    """Refuse a ``--name`` that is not one plain folder name (no ``/``, ``..``, absolute path)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or (os.sep != "/" and os.sep in name):
        raise RunFolderError(f"--name {name!r} must be one folder name inside --output-dir, without '/' or '..'")
    return name


def _unfinished(path):
    """True if the folder holds nothing but a run's ``config.json`` (killed before its first epoch ended)."""
    names = {p.name for p in path.iterdir() if not _is_temporary(p)}
    return names <= {CONFIG_NAME}


def _is_temporary(path):
    return path.name.startswith(".") and path.name.endswith(".tmp")


class RunFolder:
    """The folder of one run, locked while the object is open (use ``with``)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock_path = self.path.parent / f".{self.path.name}.lock"
        self._lock_fd = None

    # -- the lock ------------------------------------------------------------
    def _lock(self):
        while True:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunFolderError(
                    f"run folder {self.path} is in use by {holder}; wait for it to finish or choose another --name"
                ) from None
            # The holder before us may have removed the lock file after we opened it:
            # then our lock is on a deleted file and does not count. Try again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self._lock_path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()}".encode())
        self._lock_fd = fd

    def _unlock(self):
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._lock_path)
        os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._unlock()

    # -- preparing the folder ------------------------------------------------
    def remove_temporary_files(self):
        """Delete ``.*.tmp`` files a killed writer left (we hold the lock: nobody is writing)."""
        for path in self.path.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @property
    def checkpoint(self):
        return self.path / CHECKPOINT_NAME

    @property
    def config_file(self):
        return self.path / CONFIG_NAME


def open_new_run(output_dir, name, overwrite=False, config=None):
    """Lock and prepare an empty folder ``output_dir/name`` for a new run.

    An existing folder is refused unless ``overwrite`` (it is then replaced
    whole) or it is an unfinished run that holds only ``config.json``.
    With ``config`` (a :class:`TrainConfig`), its ``config.json`` is written
    into the folder: what ``--resume`` starts a run killed before its first
    checkpoint from. Creates ``output_dir`` if needed; OS errors (not
    writable, a file in the way, a name too long) propagate as ``OSError``
    for the caller to report.
    """
    output_dir = Path(output_dir)
    check_run_name(name)
    output_dir.mkdir(parents=True, exist_ok=True)
    run = RunFolder(output_dir / name)
    run._lock()
    try:
        if run.path.is_symlink() or (run.path.exists() and not run.path.is_dir()):
            raise RunFolderError(f"{run.path} exists and is not a folder; choose another --name")
        if run.path.exists():
            run.remove_temporary_files()
            if overwrite:
                _replace_folder(run.path)
            elif not _unfinished(run.path):
                raise RunFolderError(
                    f"run folder {run.path} already exists; choose another --name, continue "
                    f"it with --resume {run.path}, or pass --overwrite to replace it"
                )
        run.path.mkdir(exist_ok=True)
        if config is not None:
            atomic_write_text(run.config_file, json.dumps(config.to_dict(), indent=1) + "\n")
    except BaseException:
        run._unlock()
        raise
    return run


def _replace_folder(path):
    """Remove the folder ``path`` so that no partial mix of old and new can appear.

    The folder is first renamed aside in one atomic step; only then is it
    deleted. A crash in between leaves a hidden ``.name.old-*`` folder beside
    it, never old files inside the new run.
    """
    aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
    os.replace(path, aside / path.name)
    shutil.rmtree(aside)


def open_existing_run(path):
    """Lock the folder of a run to resume; clean its temporary files.

    Returns the :class:`RunFolder`; raises :class:`RunFolderError` if the
    folder is missing or is not a run.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"{path}: no such run folder to resume")
    run = RunFolder(path)
    run._lock()
    try:
        run.remove_temporary_files()
        if not run.checkpoint.exists() and not run.config_file.exists():
            raise RunFolderError(f"{path}: not a run folder (it has neither {CHECKPOINT_NAME} nor {CONFIG_NAME})")
    except BaseException:
        run._unlock()
        raise
    return run
