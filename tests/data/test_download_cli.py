"""`scratchnn download` end to end, against the loopback mirror server."""

import gzip
import hashlib

from scratchnn.cli import main
from scratchnn.data import download


def test_download_command_fetches_verifies_and_reports(mirror_server, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(download.MIRRORS, "mnist", (mirror_server.mirror("corrupt"), mirror_server.mirror("good")))
    assert main(["download", "mnist", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mnist: verified files in" in out and str(tmp_path / "mnist") in out
    for name, expected in download.RAW_SHA256["mnist"].items():
        path = tmp_path / "mnist" / f"{name}.gz"
        assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == expected


def test_download_command_failure_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(download.MIRRORS, "fashion-mnist", ())
    assert main(["download", "fashion-mnist", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "\nscratchnn download: error: could not download fashion-mnist" in err and "Traceback" not in err


def test_download_if_missing_uses_the_lookup_and_goes_on_after_a_failure(
    mirror_server, monkeypatch, tmp_path, mnist_gz_dir, capsys
):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "mnist").symlink_to(mnist_gz_dir)
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "env"))
    # fashion-mnist is found nowhere and no mirror serves it; mnist is found, so nothing is fetched.
    assert main(["download", "--if-missing", "fashion-mnist", "mnist"]) == 2
    out, err = capsys.readouterr()
    assert "scratchnn download: error: could not download fashion-mnist" in err
    assert "mnist: found in " in out and "nothing to download" in out
    assert mirror_server.requested == []


def test_download_rejects_an_unknown_dataset(capsys):
    import pytest

    with pytest.raises(SystemExit) as caught:
        main(["download", "emnist"])
    assert caught.value.code == 2 and "expected one of mnist, fashion-mnist, got 'emnist'" in capsys.readouterr().err
