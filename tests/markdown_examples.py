"""Examples in Markdown files that run as written: the machinery the README and
documentation tests share.

A fenced block after an HTML comment that starts ``<!-- checked`` is run:

* a ``console`` block: each ``$ scratchnn ...`` line is run (as ``python -m
  scratchnn``) and its output compared with the lines below it. Numbers are not
  compared (timings and the last digits vary), the words, file names and the
  shape of every line are; a ``...`` line stands for any number of lines. The
  comment's ``extra: ...`` flags are added to every ``train`` command that
  does not ``--resume`` (to make a documented run quick).
* a ``python`` block: run as a script, which must exit cleanly.

The ``scratchnn`` lines of the other blocks must at least be accepted by the
command's parser.
"""

import re
import shlex
import subprocess
import sys

BLOCK = re.compile(r"(?:<!-- (checked[^>]*)-->\s*\n)?```(\w*)\n(.*?)```", re.S)
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def blocks(text):
    """(marker comment or None, language, text) of every fenced block in ``text``."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


def checked_blocks(text):
    """(marker, language, text) of the blocks marked ``<!-- checked``, in order."""
    return [block for block in blocks(text) if block[0]]


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


def shell_lines(text):
    """The block's lines, with backslash-continued lines joined into one command."""
    return text.replace("\\\n", " ").splitlines()


def command_examples(text):
    """Every ``scratchnn ...`` line of the blocks that are not run (comments cut off)."""
    return [
        line.split("#")[0].strip()
        for marker, lang, block in blocks(text)
        if not marker
        for line in shell_lines(block)
        if line.startswith("scratchnn ")
    ]


def run_checked_block(marker, lang, text, cwd, env, source="README"):
    """Run one checked block in ``cwd``; fail the calling test if it does not do what it shows."""
    if lang == "python":
        done = subprocess.run(
            [sys.executable, "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{source}'s python block failed:\n{text}\n{done.stderr}"
        return
    extra = re.search(r"extra: (--[^;>]*?)\s*(?:;|$)", marker)
    for command, expected in sessions(text):
        args = shlex.split(command)
        assert args[0] == "scratchnn", command
        if args[1] == "train" and "--resume" not in args and extra:
            args += shlex.split(extra.group(1))
        done = subprocess.run(
            [sys.executable, "-m", "scratchnn", *args[1:]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
        actual = done.stdout.splitlines()
        assert matches(expected, actual), (
            f"{source}'s `{command}` shows:\n" + "\n".join(expected) + "\nbut it printed:\n" + "\n".join(actual)
        )
