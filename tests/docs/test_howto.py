"""The how-to guides (docs/how-to/*.md) work as written.

Their ``<!-- checked -->`` blocks run here the way the README's do (the shared
machinery is tests/markdown_examples.py): each guide in a fresh folder, on the
real MNIST, its training commands shortened by the block's ``extra:`` flags.
Every other ``scratchnn`` command line on any page must be accepted by the
command's parser; the server guide's command is started and asked for its model.
"""

import http.client
import json
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_examples import checked_blocks, command_examples, matches, run_checked_block, sessions
from web_demo import start_server, stop_server

from scratchnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = sorted((DOCS / "how-to").glob("*.md"))
CHECKED_GUIDES = [page for page in GUIDES if checked_blocks(page.read_text())]


def example_env(home, shared_data):
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "SCRATCHNN_DATA": str(shared_data),
        "PYTHONPATH": str(ROOT / "src"),
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
    }


def test_every_guide_that_shows_a_run_is_checked():
    assert {page.stem for page in CHECKED_GUIDES} == {"train", "resume", "report", "predict", "onnx"}
    for page in CHECKED_GUIDES:
        for marker, lang, text in checked_blocks(page.read_text()):
            assert lang == "python" or sessions(text), (page.name, marker)


@pytest.mark.parametrize("page", CHECKED_GUIDES, ids=lambda page: page.stem)
def test_the_guide_runs_as_written(page, tmp_path, shared_data):
    env = example_env(tmp_path / "home", shared_data)
    for marker, lang, text in checked_blocks(page.read_text()):
        run_checked_block(marker, lang, text, tmp_path, env, source=f"docs/how-to/{page.name}")


@pytest.mark.parametrize(
    "line", sorted({line for page in DOCS.rglob("*.md") for line in command_examples(page.read_text())})
)
def test_every_command_line_in_the_docs_parses(line):
    try:
        build_parser().parse_args(shlex.split(line)[1:])
    except SystemExit as exit:  # a bad flag exits 2
        assert exit.code == 0, line


def test_the_serve_guide_serves_the_model_it_names(digit_classifier, tmp_path):
    text = (DOCS / "how-to" / "serve.md").read_text()
    [(command, expected)] = [
        session for block in text.split("```console")[1:] for session in sessions(block.split("```")[0])
    ]
    args = shlex.split(command)
    assert args[:2] == ["scratchnn", "serve"] and len(args) == 3
    model_file = tmp_path / args[2]
    model_file.parent.mkdir(parents=True)
    digit_classifier.save(model_file)
    process, url, first = start_server(model_file)  # the guide's command on a free port
    try:
        assert matches([line.replace(args[2], str(model_file)) for line in expected], [first.rstrip("\n")])
        connection = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=30)
        connection.request("GET", "/api/model")
        assert json.load(connection.getresponse())["classes"] == [str(k) for k in range(10)]
        connection.close()
    finally:
        stop_server(process)
