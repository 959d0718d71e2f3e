"""The code is as ruff wants it: lint and format, as configured in pyproject.toml.

CI runs the same checks, and mypy, through ``make lint``; this test runs the two
quick ones with the suite, so that a change which would turn CI's lint step red
fails here, before it is merged. ``ruff format .`` and ``ruff check --fix .``
repair most findings.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(check):
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *check, "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, f"ruff {' '.join(check)}:\n{done.stdout}{done.stderr}"
