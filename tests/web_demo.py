"""Helpers for the web demo's tests: drawings as PNG bytes, ``scratchnn serve`` in a subprocess."""

import io
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def drawn_stroke(points, size=280, width=20):
    """A user's drawing: black ``points`` joined by a pen stroke on a white canvas, as PNG bytes."""
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).line(points, fill="black", width=width, joint="curve")
    return png_bytes(image)


def mnist_digits_as_pngs(images):
    """MNIST digits (white on black, 28x28) as a person's dark ink on white paper, 280x280 PNGs."""
    return [png_bytes(Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BICUBIC)) for image in images]


def start_server(model_path, *extra_args, timeout=60):
    """Run ``scratchnn serve MODEL --port 0``; return (process, base URL, first line printed) once it listens."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-m", "scratchnn", "serve", str(model_path), "--port", "0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        stop_server(process)
        raise AssertionError(f"scratchnn serve printed nothing in {timeout} s") from None
    if not first:
        process.wait(timeout=10)
        raise AssertionError(f"scratchnn serve exited ({process.returncode}): {process.stderr.read()}")
    url = next(word for word in first.split() if word.startswith("http://"))
    return process, url, first


def stop_server(process):
    """Stop a server started by :func:`start_server` (this process's own child, by its handle)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
