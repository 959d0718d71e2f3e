"""The README's Python example runs as written and prints what it promises."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_python_example():
    text = (ROOT / "README.md").read_text()
    section = text.split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs_as_written(shared_data, tmp_path):
    env = {
        **os.environ,
        "SCRATCHNN_DATA": str(shared_data),
        "PYTHONPATH": str(ROOT / "src"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    accuracy = float(next(line for line in lines if line.startswith("test accuracy")).split()[-1][:-1])
    assert accuracy > 95
    predicted = next(line for line in lines if line.startswith("[")).strip("[]").split()
    assert predicted[:3] == ["7", "2", "1"]  # the first test digits are 7, 2, 1
    assert lines[-1].startswith("7 ") and (tmp_path / "my-model.npz").exists()
