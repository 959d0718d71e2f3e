"""`scratchnn download` end to end, against the loopback mirror server."""

import hashlib
import gzip

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


def test_download_command_failure_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(download.MIRRORS, "fashion-mnist", ())
    assert main(["download", "fashion-mnist", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scratchnn download: error:") and "fashion-mnist" in err and "Traceback" not in err
