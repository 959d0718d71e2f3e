"""Layers: each one is a small class with the same contract.

* ``forward(x, training)`` computes the layer's output and caches what backward
  will need.
* ``backward(dout)`` takes dL/d(output) and returns dL/d(input), and writes the
  gradient of every parameter ``P`` into the array ``dP`` beside it.
* ``param_names`` lists the parameters; ``decayed_params`` those that weight
  decay (L2) applies to: weights, never biases or normalisation shifts/scales.

Each layer also describes itself, so that an architecture can be plain data (a
list of specs such as ``{"type": "Dense", "units": 128}``, see
:mod:`scratchnn.nn.architecture`) and nothing else needs to know the layer:

* ``defaults``: the layer's settings with their default values (``REQUIRED`` if
  it has none); ``get_config()`` returns this layer's values of them.
* ``plan(input_shape, **config)``: the output shape and the number of parameters
  for one example of ``input_shape``, computed without allocating anything, or a
  ``ValueError`` that says what does not fit.
* ``from_config(config, input_shape, rng, dtype)``: the built layer.
* ``text_name`` / ``text_number`` / ``text_letters``: how the layer is written in
  the ``--arch`` text form (``dense128``, ``conv32k3s1p1``, ``dropout0.25``).

Every subclass is registered in ``LAYER_TYPES`` under its class name.

Every layer computes with its array module ``self.xp``: numpy, or cupy once
``Sequential.to("gpu")`` has moved the model (see :mod:`scratchnn.nn.backend`).
The code reads as NumPy either way.

Speed without hiding the maths: the arrays a layer returns are its own buffers,
reused from step to step while the batch shape stays the same; activations
(ReLU, Dropout) overwrite their input, and ``backward`` may overwrite ``dout``.
Inside a model every one of those arrays belongs to a layer (the model copies
the caller's batch first unless its first layer ``copies_input``), so nothing the
caller owns is touched; a caller that wants to keep an output across calls
copies it (``Sequential.predict_logits`` does). The plain formula is in each
docstring.
"""

from typing import Any

import numpy as np

from ..parameters import check as check_setting
from . import backend, parallel
from .init import he_normal

# Layer classes by type name, filled in as each class is defined.
LAYER_TYPES: dict[str, type["Layer"]] = {}
# Marks a setting that a spec must give (it has no default).
REQUIRED = object()


def positive_int(name, value):
    """``value`` as an int >= 1, or a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def shape_text(shape):
    """(1, 28, 28), (784,): a shape as Python writes a tuple."""
    return str(tuple(int(s) for s in shape))


class Layer(backend.ComputesOnDevice):
    """Base class: a layer with no parameters that passes data through."""

    param_names: tuple[str, ...] = ()
    decayed_params: tuple[str, ...] = ()
    # Arrays that are not trained but are part of the model (saved with it).
    state_names: tuple[str, ...] = ()
    # Set to False by the model for its first layer: nobody needs dL/dx there,
    # and skipping it saves the largest matrix product of the backward pass.
    needs_input_grad = True
    # True when forward never writes into x and returns an array of its own, so
    # a model that starts with this layer need not copy the caller's batch.
    copies_input = False
    # The fewest examples a training batch may hold (batch norm needs 2 for a variance).
    min_batch = 1
    # True when the output has the input's shape (activations, dropout, normalisation).
    keeps_shape = True
    defaults: dict[str, Any] = {}
    text_name: str | None = None  # name in the --arch text form
    text_number: str | None = None  # the setting written right after the name: dense128
    text_letters: dict[str, str] = {}  # settings written as letter + number: k3 -> kernel 3
    # The array module the layer computes with (cupy on a GPU); set by Sequential.to.
    xp: Any = np

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_TYPES[cls.__name__] = cls

    # -- self-description ------------------------------------------------------
    @classmethod
    def plan(cls, input_shape: tuple[int, ...], **config: Any) -> tuple[tuple[int, ...], int]:
        """The output shape and the parameter count for one example, without building anything.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example entering the layer, e.g. ``(784,)`` or ``(1, 28, 28)``.
        **config
            The layer's settings (the keys of ``defaults``).

        Returns
        -------
        tuple
            ``(output_shape, n_parameters)``.

        Raises
        ------
        ValueError
            If a setting is invalid or the input does not fit the layer; the message says why.
        """
        return tuple(input_shape), 0

    @classmethod
    def from_config(cls, config, input_shape, rng, dtype):
        """The layer built from its settings, for examples of ``input_shape``.

        Parameters
        ----------
        config : dict
            The layer's settings, as :meth:`get_config` returns them.
        input_shape : tuple of int
            The shape of one example entering the layer (fixes e.g. a Dense layer's n_in).
        rng : numpy.random.Generator
            Draws the initial weights (and, for dropout, the masks).
        dtype : numpy.dtype
            The floating-point type of the parameters.

        Returns
        -------
        Layer
        """
        return cls(**config)

    def get_config(self):
        """The layer's settings as plain data (the keys of ``defaults``); ``{}`` if it has none.

        Returns
        -------
        dict
        """
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape of this built layer for one example of ``input_shape``.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example entering the layer.

        Returns
        -------
        tuple of int

        Raises
        ------
        ValueError
            If the input does not fit the layer as built (e.g. a ``Dense`` built for
            784 inputs given 100); the message says why.
        """
        return self.plan(input_shape, **self.get_config())[0]

    # -- the maths -------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output for a batch; caches what :meth:`backward` will need.

        Parameters
        ----------
        x : numpy.ndarray or cupy.ndarray
            A batch, shape ``(N, *input_shape)``, of the layer's array module ``xp``
            (a CuPy array once the model is on the GPU). Activations (ReLU, Dropout)
            overwrite it.
        training : bool
            Training mode (dropout drops units; batch norm uses and updates the
            batch statistics) or evaluation mode.

        Returns
        -------
        numpy.ndarray or cupy.ndarray
            The output batch: the layer's own buffer, reused by the next call.
        """
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Backpropagate through the layer: dL/d(output) in, dL/d(input) out (the chain rule).

        Also writes the gradient ``dP`` of every parameter ``P`` in ``param_names``.

        Parameters
        ----------
        dout : numpy.ndarray or cupy.ndarray
            dL/d(output) for the batch of the last :meth:`forward`, on the same
            device; may be overwritten.

        Returns
        -------
        numpy.ndarray or cupy.ndarray or None
            dL/d(input), or None when ``needs_input_grad`` is False (the model's first
            trainable layer: nobody needs it).
        """
        return dout

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The layer's parameters, each with its gradient.

        Returns
        -------
        list of tuple
            ``(P, dP)`` pairs in ``param_names`` order (``[(W, dW), (b, db)]`` for
            Dense; empty for a layer without parameters): the layer's own arrays,
            not copies.
        """
        return [(getattr(self, name), getattr(self, "d" + name)) for name in self.param_names]

    def _buffer(self, name, shape, dtype, fill=None):
        """A reusable array of ``shape``; reallocated (and filled with ``fill``,
        if given) only when the shape changes."""
        buf = getattr(self, name, None)
        if buf is None or buf.shape != shape or buf.dtype != dtype or not self._on_device(buf):
            xp = self.xp
            buf = xp.empty(shape, dtype) if fill is None else xp.full(shape, fill, dtype)
            setattr(self, name, buf)
        return buf

    def _on_device(self, array):
        """True if ``array`` lives where this layer computes (after a move, old buffers do not)."""
        return (backend.module_of(array) is not np) == backend.is_gpu(self.xp)

    def _split(self, n, work, do):
        """Run ``do(start, stop, i)`` over slices of a batch of ``n`` examples whose
        work handles about ``work`` array elements: one thread per core on the CPU
        (see :mod:`scratchnn.nn.parallel`), the whole batch at once on a GPU."""
        if backend.is_gpu(self.xp):
            do(0, n, 0)
        else:
            parallel.split_batch(n, work, do)

    def _slices(self, n, work):
        """The ``(start, stop)`` slices that :meth:`_split` cuts the batch into."""
        return [(0, n)] if backend.is_gpu(self.xp) else parallel.slices(n, work)

    def _buffer_like(self, name, x, dtype):
        """A reusable array shaped and laid out in memory like ``x`` (so that
        element-wise work on both walks memory in the same order)."""
        key = (x.shape, x.strides, np.dtype(dtype), self.xp)
        if getattr(self, name + "_key", None) != key:
            setattr(self, name, self.xp.empty_like(x, dtype=dtype))
            setattr(self, name + "_key", key)
        return getattr(self, name)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer: ``y = x W + b``.

    Shapes: x (N, n_in), W (n_in, n_out), b (n_out,), y (N, n_out).
    By the chain rule, with ``dy = dL/dy``:

        dL/dW = x^T dy      dL/db = sum over the batch of dy      dL/dx = dy W^T

    Spec: ``{"type": "Dense", "units": n_out}``; n_in is the size of the input,
    which must be a vector per example (put ``Flatten`` after feature maps).

    Parameters
    ----------
    n_in : int
        Inputs per example.
    n_out : int
        Outputs (units) per example.
    rng : numpy.random.Generator, optional
        Draws the He-normal initial weights; default: a fresh, unseeded generator.
        The biases start at 0.
    dtype : numpy dtype
        The parameters' floating-point type.

    Raises
    ------
    ValueError
        If ``n_in`` or ``n_out`` is not a whole number >= 1.
    """

    param_names = ("W", "b")
    decayed_params = ("W",)
    copies_input = True
    keeps_shape = False
    defaults = {"units": REQUIRED}
    text_name, text_number = "dense", "units"

    def __init__(self, n_in, n_out, rng=None, dtype=np.float32):
        n_in, n_out = positive_int("n_in", n_in), positive_int("n_out", n_out)
        rng = np.random.default_rng() if rng is None else rng
        self.W = he_normal(n_in, n_out, rng, dtype)
        self.b = np.zeros(n_out, dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    @classmethod
    def plan(cls, input_shape, units):
        """The output shape ``(units,)`` and the parameter count ``n_in * units + units``.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example: a vector ``(n_in,)``.
        units : int
            Outputs per example, >= 1.

        Returns
        -------
        tuple
            ``(output_shape, n_parameters)``.

        Raises
        ------
        ValueError
            If ``units`` is not a whole number >= 1, or the input is feature maps
            rather than a vector (put Flatten before Dense).
        """
        units = positive_int("units", units)
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense needs a vector per example, got feature maps {shape_text(input_shape)}; "
                f"put Flatten (flatten) before it"
            )
        return (units,), input_shape[0] * units + units

    @classmethod
    def from_config(cls, config, input_shape, rng, dtype):
        return cls(input_shape[0], int(config["units"]), rng, dtype)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.n_out}

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        if input_shape[0] != self.n_in:
            raise ValueError(f"Dense({self.n_in}, {self.n_out}) takes {self.n_in} inputs, got {input_shape[0]}")
        return shape

    @property
    def n_in(self):
        """Inputs per example: the rows of ``W``."""
        return self.W.shape[0]

    @property
    def n_out(self):
        """Outputs per example: the columns of ``W``."""
        return self.W.shape[1]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x
        y = self._buffer("_y", (x.shape[0], self.n_out), self.W.dtype)
        xp = self.xp

        def dense_slice(start, stop, _):
            xp.matmul(x[start:stop], self.W, out=y[start:stop])
            y[start:stop] += self.b

        self._split(len(x), self._work(len(x)), dense_slice)
        return y

    def _work(self, n):
        # A product's multiply-adds, counted as 1/64 of an element-wise operation each:
        # BLAS already uses every core for one product, so splitting pays only for
        # large ones (a CNN's dense layer at batch 128, not an MLP's first layer).
        return n * self.n_in * self.n_out // 64

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        xp = self.xp
        n = len(dout)
        slices = self._slices(n, self._work(n))
        if len(slices) == 1:
            # Written straight into the gradient arrays, which the model may have made
            # views into one flat vector so that the optimiser updates all at once.
            dW, db = self.dW[None], self.db[None]
        else:  # each slice's share, added up below
            dW = self._buffer("_dW_slices", (len(slices),) + self.dW.shape, self.W.dtype)
            db = self._buffer("_db_slices", (len(slices),) + self.db.shape, self.W.dtype)
        # db = sum of dout's rows, as the product ones^T dout: BLAS does it ~3x faster.
        ones = self._buffer("_ones", (n,), dout.dtype, fill=1)
        if self.needs_input_grad:
            dx = self._buffer("_dx", self.x.shape, self.W.dtype)

        def dense_slice(start, stop, i):
            xp.matmul(self.x[start:stop].T, dout[start:stop], out=dW[i])
            xp.matmul(ones[start:stop], dout[start:stop], out=db[i])
            if self.needs_input_grad:
                xp.matmul(dout[start:stop], self.W.T, out=dx[start:stop])

        self._split(n, self._work(n), dense_slice)
        if len(slices) > 1:
            dW.sum(axis=0, out=self.dW)
            db.sum(axis=0, out=self.db)
        return dx if self.needs_input_grad else None

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class ReLU(Layer):
    """Rectified linear unit: ``y = max(x, 0)``; ``dL/dx = dL/dy * [x > 0]``.

    Computed in place: the input buffer becomes the output (the layer before
    does not need its output for its own backward pass). Any input shape.
    """

    text_name = "relu"
    _mask: np.ndarray  # where the last forward pass's x was > 0, for backward

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # y = x * [x > 0], keeping the mask for backward: faster than
        # np.maximum (which also has to handle NaN; here NaN * 0 stays NaN).
        # A boolean mask is a quarter of a float one (12 MB instead of 46 for the
        # full-batch run) and costs ~2 us more per backward at batch 128.
        # Laid out like x: feature maps are channels-last in memory, and a mask
        # in another order would make both passes ~20x slower.
        mask = self._buffer_like("_mask", x, bool)
        if backend.is_gpu(self.xp) and backend.fused_kernels():
            from .gpu_kernels import relu_kernel

            relu_kernel()(x, x, mask)  # relu_slice's two lines in one launch
            return x
        xp = self.xp

        def relu_slice(start, stop, _):
            part, part_mask = x[start:stop], mask[start:stop]
            xp.greater(part, 0, out=part_mask)
            xp.multiply(part, part_mask, out=part)

        self._split(len(x), x.size, relu_slice)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        xp, mask = self.xp, self._mask

        def relu_slice(start, stop, _):
            part = dout[start:stop]
            xp.multiply(part, mask[start:stop], out=part)

        self._split(len(dout), dout.size, relu_slice)
        return dout

    def any_active(self):
        """Whether any unit was positive for any row of the last forward batch.

        Returns
        -------
        bool
            False when the layer is dead: its gradient is 0, so it stays dead (the
            trainer checks this after every epoch and stops such a run).
        """
        return bool(self._mask.any())

    def __repr__(self):
        return "ReLU()"


class Flatten(Layer):
    """Feature maps to rows: (N, C, H, W) -> (N, C*H*W), in C order (c, then h, then w).

    No arithmetic, so backward only reshapes: ``dL/dx = reshape(dL/dy, x.shape)``.
    """

    keeps_shape = False
    text_name = "flatten"

    @classmethod
    def plan(cls, input_shape):
        """The output shape ``(C*H*W,)`` (the product of ``input_shape``) and 0 parameters.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example, e.g. ``(32, 7, 7)``.

        Returns
        -------
        tuple
            ``(output_shape, 0)``.
        """
        return (int(np.prod(input_shape)),), 0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        return dout.reshape(self.input_shape)

    def __repr__(self):
        return "Flatten()"


class Dropout(Layer):
    """Inverted dropout with drop probability ``p``.

    Training: each unit is kept with probability ``q = 1 - p`` and scaled by ``1/q``,
    ``y = x * m / q`` with ``m ~ Bernoulli(q)``, so the expected activation is
    unchanged and evaluation is the identity, with nothing to rescale.
    Backward: ``dL/dx = dL/dy * m / q``. Any input shape.

    Parameters
    ----------
    p : float
        The probability of dropping a unit, in [0, 1); 0 makes the layer the identity.
    rng : numpy.random.Generator, optional
        Draws the masks (on a GPU with the fused kernels, one seed per step for the
        GPU's own hash); default: a fresh, unseeded generator.

    Raises
    ------
    ConfigError
        If ``p`` is not in [0, 1).
    """

    defaults = {"p": REQUIRED}
    text_name, text_number = "dropout", "p"

    def __init__(self, p, rng=None):
        check_setting("dropout", p)
        self.p = float(p)
        self.rng = np.random.default_rng() if rng is None else rng

    @classmethod
    def plan(cls, input_shape, p):
        """The output shape (``input_shape`` unchanged) and 0 parameters.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example; any shape.
        p : float
            The drop probability, in [0, 1).

        Returns
        -------
        tuple
            ``(input_shape, 0)``.

        Raises
        ------
        ValueError
            If ``p`` is not a number in [0, 1).
        """
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        return tuple(input_shape), 0

    @classmethod
    def from_config(cls, config, input_shape, rng, dtype):
        return cls(float(config["p"]), rng)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.p == 0.0:
            self.scaled_mask = None
            return x
        keep = 1.0 - self.p
        mask = self._buffer("_mask", x.shape, x.dtype)
        xp = self.xp
        if backend.is_gpu(xp):
            self.scaled_mask = mask
            return self._forward_gpu(x, mask, keep)
        self.rng.random(x.shape, dtype=mask.dtype, out=mask)
        # mask <- [u < keep] / keep, the Bernoulli mask and the rescaling in one array.
        xp.less(mask, keep, out=mask)
        mask *= 1.0 / keep
        self.scaled_mask = mask
        x *= mask
        return x

    def _forward_gpu(self, x, mask, keep):
        # The host's generator cannot write into GPU memory. Fused: the GPU draws
        # from a hash of a per-step seed (gpu_kernels.dropout_kernel); unfused,
        # the uniform numbers are drawn here as on the CPU and copied over.
        xp = self.xp
        if backend.fused_kernels():
            from .gpu_kernels import dropout_kernel

            seed = np.uint64(self.rng.integers(2**63))
            dropout_kernel()(x, seed, x.dtype.type(keep), x, mask)
            return x
        mask[...] = xp.asarray(self.rng.random(x.shape, dtype=mask.dtype))
        xp.less(mask, keep, out=mask)
        mask *= 1.0 / keep
        x *= mask
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if self.scaled_mask is None:
            return dout
        dout *= self.scaled_mask
        return dout

    def __repr__(self):
        return f"Dropout({self.p})"


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015), per feature of vectors or per
    channel of feature maps.

    Training, per feature over the batch (for feature maps (N, C, H, W): per
    channel over the N*H*W values of the batch that share it):

        mu = mean(x)   var = mean((x - mu)^2)   x_hat = (x - mu) / sqrt(var + eps)
        y = gamma * x_hat + beta

    Running averages for evaluation, where ``x_hat`` uses them instead:

        running_mean <- momentum * running_mean + (1 - momentum) * mu
        running_var  <- momentum * running_var  + (1 - momentum) * var * m / (m - 1)

    with m the number of values averaged per feature (N, or N*H*W for feature
    maps). The running variance takes the unbiased batch variance, as the paper and
    PyTorch do. ``momentum`` here is the weight of the *old* value (0.9, Keras'
    convention); PyTorch's ``momentum`` is the weight of the *new* one, so this
    layer's 0.9 is PyTorch's ``BatchNorm1d(momentum=0.1)``, its default. A
    training batch needs at least two values per feature. Backward (training statistics):

        dgamma = sum(dy * x_hat)      dbeta = sum(dy)
        dx = gamma / (m sqrt(var + eps)) * (m dy - dbeta - x_hat * dgamma)

    In evaluation the statistics are constants, so y is affine in x and
    ``dx = dy * gamma / sqrt(running_var + eps)`` (used for saliency maps).

    Parameters
    ----------
    n_features : int
        Features of the input vectors, or channels of the input feature maps.
    momentum : float
        The weight of the old value in the running averages, in [0, 1).
    eps : float
        Added to the variance before the square root, > 0.
    dtype : numpy dtype
        The floating-point type of ``gamma`` (starts at 1), ``beta`` (0) and the
        running statistics (mean 0, variance 1).

    Raises
    ------
    ValueError
        If ``n_features`` is not a whole number >= 1.
    """

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")
    copies_input = True
    min_batch = 2
    defaults = {"momentum": 0.9, "eps": 1e-5}
    text_name = "bn"

    def __init__(self, n_features, momentum=0.9, eps=1e-5, dtype=np.float32):
        n_features = positive_int("n_features", n_features)
        self.gamma = np.ones(n_features, dtype)
        self.beta = np.zeros(n_features, dtype)
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self.running_mean = np.zeros(n_features, dtype)
        self.running_var = np.ones(n_features, dtype)
        self.momentum = momentum
        self.eps = eps

    @classmethod
    def plan(cls, input_shape, momentum, eps):
        """The output shape (``input_shape`` unchanged) and the parameter count: a
        ``gamma`` and a ``beta`` per feature or channel.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example: vectors ``(F,)`` or feature maps ``(C, H, W)``.
        momentum : float
            The weight of the old value in the running averages, in [0, 1).
        eps : float
            Added to the variance, > 0.

        Returns
        -------
        tuple
            ``(input_shape, 2 * F)``, or ``2 * C`` for feature maps.

        Raises
        ------
        ValueError
            If the input is neither vectors nor feature maps, or ``momentum`` or
            ``eps`` is out of its range.
        """
        if len(input_shape) not in (1, 3):
            raise ValueError(f"BatchNorm needs vectors (F,) or feature maps (C, H, W), got {shape_text(input_shape)}")
        if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
            raise ValueError(f"BatchNorm momentum must be in [0, 1), got {momentum!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"BatchNorm eps must be > 0, got {eps!r}")
        return tuple(input_shape), 2 * input_shape[0]

    @classmethod
    def from_config(cls, config, input_shape, rng, dtype):
        return cls(input_shape[0], float(config["momentum"]), float(config["eps"]), dtype)

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "eps": self.eps}

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        if input_shape[0] != self.gamma.shape[0]:
            raise ValueError(f"BatchNorm({self.gamma.shape[0]}) got {input_shape[0]} features/channels")
        return shape

    @staticmethod
    def _rows(x):
        """``x`` as (values, features) rows and a function that gives rows x's shape back.

        Feature maps (N, C, H, W) become (N*H*W, C). The image layers keep maps
        channels-last in memory, so for them this is a view, and every statistic is
        a fast reduction down the columns of a contiguous array (reducing a strided
        NCHW view over axes (0, 2, 3) is several times slower).
        """
        if x.ndim == 2:
            return x, lambda rows: rows
        n, c, h, w = x.shape
        rows = x.transpose(0, 2, 3, 1).reshape(-1, c)
        return rows, lambda r: r.reshape(n, h, w, c).transpose(0, 3, 1, 2)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.training = training
        rows, as_input = self._rows(x)
        if training:
            n = rows.shape[0]  # values per feature
            if n < 2:
                raise ValueError(f"batch normalisation needs at least 2 rows to train on, got {x.shape[0]}")
            xp = self.xp
            mean, sum_sq = self._mean_and_sum_of_squares(rows, x.shape[0])
            if backend.is_gpu(xp) and backend.fused_kernels():
                return as_input(self._forward_gpu(rows, mean, sum_sq, n))
            var = sum_sq / n
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1 - m) * mean
            self.running_var *= m
            self.running_var += ((1 - m) * n / (n - 1)) * var
        else:
            mean, var = self.running_mean, self.running_var
        dtype = rows.dtype
        self.x, self.mean = rows, mean.astype(dtype, copy=False)
        self.inv_std = (1.0 / self.xp.sqrt(var + self.eps)).astype(dtype, copy=False)
        # y = gamma * (x - mu) / std + beta, as one scale and one shift per feature
        scale = self.gamma * self.inv_std
        shift = self.beta - self.mean * scale
        y = self._buffer("_y", rows.shape, dtype)
        xp = self.xp

        def normalise_slice(first, last, _):
            xp.multiply(rows[first:last], scale, out=y[first:last])
            y[first:last] += shift

        self._split_rows(x.shape[0], rows, normalise_slice)
        return as_input(y)

    def _split_rows(self, n, rows, do):
        """Run ``do(first, last, i)`` over the rows of each slice ``i`` of a batch of
        ``n`` examples (an example's rows are consecutive: its H*W pixels)."""
        per_example = rows.shape[0] // n
        self._split(n, rows.size, lambda start, stop, i: do(start * per_example, stop * per_example, i))

    def _mean_and_sum_of_squares(self, rows, n):
        """Per feature: the mean of ``rows`` and the sum of squared deviations from it.

        Each slice of the batch sums its own rows; the slices' sums add up (one
        thread per slice, see :mod:`scratchnn.nn.parallel`). Deviations from the
        mean, not E[x^2] - mean^2, which loses digits in float32.
        """
        xp = self.xp
        parts = len(self._slices(n, rows.size))
        sums = self._buffer("_sums", (2, parts, rows.shape[1]), rows.dtype)

        def sum_slice(first, last, i):
            xp.sum(rows[first:last], axis=0, out=sums[0, i])

        self._split_rows(n, rows, sum_slice)
        mean = sums[0].sum(axis=0) / rows.shape[0]

        def squares_slice(first, last, i):
            centred = rows[first:last] - mean
            sums[1, i] = xp.einsum("ij,ij->j", centred, centred)

        self._split_rows(n, rows, squares_slice)
        return mean, sums[1].sum(axis=0)

    def _forward_gpu(self, rows, mean, sum_sq, n):
        # The per-feature arithmetic of the training branch above (variance, running
        # averages, scale and shift) in one launch, and the normalisation in another.
        from .gpu_kernels import affine_kernel, batchnorm_stats_kernel

        t = rows.dtype.type
        self.x, self.mean = rows, mean
        self.inv_std, scale, shift = (self.xp.empty_like(mean) for _ in range(3))
        batchnorm_stats_kernel()(
            mean, sum_sq, self.gamma, self.beta, t(n), t(self.momentum), t(self.eps),
            self.running_mean, self.running_var, self.inv_std, scale, shift,
        )  # fmt: skip
        return affine_kernel()(rows, scale, shift)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        rows, as_input = self._rows(dout)
        m = rows.shape[0]
        xp = self.xp
        n = dout.shape[0]
        # dgamma = sum(dy * x_hat) = (sum(dy * x) - mu * sum(dy)) / std, without forming x_hat;
        # each slice of the batch sums its own rows.
        sums = self._buffer("_dsums", (2, len(self._slices(n, rows.size)), rows.shape[1]), rows.dtype)

        def sums_slice(first, last, i):
            xp.sum(rows[first:last], axis=0, out=sums[0, i])
            sums[1, i] = xp.einsum("ij,ij->j", rows[first:last], self.x[first:last])

        self._split_rows(n, rows, sums_slice)
        sums[0].sum(axis=0, out=self.dbeta)
        sum_dy_x = sums[1].sum(axis=0)
        if self.training and backend.is_gpu(xp) and backend.fused_kernels():
            return as_input(self._backward_gpu(rows, sum_dy_x, m))
        self.dgamma[...] = (sum_dy_x - self.mean * self.dbeta) * self.inv_std
        scale = self.gamma * self.inv_std
        # dx = gamma / (m std) * (m dy - dbeta - x_hat dgamma), expanded into
        # dx = a dy + b x + c per feature, so the big arrays are touched only three times
        # (in evaluation mode the statistics are constants: dx = a dy).
        b = -scale * self.dgamma * self.inv_std / m
        c = -scale * self.dbeta / m - b * self.mean
        dx = self._buffer("_dx", rows.shape, rows.dtype)

        def dx_slice(first, last, _):
            xp.multiply(rows[first:last], scale, out=dx[first:last])
            if self.training:
                dx[first:last] += self.x[first:last] * b
                dx[first:last] += c

        self._split_rows(n, rows, dx_slice)
        return as_input(dx)

    def _backward_gpu(self, rows, sum_dy_x, m):
        # The lines above, fused: the per-feature coefficients in one launch, dx in another.
        from .gpu_kernels import affine2_kernel, batchnorm_backward_stats_kernel

        a, b, c = (self.xp.empty_like(self.mean) for _ in range(3))
        batchnorm_backward_stats_kernel()(
            sum_dy_x, self.dbeta, self.mean, self.inv_std, self.gamma, rows.dtype.type(m), self.dgamma, a, b, c
        )
        return affine2_kernel()(rows, self.x, a, b, c)

    def __repr__(self):
        return f"BatchNorm({self.gamma.shape[0]})"
