"""Sequential model: layers applied one after another.

Forward runs the layers in order; backward runs them in reverse, each turning
dL/d(its output) into dL/d(its input), which is the chain rule one layer at a time.

The model knows the shape of one example (``input_shape``, e.g. ``(784,)`` or
``(1, 28, 28)``) and follows it through every layer when it is made, so layers
that do not chain are refused at once, and ``output_size`` (the number of
classes) is simply the last layer's output shape.

All parameters live in one flat float vector, and every layer's ``W``, ``b``, ...
is a view into it (likewise the gradients). An optimiser can then update the
whole model with a handful of vectorised operations per step instead of a few
per parameter. Parameters that take weight decay come first, so "the decayed
ones" is simply the slice ``params[:n_decayed]``.

Forward runs each ReLU that a max pool follows *after* that pool instead
(``execution_order``): a ReLU and a max pool commute, ``max(relu(x)) =
relu(max(x))``, and the gradient reaches the same input either way, so the
results are identical, and the ReLU touches a quarter of the values.

A model is built on the CPU; :meth:`Sequential.to` moves it to the GPU (its
arrays become CuPy arrays and every layer computes with ``xp = cupy``) or back.
"""

from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import ShapeError
from . import backend
from .conv import MaxPool2D
from .layers import Dense, Layer, ReLU, shape_text

# Examples per forward pass when predicting or evaluating. Small enough that a
# convolution's im2col matrix stays small (at 1,000 images the cnn preset's first
# layers held ~800 MiB; at 256, 290 MiB) and, measured, no slower.
PREDICT_BATCH = 256


class Sequential(backend.ComputesOnDevice):
    """Layers applied one after another: the network that training and prediction use.

    Parameters
    ----------
    layers : list of Layer
        Built layers, first to last; the last one gives one score (logit) per class.
    input_shape : tuple of int, optional
        The shape of one example, e.g. ``(784,)`` or ``(1, 28, 28)``. By default it
        is read off a leading Dense layer (the only layer whose input size fixes it).

    Raises
    ------
    ShapeError
        If there are no layers, a layer does not fit the output of the one before,
        or the output is not a vector of class scores.
    """

    def __init__(self, layers: Iterable[Layer], input_shape: Sequence[int] | None = None) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ShapeError("a model needs at least one layer")
        self.input_shape = self._known_input_shape() if input_shape is None else tuple(int(s) for s in input_shape)
        self.shapes = [self.input_shape]  # the example shape before each layer, and after the last
        for i, layer in enumerate(self.layers, 1):
            try:
                self.shapes.append(tuple(layer.output_shape(self.shapes[-1])))
            except ValueError as exc:
                raise ShapeError(
                    f"layer {i} {layer!r} does not fit its input {shape_text(self.shapes[-1])}: {exc}"
                ) from None
        if len(self.shapes[-1]) != 1:
            raise ShapeError(
                f"the model's output {shape_text(self.shapes[-1])} is not a vector of class scores; "
                f"end it with Flatten and Dense"
            )
        self.xp: Any = np  # the array module of every array of the model; see to()
        self._flatten_parameters()
        # Backward stops at the first layer with parameters: nobody needs dL/dx there
        # (and skipping it saves the largest matrix product of the backward pass).
        trainable = [i for i, layer in enumerate(self.layers) if layer.param_names]
        self._first_trainable = trainable[0] if trainable else len(self.layers)
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = i > self._first_trainable

    def _known_input_shape(self):
        for layer in self.layers:
            if isinstance(layer, Dense):
                return (layer.n_in,)
            if not layer.keeps_shape:
                break
        raise ShapeError(
            f"cannot tell the input shape of {self!r}: its first layers do not fix it; "
            f"give input_shape, e.g. Sequential(layers, input_shape=(1, 28, 28))"
        )

    def _flatten_parameters(self):
        slots = [(layer, name) for layer in self.layers for name in layer.param_names]
        # Stable sort: decayed parameters first, each group in layer order.
        slots.sort(key=lambda slot: slot[1] not in slot[0].decayed_params)
        dtypes = {getattr(layer, name).dtype for layer, name in slots}
        if len(dtypes) > 1:
            raise ValueError(f"all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        total = sum(getattr(layer, name).size for layer, name in slots)
        self.params = np.empty(total, dtype)
        self.grads = np.zeros(total, dtype)
        self.n_decayed = 0
        self._slots = []  # (layer, name, offset), to re-view the vectors after a move
        offset = 0
        for layer, name in slots:
            value = getattr(layer, name)
            self._slots.append((layer, name, offset))
            self.params[offset : offset + value.size] = value.ravel()
            offset += value.size
            if name in layer.decayed_params:
                self.n_decayed = offset
        self._view_parameters()

    def _view_parameters(self):
        """Point every layer's parameters and gradients at their slices of the flat vectors."""
        for layer, name, offset in self._slots:
            shape = getattr(layer, name).shape
            size = int(np.prod(shape))
            setattr(layer, name, self.params[offset : offset + size].reshape(shape))
            setattr(layer, "d" + name, self.grads[offset : offset + size].reshape(shape))

    @property
    def device(self) -> str:
        """Where the model's arrays live and it computes: ``"cpu"`` or ``"gpu"``."""
        return backend.device_of(self.xp)

    def to(self, device: "str | ModuleType") -> "Sequential":
        """Move the model, in place, to ``device``, and return it.

        Parameters
        ----------
        device : {"cpu", "gpu"} or module
            Where to compute: the CPU (NumPy) or an NVIDIA GPU (CuPy); or an array
            module itself (tests pass a stand-in for NumPy).

        Returns
        -------
        Sequential
            This model: its parameters, gradients and running statistics copied to
            the device, and every layer computing with that device's array module.

        Raises
        ------
        DeviceError
            If the GPU is asked for and CuPy or a CUDA GPU is missing.
        """
        xp = backend.array_module(device) if isinstance(device, str) else device
        if xp is self.xp:
            return self
        self.params = xp.array(backend.to_numpy(self.params))
        self.grads = xp.zeros_like(self.params)
        self._view_parameters()
        for layer in self.layers:
            layer.xp = xp
            for name in layer.state_names:
                setattr(layer, name, xp.array(backend.to_numpy(getattr(layer, name))))
        self.xp = xp
        self._input_buffer = None
        return self

    @property
    def execution_order(self) -> list[Layer]:
        """The layers in the order :meth:`forward` runs them (and :meth:`backward`, reversed).

        ``layers`` with each ReLU that a MaxPool2D directly follows moved after it:
        the two commute, so the results are the same, and the ReLU has fewer values
        to work on. (Worked out on each call, a few microseconds, so models pickled
        before it existed still run.)
        """
        return _pool_before_relu(self.layers)

    @property
    def dtype(self) -> np.dtype:
        """The floating-point type of every parameter and of the arithmetic."""
        return self.params.dtype

    @property
    def min_batch(self) -> int:
        """The fewest examples a training batch may hold (2 with batch norm)."""
        return max(layer.min_batch for layer in self.layers)

    @property
    def input_size(self) -> int:
        """Numbers per example: the product of ``input_shape`` (784 for MNIST)."""
        return int(np.prod(self.input_shape))

    @property
    def output_size(self) -> int:
        """Number of outputs (classes) per example."""
        return self.shapes[-1][0]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits for a batch: every layer's forward pass in order.

        Parameters
        ----------
        x : numpy.ndarray or cupy.ndarray
            A batch (N, *input_shape), on the model's device; a host (NumPy) batch
            for a model on the GPU is copied there. A batch of the right size per
            example but another shape, such as (N, 784) rows for a (1, 28, 28)
            input, is reshaped (a view, no copy). It is never modified.
        training : bool
            Training mode (dropout, batch statistics) or evaluation mode.

        Returns
        -------
        numpy.ndarray or cupy.ndarray
            Logits (N, classes), on the model's device: the last layer's buffer,
            reused by the next call.
        """
        if backend.is_gpu(self.xp) and backend.module_of(x) is np:
            x = self.xp.asarray(x)  # a host batch for a model on the GPU
        if x.shape[1:] != self.input_shape:
            x = x.reshape((x.shape[0],) + self.input_shape)
        if not self.execution_order[0].copies_input:
            # Layers may work in place on their input; the caller's batch is not theirs to change.
            own = self._input_buffer = _reuse(getattr(self, "_input_buffer", None), x.shape, x.dtype, self.xp)
            self.xp.copyto(own, x)
            x = own
        for layer in self.execution_order:
            x = layer.forward(x, training)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate through every layer in reverse order: the chain rule, one layer at a time.

        Parameters
        ----------
        dlogits : numpy.ndarray or cupy.ndarray
            dL/dlogits (N, classes) for the batch of the last :meth:`forward`, on the
            model's device, as :meth:`SoftmaxCrossEntropy.backward` returns it.

        Notes
        -----
        Fills ``self.grads`` (every layer's ``dW``, ``db``, ... are views into it);
        stops at the first layer with parameters, whose input gradient nobody needs.
        """
        grad = dlogits
        # (The swaps in execution_order never move a layer with parameters.)
        for layer in reversed(self.execution_order[self._first_trainable :]):
            # Only the last layer here (the first trainable one) may return None: no dL/dx needed.
            grad = layer.backward(grad)  # type: ignore[assignment]

    def predict_logits(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Logits for any number of examples, computed in batches (evaluation mode).

        Parameters
        ----------
        x : array_like
            (N, *input_shape), or any (N, ...) with as many numbers per example, such
            as (N, 28, 28) images or (N, 784) rows for either kind of model.
        batch_size : int
            Examples per forward pass.

        Returns
        -------
        numpy.ndarray
            Logits (N, classes), a new array on the host (also for a model on the GPU).

        Raises
        ------
        ShapeError
            If the examples do not have the model's number of inputs.
        """
        x = self.as_batch(x)
        out = np.empty((x.shape[0], self.output_size), self.dtype)
        xp = self.xp
        for start in range(0, x.shape[0], batch_size):
            batch = xp.asarray(x[start : start + batch_size], dtype=self.dtype)
            out[start : start + batch_size] = backend.to_numpy(self.forward(batch, training=False))
        return out

    def predict(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """The predicted class index of each example.

        Parameters
        ----------
        x : array_like
            Examples, as for :meth:`predict_logits`.
        batch_size : int
            Examples per forward pass.

        Returns
        -------
        numpy.ndarray
            Class indices (N,).
        """
        return self.predict_logits(x, batch_size).argmax(axis=1)

    def as_batch(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a batch of the model's example shape.

        Parameters
        ----------
        x : array_like or cupy.ndarray
            N examples with ``input_size`` numbers each, in any shape (N, ...).

        Returns
        -------
        numpy.ndarray or cupy.ndarray
            ``x`` reshaped to (N, *input_shape) (a view where the memory allows);
            a CuPy array stays one, anything else becomes a NumPy array.

        Raises
        ------
        ShapeError
            If the examples do not have the model's number of inputs; the message
            gives the shape expected.
        """
        if backend.module_of(x) is np:
            x = np.asarray(x)
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != self.input_size or (x.ndim == 1 and self.input_size != 1):
            raise ShapeError(
                f"input of shape {shape_text(x.shape)} does not fit the model: it takes examples of "
                f"shape {shape_text(self.input_shape)} ({self.input_size} numbers each), "
                f"as (N, {', '.join(map(str, self.input_shape))})"
            )
        return x.reshape((x.shape[0],) + self.input_shape)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array that defines the model (parameters and running statistics), by name.

        Returns
        -------
        dict of str to numpy.ndarray or cupy.ndarray
            Keyed ``layer<i>.<name>`` (``layer0.W``, ``layer2.running_mean``, ...).
            The model's own arrays, on its device: copy them to keep them, and take
            them to the host with :func:`scratchnn.nn.backend.to_numpy` to save them.
        """
        arrays = {}
        for i, layer in enumerate(self.layers):
            for name in layer.param_names + layer.state_names:
                arrays[f"layer{i}.{name}"] = getattr(layer, name)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays produced by :meth:`state_arrays` into this model, in place.

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray or cupy.ndarray
            Exactly the keys of :meth:`state_arrays`, each with its shape; from
            either device (they are copied to the model's).

        Raises
        ------
        ValueError
            If a key is missing or unexpected, or an array's shape differs.
        """
        expected = self.state_arrays()
        missing = sorted(set(expected) - set(arrays))
        unexpected = sorted(set(arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(f"arrays do not fit this model: missing {missing}, unexpected {unexpected}")
        for key, target in expected.items():
            value = arrays[key]
            if value.shape != target.shape:
                raise ValueError(f"{key}: expected shape {target.shape}, got {value.shape}")
            target[...] = backend.to_module(value, self.xp) if backend.is_gpu(self.xp) else backend.to_numpy(value)

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


def _pool_before_relu(layers):
    """``layers`` in the order forward runs them: each ReLU directly followed by
    max pools moved after them.

    Exact, not an approximation: the largest value of a window is positive only if
    it was positive before, so ``max(relu(x)) = relu(max(x))``; and backward sends
    the gradient to the same input (a window whose values are all <= 0 passes
    none in either order). ReLU then works on the pooled maps, a quarter of the
    values with 2x2 pools, in both passes.
    """
    order = list(layers)
    moved = True
    while moved:  # until every such ReLU is past all the pools that follow it
        moved = False
        for i in range(len(order) - 1):
            if type(order[i]) is ReLU and type(order[i + 1]) is MaxPool2D:
                order[i], order[i + 1] = order[i + 1], order[i]
                moved = True
    return order


def _reuse(buf, shape, dtype, xp):
    return buf if buf is not None and buf.shape == shape and buf.dtype == dtype else xp.empty(shape, dtype)


def build_mlp(
    sizes: Sequence[int], seed: int = 0, dropout: float = 0.0, batch_norm: bool = False, dtype: type = np.float32
) -> Sequential:
    """A multilayer perceptron: Dense layers of ``sizes``, ReLU between them.

    A shorthand for :func:`scratchnn.nn.architecture.build_model` with :func:`mlp_specs`.

    Parameters
    ----------
    sizes : sequence of int
        Input size first, classes last: (784, 128, 64, 10) gives Dense(784,128)
        ReLU Dense(128,64) ReLU Dense(64,10); the last layer emits logits for the
        softmax-cross-entropy loss.
    seed : int
        Seeds the weights' generator: the same seed gives the same model.
    dropout : float
        With dropout > 0, Dropout follows each hidden ReLU.
    batch_norm : bool
        BatchNorm between each hidden Dense and its ReLU.
    dtype : numpy dtype
        The parameters' floating-point type.

    Returns
    -------
    Sequential
    """
    from .architecture import build_model, mlp_specs

    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer sizes must be at least two positive integers, got {sizes}")
    return build_model(mlp_specs(sizes, dropout, batch_norm), (sizes[0],), seed, dtype)
