"""Fixtures for the web demo: classifiers, drawn images, a running ``scratchnn serve``, a browser.

The browser is Debian's ``chromium`` driven by Playwright for Python (whose own
browser download cannot work offline); ``.ci/run`` installs both. Where neither
can be found the browser tests are skipped with the reason.
"""

import os
import shutil
from pathlib import Path

import pytest
from web_demo import drawn_stroke, start_server, stop_server

from scratchnn.classifier import Classifier
from scratchnn.nn import build_mlp


@pytest.fixture(scope="session")
def untrained_classifier():
    """A small random MLP: enough for tests of the API's plumbing, fast to build."""
    return Classifier(build_mlp([784, 32, 16, 10], seed=0), "mnist")


@pytest.fixture(scope="session")
def mnist_classifier(mnist):
    """A 784-128-64-10 MLP trained for 3 epochs on real MNIST: ~97% test accuracy in a few seconds."""
    from scratchnn.training.config import TrainConfig
    from scratchnn.training.trainer import Trainer

    config = TrainConfig(
        epochs=3, batch_size=128, optimizer="adam", lr=2e-3, schedule="cosine", test_every_epoch=False, seed=0
    )
    trainer = Trainer(config, mnist, log=None)
    classifier = Classifier.from_training(trainer, trainer.fit())
    assert classifier.metadata["test_accuracy"] > 0.96
    return classifier


@pytest.fixture(scope="session")
def mnist_model_file(mnist_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("serve-model") / "model.npz"
    mnist_classifier.save(path)
    return path


@pytest.fixture(scope="session")
def vertical_stroke_png():
    return drawn_stroke([(140, 40), (140, 240)])


@pytest.fixture(scope="session")
def served_mnist(mnist_model_file):
    """Base URL of ``scratchnn serve`` running the trained model on a free loopback port."""
    process, url, _ = start_server(mnist_model_file)
    yield url
    stop_server(process)


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium under Playwright (Debian's chromium; Playwright downloads no browser here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "needs a browser: Playwright for Python is not installed (pip install playwright; .ci/run installs it)"
        )
    executable = find_chromium()
    if executable is None:
        pytest.skip("needs a browser: no chromium found (apt-get install chromium; .ci/run installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory):
    """Where the browser tests save screenshots: $SCRATCHNN_SCREENSHOTS if set (to look at them), else tmp."""
    chosen = os.environ.get("SCRATCHNN_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def digit_arrays(mnist):
    """The first 100 MNIST test digits (uint8) and their labels."""
    return mnist.test.images[:100], mnist.test.labels[:100]
