"""The tutorial (docs/tutorial.md) runs as written and its numbers hold.

Its ```python exec="on" blocks are what the documentation build executes (the
markdown-exec plugin, one session for the page); here they run the same way,
in order, as one program on the real MNIST. The blocks assert their own
numbers; this test also reads what they print.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
EXECUTED_BLOCK = re.compile(r'^```python exec="on"[^\n]*\n(.*?)^```', re.S | re.M)


def executed_blocks(text):
    """The code of every block the documentation build runs, in page order."""
    return EXECUTED_BLOCK.findall(text)


def run_blocks(blocks, cwd, env, timeout=600):
    """Run the blocks in order as one program (as one markdown-exec session does)."""
    script = "\n\n".join(f"# --- block {number}\n{code}" for number, code in enumerate(blocks, 1))
    path = Path(cwd) / "blocks.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_python_block_of_the_tutorial_is_executed():
    text = TUTORIAL.read_text()
    blocks = executed_blocks(text)
    assert len(blocks) >= 9
    assert len(re.findall(r"^```python", text, re.M)) == len(blocks), "a python block that the build does not run"
    assert all('session="tutorial"' in line for line in re.findall(r'^```python exec="on".*$', text, re.M))


def test_a_failing_block_fails_the_run(tmp_path):
    blocks = executed_blocks(
        '```python exec="on" session="t"\nx = 1\n```\n\n```python exec="on" session="t"\n'
        "assert x == 2, 'x is not 2'\n```\n"
    )
    done = run_blocks(blocks, tmp_path, dict(os.environ))
    assert done.returncode != 0 and "x is not 2" in done.stderr


def test_the_tutorial_runs_and_reaches_what_it_says(shared_data, tmp_path):
    env = {
        **os.environ,
        "SCRATCHNN_DATA": str(shared_data),
        "PYTHONPATH": str(ROOT / "src"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    done = run_blocks(executed_blocks(TUTORIAL.read_text()), tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "all six gradients agree with Sequential.backward" in out
    error = float(re.search(r"relative error of 30 backprop gradients against finite differences: (\S+)", out)[1])
    assert error < 1e-6
    sgd = [float(a) for a in re.findall(r"mini-batch SGD, epoch \d: test accuracy ([\d.]+)%", out)]
    adam = [float(a) for a in re.findall(r"mini-batch Adam, epoch \d: test accuracy ([\d.]+)%", out)]
    assert len(sgd) == len(adam) == 2
    assert sgd[-1] > 95 and adam[-1] > sgd[-1]  # both past the classic run's 92.99%
