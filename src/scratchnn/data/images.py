"""Make a person's own picture look like an MNIST (or Fashion-MNIST) image.

A model trained on MNIST has only ever seen white digits on black, 28x28, the
digit scaled into a 20x20 box and placed so that its centre of mass sits at the
centre. A photo or drawing differs in every one of these ways, so it is brought
into that form the way MNIST itself was made:

1. read it with Pillow (any format and mode it knows; EXIF rotation applied;
   a transparent background counts as paper);
2. find the paper colour (the median of the image's outer rim) and measure, for
   every pixel, how far its colour is from the paper: that is the ink, whatever
   its colour and whether it is darker or lighter than the paper;
3. crop to the ink's bounding box, scale it to fit 20x20 keeping the aspect
   ratio (anti-aliased), and paste it into 28x28 with the centre of mass at the
   centre; the ink ends up white on black in [0, 1].

Fashion-MNIST was made differently (the garment's longest side scaled to 28,
the bounding box centred), and :data:`FRAMINGS` holds what differs.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

# What the image functions take: a file (path), a decoded PIL image, or pixels.
ImageSource = str | os.PathLike | Image.Image | np.ndarray

SIZE = 28
# More pixels than this is refused before decoding: a small file can claim to
# hold gigapixels (a "decompression bomb"). 64 million is a 8000x8000 photo.
MAX_PIXELS = 64_000_000
# Larger images are shrunk by a whole factor (box filter: each pixel the mean of
# a block) before any arithmetic. The result is 20x20, so a few hundred pixels a
# side is plenty, and it keeps a 300x300 drawing and a 48-MP photo alike fast.
WORKING_SIDE = 300
# Below this colour difference between ink and paper (on a 0-1 scale) an image is blank.
MIN_CONTRAST = 0.08
INK_MODES = ("auto", "dark", "light")


@dataclass(frozen=True)
class Framing:
    """How a dataset placed its object in the 28x28 frame.

    Attributes
    ----------
    box : int
        The object's longest side is scaled to this many pixels.
    centre : str
        ``"mass"`` puts the ink's centre of mass at the frame's centre (MNIST);
        ``"box"`` centres its bounding box (Fashion-MNIST, whose garments often
        fill the frame, so shifting them by their mass would cut them off).
    ink_percentile : float
        Ink darker than this percentile of the ink's strength is drawn at full
        strength. Digits are strokes of one pen (95: a faint pencil becomes a
        full stroke); clothes keep their shading (100: only scaled).
    """

    box: int
    centre: str
    ink_percentile: float


FRAMINGS = {
    "mnist": Framing(box=20, centre="mass", ink_percentile=95.0),
    "fashion-mnist": Framing(box=28, centre="box", ink_percentile=100.0),
}


def open_image(source: str | os.PathLike | Image.Image) -> Image.Image:
    """Open and decode an image file, or pass a PIL image through.

    Parameters
    ----------
    source : str, os.PathLike or PIL.Image.Image
        A file in any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...).

    Returns
    -------
    PIL.Image.Image
        The decoded image (first frame of an animation), EXIF orientation applied.

    Raises
    ------
    ImageError
        The file is missing, empty, not an image, truncated or corrupt, has no
        pixels, or claims more than :data:`MAX_PIXELS` pixels.
    """
    if isinstance(source, Image.Image):
        image, name = source, _name_of(source)
    else:
        name = os.fspath(source)
        path = Path(name)
        try:
            if path.is_dir():
                raise ImageError(f"{name}: is a folder, not an image file")
            if path.stat().st_size == 0:
                raise ImageError(f"{name}: empty file (0 bytes), not an image")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
        except FileNotFoundError:
            raise ImageError(f"{name}: no such file") from None
        except PermissionError:
            raise ImageError(f"{name}: permission denied") from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{name}: not an image file Pillow can read (expected PNG, JPEG, BMP, GIF, TIFF, WebP, ...)"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{name}: claims too many pixels (a decompression bomb?); at most {MAX_PIXELS:,} are read"
            ) from None
        except OSError as exc:
            raise ImageError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageError(f"{name}: the image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: {width}x{height} is more than {MAX_PIXELS:,} pixels (a decompression bomb?); shrink it first"
        )
    try:
        shrink = max(width, height) // WORKING_SIDE
        if image.format == "JPEG" and shrink >= 2:
            # JPEG can decode at 1/2, 1/4 or 1/8 size directly: much faster.
            image.draft(image.mode, (width // shrink, height // shrink))
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        pass
    return image


def preprocess_image(
    image: ImageSource, dataset: str = "mnist", ink: str = "auto", framing: "Framing | None" = None
) -> np.ndarray:
    """Turn any picture of one digit (or garment) into a 28x28 MNIST-style array.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike or numpy.ndarray
        The picture, in any mode (1, L, P, RGB, RGBA, LA, 16-bit, CMYK, ...) and
        any size; a path is opened with :func:`open_image`; an array is an
        (H, W) greyscale or (H, W, 3|4) colour image, uint8, uint16 or floats in [0, 1].
    dataset : str
        ``"mnist"`` or ``"fashion-mnist"``: which dataset's framing to copy
        (see :data:`FRAMINGS`).
    ink : {"auto", "dark", "light"}
        ``"auto"`` takes the paper's colour from the image's rim and counts any
        colour different from it as ink. ``"dark"`` (``"light"``) counts only
        what is darker (lighter) than the paper, the paper then being the
        brightest (darkest) tenth of the image: use it when the ink touches the
        edges and the guess goes wrong.
    framing : Framing, optional
        Overrides the dataset's framing (e.g. to measure what centring is worth).

    Returns
    -------
    numpy.ndarray
        float32, shape (28, 28), ink 1.0 on background 0.0, like MNIST / 255.

    Raises
    ------
    ImageError
        The image cannot be read, or shows no ink (blank).
    """
    if ink not in INK_MODES:
        raise ValueError(f"ink must be one of {INK_MODES}, got {ink!r}")
    if framing is None:
        if dataset not in FRAMINGS:
            raise ValueError(f"dataset must be one of {sorted(FRAMINGS)}, got {dataset!r}")
        framing = FRAMINGS[dataset]
    if isinstance(image, np.ndarray):
        name = "array"
        colour, alpha = _array_channels(image)
    else:
        name = _name_of(image) if isinstance(image, Image.Image) else os.fspath(image)
        colour, alpha = _channels(open_image(image))
    strength = _ink_strength(colour, alpha, ink, name)
    return _frame(strength, framing, name)


def _name_of(image):
    return getattr(image, "filename", "") or "image"


def _channels(image):
    """A PIL image -> (colour float32 (H, W, 1 or 3) in [0, 1], alpha (H, W) or None)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = values.max() if values.size else 0
        scale = 65535.0 if mode.startswith("I;16") or top > 255 else (1.0 if mode == "F" and top <= 1 else 255.0)
        image = Image.fromarray(np.clip(values / scale, 0, 1).astype(np.float32), "F")
    elif mode in ("1", "L"):
        image = image.convert("L")
    elif mode in ("LA", "La", "PA"):
        image = image.convert("LA")
    elif mode == "RGB":
        pass
    elif mode == "P" and "transparency" not in image.info:
        image = image.convert("RGB")
    else:  # P with transparency, RGBA, RGBa, CMYK, YCbCr, LAB, HSV, ...
        image = image.convert("RGBA" if mode in ("P", "RGBA", "RGBa") else "RGB")
    factor = -(-max(image.size) // WORKING_SIDE)
    if factor > 1:
        image = image.reduce(factor)
    values = np.asarray(image, dtype=np.float32)
    if image.mode != "F":
        values = values / np.float32(255)
    if values.ndim == 2:
        return values[:, :, None], None
    if values.shape[2] in (2, 4):
        return values[:, :, :-1], values[:, :, -1]
    return values, None


def _array_channels(array):
    """A NumPy image (H, W) or (H, W, 1|3|4), uint8, uint16 or float in [0, 1] -> (colour, alpha)."""
    values = np.asarray(array)
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[2] not in (1, 3, 4)):
        raise ImageError(f"an image array must be (H, W) or (H, W, 1|3|4), got shape {values.shape}")
    if values.size == 0:
        raise ImageError(f"the image array has no pixels (shape {values.shape})")
    scale = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(values.dtype, 1)
    values = values.astype(np.float32) / np.float32(scale)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.shape[2] == 4:
        return values[:, :, :3], values[:, :, 3]
    return values, None


def _rim(height, width):
    """Boolean mask of the outer rim: the last ~3% of each side, at least one pixel."""
    rim = np.ones((height, width), bool)
    w = max(1, round(0.03 * min(height, width)))
    rim[w : height - w, w : width - w] = False
    return rim


def _luminance(colour):
    if colour.shape[2] == 1:
        return colour[:, :, 0]
    return colour @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L"


def _ink_strength(colour, alpha, ink, name):
    """How much each pixel differs from the paper, 0 (paper) to 1 (full ink)."""
    height, width = colour.shape[:2]
    rim = _rim(height, width)
    if alpha is not None and alpha.min() < 1:
        # Transparent pixels are paper. If the rim is transparent, the paper has no
        # colour of its own: take one that contrasts with the drawn (opaque) pixels.
        if ink == "auto" and np.median(alpha[rim]) < 0.5:
            opaque = alpha >= 0.5
            if not opaque.any():
                raise ImageError(f"{name}: blank image: every pixel is transparent")
            ink = "dark" if np.median(_luminance(colour)[opaque]) < 0.5 else "light"
        paper = np.full(colour.shape[2], 1.0 if ink != "light" else 0.0, np.float32)
        if ink == "auto":
            paper = np.median(colour[rim & (alpha >= 0.5)], axis=0)
        colour = alpha[:, :, None] * colour + (1 - alpha[:, :, None]) * paper
    if ink == "auto":
        paper = np.median(colour[rim], axis=0)
        difference = np.sqrt(((colour - paper) ** 2).sum(axis=2) / colour.shape[2])
    else:
        lum = _luminance(colour)
        if ink == "dark":
            difference = np.maximum(np.percentile(lum, 90) - lum, 0)
        else:
            difference = np.maximum(lum - np.percentile(lum, 10), 0)
        rim = np.ones_like(rim)  # the rim may be all ink: most of the image is paper instead
    # Paper is never perfectly even (JPEG noise, shadows): three times the rim's
    # typical difference from the paper (its median, so ink crossing the rim does
    # not count), and at least a small share of the ink's contrast, is still paper.
    noise = 3 * float(np.median(difference[rim])) if rim.any() else 0.0
    peak = float(difference.max())
    if peak < MIN_CONTRAST:
        raise ImageError(
            f"{name}: blank image: no ink found (the strongest contrast with the paper "
            f"is {peak:.0%}; at least {MIN_CONTRAST:.0%} is needed)"
        )
    if peak <= noise:
        raise ImageError(
            f"{name}: blank image: nothing stands out from the paper (it varies by "
            f"{noise:.0%}, the strongest contrast is {peak:.0%}); if the ink covers the edges, "
            "force the ink's polarity (dark or light)"
        )
    floor = max(noise, 0.15 * peak)
    return np.maximum(difference - floor, 0) / (peak - floor)


def _ink_box(strength):
    """(top, bottom, left, right) of the ink, ignoring specks of noise.

    A pixel belongs to the ink where the mean strength of its 3x3 neighbourhood
    is at least 0.2: a pen stroke is wider than a pixel, a noise speck is not.
    """
    padded = np.pad(strength, 1)
    height, width = strength.shape
    mean = sum(padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)) / 9
    mask = mean >= 0.2
    if not mask.any():  # only faint or one-pixel ink: take all of it
        mask = strength > 0
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _frame(strength, framing, name):
    """Crop to the ink, scale into the framing's box, place it in 28x28."""
    top, bottom, left, right = _ink_box(strength)
    ink = strength[top:bottom, left:right]
    full = np.percentile(ink[ink > 0], framing.ink_percentile)
    ink = np.minimum(ink / full, 1).astype(np.float32)
    height, width = ink.shape
    scale = framing.box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Lanczos over the whole reduction factor: an anti-aliased shrink (or smooth enlargement).
    small = np.asarray(Image.fromarray(ink, "F").resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0, None)
    brightest = small.max()
    if brightest <= 0:  # a speck that vanished in the shrink: nothing left to show
        raise ImageError(f"{name}: blank image: the ink is too small to see at 28x28")
    small = np.minimum(small / brightest, 1)
    height, width = small.shape
    if framing.centre == "mass":
        # MNIST's centre of mass is pixel (14, 14) on average (index coordinates).
        mass = small.sum()
        cy = (small.sum(axis=1) @ np.arange(height)) / mass
        cx = (small.sum(axis=0) @ np.arange(width)) / mass
        top_row = int(np.clip(round(SIZE / 2 - cy), 0, SIZE - height))
        left = int(np.clip(round(SIZE / 2 - cx), 0, SIZE - width))
    else:
        top_row, left = (SIZE - height) // 2, (SIZE - width) // 2
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top_row : top_row + height, left : left + width] = small
    return out
