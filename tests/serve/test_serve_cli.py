"""``scratchnn serve`` as a user runs it: a real process on a loopback port, real HTTP."""

import http.client
import json
import socket
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from web_demo import mnist_digits_as_pngs, start_server, stop_server

from scratchnn import cli
from scratchnn.classifier import Classifier
from scratchnn.nn import build_mlp
from scratchnn.serve.inputs import picture_to_pixels
from scratchnn.serve.model_view import ModelView
from scratchnn.serve.server import make_demo_server, url_of


def request(url, method, path, body=None, content_type=None):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": content_type} if content_type else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_serve_prints_the_address_and_answers_there(served_mnist):
    parts = urlsplit(served_mnist)
    assert parts.hostname == "127.0.0.1" and parts.port > 0
    status, body = request(served_mnist, "GET", "/api/model")
    assert status == 200 and json.loads(body)["layers"][0] == "Dense(784, 128)"


def test_by_default_the_server_binds_to_loopback_only(untrained_classifier):
    server = make_demo_server(untrained_classifier, port=0)
    try:
        # Not 0.0.0.0: other machines cannot reach it.
        assert server.host == "127.0.0.1" and server.socket.getsockname()[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_static_paths_over_real_http_stay_inside_the_package(served_mnist):
    # http.client sends the path as written: no client-side clean-up of "..".
    for path in ("/static/../app.py", "/static/..%2fapp.py", "/static/../../cli.py", "/static/%2e%2e/server.py"):
        status, body = request(served_mnist, "GET", path)
        assert status == 404, path
        assert b"import" not in body
    assert request(served_mnist, "GET", "/static/app.js")[0] == 200


def test_host_and_port_options_are_used(mnist_model_file):
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    process, url, first = start_server(mnist_model_file, "--host", "127.0.0.2", "--port", str(port))
    try:
        assert url == f"http://127.0.0.2:{port}/"
        assert request(url, "GET", "/api/model")[0] == 200
    finally:
        stop_server(process)


def test_url_of_names_an_address_a_browser_can_open():
    assert url_of("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert url_of("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert url_of("::1", 8000) == "http://[::1]:8000/"


def test_busy_port_is_a_clear_error(mnist_model_file, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(mnist_model_file), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scratchnn serve: error: cannot listen on 127.0.0.1:") and err.count("\n") == 1


def test_missing_or_unusable_model_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["serve", str(tmp_path / "none.npz")]) == 2
    assert "none.npz: no such model file" in capsys.readouterr().err
    Classifier(build_mlp([100, 10], seed=0), "mnist").save(tmp_path / "small.npz")
    assert cli.main(["serve", str(tmp_path / "small.npz")]) == 2
    assert "shows 28x28 drawings" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_bad_port_is_refused_by_the_parser(port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "model.npz", "--port", port])
    assert exit_info.value.code == 2 and "--port" in capsys.readouterr().err


def test_without_the_web_framework_serve_says_what_to_install(mnist_model_file, monkeypatch, capsys):
    for name in [name for name in sys.modules if name == "scratchnn.serve" or name.startswith("scratchnn.serve.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flask", None)  # what an environment without Flask looks like
    assert cli.main(["serve", str(mnist_model_file)]) == 2
    assert "pip install 'scratchnn[serve]'" in capsys.readouterr().err


def test_concurrent_clients_all_get_the_right_answer(served_mnist, mnist_classifier, digit_arrays):
    """A small bounded load test (benchmarks/bench_serve.py runs the full 1,000 x 20 and times it)."""
    images, _ = digit_arrays
    pngs = mnist_digits_as_pngs(images[:40])
    view = ModelView(mnist_classifier)
    expected = [view.predict(picture_to_pixels(png, "mnist", "png"))["class"] for png in pngs]
    answers, latencies = [None] * 200, [None] * 200

    def client(first):
        for i in range(first, 200, 20):
            started = time.perf_counter()
            status, body = request(served_mnist, "POST", "/api/predict", pngs[i % 40], "image/png")
            latencies[i] = time.perf_counter() - started
            answers[i] = (status, json.loads(body).get("class"))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [(200, expected[i % 40]) for i in range(200)]
    print(
        f"\n200 requests, 20 clients: median {statistics.median(latencies) * 1e3:.1f} ms, "
        f"max {max(latencies) * 1e3:.1f} ms"
    )
    assert np.mean(expected) != expected[0]  # the digits are not all read as one class


def test_load_benchmark_script_runs_and_checks_every_answer(mnist_model_file, shared_data, tmp_path):
    """benchmarks/bench_serve.py, bounded to a few requests: it must finish, all answers right."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_serve.py"
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(mnist_model_file),
            "--requests",
            "40",
            "--clients",
            "4",
            "--sequential",
            "5",
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["load"]["requests"] == 40 and report["load"]["wrong_or_missing"] == 0
    assert report["round_trip_as_the_page_asks"]["wrong"] == 0
    assert 0 < report["load"]["median_ms"] <= report["load"]["p99_ms"]
    assert "load" in done.stdout and "median" in done.stdout
