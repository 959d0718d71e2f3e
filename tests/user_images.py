"""Pictures of digits as people make them, built from MNIST test digits.

Each picture takes a 28x28 MNIST digit and does to it what a phone photo, a
drawing program or a scanner does: scales it up to a few hundred pixels with
thicker strokes, moves it off-centre on a bigger sheet, and then one of: dark
ink on white paper (MNIST inverted), light ink on dark paper, coloured ink on
coloured paper, ink on a transparent background (RGBA), a greyscale 16-bit
scan; all but the transparent ones JPEG-compressed.
Used by the tests and by ``benchmarks/bench_predict.py``.
"""

import io

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("dark-on-white", "light-on-dark", "colour", "transparent", "grey-16-bit")


def _colour_pair(rng):
    """Random ink and paper colours that differ clearly (as a visible pen would)."""
    while True:
        ink, paper = rng.integers(0, 256, (2, 3))
        if np.sqrt(((ink - paper) ** 2).mean()) > 100:
            return ink, paper


def user_style_image(digit, rng, kind):
    """One user-style picture (a PIL image) of ``digit`` (uint8 28x28, white on black)."""
    image, jpeg = _render(digit, rng, kind)
    if jpeg is None:
        return image
    return Image.open(io.BytesIO(jpeg))


def _render(digit, rng, kind):
    """(PIL image, its JPEG encoding or None for kinds kept lossless)."""
    side = int(rng.integers(200, 360))
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    big = big.filter(ImageFilter.MaxFilter(2 * int(side / 100) + 1))  # thicker strokes
    sheet = int(side * rng.uniform(1.15, 1.5))
    canvas = Image.new("L", (sheet, int(sheet * rng.uniform(0.9, 1.2))), 0)
    x = int(rng.integers(0, canvas.width - side + 1))
    y = int(rng.integers(0, canvas.height - side + 1))
    canvas.paste(big, (x, y))
    ink = np.asarray(canvas, np.float32)[:, :, None] / 255  # 1 where the pen went
    if kind == "dark-on-white":
        colours = (np.array([20, 20, 30]), np.array([250, 250, 245]))
    elif kind == "light-on-dark":
        colours = (np.array([240, 240, 240]), np.array([30, 35, 40]))
    elif kind in ("colour", "transparent"):
        colours = _colour_pair(rng)
    elif kind == "grey-16-bit":
        grey = (1 - ink[:, :, 0]) * 52000 + 6000
        return Image.fromarray(grey.astype(np.uint16)), None
    else:
        raise ValueError(kind)
    pen, paper = (np.asarray(c, np.float32) for c in colours)
    if kind == "transparent":
        rgba = np.concatenate([np.broadcast_to(pen, ink.shape[:2] + (3,)), 255 * ink], axis=2)
        return Image.fromarray(rgba.astype(np.uint8), "RGBA"), None
    rgb = Image.fromarray((ink * pen + (1 - ink) * paper).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=int(rng.integers(55, 90)))
    return rgb, buffer.getvalue()


def user_style_images(digits, seed=0):
    """One picture per digit, the kinds taken in turn; returns a list of PIL images."""
    rng = np.random.default_rng(seed)
    return [user_style_image(d, rng, KINDS[i % len(KINDS)]) for i, d in enumerate(digits)]


def write_user_style_files(digits, folder, seed=0):
    """Write one picture per digit into ``folder`` (JPEG, or PNG for the lossless kinds).

    Returns the paths, in the digits' order. The same seed gives the same
    pictures as :func:`user_style_images`.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for i, digit in enumerate(digits):
        image, jpeg = _render(digit, rng, KINDS[i % len(KINDS)])
        path = folder / f"{i:05d}.{'jpg' if jpeg is not None else 'png'}"
        if jpeg is not None:
            path.write_bytes(jpeg)
        else:
            image.save(path)
        paths.append(path)
    return paths
