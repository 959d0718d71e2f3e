"""Layers: each one is a small class with the same contract.

* ``forward(x, training)`` computes the layer's output and caches what backward
  will need.
* ``backward(dout)`` takes dL/d(output) and returns dL/d(input), and writes the
  gradient of every parameter ``P`` into the array ``dP`` beside it.
* ``param_names`` lists the parameters; ``decayed_params`` those that weight
  decay (L2) applies to: weights, never biases or normalisation shifts/scales.

Speed without hiding the maths: the arrays a layer returns are its own buffers,
reused from step to step while the batch shape stays the same; activations
(ReLU, Dropout) overwrite their input, and ``backward`` may overwrite ``dout``.
Inside a model every one of those arrays belongs to a layer, so nothing the
caller owns is touched (a model starts with Dense, which copies into its own
buffer); a caller that wants to keep an output across calls copies it
(``Sequential.predict_logits`` does). The plain formula is in each docstring.
"""

import numpy as np

from ..parameters import check as check_setting
from .init import he_normal


class Layer:
    """Base class: a layer with no parameters that passes data through."""

    param_names = ()
    decayed_params = ()
    # Arrays that are not trained but are part of the model (saved with it).
    state_names = ()
    # Set to False by the model for its first layer: nobody needs dL/dx there,
    # and skipping it saves the largest matrix product of the backward pass.
    needs_input_grad = True

    def forward(self, x, training=False):
        return x

    def backward(self, dout):
        return dout

    def parameters(self):
        """Pairs ``(parameter, gradient)`` in ``param_names`` order."""
        return [(getattr(self, name), getattr(self, "d" + name)) for name in self.param_names]

    def _buffer(self, name, shape, dtype, fill=None):
        """A reusable array of ``shape``; reallocated (and filled with ``fill``,
        if given) only when the shape changes."""
        buf = getattr(self, name, None)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
            setattr(self, name, buf)
        return buf


class Dense(Layer):
    """Fully connected layer: ``y = x W + b``.

    Shapes: x (N, n_in), W (n_in, n_out), b (n_out,), y (N, n_out).
    By the chain rule, with ``dy = dL/dy``:

        dL/dW = x^T dy      dL/db = sum over the batch of dy      dL/dx = dy W^T
    """

    param_names = ("W", "b")
    decayed_params = ("W",)

    def __init__(self, n_in, n_out, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        self.W = he_normal(n_in, n_out, rng, dtype)
        self.b = np.zeros(n_out, dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    @property
    def n_in(self):
        return self.W.shape[0]

    @property
    def n_out(self):
        return self.W.shape[1]

    def forward(self, x, training=False):
        self.x = x
        y = self._buffer("_y", (x.shape[0], self.n_out), self.W.dtype)
        np.matmul(x, self.W, out=y)
        y += self.b
        return y

    def backward(self, dout):
        # Written straight into the gradient arrays, which the model may have made
        # views into one flat vector so that the optimiser updates all at once.
        np.matmul(self.x.T, dout, out=self.dW)
        # db = sum of dout's rows, as the product ones^T dout: BLAS does it ~3x faster.
        ones = self._buffer("_ones", (dout.shape[0],), dout.dtype, fill=1)
        np.matmul(ones, dout, out=self.db)
        if not self.needs_input_grad:
            return None
        dx = self._buffer("_dx", self.x.shape, self.W.dtype)
        return np.matmul(dout, self.W.T, out=dx)

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class ReLU(Layer):
    """Rectified linear unit: ``y = max(x, 0)``; ``dL/dx = dL/dy * [x > 0]``.

    Computed in place: the input buffer becomes the output (the layer before
    does not need its output for its own backward pass).
    """

    def forward(self, x, training=False):
        # y = x * [x > 0], keeping the mask for backward: faster than
        # np.maximum (which also has to handle NaN; here NaN * 0 stays NaN).
        # A boolean mask is a quarter of a float one (12 MB instead of 46 for the
        # full-batch run) and costs ~2 us more per backward at batch 128.
        mask = self._buffer("_mask", x.shape, bool)
        np.greater(x, 0, out=mask)
        x *= mask
        return x

    def backward(self, dout):
        dout *= self._mask
        return dout

    def any_active(self):
        """False if no unit was positive for any row of the last forward batch:
        the layer is dead (its gradient is 0, so it stays dead)."""
        return bool(self._mask.any())

    def __repr__(self):
        return "ReLU()"


class Dropout(Layer):
    """Inverted dropout with drop probability ``p``.

    Training: each unit is kept with probability ``q = 1 - p`` and scaled by ``1/q``,
    ``y = x * m / q`` with ``m ~ Bernoulli(q)``, so the expected activation is
    unchanged and evaluation is the identity, with nothing to rescale.
    Backward: ``dL/dx = dL/dy * m / q``.
    """

    def __init__(self, p, rng=None):
        check_setting("dropout", p)
        self.p = float(p)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x, training=False):
        if not training or self.p == 0.0:
            self.scaled_mask = None
            return x
        keep = 1.0 - self.p
        mask = self._buffer("_mask", x.shape, x.dtype)
        self.rng.random(x.shape, dtype=mask.dtype, out=mask)
        # mask <- [u < keep] / keep, the Bernoulli mask and the rescaling in one array.
        np.less(mask, keep, out=mask)
        mask *= 1.0 / keep
        self.scaled_mask = mask
        x *= mask
        return x

    def backward(self, dout):
        if self.scaled_mask is None:
            return dout
        dout *= self.scaled_mask
        return dout

    def __repr__(self):
        return f"Dropout({self.p})"


class BatchNorm(Layer):
    """Batch normalisation for dense layers (Ioffe & Szegedy, 2015).

    Training, per feature over the batch of N rows:

        mu = mean(x)   var = mean((x - mu)^2)   x_hat = (x - mu) / sqrt(var + eps)
        y = gamma * x_hat + beta

    Running averages for evaluation, where ``x_hat`` uses them instead:

        running_mean <- momentum * running_mean + (1 - momentum) * mu
        running_var  <- momentum * running_var  + (1 - momentum) * var * N / (N - 1)

    The running variance takes the unbiased batch variance, as the paper and
    PyTorch do. ``momentum`` here is the weight of the *old* value (0.9, Keras'
    convention); PyTorch's ``momentum`` is the weight of the *new* one, so this
    layer's 0.9 is PyTorch's ``BatchNorm1d(momentum=0.1)``, its default. A
    training batch needs at least two rows. Backward (training statistics):

        dgamma = sum(dy * x_hat)      dbeta = sum(dy)
        dx = gamma / (N sqrt(var + eps)) * (N dy - dbeta - x_hat * dgamma)
    """

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")

    def __init__(self, n_features, momentum=0.9, eps=1e-5, dtype=np.float32):
        self.gamma = np.ones(n_features, dtype)
        self.beta = np.zeros(n_features, dtype)
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self.running_mean = np.zeros(n_features, dtype)
        self.running_var = np.ones(n_features, dtype)
        self.momentum = momentum
        self.eps = eps

    def forward(self, x, training=False):
        if training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"batch normalisation needs at least 2 rows to train on, got {n}")
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1 - m) * mean
            self.running_var *= m
            self.running_var += ((1 - m) * n / (n - 1)) * var
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        return self.x_hat * self.gamma + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        np.sum(dout * self.x_hat, axis=0, out=self.dgamma)
        np.sum(dout, axis=0, out=self.dbeta)
        return (self.gamma * self.inv_std / n) * (n * dout - self.dbeta - self.x_hat * self.dgamma)

    def __repr__(self):
        return f"BatchNorm({self.gamma.shape[0]})"
