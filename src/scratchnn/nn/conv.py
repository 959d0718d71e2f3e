"""Layers for images: convolution and pooling over feature maps (N, C, H, W).

Shapes follow PyTorch's NCHW convention at every layer boundary. In memory,
though, these layers keep their outputs channels-last (N, H, W, C): the array
handed on is an NCHW *view* of an NHWC buffer. That is the layout in which a
convolution is one matrix product with no transposes: every output pixel is a
row, every channel a column, and a window of the input is a run of whole pixel
rows. Numpy works through the strides, so a reader can treat every array as
plain NCHW.

Convolution as a matrix product ("im2col"): the K = KH*KW*C_in input values
under each of the M = N*OH*OW window positions are copied into a row of a
matrix ``cols`` (M, K), and then ``y = cols W + b`` with W (K, C_out), one
large BLAS product per layer for the whole batch. The copying is done by one
strided view of the input (``as_strided``): no Python loop over examples,
channels or pixels; where a loop remains it runs over the KH*KW kernel offsets.

On the CPU each layer does its work in slices of the batch, one thread per core
(:mod:`scratchnn.nn.parallel`): feature maps are large, and most of their
handling is element-wise work that NumPy does on one core.
"""

from typing import Any

import numpy as np

from .init import he_normal
from .layers import REQUIRED, Layer, non_negative_int, positive_int, shape_text


def _feature_maps(name, input_shape):
    if len(input_shape) != 3:
        raise ValueError(f"{name} needs feature maps (C, H, W) per example, got {shape_text(input_shape)}")
    return input_shape


def _windows(name, size, stride, padding, height, width):
    """Output height and width of sliding a size x size window, or a ValueError."""
    h, w = height + 2 * padding - size, width + 2 * padding - size
    if h < 0 or w < 0:
        raise ValueError(
            f"{name}'s {size}x{size} window is larger than its "
            f"{'padded ' if padding else ''}input of {height + 2 * padding}x{width + 2 * padding}"
        )
    return h // stride + 1, w // stride + 1


def channels_last(x):
    """The (N, H, W, C) view of an (N, C, H, W) array (free: only strides change)."""
    return x.transpose(0, 2, 3, 1)


def window_view(x_nhwc, size, stride, out_h, out_w, xp=np):
    """All size x size windows of an (N, H, W, C) array as a view (N, OH, OW, size, size, C).

    ``view[n, i, j, a, b, c] = x[n, i*stride + a, j*stride + b, c]``; no copy is made,
    so write nothing through it (windows overlap). ``xp``: the array's module.
    """
    sn, sh, sw, sc = x_nhwc.strides
    n, _, _, c = x_nhwc.shape
    shape, strides = (n, out_h, out_w, size, size, c), (sn, sh * stride, sw * stride, sh, sw, sc)
    return xp.lib.stride_tricks.as_strided(x_nhwc, shape, strides)


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    For input x (N, C_in, H, W), weights W (KH, KW, C_in, C_out), bias b (C_out,),
    stride s and zero padding p (x padded by p on every side):

        y[n, o, i, j] = b[o] + sum over (a, b', c) of x[n, c, i*s + a, j*s + b'] * W[a, b', c, o]

    with output size OH = (H + 2p - KH) // s + 1 (likewise OW). Written as a
    matrix product, ``Y = cols W + b`` with ``cols`` (N*OH*OW, KH*KW*C_in) the
    windows laid out as rows, the chain rule gives the Dense layer's rules:

        dL/dW = cols^T dY      dL/db = sum of dY's rows      dL/dcols = dY W^T

    and dL/dx adds each row of dL/dcols back onto the window it was copied from
    ("col2im"). Spec: ``{"type": "Conv2D", "filters": 32, "kernel": 3,
    "stride": 1, "padding": 0}``; C_in is taken from the input.

    Parameters
    ----------
    in_channels : int
        Input channels, C_in.
    filters : int
        Output channels, C_out: one filter each.
    kernel : int
        The side of the square kernel (KH = KW).
    stride : int
        Step between two windows, in both directions.
    padding : int
        Zeros added on every side of the input.
    rng : numpy.random.Generator, optional
        Draws the He-normal initial weights; default: a fresh, unseeded generator.
        The biases start at 0.
    dtype : numpy dtype
        The parameters' floating-point type.

    Raises
    ------
    ValueError
        If a size is not a whole number >= 1 (``padding``: >= 0).
    """

    param_names = ("W", "b")
    decayed_params = ("W",)
    copies_input = True
    keeps_shape = False
    defaults = {"filters": REQUIRED, "kernel": 3, "stride": 1, "padding": 0}
    text_name, text_number = "conv", "filters"
    text_letters = {"k": "kernel", "s": "stride", "p": "padding"}

    def __init__(self, in_channels, filters, kernel=3, stride=1, padding=0, rng=None, dtype=np.float32):
        in_channels, filters = positive_int("in_channels", in_channels), positive_int("filters", filters)
        rng = np.random.default_rng() if rng is None else rng
        self.kernel, self.stride = positive_int("kernel", kernel), positive_int("stride", stride)
        self.padding = non_negative_int("padding", padding)
        fan_in = self.kernel * self.kernel * in_channels
        self.W = he_normal(fan_in, filters, rng, dtype).reshape(self.kernel, self.kernel, in_channels, filters)
        self.b = np.zeros(filters, dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    @classmethod
    def plan(cls, input_shape, filters, kernel, stride, padding):
        """The output shape ``(filters, OH, OW)`` and the parameter count
        ``kernel * kernel * C_in * filters + filters``.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example: feature maps ``(C_in, H, W)``.
        filters : int
            Output channels, >= 1.
        kernel : int
            The kernel's side, >= 1.
        stride : int
            Step between windows, >= 1.
        padding : int
            Zeros on every side, >= 0.

        Returns
        -------
        tuple
            ``(output_shape, n_parameters)``.

        Raises
        ------
        ValueError
            If a setting is not a whole number in its range, the input is not
            feature maps, or the kernel is larger than the (padded) input.
        """
        filters, kernel = positive_int("filters", filters), positive_int("kernel", kernel)
        stride, padding = positive_int("stride", stride), non_negative_int("padding", padding)
        c, h, w = _feature_maps("Conv2D", input_shape)
        out_h, out_w = _windows("Conv2D", kernel, stride, padding, h, w)
        return (filters, out_h, out_w), kernel * kernel * c * filters + filters

    @classmethod
    def from_config(cls, config, input_shape, rng, dtype):
        return cls(
            input_shape[0],
            int(config["filters"]),
            int(config["kernel"]),
            int(config["stride"]),
            int(config["padding"]),
            rng,
            dtype,
        )

    def get_config(self) -> dict[str, Any]:
        return {"filters": self.filters, "kernel": self.kernel, "stride": self.stride, "padding": self.padding}

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        if input_shape[0] != self.in_channels:
            raise ValueError(f"{self!r} takes {self.in_channels} input channels, got {input_shape[0]}")
        return shape

    @property
    def in_channels(self):
        """Input channels, C_in."""
        return self.W.shape[2]

    @property
    def filters(self):
        """Output channels, C_out: one per filter."""
        return self.W.shape[3]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, _, h, w = x.shape
        k, s, p = self.kernel, self.stride, self.padding
        out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        xp = self.xp
        # Channels-last (free for maps from these layers; a small copy for the network's
        # input): a window is then a run of whole pixel rows, which numpy copies fast.
        x_nhwc = xp.ascontiguousarray(channels_last(x))
        if p:
            # Zero borders, written once when the buffer is made; only the middle changes.
            padded = self._buffer("_padded", (n, h + 2 * p, w + 2 * p, self.in_channels), x.dtype, fill=0)
        rows, depth = n * out_h * out_w, k * k * self.in_channels
        # The bias as one more row of weights, against a 1 appended to every window:
        # y = [cols 1] [W; b], so the product adds the bias, and backward's
        # [cols 1]^T dY gives dL/db (the sum of dY's rows) as its last row.
        weights = self._buffer("_weights", (depth + 1, self.filters), self.W.dtype)
        weights[:depth] = self.W.reshape(depth, self.filters)
        weights[depth] = self.b
        y = self._buffer("_y", (rows, self.filters), self.W.dtype)
        if self.in_channels == 1:
            # One input channel: the values at one kernel offset of every window are a
            # shifted copy of the image, so lay cols out one offset per *row* (cols^T,
            # K x M) and copy whole image rows: ~6x faster than gathering 9 values a window.
            cols_t = self._buffer("_cols_t", (depth + 1, rows), x.dtype, fill=1)  # last row: the 1s
            at_offset = cols_t[:depth].reshape(k, k, n, out_h, out_w)
            self.cols = cols_t.T
        else:
            cols = self._buffer("_cols", (n, out_h, out_w, depth + 1), x.dtype, fill=1)  # last column: the 1s
            windows = cols[..., :depth].reshape(n, out_h, out_w, k, k, self.in_channels)  # a view
            self.cols = cols.reshape(rows, depth + 1)

        def forward_slice(start, stop, _):
            images = x_nhwc[start:stop]
            if p:
                padded[start:stop, p : p + h, p : p + w] = images
                images = padded[start:stop]
            if self.in_channels == 1:
                for a in range(k):
                    for b in range(k):
                        view = images[:, a : a + s * out_h : s, b : b + s * out_w : s, 0]
                        xp.copyto(at_offset[a, b, start:stop], view)
            else:
                xp.copyto(windows[start:stop], window_view(images, k, s, out_h, out_w, xp))
            first, last = start * out_h * out_w, stop * out_h * out_w
            xp.matmul(self.cols[first:last], weights, out=y[first:last])

        self._split(n, rows * (depth + 1 + self.filters), forward_slice)
        self.x_shape = x.shape
        return y.reshape(n, out_h, out_w, self.filters).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        n, _, out_h, out_w = dout.shape
        _, _, h, w = self.x_shape
        k, s, p = self.kernel, self.stride, self.padding
        # dY as a (rows, C_out) matrix: free when dout is an NCHW view of NHWC memory.
        xp = self.xp
        dy = xp.ascontiguousarray(channels_last(dout)).reshape(-1, self.filters)
        depth = self.cols.shape[1] - 1
        # Each slice of the batch adds up its own [cols 1]^T dY; their sum is dL/d[W; b].
        work = dy.shape[0] * (depth + 1 + self.filters)
        dweights = self._buffer("_dweights", (len(self._slices(n, work)), depth + 1, self.filters), self.W.dtype)
        if self.needs_input_grad:
            # dL/dcols = dY W^T, one kernel offset (a, b) at a time: dY W[a, b]^T is a
            # contiguous (rows, C_in) block, the gradient of the input pixels under that
            # offset of every window. col2im adds each block back onto the pixels it was
            # copied from (windows overlap, so add).
            per_offset = self.W.reshape(k * k, self.in_channels, self.filters).transpose(0, 2, 1)
            dx = self._buffer("_dx", (n, h + 2 * p, w + 2 * p, self.in_channels), self.W.dtype)

        def backward_slice(start, stop, i):
            first, last = start * out_h * out_w, stop * out_h * out_w
            xp.matmul(self.cols[first:last].T, dy[first:last], out=dweights[i])
            if not self.needs_input_grad:
                return
            block = self._buffer(f"_dcols{i}", (k * k, last - first, self.in_channels), self.W.dtype)
            xp.matmul(dy[first:last], per_offset, out=block)
            block = block.reshape(k, k, stop - start, out_h, out_w, self.in_channels)
            dx_slice = dx[start:stop]
            dx_slice[...] = 0
            for a in range(k):
                for b in range(k):
                    dx_slice[:, a : a + s * out_h : s, b : b + s * out_w : s] += block[a, b]

        self._split(n, work, backward_slice)
        total = dweights.sum(axis=0) if len(dweights) > 1 else dweights[0]
        self.dW[...] = total[:depth].reshape(self.dW.shape)
        self.db[...] = total[depth]
        if not self.needs_input_grad:
            return None
        return dx[:, p : p + h, p : p + w].transpose(0, 3, 1, 2)

    def __repr__(self):
        return (
            f"Conv2D({self.in_channels}, {self.filters}, kernel={self.kernel}, stride={self.stride}, "
            f"padding={self.padding})"
        )


class _Pool2D(Layer):
    """Shared parts of the pooling layers: a size x size window moved by ``stride``."""

    copies_input = True
    keeps_shape = False
    defaults = {"size": 2, "stride": None}
    text_number = "size"
    text_letters = {"s": "stride"}

    def __init__(self, size=2, stride=None):
        self.size = positive_int("size", size)
        self.stride = self.size if stride is None else positive_int("stride", stride)

    @classmethod
    def plan(cls, input_shape, size, stride):
        """The output shape ``(C, OH, OW)``, with OH = (H - size) // stride + 1
        (likewise OW), and 0 parameters.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example: feature maps ``(C, H, W)``.
        size : int
            The side of the square window, >= 1.
        stride : int or None
            Step between windows, >= 1; None means ``size`` (windows that do not overlap).

        Returns
        -------
        tuple
            ``(output_shape, 0)``.

        Raises
        ------
        ValueError
            If ``size`` or ``stride`` is not a whole number >= 1, the input is not
            feature maps, or the window is larger than the input.
        """
        size = positive_int("size", size)
        stride = size if stride is None else positive_int("stride", stride)
        c, h, w = _feature_maps(cls.__name__, input_shape)
        return (c,) + _windows(cls.__name__, size, stride, 0, h, w), 0

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "stride": self.stride}

    def _offsets(self, x_nhwc, out_h, out_w):
        """(a, b, view): for each window offset, the input values at that offset of every window."""
        s = self.stride
        for a in range(self.size):
            for b in range(self.size):
                yield a, b, x_nhwc[:, a : a + s * out_h : s, b : b + s * out_w : s]

    def _shapes(self, x):
        n, c, h, w = x.shape
        out_h, out_w = (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1
        return n, c, h, w, out_h, out_w

    def __repr__(self):
        return f"{type(self).__name__}({self.size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """Max pooling: ``y[n, c, i, j] = max over (a, b) of x[n, c, i*s + a, j*s + b]``.

    The gradient goes to the input that was the maximum (the first one, on ties)
    and nowhere else: ``dL/dx[window's argmax] += dL/dy``. Spec:
    ``{"type": "MaxPool2D", "size": 2, "stride": null}`` (stride null = size).

    Parameters
    ----------
    size : int
        The side of the square window, >= 1.
    stride : int, optional
        Step between windows, >= 1; default (None): ``size``, windows that do not overlap.

    Raises
    ------
    ValueError
        If ``size`` or ``stride`` is not a whole number >= 1.
    """

    text_name = "maxpool"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if self.size == self.stride == 2:
            return self._forward_2x2(x)
        n, c, h, w, out_h, out_w = self._shapes(x)
        y = self._buffer("_y", (n, out_h, out_w, c), x.dtype)
        # Which offset holds each window's maximum, for backward.
        self.argmax = self._buffer("_argmax", y.shape, np.uint8 if self.size <= 15 else np.intp)
        bigger = self._buffer("_bigger", y.shape, bool)
        xp = self.xp
        for index, (_, _, window_values) in enumerate(self._offsets(channels_last(x), out_h, out_w)):
            if index == 0:
                xp.copyto(y, window_values)
                self.argmax[...] = 0
                continue
            xp.greater(window_values, y, out=bigger)
            xp.copyto(y, window_values, where=bigger)
            xp.copyto(self.argmax, index, where=bigger)
        self.x_shape = x.shape
        return y.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if self.size == self.stride == 2:
            return self._backward_2x2(dout)
        n, c, h, w = self.x_shape
        dy = channels_last(dout)
        dx = self._buffer("_dx", (n, h, w, c), dout.dtype)
        dx[...] = 0
        is_max = self._buffer("_is_max", self.argmax.shape, bool)
        term = self._buffer("_term", self.argmax.shape, dout.dtype)
        xp = self.xp
        for index, (_, _, dx_values) in enumerate(self._offsets(dx, *self.argmax.shape[1:3])):
            xp.equal(self.argmax, index, out=is_max)
            xp.multiply(dy, is_max, out=term)
            dx_values += term
        return dx.transpose(0, 3, 1, 2)

    # The common 2x2 window, stride 2, as two pairwise maxima (along rows, then
    # down columns) on half-size arrays: ~30x faster than the general loop above.
    # Ties go to the left, then to the top: the first maximum in scan order.
    def _forward_2x2(self, x):
        n, c, h, w, out_h, out_w = self._shapes(x)
        x = channels_last(x)[:, : 2 * out_h, : 2 * out_w]
        xp = self.xp
        pairs_shape = (n, 2 * out_h, out_w, c)  # one value per horizontal pair
        self.right_wins = self._buffer("_right_wins", pairs_shape, bool)
        pairs = self._buffer("_pairs", pairs_shape, x.dtype)  # the max of each pair
        self.bottom_wins = self._buffer("_bottom_wins", (n, out_h, out_w, c), bool)
        y = self._buffer("_y", (n, out_h, out_w, c), x.dtype)

        def pool_slice(start, stop, _):
            maps, half = x[start:stop], pairs[start:stop]
            left, right = maps[:, :, 0::2], maps[:, :, 1::2]
            xp.greater(right, left, out=self.right_wins[start:stop])
            xp.maximum(left, right, out=half)
            top, bottom = half[:, 0::2], half[:, 1::2]
            xp.greater(bottom, top, out=self.bottom_wins[start:stop])
            xp.maximum(top, bottom, out=y[start:stop])

        self._split(n, x.size, pool_slice)
        self.x_shape = (n, c, h, w)
        return y.transpose(0, 3, 1, 2)

    def _backward_2x2(self, dout):
        n, c, h, w = self.x_shape
        dy = channels_last(dout)
        xp = self.xp
        dpairs = self._buffer("_dpairs", self.right_wins.shape, dout.dtype)
        # Zeros once: a last odd row or column is in no window and stays 0.
        dx = self._buffer("_dx", (n, h, w, c), dout.dtype, fill=0)

        def unpool_slice(start, stop, _):
            d, dp = dy[start:stop], dpairs[start:stop]
            # Down the columns: the bottom one takes dy where it won, the top one the rest (dy - that).
            xp.multiply(d, self.bottom_wins[start:stop], out=dp[:, 1::2])
            xp.subtract(d, dp[:, 1::2], out=dp[:, 0::2])
            inner = dx[start:stop, : dp.shape[1], : 2 * dp.shape[2]]
            xp.multiply(dp, self.right_wins[start:stop], out=inner[:, :, 1::2])
            xp.subtract(dp, inner[:, :, 1::2], out=inner[:, :, 0::2])

        self._split(n, dx.size, unpool_slice)
        return dx.transpose(0, 3, 1, 2)


class AvgPool2D(_Pool2D):
    """Average pooling: ``y[n, c, i, j] = mean over (a, b) of x[n, c, i*s + a, j*s + b]``.

    Every input in a window gets an equal share: ``dL/dx[window] += dL/dy / size^2``.
    Spec: ``{"type": "AvgPool2D", "size": 2, "stride": null}``.

    Parameters
    ----------
    size : int
        The side of the square window, >= 1.
    stride : int, optional
        Step between windows, >= 1; default (None): ``size``, windows that do not overlap.

    Raises
    ------
    ValueError
        If ``size`` or ``stride`` is not a whole number >= 1.
    """

    text_name = "avgpool"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, c, h, w, out_h, out_w = self._shapes(x)
        y = self._buffer("_y", (n, out_h, out_w, c), x.dtype)
        y[...] = 0
        for _, _, window_values in self._offsets(channels_last(x), out_h, out_w):
            y += window_values
        y *= 1.0 / (self.size * self.size)
        self.x_shape = x.shape
        return y.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        n, c, h, w = self.x_shape
        share = channels_last(dout) * (1.0 / (self.size * self.size))
        dx = self._buffer("_dx", (n, h, w, c), dout.dtype)
        dx[...] = 0
        for _, _, dx_values in self._offsets(dx, *share.shape[1:3]):
            dx_values += share
        return dx.transpose(0, 3, 1, 2)
