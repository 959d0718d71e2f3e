"""tests.py's report of skipped tests, and the policy that decides what a skip means."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from skip_policy import SKIP_KINDS, UNKNOWN, dataset_missing_reason, kind_of

ROOT = Path(__file__).resolve().parents[1]
TORCH = "could not import 'torch': No module named 'torch'"


@pytest.fixture(scope="module")
def tests_py():
    spec = importlib.util.spec_from_file_location("tests_py", ROOT / "tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reasons_are_classified(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "nothing"))
    missing = dataset_missing_reason("mnist")
    assert str(tmp_path / "nothing" / "mnist") in missing and "(user cache): does not exist" in missing
    assert "scratchnn download mnist" in missing
    assert kind_of(missing).title == "real dataset not found" and not kind_of(missing).optional
    assert kind_of(TORCH).optional and kind_of(TORCH).ci_provides
    assert not kind_of("could not import 'onnx': No module named 'onnx'").optional
    assert not kind_of("ONNX tests need onnxruntime (pip install -e '.[test]')").optional
    assert kind_of("the PyTorch reference needs torch (pip install torch==2.13.0)").optional
    assert kind_of("PyTorch not installed: the independent reference is skipped").title.startswith("PyTorch")
    assert kind_of("not applicable: no preset has an architecture yet").optional
    assert kind_of("needs a GPU (none found)").optional and not kind_of("needs a GPU").ci_provides
    assert kind_of("needs a browser: chromium not on PATH").ci_provides
    assert kind_of("no reason anyone wrote down") is UNKNOWN and not UNKNOWN.optional
    assert all(kind.advice for kind in SKIP_KINDS)


def test_summary_counts_and_explains_each_group(tests_py):
    reasons = [TORCH] * 6 + [dataset_missing_reason("mnist", "looked in X")] * 2
    lines, complete = tests_py.skip_summary(reasons, ci=False)
    assert not complete
    assert lines[0] == "8 tests skipped:"
    text = "\n".join(lines)
    assert "   6  optional: PyTorch not installed" in text and "pip install torch==2.13.0" in text
    assert "   2  NOT RUN: real dataset not found" in text and "real MNIST not found (looked in X)" in text


@pytest.mark.parametrize(
    "reasons, ci, complete",
    [
        ([], False, True),
        ([TORCH], False, True),  # optional reference: the suite still counts as run
        ([TORCH], True, False),  # CI installs PyTorch, so there a skip hides a test
        (["needs a GPU"], True, True),  # CI has no GPU to give
        (["needs a browser"], True, False),
        (["some new reason"], False, False),
    ],
)
def test_which_skips_leave_the_run_complete(tests_py, reasons, ci, complete):
    assert tests_py.skip_summary(reasons, ci)[1] is complete


def test_tests_py_does_not_claim_success_over_missing_datasets(tmp_path):
    """With no dataset anywhere, the real-data tests skip, and tests.py says they did not run."""
    env = {**os.environ, "HOME": str(tmp_path), "SCRATCHNN_DATA": str(tmp_path / "nothing"), "CI": ""}
    env.pop("XDG_CACHE_HOME", None)
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests.py"),
            "-k",
            "test_read_real_mnist_labels or test_parse_reads_multibyte_items_as_big_endian",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 test skipped:" in out.stdout and "NOT RUN: real dataset not found" in out.stdout
    assert "All tests passed!" not in out.stdout and "Not all tests ran" in out.stdout
