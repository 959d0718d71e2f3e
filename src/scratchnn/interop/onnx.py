"""ONNX export and import: a scratchnn model as an ONNX graph, and back.

ONNX describes a network as a graph of standard operators with the weights
stored beside it, which other tools (onnxruntime, PyTorch, ...) run or read. A
scratchnn model is a chain of layers, so the graph written here is a chain too,
one operator per layer:

    Dense      -> Gemm                y = x W + b   (W stored as (n_in, n_out), transB = 0)
    ReLU       -> Relu
    BatchNorm  -> BatchNormalization  evaluation form: the running mean and variance
                                      (per feature, or per channel of feature maps)
    Dropout    -> Dropout             with its ratio; outside training it is the identity
    Flatten    -> Flatten             axis 1: (N, C, H, W) -> (N, C*H*W), the same C order
    Conv2D     -> Conv                W transposed from our (KH, KW, C_in, C_out) to ONNX's
                                      (C_out, C_in, KH, KW); padding as pads, stride as strides
    MaxPool2D  -> MaxPool             no padding, floor of the window count (ceil_mode 0)
    AvgPool2D  -> AveragePool         likewise

The graph's input is ``input``, shape (N, *input_shape), and its output
``logits``, shape (N, classes); with ``probabilities=True`` a Softmax ends the
graph and the output is ``probabilities`` instead.

Import reads a chain of those operators into a scratchnn model (built by
:func:`scratchnn.nn.build_model`, so its shapes are checked), and also
MatMul followed by Add (another way to write Gemm), Gemm with transposed or
scaled weights (PyTorch writes ``Linear`` as Gemm with transB = 1), Identity
(skipped) and a final Softmax or LogSoftmax. The final softmax is dropped, not
lost: a scratchnn model outputs logits, and applies the softmax in its loss
and when it gives probabilities; softmax(logits) is the ONNX model's output
(for LogSoftmax, log_softmax(logits) is). Any other operator is refused with a
message that names it.

The ``onnx`` package is needed only here (``pip install 'scratchnn[onnx]'``).
"""

import json

import numpy as np

from .. import __version__
from ..atomic import atomic_write_bytes
from ..errors import ModelFileError, ScratchnnError
from ..nn.architecture import build_model

# Opset 17 (2022) is read by onnxruntime >= 1.14 and every current tool; IR
# version 8 is the file format that goes with it.
OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
# Metadata that travels with the model (``metadata_props``), as JSON strings.
METADATA_KEYS = ("dataset", "class_names")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ScratchnnError("ONNX files need the onnx package: pip install 'scratchnn[onnx]'") from None
    return onnx


# -- export -------------------------------------------------------------------------


class _GraphWriter:
    """Collects nodes and weights (initialisers) while the layers are written."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes = []
        self.initializers = []

    def constant(self, name, array, dtype=None):
        from onnx import numpy_helper

        array = np.asarray(array, self.dtype if dtype is None else dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op_type, inputs, name, **attributes):
        """Add one node whose single output is called ``name``; return that name."""
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name


def _write_dense(graph, layer, x, name):
    W = graph.constant(f"{name}.W", layer.W)
    b = graph.constant(f"{name}.b", layer.b)
    return graph.node("Gemm", [x, W, b], name)


def _write_relu(graph, layer, x, name):
    return graph.node("Relu", [x], name)


def _write_batch_norm(graph, layer, x, name):
    inputs = [x] + [
        graph.constant(f"{name}.{key}", getattr(layer, key)) for key in ("gamma", "beta", "running_mean", "running_var")
    ]
    # ONNX's momentum has our meaning: running = momentum * running + (1 - momentum) * batch.
    return graph.node("BatchNormalization", inputs, name, epsilon=float(layer.eps), momentum=float(layer.momentum))


def _write_dropout(graph, layer, x, name):
    # As a double whatever the model's dtype (ONNX allows it), so p reads back exactly.
    ratio = graph.constant(f"{name}.ratio", layer.p, np.float64)
    return graph.node("Dropout", [x, ratio], name)


def _write_flatten(graph, layer, x, name):
    return graph.node("Flatten", [x], name, axis=1)


def _write_conv(graph, layer, x, name):
    W = graph.constant(f"{name}.W", layer.W.transpose(3, 2, 0, 1))  # (C_out, C_in, KH, KW)
    b = graph.constant(f"{name}.b", layer.b)
    k, s, p = layer.kernel, layer.stride, layer.padding
    return graph.node("Conv", [x, W, b], name, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])


def _write_pool(op_type):
    def write(graph, layer, x, name):
        return graph.node(op_type, [x], name, kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2)

    return write


# Layer type name -> function writing its node(s); returns the output's name.
_WRITERS = {
    "Dense": _write_dense,
    "ReLU": _write_relu,
    "BatchNorm": _write_batch_norm,
    "Dropout": _write_dropout,
    "Flatten": _write_flatten,
    "Conv2D": _write_conv,
    "MaxPool2D": _write_pool("MaxPool"),
    "AvgPool2D": _write_pool("AveragePool"),
}


def to_onnx(model, probabilities=False, metadata=None):
    """``model`` as an ONNX ``ModelProto``, checked by ``onnx.checker``.

    Parameters
    ----------
    model : Sequential or scratchnn.Classifier
        Any model the library builds from the layers listed in the module docstring
        (a Classifier's dataset and class names go into the metadata).
    probabilities : bool
        End the graph with Softmax, so that it outputs class probabilities
        (``probabilities``) instead of logits (``logits``).
    metadata : dict, optional
        ``dataset`` and ``class_names`` are stored in the file's metadata.

    Returns
    -------
    onnx.ModelProto
        The graph (input ``input``, shape ``(N, *input_shape)``), its weights as
        initialisers, and the metadata.

    Raises
    ------
    ModelFileError
        If a layer has no ONNX counterpart here.
    ScratchnnError
        If the ``onnx`` package is not installed (the ``onnx`` extra).
    """
    onnx = _onnx()
    from onnx import helper

    if hasattr(model, "network"):  # a scratchnn.Classifier
        metadata = {"dataset": model.dataset, "class_names": list(model.class_names), **(metadata or {})}
        model = model.network
    graph = _GraphWriter(model.dtype)
    x = INPUT_NAME
    for i, layer in enumerate(model.layers):
        write = _WRITERS.get(type(layer).__name__)
        if write is None:
            raise ModelFileError(
                f"cannot write layer {i + 1}, {layer!r}, as ONNX: no export for "
                f"{type(layer).__name__} layers (known: {', '.join(sorted(_WRITERS))})"
            )
        x = write(graph, layer, x, f"layer{i}")
    output = "probabilities" if probabilities else "logits"
    if probabilities:
        graph.node("Softmax", [x], output, axis=1)
    else:
        graph.nodes[-1].output[0] = output  # the last layer's output is the graph's
    element = helper.np_dtype_to_tensor_dtype(graph.dtype)
    input_shape = model.input_shape
    onnx_graph = helper.make_graph(
        graph.nodes,
        "scratchnn",
        [helper.make_tensor_value_info(INPUT_NAME, element, ["N", *input_shape])],
        [helper.make_tensor_value_info(output, element, ["N", model.output_size])],
        graph.initializers,
    )
    proto = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="scratchnn",
        producer_version=__version__,
        doc_string=f"{model!r}; output: {output}",
    )
    for key in METADATA_KEYS:
        if metadata and key in metadata:
            proto.metadata_props.add(key=key, value=json.dumps(metadata[key]))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path, probabilities=False, metadata=None):
    """Write ``model`` to ``path`` as an ONNX file (atomically); see :func:`to_onnx`.

    Parameters
    ----------
    model : Sequential or scratchnn.Classifier
        The model to write.
    path : str or os.PathLike
        The ``.onnx`` file.
    probabilities : bool
        Output class probabilities (a final Softmax) instead of logits.
    metadata : dict, optional
        ``dataset`` and ``class_names`` are stored in the file's metadata.

    Returns
    -------
    onnx.ModelProto
        What was written.

    Raises
    ------
    ModelFileError
        If a layer has no ONNX counterpart here.
    """
    proto = to_onnx(model, probabilities, metadata)
    atomic_write_bytes(path, proto.SerializeToString())
    return proto


# -- import -------------------------------------------------------------------------


class _ChainReader:
    """Turns the nodes of a chain-shaped ONNX graph into layer specs and their arrays."""

    def __init__(self, source, constants):
        self.source = source
        self.constants = constants
        self.specs = []  # {"type": ..., settings}
        self.arrays = []  # per spec: {attribute name: array}
        self.bias_pending = False  # the last Dense came from a MatMul; an Add may give its bias
        self.final_softmax = None

    def refuse(self, node, why):
        return ModelFileError(f"{self.source}: node {_node_label(node)}: {why}")

    def constant(self, node, index, what):
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name not in self.constants:
            raise self.refuse(node, f"its {what} ({name}) must be a constant (an initialiser), not computed")
        return self.constants[name]

    def add(self, spec, arrays=None):
        self.specs.append(spec)
        self.arrays.append(arrays or {})
        self.bias_pending = False

    def add_dense(self, node, W, b):
        if W.ndim != 2:
            raise self.refuse(node, f"expected a 2-D weight matrix, got shape {W.shape}")
        n_out = W.shape[1]
        if b is None:
            b = np.zeros(n_out)
        try:
            b = np.broadcast_to(b, (1, n_out)).reshape(n_out)
        except ValueError:
            raise self.refuse(node, f"bias of shape {np.shape(b)} does not fit {n_out} outputs") from None
        self.add({"type": "Dense", "units": int(n_out)}, {"W": W, "b": b})

    # One method per operator, named after it.
    def Gemm(self, node, attrs):
        """Y = alpha * A' B' + beta * C, with A the data and B, C constants."""
        if attrs.get("transA", 0):
            raise self.refuse(node, "Gemm with transA=1 (a transposed data matrix) is not a layer")
        W = self.constant(node, 1, "weight matrix B")
        C = self.constant(node, 2, "bias C")
        if W.ndim == 2 and attrs.get("transB", 0):
            W = W.T
        W = attrs.get("alpha", 1.0) * W
        self.add_dense(node, W, None if C is None else attrs.get("beta", 1.0) * C)

    def MatMul(self, node, attrs):
        if node.input[0] in self.constants:
            raise self.refuse(node, "MatMul must multiply the data by a constant matrix on the right (x W)")
        self.add_dense(node, self.constant(node, 1, "weight matrix"), None)
        self.bias_pending = True

    def Add(self, node, attrs):
        if not self.bias_pending:
            raise self.refuse(node, "Add is read only as the bias right after a MatMul")
        bias_index = 0 if node.input[0] in self.constants else 1
        bias = self.constant(node, bias_index, "bias")
        n_out = self.arrays[-1]["W"].shape[1]
        try:
            self.arrays[-1]["b"] = np.broadcast_to(bias, (1, n_out)).reshape(n_out).copy()
        except ValueError:
            raise self.refuse(node, f"bias of shape {bias.shape} does not fit {n_out} outputs") from None
        self.bias_pending = False

    def Relu(self, node, attrs):
        self.add({"type": "ReLU"})

    def BatchNormalization(self, node, attrs):
        if attrs.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
            raise self.refuse(node, "BatchNormalization in training mode; export the model in evaluation mode")
        arrays = {
            key: self.constant(node, i, key)
            for i, key in enumerate(("gamma", "beta", "running_mean", "running_var"), 1)
        }
        self.add(
            {
                "type": "BatchNorm",
                "momentum": _attribute_float(attrs.get("momentum", 0.9)),
                "eps": _attribute_float(attrs.get("epsilon", 1e-5)),
            },
            arrays,
        )

    def Dropout(self, node, attrs):
        ratio = self.constant(node, 1, "ratio")
        training = self.constant(node, 2, "training_mode")
        if training is not None and bool(training):
            raise self.refuse(node, "Dropout in training mode; export the model in evaluation mode")
        p = float(attrs.get("ratio", 0.5) if ratio is None else ratio)
        self.add({"type": "Dropout", "p": p})

    def Identity(self, node, attrs):
        pass

    def Flatten(self, node, attrs):
        if attrs.get("axis", 1) != 1:
            raise self.refuse(node, f"Flatten from axis {attrs['axis']}; only axis 1 (keep the batch) is a layer")
        self.add({"type": "Flatten"})

    def square(self, node, attrs, name, default=None):
        """A 2-D attribute with equal entries (kernel, strides), as one int."""
        values = list(attrs.get(name, default or []))
        if len(values) != 2 or values[0] != values[1]:
            raise self.refuse(
                node, f"{name} {values}: scratchnn's image layers are 2-D with square {name.replace('_shape', 's')}"
            )
        return int(values[0])

    def padding(self, node, attrs):
        """Symmetric zero padding as one int; refuses what a layer cannot do."""
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID"):
            raise self.refuse(node, f"auto_pad {auto_pad}; export with explicit pads")
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) > 1:
            raise self.refuse(node, f"pads {pads}: only the same padding on every side is a layer")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self.refuse(node, f"dilations {list(attrs['dilations'])}: only 1 is supported")
        return int(pads[0]) if pads else 0

    def Conv(self, node, attrs):
        W = self.constant(node, 1, "weights")
        b = self.constant(node, 2, "bias")
        if W.ndim != 4 or attrs.get("group", 1) != 1:
            raise self.refuse(
                node,
                f"only 2-D convolutions without groups are a layer (weights {W.shape}, group {attrs.get('group', 1)})",
            )
        kernel = self.square(node, attrs, "kernel_shape", W.shape[2:])
        if W.shape[2] != W.shape[3]:
            raise self.refuse(node, f"a {W.shape[2]}x{W.shape[3]} kernel; scratchnn's kernels are square")
        filters = W.shape[0]
        self.add(
            {
                "type": "Conv2D",
                "filters": int(filters),
                "kernel": kernel,
                "stride": self.square(node, attrs, "strides", [1, 1]),
                "padding": self.padding(node, attrs),
            },
            {"W": W.transpose(2, 3, 1, 0), "b": np.zeros(filters) if b is None else b},
        )

    def pool(self, node, attrs, layer_type):
        if len([o for o in node.output if o]) > 1:
            raise self.refuse(node, f"{node.op_type} with an Indices output is not a layer")
        if attrs.get("ceil_mode", 0) or self.padding(node, attrs):
            raise self.refuse(
                node, f"{node.op_type} with padding or ceil_mode=1; only unpadded, floor-mode pooling is a layer"
            )
        size = self.square(node, attrs, "kernel_shape")
        self.add({"type": layer_type, "size": size, "stride": self.square(node, attrs, "strides", [1, 1])})

    def MaxPool(self, node, attrs):
        if attrs.get("storage_order", 0):
            raise self.refuse(node, "MaxPool with storage_order=1")
        self.pool(node, attrs, "MaxPool2D")

    def AveragePool(self, node, attrs):
        self.pool(node, attrs, "AvgPool2D")

    def Softmax(self, node, attrs):
        # The class axis of the (N, classes) output; opsets before 13 default to 1, later ones to -1.
        if attrs.get("axis", -1) not in (1, -1):
            raise self.refuse(node, f"{node.op_type} over axis {attrs['axis']}, not the class axis")
        self.final_softmax = node.op_type

    LogSoftmax = Softmax


def _attribute_float(value):
    """A float attribute as written: ONNX stores float32, so 1e-5 comes back as
    9.99999975e-06; the shortest decimal that is the same float32 is 1e-05."""
    return float(np.format_float_positional(np.float32(value), unique=True))


def _node_label(node):
    return f"{node.name} ({node.op_type})" if node.name else node.op_type


def _read_operators():
    return sorted(name for name in vars(_ChainReader) if name[0].isupper())


def from_onnx(proto, source="ONNX model"):
    """The scratchnn model an ONNX ``ModelProto`` describes (see the module docstring).

    Parameters
    ----------
    proto : onnx.ModelProto
        The loaded ONNX model.
    source : str
        How error messages name it (e.g. its file name).

    Returns
    -------
    tuple
        ``(model, metadata)``: a :class:`Sequential`, and a dict holding ``dataset``
        and ``class_names`` when the file has them, and ``final_softmax``
        (``"Softmax"``, ``"LogSoftmax"`` or None): the operator dropped from the end.

    Raises
    ------
    ModelFileError
        Naming ``source`` and the first thing that cannot be read: an unsupported
        operator, a graph that is not a chain.
    """
    _onnx()
    from onnx import helper, numpy_helper

    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset < 9:
        raise ModelFileError(f"{source}: ONNX opset {opset} is too old; export with opset 9 or later")
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelFileError(
            f"{source}: expected one input and one output, found {len(inputs)} and {len(graph.output)}"
        )
    element = inputs[0].type.tensor_type.elem_type
    dtypes = {helper.tensor_dtype_to_np_dtype(element)} if element else set()
    if not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        raise ModelFileError(f"{source}: the input is {dtypes.pop()}; expected float32 or float64")
    dtype = dtypes.pop() if dtypes else np.dtype(np.float32)

    reader = _ChainReader(source, constants)
    current = inputs[0].name
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise reader.refuse(node, f"operator {node.domain}.{node.op_type} is not supported")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            constants[node.output[0]] = (
                numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.array(next(iter(attrs.values())))
            )
            continue
        if node.op_type == "Identity" and node.input[0] in constants:
            constants[node.output[0]] = constants[node.input[0]]  # PyTorch names shared weights this way
            continue
        read = getattr(reader, node.op_type, None) if node.op_type[0].isupper() else None
        if read is None:
            raise reader.refuse(
                node, f"operator {node.op_type} is not supported; scratchnn reads {', '.join(_read_operators())}"
            )
        if reader.final_softmax:
            raise reader.refuse(node, f"{reader.final_softmax} is read only as the final output")
        data = [name for name in node.input if name and name not in constants]
        if data != [current]:
            raise reader.refuse(
                node,
                f"its inputs {list(data)} are not the previous node's output ({current}) "
                f"alone: scratchnn models are chains of layers",
            )
        read(node, attrs)
        current = node.output[0]
    if current != graph.output[0].name:
        raise ModelFileError(f"{source}: the graph's output {graph.output[0].name} is not the end of the chain")
    if not reader.specs:
        raise ModelFileError(f"{source}: the graph has no layers")
    model = _build(reader, _input_shape(inputs[0], reader), dtype, source)
    metadata = {"final_softmax": reader.final_softmax}
    for prop in proto.metadata_props:
        if prop.key in METADATA_KEYS:
            try:
                metadata[prop.key] = json.loads(prop.value)
            except json.JSONDecodeError:
                pass  # another tool's metadata of the same name: not ours to read
    return model, metadata


def _input_shape(value, reader):
    """One example's shape from the graph input, or the first Dense's input size."""
    dims = value.type.tensor_type.shape.dim[1:]
    if dims and all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
        return tuple(d.dim_value for d in dims)
    if reader.specs[0]["type"] == "Dense":
        return (reader.arrays[0]["W"].shape[0],)
    raise ModelFileError(f"{reader.source}: the input's shape per example is not given in the file")


def _build(reader, input_shape, dtype, source):
    """The model of the specs read, built by the library's one builder, with the weights read."""
    try:
        model = build_model(reader.specs, input_shape, seed=0, dtype=dtype.type)
        model.load_state_arrays(
            {
                f"layer{i}.{key}": np.asarray(value, dtype)
                for i, arrays in enumerate(reader.arrays)
                for key, value in arrays.items()
            }
        )
    except (ScratchnnError, ValueError) as exc:
        raise ModelFileError(f"{source}: the layers do not fit together ({exc})") from None
    return model


def import_onnx(path):
    """Read the ONNX file ``path`` into a scratchnn model; see :func:`from_onnx`.

    Parameters
    ----------
    path : str or os.PathLike
        An ONNX file of a chain of the operators the module docstring lists.

    Returns
    -------
    tuple
        ``(model, metadata)`` as :func:`from_onnx` returns them.

    Raises
    ------
    ModelFileError
        If the file is missing, not valid ONNX, or holds something scratchnn cannot read.
    """
    onnx = _onnx()
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such ONNX file") from None
    except Exception as exc:  # protobuf's decode errors and the checker's share no base class
        raise ModelFileError(f"{path}: not a valid ONNX model ({str(exc).strip().splitlines()[0]})") from None
    return from_onnx(proto, str(path))
