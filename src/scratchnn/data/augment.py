"""On-the-fly augmentation of 28x28 digit images: random affine + elastic warps.

Every mini-batch the training loop sees is a freshly distorted copy of the
digits: shifted by a pixel or two, turned a few degrees, zoomed a little and,
optionally, bent by a smooth random displacement field (Simard, Steinkraus and
Platt, 2003). A digit distorted this way is still the same digit, so the network
learns to ignore these nuisances instead of memorising exact pixel positions.

Coordinates and sign conventions
--------------------------------
The centre of pixel ``image[row, column]`` sits at ``y = row``, ``x = column``;
``x`` grows to the right and ``y`` grows *downwards*, as on screen. Transforms
act about the image centre ``c = ((W - 1) / 2, (H - 1) / 2)``, which is
``(13.5, 13.5)`` for MNIST. What happens to the digit (the *forward* map) is

    p_out = c + s * R(theta) @ (p_in - c) + t,
    R(theta) = [[cos theta,  sin theta],
                [-sin theta, cos theta]]      acting on (x, y),

so a positive shift ``t = (t_x, t_y)`` moves the digit right and down, a zoom
``s > 1`` enlarges it, and a positive angle turns it *counter-clockwise as seen
on screen*; ``theta = 90`` degrees gives exactly ``np.rot90(image)``.

Warps are computed backwards ("pull", not "push"): every output pixel asks where
its value comes from, so the output has no holes. The matrices returned here
therefore hold the inverse map, in the layout ``[[a_xx, a_xy, b_x],
[a_yx, a_yy, b_y]]`` acting on ``(x, y, 1)``:

    p_in = c + (1 / s) * R(-theta) @ (p_out - c - t)  =  A @ p_out + b.

The elastic displacement field is added to that source position, so one
sampling grid, and one bilinear gather, serves both distortions.

Where it runs
-------------
The warp computes with the array module ``xp`` of the images it is given
(:mod:`scratchnn.nn.backend`): NumPy on the CPU, CuPy when the batch lives on a
GPU, the same code for both. Only the random numbers are drawn on the host, from
the ``numpy.random.Generator`` passed in, and copied to the device once per batch
(matrices of (B, 2, 3), and the elastic noise): the same seed then gives the same
distortions on either device, and a resumed checkpoint continues exactly.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, fields

import numpy as np

from scratchnn.nn.backend import is_gpu, module_of, to_module
from scratchnn.parameters import check as check_setting


@dataclass(frozen=True)
class Augmentation:
    """Random distortions applied to every training batch.

    Parameters
    ----------
    max_shift : float
        Shift in pixels, drawn uniformly from ``[-max_shift, max_shift]`` for
        x and y independently.
    max_rotation : float
        Rotation in degrees, uniform in ``[-max_rotation, max_rotation]``.
    max_scale : float
        Zoom factor uniform in ``[1 - max_scale, 1 + max_scale]``; below 1.
    elastic_alpha : float
        Strength of the elastic distortion in pixels: the root-mean-square of
        each displacement component, at every pixel (0 turns it off). Simard's
        setting ``alpha = 34, sigma = 4`` (normalised Gaussian kernel) is about
        ``elastic_alpha = 1.4`` here; see :func:`elastic_displacements`.
    elastic_sigma : float
        Standard deviation, in pixels, of the Gaussian that smooths the random
        displacement field; larger means smoother, more global bending.
    flip_horizontal : bool
        Mirror each image left-right with probability 1/2. Right for clothing
        (a shoe pointing left is still a shoe), wrong for digits.
    """

    max_shift: float = 2.0
    max_rotation: float = 10.0
    max_scale: float = 0.1
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    flip_horizontal: bool = False

    def __post_init__(self):
        # The same checks (and messages) as the training settings of these names.
        for field in fields(self):
            name = "hflip" if field.name == "flip_horizontal" else field.name
            check_setting(name, getattr(self, field.name))

    def is_identity(self) -> bool:
        """True if every distortion is switched off, so ``apply`` only copies."""
        return (
            self.max_shift == 0
            and self.max_rotation == 0
            and self.max_scale == 0
            and self.elastic_alpha == 0
            and not self.flip_horizontal
        )

    def apply(self, images, rng: np.random.Generator, out=None, *, xp=None):
        """Return a randomly distorted copy of a batch of square images.

        Parameters
        ----------
        images : ndarray, float32, shape (B, 784) or (B, 28, 28)
            Pixel intensities in [0, 1], background 0. Any square size works:
            (B, S*S) or (B, S, S). Not modified. A NumPy array is warped on the
            CPU, a CuPy array on its GPU.
        rng : numpy.random.Generator
            Source of all randomness, drawn on the host whatever the device;
            the same seed gives the same batch.
        out : ndarray, optional
            C-contiguous float32 array of the same shape and array module to
            write into. It may be ``images`` itself (the warp reads from its own
            padded copy).
        xp : module, optional
            The array module to compute with; by default that of ``images``.

        Returns
        -------
        ndarray, float32, same shape and array module as ``images``, values in [0, 1].
        """
        xp = module_of(images) if xp is None else xp
        images = xp.asarray(images)
        batch = _as_square_batch(images, xp=xp)
        out = _output_buffer(out, images, xp=xp)
        if self.is_identity():
            xp.copyto(out, images)
            return out
        batch_size, side, _ = batch.shape
        matrices = random_affine_matrices(batch_size, rng, self.max_shift, self.max_rotation, self.max_scale, size=side)
        if self.flip_horizontal:
            mirror_x(matrices, rng.random((batch_size,)) < 0.5, size=side)
        coords_y, coords_x = affine_sampling_grid(
            to_module(matrices, xp), side, side, out=_scratch("apply_grid", (2, batch_size, side, side), xp=xp), xp=xp
        )
        if self.elastic_alpha > 0:
            dy, dx = elastic_displacements(
                batch_size,
                rng,
                self.elastic_alpha,
                self.elastic_sigma,
                size=side,
                out=_scratch("apply_elastic", (2, batch_size, side, side), xp=xp),
                xp=xp,
            )
            coords_y += dy
            coords_x += dx
        warped = warp_bilinear(batch, coords_y, coords_x, out=out.reshape(batch.shape), xp=xp)
        # Bilinear weights are convex, so values stay in [0, 1] up to rounding;
        # the clip makes the guarantee exact.
        xp.clip(warped, 0.0, 1.0, out=warped)
        return out


def affine_matrices(shift_x, shift_y, rotation_degrees, scale, size: int = 28) -> np.ndarray:
    """Inverse-map matrices for given shifts, rotations and zooms, about the centre.

    The four arguments are arrays of shape (B,), or scalars for a single
    matrix. Returns float32 (B, 2, 3) (or (2, 3)) matrices ``[A | b]`` with
    ``p_in = A @ p_out + b`` for ``p = (x, y)``, where ``A = R(-theta) / s`` and
    ``b = c - A @ (c + t)``: undo the shift, then the zoom and rotation about
    the centre ``c``. See the module docstring for the sign conventions
    (positive angle = counter-clockwise on screen).

    Computed with NumPy on the host, from the host's random draws; callers
    copy the few numbers to the device (:meth:`Augmentation.apply`).
    """
    shift_x, shift_y, rotation_degrees, scale = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (shift_x, shift_y, rotation_degrees, scale))
    )
    theta = np.deg2rad(rotation_degrees)
    cos_over_s = np.cos(theta) / scale
    sin_over_s = np.sin(theta) / scale
    centre = (size - 1) / 2.0
    # (x, y) of c + t, the point the inverse map sends back to the centre.
    source_x = centre + shift_x
    source_y = centre + shift_y
    matrices = np.empty(shift_x.shape + (2, 3), dtype=np.float64)
    # A = R(-theta) / s = [[cos, -sin], [sin, cos]] / s
    matrices[..., 0, 0] = cos_over_s
    matrices[..., 0, 1] = -sin_over_s
    matrices[..., 1, 0] = sin_over_s
    matrices[..., 1, 1] = cos_over_s
    # b = c - A @ (c + t)
    matrices[..., 0, 2] = centre - (cos_over_s * source_x - sin_over_s * source_y)
    matrices[..., 1, 2] = centre - (sin_over_s * source_x + cos_over_s * source_y)
    return matrices.astype(np.float32)


def mirror_x(matrices: np.ndarray, which: np.ndarray, size: int = 28) -> None:
    """Make the chosen inverse-map matrices mirror their image left-right first, in place.

    Mirroring output x about the centre is ``x -> 2c - x``; composed into
    ``p_in = A @ p_out + b`` it negates A's x column and adds ``2c`` times that
    column to ``b``. Host-side, on the NumPy matrices of :func:`affine_matrices`.
    """
    centre = (size - 1) / 2.0
    chosen = matrices[which]
    chosen[:, :, 2] += 2.0 * centre * chosen[:, :, 0]
    chosen[:, :, 0] *= -1.0
    matrices[which] = chosen


def random_affine_matrices(
    batch_size: int,
    rng: np.random.Generator,
    max_shift: float,
    max_rotation: float,
    max_scale: float,
    size: int = 28,
) -> np.ndarray:
    """Draw (B, 2, 3) inverse-map matrices with uniformly random parameters.

    Shifts x and y are independent draws from ``[-max_shift, max_shift]``
    pixels, the angle from ``[-max_rotation, max_rotation]`` degrees and the
    zoom from ``[1 - max_scale, 1 + max_scale]``; the matrices map output pixel
    coordinates to input coordinates about the image centre (see
    :func:`affine_matrices`).
    """
    shifts = rng.uniform(-max_shift, max_shift, size=(2, batch_size))
    angles = rng.uniform(-max_rotation, max_rotation, size=batch_size)
    scales = rng.uniform(1.0 - max_scale, 1.0 + max_scale, size=batch_size)
    return affine_matrices(shifts[0], shifts[1], angles, scales, size=size)


def affine_sampling_grid(matrices, height: int, width: int, out=None, *, xp=None):
    """Source coordinates ``(coords_y, coords_x)``, each (B, H, W), of every output pixel.

    Applies ``p_in = A @ p_out + b`` to all pixel centres ``(x, y)`` at once.
    Each source coordinate is a sum of a term in x alone and a term in y alone,
    e.g. ``x_in = a_xx * x + (a_xy * y + b_x)``, so the (H, W) grid of every
    image is an outer sum of a length-W and a length-H vector: one broadcast
    addition, no matrix product (a BLAS call this small costs more in thread
    hand-offs than in arithmetic). ``out``, if given, is a float32
    (2, B, H, W) array that receives x in ``out[0]`` and y in ``out[1]``.
    Computes with ``xp``, by default the array module of ``matrices``.
    """
    xp = module_of(matrices) if xp is None else xp
    matrices = xp.asarray(matrices, dtype=xp.float32)
    batch_size = matrices.shape[0]
    if out is None:
        out = xp.empty((2, batch_size, height, width), dtype=xp.float32)
    xs = xp.arange(width, dtype=xp.float32)
    ys = xp.arange(height, dtype=xp.float32)
    # rows[k, b] = (a_kx, a_ky, b_k) of image b, for k = x, y.
    rows = matrices.transpose(1, 0, 2)
    term_in_x = rows[..., 0, None] * xs  # (2, B, W)
    term_in_y = rows[..., 1, None] * ys + rows[..., 2, None]  # (2, B, H)
    xp.add(term_in_y[..., :, None], term_in_x[..., None, :], out=out)
    return out[1], out[0]


def warp_bilinear(images, coords_y, coords_x, out=None, *, xp=None):
    """Sample every image at real-valued positions by bilinear interpolation.

    ``out[b, i, j]`` is ``images[b]`` read at ``(coords_y[b, i, j],
    coords_x[b, i, j])``; the coordinates may be (B, H, W) or broadcast to it,
    e.g. (H, W) for one grid shared by the batch. With ``y0 = floor(y)``,
    ``fy = y - y0`` (and likewise for x) the value is

        (1 - fy) * [(1 - fx) * I[y0, x0]     + fx * I[y0, x0 + 1]]
          +   fy * [(1 - fx) * I[y0 + 1, x0] + fx * I[y0 + 1, x0 + 1]],

    with pixels outside the image reading 0. Integer coordinates return
    pixels exactly; a half-pixel offset averages the two neighbours.

    Instead of masking out-of-image samples, the batch is copied into a zero
    frame and the coordinates are clipped to at most one pixel outside the
    image: a sample further out then reads nothing but zeros. The four
    neighbours of every sample are gathered with ``take`` from the flat padded
    batch, using one array of flat indices. Computes with ``xp``, by default
    the array module of ``images``.
    """
    xp = module_of(images) if xp is None else xp
    images = xp.asarray(images, dtype=xp.float32)
    if images.ndim != 3:
        raise ValueError(f"warp_bilinear expects images of shape (B, H, W), got {images.shape}")
    batch_size, height, width = images.shape
    coords_y, coords_x = xp.asarray(coords_y), xp.asarray(coords_x)
    if coords_y.shape != images.shape or coords_x.shape != images.shape:  # e.g. one (H, W) grid for all
        try:
            coords_y = xp.broadcast_to(coords_y, images.shape)
            coords_x = xp.broadcast_to(coords_x, images.shape)
        except ValueError:
            raise ValueError(
                f"coordinates of shape {coords_y.shape} and {coords_x.shape} "
                f"do not broadcast to the image batch shape {images.shape}"
            ) from None

    shape = images.shape

    # The image sits in a zero frame, one pixel wide at the top and left and two
    # at the bottom and right. Clipping the coordinates into [-1, H] x [-1, W]
    # then leaves every sample with its four neighbours inside the frame, and
    # any sample more than a pixel outside the image reads only zeros. The
    # frame of this reused buffer is zeroed when it is created and never
    # written afterwards; only the interior is refreshed.
    padded_height, padded_width = height + 3, width + 3
    padded = _scratch("warp_padded", (batch_size, padded_height, padded_width), xp=xp)
    padded[:, 1 : height + 1, 1 : width + 1] = images

    fy = xp.clip(coords_y, -1.0, height, out=_scratch("warp_fy", shape, xp=xp))
    fx = xp.clip(coords_x, -1.0, width, out=_scratch("warp_fx", shape, xp=xp))
    y0 = xp.floor(fy, out=_scratch("warp_y0", shape, xp=xp))
    x0 = xp.floor(fx, out=_scratch("warp_x0", shape, xp=xp))
    fy -= y0  # fractional parts, in [0, 1)
    fx -= x0

    # Flat index of the top-left neighbour in the padded batch:
    #   b * (H+3)(W+3) + (y0 + 1)(W+3) + (x0 + 1).
    # y0 * (W+3) + x0 is a small integer, exact in float32, so it is formed
    # there and converted to an index array once.
    y0 *= padded_width
    y0 += x0
    top_left = _scratch("warp_index", shape, np.intp, xp=xp)
    xp.copyto(top_left, y0, casting="unsafe")
    top_left += _image_start_offsets(batch_size, padded_height * padded_width, padded_width + 1, xp)

    # The other three neighbours sit 1, W+3 and W+4 elements further on: read
    # them with the same indices from shifted views of the flat batch.
    flat = padded.reshape(-1)
    top_left_v = _gather(xp, flat, top_left, out=_scratch("warp_v00", shape, xp=xp))
    top_right_v = _gather(xp, flat[1:], top_left, out=_scratch("warp_v01", shape, xp=xp))
    bottom_left_v = _gather(xp, flat[padded_width:], top_left, out=_scratch("warp_v10", shape, xp=xp))
    bottom_right_v = _gather(xp, flat[padded_width + 1 :], top_left, out=_scratch("warp_v11", shape, xp=xp))

    # The formula above as three linear interpolations a + f * (b - a), in place:
    # along x in the top and bottom rows, then along y between them.
    top = top_right_v
    top -= top_left_v
    top *= fx
    top += top_left_v
    bottom = bottom_right_v
    bottom -= bottom_left_v
    bottom *= fx
    bottom += bottom_left_v
    if out is None:
        out = xp.empty(shape, dtype=xp.float32)
    xp.subtract(bottom, top, out=out)
    out *= fy
    out += top
    return out


def elastic_displacements(
    batch_size: int,
    rng: np.random.Generator,
    alpha: float,
    sigma: float,
    size: int = 28,
    out=None,
    *,
    xp=None,
):
    """Smooth random displacement fields ``(dy, dx)``, each (B, size, size), float32.

    Simard et al. (2003): draw an independent uniform random number per pixel
    and component, smooth it with a Gaussian of standard deviation ``sigma``
    and multiply by ``alpha``. Unsmoothed noise would tear strokes apart; after
    smoothing, neighbouring pixels move almost together and the digit bends
    like ink on a rubber sheet.

    The 2-D Gaussian is separable, so smoothing a field ``N`` is ``G @ N @ G.T``
    with ``G[i, k] = exp(-(i - k)**2 / (2 sigma**2))``: two small matrix products
    instead of a convolution loop. Here each row of ``G`` is scaled to unit
    Euclidean norm and the noise to unit variance (uniform on [-sqrt 3, sqrt 3]),
    so every smoothed value has variance exactly 1, at the border too. Hence
    ``alpha`` is the root-mean-square displacement per component in pixels,
    independent of ``sigma``. (Simard normalises the kernel to sum 1 instead,
    which shrinks the field by about ``1 / (sqrt(12 pi) sigma)``; his
    ``alpha = 34, sigma = 4`` is about ``alpha = 1.4`` here.)

    ``out``, if given, is a float32 (2, B, size, size) array that receives
    ``dy`` in ``out[0]`` and ``dx`` in ``out[1]``. The fields are computed with
    ``xp``, by default the array module of ``out`` (NumPy without one); the
    noise is drawn on the host and copied over.
    """
    if not sigma > 0:
        raise ValueError(f"elastic_displacements needs sigma > 0, got {sigma!r}")
    xp = module_of(out) if xp is None else xp
    smoothing = _gaussian_smoothing_matrix(size, float(sigma), xp)
    fields_shape = (2 * batch_size, size, size)
    if out is None:
        out = xp.empty((2, batch_size, size, size), dtype=xp.float32)
    # Drawn by the host's generator, so both devices see the same numbers.
    noise = rng.random(dtype=np.float32, out=_scratch("elastic_noise", fields_shape, xp=np))
    noise = to_module(noise, xp)
    noise *= 2.0 * math.sqrt(3.0)
    noise -= math.sqrt(3.0)
    # alpha * G @ N @ G.T for every field. Stacked products run one small BLAS
    # call per field, which never spins up BLAS threads; one big product over
    # all rows is a little faster alone but stalls on thread hand-offs when
    # the cores are busy.
    smoothed_along_y = xp.matmul(smoothing, noise, out=_scratch("elastic_half", fields_shape, xp=xp))
    xp.matmul(
        smoothed_along_y,
        smoothing.T * np.float32(alpha),
        out=out.reshape(fields_shape),
    )
    return out[0], out[1]


@functools.lru_cache(maxsize=8)
def _gaussian_smoothing_matrix(size: int, sigma: float, xp):
    """(size, size) Gaussian smoothing matrix, each row of unit Euclidean norm, an array of ``xp``.

    Computed once on the host in float64, so both devices smooth with the same numbers.
    """
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    matrix = np.exp(-(offsets**2) / (2.0 * sigma**2))
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return _read_only(to_module(matrix.astype(np.float32), xp))


@functools.lru_cache(maxsize=8)
def _image_start_offsets(batch_size: int, image_size: int, extra: int, xp):
    """(B, 1, 1) flat offsets ``b * image_size + extra`` of each image in a batch, an array of ``xp``."""
    return _read_only(xp.arange(batch_size, dtype=np.intp).reshape(-1, 1, 1) * image_size + extra)


def _read_only(array):
    """``array``, marked read-only where its module can (NumPy can, CuPy has no such flag): it is cached."""
    if hasattr(array, "setflags"):
        array.setflags(write=False)
    return array


def _gather(xp, flat, indices, out):
    """``out[...] = flat[indices]`` for indices known to be in range."""
    if is_gpu(xp):  # cupy.take has no mode argument (and checks no bounds)
        return xp.take(flat, indices, out=out)
    # mode="clip" never clips here; it spares NumPy a bounds check and an output copy.
    return xp.take(flat, indices, out=out, mode="clip")


_per_thread = threading.local()
_SCRATCH_MAX_BYTES = 8 << 20  # keep buffers for mini-batches, not for whole datasets


def _scratch(name: str, shape: tuple, dtype=np.float32, *, xp):
    """A work array of module ``xp`` kept between calls, one per thread, module, name, shape and dtype.

    Contents are whatever the last user left (zeros when new). Why keep them:
    a batch of 128 images needs about 6 MB of temporaries, and fresh numpy
    arrays of that size are returned to the operating system after each call
    and page-faulted back in on the next. Measured, that made the affine warp
    of a batch cost ~4 ms instead of ~1 ms. Per-thread storage keeps
    concurrent callers (say, a prefetching loader thread) apart. Arrays over
    8 MB (batches of more than ~1300 images) are not kept: their arithmetic
    dwarfs the page faults, and holding them would pin memory for good. The
    module is part of the key, so a CPU and a GPU buffer are never confused.
    """
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize > _SCRATCH_MAX_BYTES:
        return xp.zeros(shape, dtype=dtype)
    buffers = getattr(_per_thread, "buffers", None)
    if buffers is None:
        buffers = _per_thread.buffers = {}
    key = (xp, name, tuple(shape), dtype)
    array = buffers.get(key)
    if array is None:
        if len(buffers) >= 64:  # many batch shapes seen: drop the old ones
            buffers.clear()
        array = buffers[key] = xp.zeros(shape, dtype=dtype)
    return array


def _as_square_batch(images, *, xp):
    """View (or float32 copy) of a (B, S*S) or (B, S, S) batch as (B, S, S), an array of ``xp``."""
    images = xp.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(
                f"augmentation expects flat images of a square size like (B, 784), got shape {images.shape}"
            )
        images = images.reshape(images.shape[0], side, side)
    elif images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"augmentation expects images of shape (B, 784) or (B, 28, 28), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"augmentation expects float images with values in [0, 1], got {images.dtype} "
            f"(divide raw pixels by 255 first)"
        )
    return xp.asarray(images, dtype=xp.float32)


def _output_buffer(out, images, *, xp):
    """A float32 array of ``xp`` shaped like ``images``: ``out`` after checking it, or a new one."""
    if out is None:
        return xp.empty(images.shape, dtype=xp.float32)
    if module_of(out) is not module_of(images):
        raise ValueError(
            f"out must be an array of the same module as the images ({module_of(images).__name__}), "
            f"got a {module_of(out).__name__} array"
        )
    if out.shape != images.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous float32 array of shape {images.shape}, "
            f"got {out.dtype} array of shape {out.shape}"
        )
    return out
