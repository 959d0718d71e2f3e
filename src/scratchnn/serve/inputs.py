"""From a ``POST /api/predict`` request to the 28x28 image the network sees.

Three ways to send a digit:

* the image file's bytes as the body (``Content-Type: image/png``, any image
  type Pillow reads, or ``application/octet-stream``), options in the query
  string (``?activations=1&saliency=1``);
* JSON ``{"image": "data:image/png;base64,..."}``, what the page sends;
* JSON ``{"pixels": [[...28 numbers...], ... 28 rows]}``: an image already
  shaped like MNIST (ink 1.0 on background 0.0), used as it is.

A picture goes through the same preprocessing as ``scratchnn predict``
(:func:`scratchnn.data.images.preprocess_image`): crop to the ink, scale into
20x20, centre by mass. Anything unusable raises :class:`RequestError` carrying
the HTTP status and one sentence for the person who sent it: 400 malformed,
413 too large, 415 unsupported type, 422 well-formed but unusable (blank,
wrong shape).
"""

import base64
import binascii
import io
import json
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.images import open_image, preprocess_image
from ..errors import ImageError, ScratchnnError

SIDE = 28
# A canvas is 280x280; a phone photo is ~12 MP. Beyond this a small PNG could
# make the server decode hundreds of megabytes (a "decompression bomb").
MAX_IMAGE_PIXELS = 4096 * 4096
OPTIONS = ("activations", "saliency", "input")
_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,", re.IGNORECASE)


class RequestError(ScratchnnError):
    """A request the server cannot use; the app answers it as JSON ``{"error": message}``.

    Parameters
    ----------
    status : int
        The HTTP status to answer with (400, 413, 415 or 422).
    message : str
        What is wrong with the request, in one line.
    """

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def read_predict_request(mimetype, body, query, dataset="mnist"):
    """Decode one prediction request.

    Parameters
    ----------
    mimetype : str
        The request's content type without parameters (``"application/json"``).
    body : bytes
        The request body (already limited in size by the web framework).
    query : Mapping[str, str]
        The query-string arguments (options for an image body).
    dataset : str
        The model's dataset, which decides how a picture is framed.

    Returns
    -------
    (numpy.ndarray, dict)
        The float32 (28, 28) image in [0, 1], and the options
        ``{"activations": bool, "saliency": bool, "input": bool}``.
    """
    if not body:
        raise RequestError(400, 'empty request: send a PNG image, or JSON with "image" or "pixels"')
    if mimetype == "application/json":
        return _read_json(body, dataset)
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        options = {name: _query_flag(query, name) for name in OPTIONS}
        return picture_to_pixels(body, dataset, "the request body"), options
    raise RequestError(
        415, f"unsupported content type {mimetype or '(none)'!r}: send image bytes (e.g. image/png) or application/json"
    )


def _read_json(body, dataset):
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(request, dict):
        raise RequestError(400, 'the JSON body must be an object such as {"image": "data:image/png;base64,..."}')
    unknown = sorted(set(request) - {"image", "pixels", *OPTIONS})
    if unknown:
        raise RequestError(
            400,
            f'unknown field(s) {unknown}; expected "image" or "pixels", and optionally {", ".join(map(repr, OPTIONS))}',
        )
    options = {}
    for name in OPTIONS:
        value = request.get(name, False)
        if not isinstance(value, bool):
            raise RequestError(400, f'"{name}" must be true or false, got {json.dumps(value)}')
        options[name] = value
    if ("image" in request) == ("pixels" in request):
        raise RequestError(400, 'send exactly one of "image" (a PNG data URL) and "pixels" (a 28x28 array)')
    if "pixels" in request:
        return pixels_from_array(request["pixels"]), options
    image = request["image"]
    if not isinstance(image, str):
        raise RequestError(400, '"image" must be a string: a data URL such as data:image/png;base64,...')
    match = _DATA_URL.match(image)
    if not match:
        raise RequestError(400, '"image" must be a base64 data URL starting with data:image/...;base64,')
    try:
        data = base64.b64decode(image[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, '"image" is not valid base64 after its data:image/...;base64, prefix') from None
    return picture_to_pixels(data, dataset, 'the "image" data URL'), options


def _query_flag(query, name):
    value = query.get(name, "0").lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise RequestError(400, f"query option {name}={value!r}: expected 1 or 0")


def picture_to_pixels(data, dataset, what):
    """Image file bytes -> the (28, 28) float32 MNIST-style array, or a :class:`RequestError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except UnidentifiedImageError:
        raise RequestError(400, f"{what} is not an image Pillow can read (expected PNG, JPEG, ...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError) as exc:
        raise RequestError(400, f"{what} cannot be read as an image ({exc})") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise RequestError(413, f"{what} is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS:,} are accepted")
    try:
        image = open_image(image)  # decodes it, refusing truncated or empty images
    except ImageError as exc:
        raise RequestError(400, f"{what} is not a usable image ({exc})") from None
    try:
        return preprocess_image(image, dataset=dataset)
    except ImageError as exc:  # no ink to read
        raise RequestError(422, f"nothing to read in {what}: {exc}") from None


def pixels_from_array(value):
    """A JSON 28x28 array of numbers in [0, 1] -> float32 (28, 28), or a :class:`RequestError`."""

    def is_number(item):
        return isinstance(item, (int, float)) and not isinstance(item, bool)

    if isinstance(value, list) and value and all(is_number(item) for item in value):
        raise RequestError(422, f'"pixels" must be 28 rows of 28 numbers, got one flat list of {len(value)}')
    if not (isinstance(value, list) and all(isinstance(row, list) and all(map(is_number, row)) for row in value)):
        raise RequestError(400, '"pixels" must be a 28x28 array of numbers (a list of 28 rows of 28)')
    lengths = sorted({len(row) for row in value})
    if len(value) != SIDE or lengths != [SIDE]:
        got = f"{len(value)} rows" + (f" of {'/'.join(map(str, lengths))} numbers" if lengths else "")
        raise RequestError(422, f'"pixels" must be 28 rows of 28 numbers, got {got}')
    pixels = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(pixels)) or pixels.min() < 0 or pixels.max() > 1:
        raise RequestError(422, '"pixels" values must be numbers in [0, 1] (0 = background, 1 = ink)')
    if not pixels.any():
        raise RequestError(422, '"pixels" are all 0: a blank image, nothing to read')
    return pixels.astype(np.float32)
