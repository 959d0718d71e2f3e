"""The README's examples run, and print what the README says they print.

A ```console block after an HTML comment that starts ``<!-- checked`` is run
here: each ``$ scratchnn ...`` line is run (in a fresh folder, on the real
MNIST, with the comment's ``extra: ...`` flags added to ``train``) and its output
compared with the lines below it. Numbers are not compared (timings and the
last digits vary), the words, file names and the shape of every line are; a
``...`` line stands for any number of lines. The ``scratchnn`` lines of the
other blocks must at least be accepted by the command's parser.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- (checked[^>]*)-->\s*\n)?```(\w*)\n(.*?)```", re.S)
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def blocks():
    """(marker comment or None, language, text) of every fenced block in the README."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(README)]


def checked_blocks():
    return [(marker, text) for marker, lang, text in blocks() if marker]


def sessions(text):
    """[(command, [expected output lines])] of a console block."""
    result = []
    for line in text.splitlines():
        if line.startswith("$ "):
            result.append((line[2:], []))
        elif result:
            result[-1][1].append(line)
    return result


def shape(line):
    """A line with its numbers blanked and its spacing collapsed: what is compared."""
    return " ".join(NUMBER.sub("#", line).split())


def matches(expected, actual):
    """True if ``actual`` lines fit ``expected`` lines, where a "..." line stands for any lines."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and shape(expected[0]) == shape(actual[0]) and matches(expected[1:], actual[1:])


def test_the_readme_has_checked_blocks():
    assert len(checked_blocks()) >= 1
    for marker, text in checked_blocks():
        assert sessions(text), marker


def test_checked_examples_print_what_the_readme_shows(tmp_path, shared_data):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "SCRATCHNN_DATA": str(shared_data),
        "PYTHONPATH": str(ROOT / "src"),
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for marker, text in checked_blocks():
        extra = re.search(r"extra: (--[^;>]*?)\s*(?:;|$)", marker)
        for command, expected in sessions(text):
            args = shlex.split(command)
            assert args[0] == "scratchnn", command
            if args[1] == "train" and extra:
                args += shlex.split(extra.group(1))
            done = subprocess.run(
                [sys.executable, "-m", "scratchnn", *args[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{command}: {done.stderr}"
            actual = done.stdout.splitlines()
            assert matches(expected, actual), (
                f"README's `{command}` shows:\n" + "\n".join(expected) + "\nbut it printed:\n" + "\n".join(actual)
            )


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


def shell_lines(text):
    """The block's lines, with backslash-continued lines joined into one command."""
    return text.replace("\\\n", " ").splitlines()


@pytest.mark.parametrize(
    "line",
    [
        line.split("#")[0].strip()
        for marker, lang, text in blocks()
        if not marker
        for line in shell_lines(text)
        if line.startswith("scratchnn ")
    ],
)
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
