"""Sequential model: layers applied one after another.

Forward runs the layers in order; backward runs them in reverse, each turning
dL/d(its output) into dL/d(its input), which is the chain rule one layer at a time.

All parameters live in one flat float vector, and every layer's ``W``, ``b``, ...
is a view into it (likewise the gradients). An optimiser can then update the
whole model with a handful of vectorised operations per step instead of a few
per parameter. Parameters that take weight decay come first, so "the decayed
ones" is simply the slice ``params[:n_decayed]``.
"""

import numpy as np

from .layers import Dense, Dropout, ReLU, BatchNorm


class Sequential:
    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a model needs at least one layer")
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = i > 0
        self._flatten_parameters()

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
        offset = 0
        for layer, name in slots:
            value = getattr(layer, name)
            view = self.params[offset : offset + value.size].reshape(value.shape)
            view[...] = value
            setattr(layer, name, view)
            setattr(layer, "d" + name, self.grads[offset : offset + value.size].reshape(value.shape))
            offset += value.size
            if name in layer.decayed_params:
                self.n_decayed = offset

    @property
    def dtype(self):
        return self.params.dtype

    def forward(self, x, training=False):
        """Logits for the batch ``x`` (N, n_in). The result is a reused buffer."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dlogits):
        """Backpropagate dL/dlogits through every layer, filling ``self.grads``."""
        grad = dlogits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def predict_logits(self, x, batch_size=1000):
        """Logits for any number of rows, computed in batches (evaluation mode)."""
        n_out = self.output_size
        out = np.empty((x.shape[0], n_out), self.dtype)
        for start in range(0, x.shape[0], batch_size):
            batch = np.asarray(x[start : start + batch_size], dtype=self.dtype)
            out[start : start + batch_size] = self.forward(batch, training=False)
        return out

    def predict(self, x, batch_size=1000):
        """Predicted class index for each row of ``x``."""
        return self.predict_logits(x, batch_size).argmax(axis=1)

    @property
    def input_size(self):
        return next(layer.n_in for layer in self.layers if isinstance(layer, Dense))

    @property
    def output_size(self):
        return next(layer.n_out for layer in reversed(self.layers) if isinstance(layer, Dense))

    def state_arrays(self):
        """Every array that defines the model (parameters and running statistics), by name."""
        arrays = {}
        for i, layer in enumerate(self.layers):
            for name in layer.param_names + layer.state_names:
                arrays[f"layer{i}.{name}"] = getattr(layer, name)
        return arrays

    def load_state_arrays(self, arrays):
        """Copy arrays produced by :meth:`state_arrays` into this model, in place."""
        expected = self.state_arrays()
        missing = sorted(set(expected) - set(arrays))
        unexpected = sorted(set(arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(f"arrays do not fit this model: missing {missing}, unexpected {unexpected}")
        for key, target in expected.items():
            value = arrays[key]
            if value.shape != target.shape:
                raise ValueError(f"{key}: expected shape {target.shape}, got {value.shape}")
            target[...] = value

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


def build_mlp(sizes, seed=0, dropout=0.0, batch_norm=False, dtype=np.float32):
    """A multilayer perceptron: Dense layers of ``sizes``, ReLU between them.

    ``sizes`` = (784, 128, 64, 10) gives Dense(784,128) ReLU Dense(128,64) ReLU
    Dense(64,10): the last layer emits logits for the softmax-cross-entropy loss.
    With ``batch_norm``, BatchNorm sits between each hidden Dense and its ReLU;
    with ``dropout`` > 0, Dropout follows each hidden ReLU.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer sizes must be at least two positive integers, got {sizes}")
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(n_in, n_out, rng, dtype))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(BatchNorm(n_out, dtype=dtype))
            layers.append(ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout, rng))
    return Sequential(layers)
