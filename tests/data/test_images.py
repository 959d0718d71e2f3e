"""Preprocessing a user's picture into an MNIST-style 28x28 array, and the errors on bad files."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from scratchnn.data.images import FRAMINGS, MAX_PIXELS, Framing, open_image, preprocess_image
from scratchnn.errors import ImageError, ScratchnnError


def drawn_seven(size=(140, 180), offset=(20, 30), width=12):
    """Ink 255 on paper 0 (L): a '7' with a bar, off-centre, as a pen would draw it."""
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    x, y = offset
    draw.line([(x, y), (x + 80, y), (x + 35, y + 120)], fill=255, width=width)
    draw.line([(x + 20, y + 60), (x + 70, y + 60)], fill=255, width=width)
    return image


def dark_on_white(ink):
    return Image.eval(ink, lambda v: 255 - v)


def centre_of_mass(a):
    rows, cols = np.indices(a.shape)
    return (rows * a).sum() / a.sum(), (cols * a).sum() / a.sum()


@pytest.fixture(scope="module")
def reference():
    return preprocess_image(dark_on_white(drawn_seven()))


def close(a, b, tol=0.03):
    return np.abs(a - b).mean() < tol


def test_output_is_mnist_shaped_scaled_framed_and_centred(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.float32
    assert reference.min() == 0 and reference.max() == 1
    rows = np.flatnonzero(reference.any(axis=1))
    cols = np.flatnonzero(reference.any(axis=0))
    # The longer side (height) fills the 20-pixel box; the other keeps the aspect ratio (90:132).
    assert rows[-1] - rows[0] + 1 == 20 and 12 <= cols[-1] - cols[0] + 1 <= 15
    cy, cx = centre_of_mass(reference)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    # The ink is white on black like MNIST: the border is empty.
    assert reference[0].max() == 0 and reference[:, 0].max() == 0


def test_position_and_size_on_the_sheet_do_not_matter(reference):
    moved = dark_on_white(drawn_seven(size=(400, 300), offset=(250, 120)))
    bigger = dark_on_white(drawn_seven(size=(420, 540), offset=(60, 90), width=36).resize((420, 540)))
    assert close(preprocess_image(moved), reference, 0.02)
    scaled = dark_on_white(drawn_seven().resize((560, 720), Image.Resampling.BICUBIC))
    assert close(preprocess_image(scaled), reference, 0.03)
    assert preprocess_image(bigger).max() == 1


MODES = {
    "L light-on-dark": lambda ink: ink,
    "1 (bilevel)": lambda ink: dark_on_white(ink).convert("1", dither=Image.Dither.NONE),
    "RGB coloured ink on coloured paper": lambda ink: Image.composite(
        Image.new("RGB", ink.size, (30, 60, 200)), Image.new("RGB", ink.size, (250, 220, 90)), ink
    ),
    "RGB red on green (similar brightness)": lambda ink: Image.composite(
        Image.new("RGB", ink.size, (230, 30, 30)), Image.new("RGB", ink.size, (40, 160, 40)), ink
    ),
    "RGBA black ink on transparent": lambda ink: Image.merge("RGBA", [Image.new("L", ink.size, 0)] * 3 + [ink]),
    "RGBA white ink on transparent": lambda ink: Image.merge("RGBA", [Image.new("L", ink.size, 255)] * 3 + [ink]),
    "RGBA opaque white paper": lambda ink: dark_on_white(ink).convert("RGBA"),
    "LA": lambda ink: Image.merge("LA", [Image.new("L", ink.size, 0), ink]),
    "P (palette)": lambda ink: dark_on_white(ink).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE),
    "P with a transparent colour": lambda ink: _palette_with_transparency(ink),
    "I;16": lambda ink: Image.fromarray((65535 - np.asarray(ink, np.uint16) * 257).astype(np.uint16)),
    "I (32-bit)": lambda ink: Image.fromarray(np.asarray(ink, np.int32) * 100).convert("I"),
    "F (float)": lambda ink: Image.fromarray(np.asarray(ink, np.float32) / 255, "F"),
    "CMYK": lambda ink: dark_on_white(ink).convert("CMYK"),
}


def _palette_with_transparency(ink):
    image = dark_on_white(ink).point(lambda v: 0 if v < 128 else 255).convert("P")
    image.info["transparency"] = 255  # the paper's palette index
    return image


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_the_same_digit(mode, reference):
    image = MODES[mode](drawn_seven())
    assert close(preprocess_image(image), reference, 0.03), mode


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_every_common_format_reads_from_a_file(fmt, tmp_path, reference):
    path = tmp_path / f"seven.{fmt.lower()}"
    dark_on_white(drawn_seven()).convert("RGB").save(path, fmt)
    assert close(preprocess_image(path), reference, 0.03)
    assert close(preprocess_image(str(path)), reference, 0.03)


def test_numpy_arrays_are_pictures_too(reference):
    ink = drawn_seven()
    assert close(preprocess_image(np.asarray(dark_on_white(ink))), reference, 0.01)
    rgb = np.asarray(dark_on_white(ink).convert("RGB"), np.float32) / 255
    assert close(preprocess_image(rgb), reference, 0.01)
    with pytest.raises(ImageError, match="shape"):
        preprocess_image(np.zeros((5, 5, 7)))


def test_exif_orientation_is_applied(tmp_path, reference):
    """A phone stores the pixels sideways and says so in EXIF tag 274 (Orientation)."""
    sideways = dark_on_white(drawn_seven()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[274] = 6  # "rotate 90 degrees clockwise to display"
    tagged, untagged = tmp_path / "tagged.jpg", tmp_path / "untagged.jpg"
    sideways.save(tagged, "JPEG", exif=exif, quality=95)
    sideways.save(untagged, "JPEG", quality=95)
    assert close(preprocess_image(tagged), reference, 0.03)
    assert not close(preprocess_image(untagged), reference, 0.06)


def test_ink_polarity_is_detected_and_can_be_forced(reference):
    light = drawn_seven()
    dark = dark_on_white(light)
    assert close(preprocess_image(light), preprocess_image(dark), 0.01)
    assert close(preprocess_image(dark, ink="dark"), reference, 0.03)
    assert close(preprocess_image(light, ink="light"), reference, 0.03)
    # Forcing the wrong polarity finds no ink lighter than the white paper.
    with pytest.raises(ImageError, match="blank"):
        preprocess_image(dark, ink="light")
    # Where the ink covers the rim (a boxy 0 cropped to its edges), the rim is no
    # guide to the paper and auto takes the hole for the ink: forcing fixes it.
    cramped = Image.new("L", (100, 140), 255)
    ImageDraw.Draw(cramped).rectangle([0, 0, 99, 139], outline=0, width=10)
    with_margin = Image.new("L", (160, 200), 255)
    with_margin.paste(cramped, (30, 30))
    zero = preprocess_image(with_margin)
    assert not close(preprocess_image(cramped), zero, 0.2)
    assert close(preprocess_image(cramped, ink="dark"), zero, 0.12)  # the same 0; edges resampled apart
    with pytest.raises(ValueError, match="ink"):
        preprocess_image(dark, ink="black")


# Touches all four sides (as a garment filling its photo does), its mass off the box's centre.
GARMENT = [(40, 0), (99, 20), (60, 99), (0, 60)]


def test_fashion_framing_centres_the_box_and_fills_the_frame():
    ink = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(ink).polygon(GARMENT, fill=200)
    garment = preprocess_image(dark_on_white(ink), dataset="fashion-mnist")
    rows = np.flatnonzero(garment.any(axis=1))
    cols = np.flatnonzero(garment.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (0, 27, 0, 27)  # longest side 28, box centred
    digit = preprocess_image(dark_on_white(ink), dataset="mnist")
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # the digit framing moves the mass instead
    assert FRAMINGS["fashion-mnist"].centre == "box"


def test_framing_overrides_the_dataset():
    ink = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(ink).polygon(GARMENT, fill=255)
    by_box = preprocess_image(ink, framing=Framing(box=20, centre="box", ink_percentile=95))
    assert np.flatnonzero(by_box.any(axis=1))[[0, -1]].tolist() == [4, 23]
    assert not np.array_equal(by_box, preprocess_image(ink))
    with pytest.raises(ValueError, match="dataset"):
        preprocess_image(ink, dataset="cifar")


def test_a_faint_pencil_becomes_a_full_stroke_but_noise_is_not_ink(reference):
    faint = Image.eval(drawn_seven(), lambda v: 235 - v * 60 // 255)  # grey 175 on 235
    assert close(preprocess_image(faint), reference, 0.03)
    rng = np.random.default_rng(0)
    noisy = np.asarray(dark_on_white(drawn_seven()), np.float32) + rng.normal(0, 12, (180, 140))
    assert close(preprocess_image(np.clip(noisy, 0, 255).astype(np.uint8)), reference, 0.04)


def test_large_photos_are_shrunk_first(reference):
    photo = dark_on_white(drawn_seven()).resize((2800, 3600), Image.Resampling.BILINEAR)
    assert close(preprocess_image(photo), reference, 0.03)


def test_blank_pictures_are_refused_with_a_clear_error():
    for blank in (
        Image.new("L", (50, 50), 255),
        Image.new("RGB", (50, 50), (10, 200, 30)),
        Image.new("RGBA", (50, 50), (0, 0, 0, 0)),
        Image.fromarray(np.random.default_rng(0).integers(250, 256, (60, 60)).astype(np.uint8)),
    ):
        with pytest.raises(ImageError, match="blank"):
            preprocess_image(blank)
    assert issubclass(ImageError, ScratchnnError)


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_bad_files_give_one_clear_error_naming_the_file(tmp_path):
    good = io.BytesIO()
    dark_on_white(drawn_seven()).save(good, "PNG")
    cases = {
        "missing.png": (None, "no such file"),
        "empty.png": (b"", "empty file"),
        "notes.txt": (b"a shopping list, not a picture\n", "not an image file"),
        "truncated.png": (good.getvalue()[: len(good.getvalue()) // 2], "truncated or corrupt"),
        "bomb.png": (_png_header(9000, 9000), "decompression bomb"),
        "huge-bomb.png": (_png_header(50000, 50000), "decompression bomb"),
        "zero.png": (_png_header(0, 10), "."),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ImageError, match=message) as caught:
            preprocess_image(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ImageError, match="folder"):
        open_image(tmp_path)
    with pytest.raises(ImageError, match="no pixels"):
        preprocess_image(Image.new("L", (0, 5)))
    assert MAX_PIXELS < 9000 * 9000


def test_only_the_first_frame_of_an_animation_is_used(tmp_path, reference):
    first = dark_on_white(drawn_seven())
    second = dark_on_white(drawn_seven(offset=(5, 5), width=3))
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[second])
    assert close(preprocess_image(path), reference, 0.03)
