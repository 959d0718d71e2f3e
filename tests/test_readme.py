"""The README's examples run, and print what the README says they print.

A ```console block after an HTML comment that starts ``<!-- checked`` is run
here: each ``$ scratchnn ...`` line is run (in a fresh folder, on the real
MNIST, with the comment's ``extra: ...`` flags added to ``train``) and its output
compared with the lines below it. Numbers are not compared (timings and the
last digits vary), the words, file names and the shape of every line are; a
``...`` line stands for any number of lines. The ``scratchnn`` lines of the
other blocks must at least be accepted by the command's parser. The machinery
is shared with the documentation's tests: tests/markdown_examples.py.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_examples import checked_blocks, command_examples, matches, run_checked_block, sessions

from scratchnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_has_checked_blocks():
    assert len(checked_blocks(README)) >= 1
    for marker, lang, text in checked_blocks(README):
        assert lang == "console" and sessions(text), marker


def test_checked_examples_print_what_the_readme_shows(tmp_path, shared_data):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "SCRATCHNN_DATA": str(shared_data),
        "PYTHONPATH": str(ROOT / "src"),
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for marker, lang, text in checked_blocks(README):
        run_checked_block(marker, lang, text, tmp_path, env)


def test_the_files_a_run_writes_are_those_the_readme_lists(tmp_path, shared_data):
    table = README.split("And what it writes, in `runs/<name>/`:")[1].split("\n\n")[1]
    listed = set(re.findall(r"`([\w.]+\.(?:npz|json|csv|png))`", table))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scratchnn",
            "train",
            "--epochs",
            "1",
            "--name",
            "r",
            "--data-dir",
            str(shared_data),
            "--no-download",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"},
    )
    assert {path.name for path in (tmp_path / "runs" / "r").iterdir()} == listed


@pytest.mark.parametrize("line", command_examples(README))
def test_every_command_line_example_parses(line):
    args = shlex.split(line.replace("<name>", "some-run"))[1:]
    try:
        build_parser().parse_args(args)
    except SystemExit as exit:  # --help and --version exit 0; a bad flag exits 2
        assert exit.code == 0, line


def test_matching_ignores_numbers_but_not_words():
    assert matches(
        ["epoch   1/120  loss 2.4313", "...", "saved runs/classic/model.npz"],
        ["epoch 1/3  loss 2.1", "epoch 2/3  loss 1.9", "saved runs/classic/model.npz"],
    )
    assert not matches(["saved runs/classic/model.npz"], ["saved runs/classic-mnist-20261126/model.npz"])
    assert not matches(["mnist test accuracy 92.79%"], ["runs/x/model.npz: mnist test accuracy 92.79%"])
