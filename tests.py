"""Run the whole test suite; end with `All tests passed!` when it does.

Exits non-zero (and prints no such line) when any test fails. Extra arguments
go to pytest, e.g. `python tests.py -k idx`.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
shared = ROOT.parent / "shared" / "data"
if "SCRATCHNN_DATA" not in os.environ and shared.is_dir():
    os.environ["SCRATCHNN_DATA"] = str(shared)

import pytest  # noqa: E402

if __name__ == "__main__":
    code = pytest.main([str(ROOT / "tests"), "-q", *sys.argv[1:]])
    if code == 0:
        print("All tests passed!")
    sys.exit(code)
