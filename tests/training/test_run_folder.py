"""Run folders: kept inside the output folder, locked for the whole run, replaced whole."""

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnn.errors import RunFolderError
from scratchnn.training.run_folder import check_run_name, open_existing_run, open_new_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["..", "../elsewhere", "/tmp/x", "a/b", ".", "", "x\0y"])
def test_names_that_leave_the_output_folder_are_refused(tmp_path, name):
    with pytest.raises(RunFolderError, match="one folder name inside --output-dir"):
        open_new_run(tmp_path / "runs", name)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "runs" / "a").exists()


@pytest.mark.parametrize("name", ["run-1", "my run", "..hidden", "a..b", "classic-mnist-20260101"])
def test_ordinary_names_are_accepted(name):
    assert check_run_name(name) == name


def test_a_second_holder_is_refused_while_the_first_holds_the_folder(tmp_path):
    with open_new_run(tmp_path, "run"):
        with pytest.raises(RunFolderError, match=rf"in use by process {os.getpid()}"):
            open_new_run(tmp_path, "run", overwrite=True)
        with pytest.raises(RunFolderError, match="in use"):
            open_existing_run(tmp_path / "run")
    # Released on exit: the folder can be taken again, and no lock file is left behind.
    (tmp_path / "run" / "config.json").write_text("{}")
    with open_existing_run(tmp_path / "run"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_lock_left_by_a_killed_process_is_stale_and_taken(tmp_path):
    # A child takes the lock and is killed with SIGKILL: its lock file stays, its lock does not.
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2]); "
        "from scratchnn.training.run_folder import open_new_run; "
        "open_new_run(sys.argv[1], 'run'); os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(ROOT / "src")], check=False)
    assert (tmp_path / ".run.lock").read_text().startswith("process ")
    with open_new_run(tmp_path, "run", overwrite=True) as run:
        assert run.path.is_dir()


def test_an_existing_run_is_refused_without_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.npz").write_bytes(b"precious")
    with pytest.raises(RunFolderError, match="already exists.*--resume.*--overwrite"):
        open_new_run(tmp_path, "run")
    assert (tmp_path / "run" / "model.npz").read_bytes() == b"precious"


def test_overwrite_replaces_the_whole_folder_before_the_new_run_writes(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    for name in ("loss.png", "checkpoint.npz", "config.json", "model.npz"):
        (old / name).write_bytes(b"old")
    with open_new_run(tmp_path, "run", overwrite=True) as run:
        assert list(run.path.iterdir()) == []  # nothing of the old run can be resumed or shown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the old one is gone, not set aside


def test_a_run_killed_before_its_first_checkpoint_can_be_started_again(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "run" / ".config.json.x1y2.tmp").write_text("half")
    with open_new_run(tmp_path, "run") as run:
        assert not list(run.path.glob(".*.tmp"))


def test_resume_cleans_temporary_files_and_needs_a_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(RunFolderError, match="not a run folder"):
        open_existing_run(run_dir)
    with pytest.raises(RunFolderError, match="no such run folder"):
        open_existing_run(tmp_path / "missing")
    (run_dir / "checkpoint.npz").write_bytes(b"x")
    (run_dir / ".checkpoint.npz.abc.tmp").write_bytes(b"half")
    with open_existing_run(run_dir):
        assert not (run_dir / ".checkpoint.npz.abc.tmp").exists()
    assert (run_dir / "checkpoint.npz").exists()


def test_a_file_where_the_run_folder_should_be_is_refused(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(RunFolderError, match="not a folder"):
        open_new_run(tmp_path, "run", overwrite=True)
    assert (tmp_path / "run").read_text() == "not a folder"


@pytest.mark.parametrize("other", ["notes.tmp", ".hidden", "model.npz"])
def test_a_folder_with_more_than_config_json_is_not_an_unfinished_run(tmp_path, other):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "run" / other).write_text("keep me")
    with pytest.raises(RunFolderError, match="already exists"):
        open_new_run(tmp_path, "run")
    assert (tmp_path / "run" / other).read_text() == "keep me"


def test_a_lock_file_removed_while_being_locked_is_locked_again_by_its_new_name(tmp_path, monkeypatch):
    # The previous holder unlinks its lock file on release. If that happens between our
    # open() and flock(), our lock is on a deleted file that the next process cannot see:
    # the lock must be taken again on the file at the lock's path.
    lock_path = tmp_path / ".run.lock"
    real_flock, removed = fcntl.flock, []

    def previous_holder_releases_first(fd, operation):
        if not removed:
            removed.append(True)
            os.unlink(lock_path)
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", previous_holder_releases_first)
    with open_new_run(tmp_path, "run"):
        assert removed and lock_path.read_text() == f"process {os.getpid()}"
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(RunFolderError, match="in use"):
            open_new_run(tmp_path, "run", overwrite=True)


def test_a_crash_while_overwriting_leaves_the_old_run_aside_hidden_never_mixed_in(tmp_path, monkeypatch):
    with open_new_run(tmp_path, "run") as run:
        (run.path / "model.npz").write_bytes(b"old")

    def crash(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", crash)
    with pytest.raises(KeyboardInterrupt):
        open_new_run(tmp_path, "run", overwrite=True)
    aside = [p for p in tmp_path.iterdir() if p.name != "run"]
    assert [p.name.startswith(".run.old-") for p in aside] == [True]
    assert (aside[0] / "run" / "model.npz").read_bytes() == b"old"
    assert not (tmp_path / "run").exists()
