"""ONNX export and import: onnxruntime and PyTorch as independent references."""

import io
import re
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX tests need the onnx package (pip install -e '.[test]')")
ort = pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime (pip install -e '.[test]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from scratchnn.cli import main  # noqa: E402
from scratchnn.errors import ModelFileError, ScratchnnError  # noqa: E402
from scratchnn.interop.onnx import export_onnx, from_onnx, import_onnx, to_onnx  # noqa: E402
from scratchnn.nn import BatchNorm, build_mlp, build_model, parse_architecture, softmax  # noqa: E402
from scratchnn.nn.serialize import load_model, save_model  # noqa: E402


def run_onnxruntime(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def weights(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def far_from_initial_batch_norm(model, seed, mean_scale):
    """``model`` with every batch norm's running statistics, scale and shift drawn
    far from their initial 0 and 1, so an export that ignored any would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNorm):
            n = layer.gamma.shape
            layer.gamma[:] = rng.uniform(0.5, 1.5, n)
            layer.beta[:] = rng.normal(0, 0.5, n)
            layer.running_mean[:] = rng.normal(0, mean_scale, n)
            layer.running_var[:] = rng.uniform(0.2, 3, n)
    return model


def mlp(batch_norm, dtype=np.float32):
    """784-128-64-10 with random weights, dropout, and (optionally) batch norm."""
    model = build_mlp((784, 128, 64, 10), seed=3, dropout=0.2, batch_norm=batch_norm, dtype=dtype)
    return far_from_initial_batch_norm(model, seed=4, mean_scale=1)


@pytest.fixture(scope="module")
def test_images(mnist):
    return mnist.test.features()  # all 10,000, (N, 784) float32 in [0, 1]


@pytest.mark.parametrize("batch_norm", [False, True], ids=["mlp", "mlp-batchnorm"])
def test_export_runs_in_onnxruntime_like_scratchnn_on_all_of_mnist_test(batch_norm, test_images, tmp_path):
    model = mlp(batch_norm)
    export_onnx(model, tmp_path / "model.onnx")
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Gemm") == 3 and ops.count("Dropout") == 2
    assert ops.count("BatchNormalization") == (2 if batch_norm else 0)
    ours = model.predict_logits(test_images)
    theirs = run_onnxruntime(proto, test_images)
    assert theirs.shape == (10_000, 10)
    assert np.abs(ours).max() > 1  # not a degenerate all-zero comparison
    assert np.abs(theirs - ours).max() < 1e-5


def test_float64_models_export_as_double(test_images):
    model = mlp(batch_norm=True, dtype=np.float64)
    proto = to_onnx(model)
    assert proto.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    x = test_images[:500].astype(np.float64)
    assert np.abs(run_onnxruntime(proto, x) - model.predict_logits(x)).max() < 1e-10


def test_a_classifier_exports_with_its_dataset_and_class_names(test_images):
    from scratchnn import Classifier

    classifier = Classifier(mlp(batch_norm=False), "fashion-mnist")
    proto = to_onnx(classifier)
    assert np.abs(run_onnxruntime(proto, test_images[:100]) - classifier.predict_logits(test_images[:100])).max() < 1e-5
    _, meta = from_onnx(proto)
    assert meta["dataset"] == "fashion-mnist" and meta["class_names"][0] == "T-shirt/top"


def test_probabilities_end_the_graph_with_softmax(test_images):
    model = mlp(batch_norm=True)
    proto = to_onnx(model, probabilities=True)
    assert proto.graph.output[0].name == "probabilities"
    probs = run_onnxruntime(proto, test_images[:1000])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    assert np.abs(probs - softmax(model.predict_logits(test_images[:1000]))).max() < 1e-6


@pytest.mark.parametrize("probabilities", [False, True])
def test_importing_our_own_export_gives_identical_outputs(probabilities, test_images, tmp_path):
    model = mlp(batch_norm=True)
    export_onnx(
        model, tmp_path / "m.onnx", probabilities, metadata={"dataset": "mnist", "class_names": list("0123456789")}
    )
    back, meta = import_onnx(tmp_path / "m.onnx")
    assert repr(back) == repr(model)
    assert back.dtype == model.dtype
    for key, value in model.state_arrays().items():
        np.testing.assert_array_equal(back.state_arrays()[key], value, err_msg=key)
    np.testing.assert_array_equal(back.predict_logits(test_images), model.predict_logits(test_images))
    assert meta == {
        "final_softmax": "Softmax" if probabilities else None,
        "dataset": "mnist",
        "class_names": list("0123456789"),
    }
    # The settings that only training uses come back too.
    bn = [layer for layer in back.layers if isinstance(layer, BatchNorm)]
    assert [(layer.momentum, layer.eps) for layer in bn] == [(0.9, 1e-5)] * 2
    assert [layer.p for layer in back.layers if type(layer).__name__ == "Dropout"] == [0.2, 0.2]


def test_a_pytorch_mlp_imports_and_matches_pytorch(test_images):
    torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch==2.13.0)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 64),
        torch.nn.BatchNorm1d(64),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.25),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
        torch.nn.Softmax(dim=1),
    )
    x = torch.from_numpy(test_images)
    with torch.no_grad():
        net.train()
        for batch in x[:2000].split(200):
            net(batch)  # batch norm's running statistics from real images
        net.eval()
        expected_probs = net(x).numpy()
        expected_logits = net[:-1](x).numpy()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) is deprecated in 2.13 but needs no onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x[:2],),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=["p"],
            dynamic_axes={"x": {0: "n"}, "p": {0: "n"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    assert {"Gemm", "BatchNormalization", "Relu", "Softmax"} <= {node.op_type for node in proto.graph.node}
    model, meta = from_onnx(proto)
    assert meta["final_softmax"] == "Softmax"
    assert repr(model).startswith("Sequential(Dense(784, 64), BatchNorm(64), ReLU(), Dense(64, 32)")
    logits = model.predict_logits(test_images)
    assert np.abs(logits - expected_logits).max() < 1e-5
    assert np.abs(softmax(logits) - expected_probs).max() < 1e-6
    # Torch's BatchNorm1d momentum 0.1 (weight of the new batch) is our 0.9 (weight of the old average).
    assert model.layers[1].momentum == pytest.approx(0.9)


CNN = "conv8k3p1 bn relu maxpool2 conv16k3s2 relu avgpool2 flatten dropout0.25 dense10"


def cnn(dtype=np.float32):
    """Every image layer: padded and strided convolutions, both poolings, batch norm
    over channels, flatten, dropout, dense."""
    model = build_model(parse_architecture(CNN), (1, 28, 28), seed=1, dtype=dtype)
    return far_from_initial_batch_norm(model, seed=3, mean_scale=0.3)


def test_a_cnn_exports_runs_in_onnxruntime_and_imports_back(test_images):
    model = cnn()
    images = test_images[:1000].reshape(-1, 1, 28, 28)
    proto = to_onnx(model)
    assert [node.op_type for node in proto.graph.node] == [
        "Conv",
        "BatchNormalization",
        "Relu",
        "MaxPool",
        "Conv",
        "Relu",
        "AveragePool",
        "Flatten",
        "Dropout",
        "Gemm",
    ]
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]] == [1, 28, 28]
    ours = model.predict_logits(images)
    assert np.abs(ours).max() > 1
    assert np.abs(run_onnxruntime(proto, images) - ours).max() < 1e-5
    back, _ = from_onnx(proto)
    assert repr(back) == repr(model) and back.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(back.predict_logits(images), ours)


def test_a_pytorch_cnn_imports_and_matches_pytorch(test_images):
    torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch==2.13.0)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 3 * 3, 10),
    ).eval()
    images = test_images[:1000].reshape(-1, 1, 28, 28)
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (torch.from_numpy(images[:2]),), buffer, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}}
        )
    model, _ = from_onnx(onnx.load_from_string(buffer.getvalue()))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D",
        "ReLU",
        "MaxPool2D",
        "Conv2D",
        "ReLU",
        "AvgPool2D",
        "Flatten",
        "Dense",
    ]
    assert np.abs(model.predict_logits(images) - expected).max() < 1e-5


def image_graph(node, initializers, out_shape):
    graph = helper.make_graph(
        [node],
        "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *out_shape])],
        [numpy_helper.from_array(np.asarray(a, np.float32), name) for name, a in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize(
    "node, init, message",
    [
        (
            helper.make_node("Conv", ["x", "W"], ["y"], group=1, kernel_shape=[3, 2]),
            {"W": weights(2, 1, 3, 2)},
            "kernel_shape [3, 2]: scratchnn's image layers are 2-D with square kernels",
        ),
        (
            helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 0, 1, 0]),
            {"W": weights(2, 1, 3, 3)},
            "pads [1, 0, 1, 0]: only the same padding on every side",
        ),
        (helper.make_node("Conv", ["x", "W"], ["y"], dilations=[2, 2]), {"W": weights(2, 1, 3, 3)}, "dilations [2, 2]"),
        (
            helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
            {},
            "MaxPool with padding or ceil_mode=1",
        ),
        (
            helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1),
            {},
            "AveragePool with padding or ceil_mode=1",
        ),
        (helper.make_node("Flatten", ["x"], ["y"], axis=2), {}, "Flatten from axis 2"),
    ],
)
def test_image_operators_a_layer_cannot_do_are_refused(node, init, message):
    with pytest.raises(ModelFileError, match=re.escape(message)):
        from_onnx(image_graph(node, init, (2, 6, 6)), "img.onnx")


def test_a_conv_without_bias_and_a_pool_with_default_strides_import(test_images):
    W = weights(3, 1, 3, 3)
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"]),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["p"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 75])],
        [numpy_helper.from_array(W, "W")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model, _ = from_onnx(proto)
    assert repr(model.layers[1]) == "MaxPool2D(2, stride=1)"  # ONNX's strides default to 1, not the size
    x = weights(5, 1, 8, 8, seed=3)
    assert np.abs(model.predict_logits(x) - run_onnxruntime(proto, x)).max() < 1e-5


def graph_model(nodes, initializers, n_in=4, n_out=3, opset=17, out="y"):
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", n_out])],
        [numpy_helper.from_array(np.asarray(a, np.float32), name) for name, a in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.mark.parametrize("form", ["matmul+add", "add-bias-first", "matmul", "gemm-transB-alpha-beta", "log-softmax"])
def test_other_spellings_of_a_dense_layer_import_like_onnxruntime_runs_them(form):
    W, b = weights(4, 3), weights(3, seed=1)
    if form == "matmul+add":
        nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
        init = {"W": W, "b": b}
    elif form == "add-bias-first":
        nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["b", "h"], ["y"])]
        init = {"W": W, "b": b.reshape(1, 3)}
    elif form == "matmul":
        nodes, init = [helper.make_node("MatMul", ["x", "W"], ["y"])], {"W": W}
    elif form == "gemm-transB-alpha-beta":
        nodes = [helper.make_node("Gemm", ["x", "Wt", "b"], ["y"], transB=1, alpha=0.5, beta=2.0)]
        init = {"Wt": W.T.copy(), "b": b}
    else:
        nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"]), helper.make_node("LogSoftmax", ["z"], ["y"])]
        init = {"W": W, "b": b}
    proto = graph_model(nodes, init)
    onnx.checker.check_model(proto)
    x = weights(20, 4, seed=2)
    model, meta = from_onnx(proto)
    ours = model.predict_logits(x)
    if form == "log-softmax":
        assert meta["final_softmax"] == "LogSoftmax"
        ours = np.log(softmax(ours))
    assert np.abs(ours - run_onnxruntime(proto, x)).max() < 1e-5


@pytest.mark.parametrize(
    "nodes, init, message",
    [
        (
            [
                helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="dense"),
                helper.make_node("Tanh", ["h"], ["y"], name="act"),
            ],
            {"W": weights(4, 3), "b": weights(3)},
            "node act (Tanh): operator Tanh is not supported; scratchnn reads",
        ),
        (
            [
                helper.make_node("Gemm", ["x", "W", "b"], ["h"]),
                helper.make_node("Relu", ["h"], ["r"]),
                helper.make_node("Add", ["h", "r"], ["y"]),
            ],
            {"W": weights(4, 3), "b": weights(3)},
            "its inputs ['h', 'r'] are not the previous node's output (r) alone",
        ),
        (
            [
                helper.make_node("Gemm", ["x", "W", "b"], ["h"]),
                helper.make_node("Relu", ["h"], ["r"]),
                helper.make_node("Add", ["r", "c"], ["y"]),
            ],
            {"W": weights(4, 3), "b": weights(3), "c": weights(3)},
            "Add is read only as the bias right after a MatMul",
        ),
        (
            [
                helper.make_node("Gemm", ["x", "W", "b"], ["h"]),
                helper.make_node("Softmax", ["h"], ["s"], axis=1),
                helper.make_node("Relu", ["s"], ["y"]),
            ],
            {"W": weights(4, 3), "b": weights(3)},
            "Softmax is read only as the final output",
        ),
        (
            [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("MatMul", ["h", "h2"], ["y"])],
            {"W": weights(4, 3)},
            "its inputs ['h', 'h2'] are not the previous node's output",
        ),
        (
            [helper.make_node("Gemm", ["x", "W", "b"], ["y"], transA=1)],
            {"W": weights(4, 3), "b": weights(3)},
            "transA=1",
        ),
    ],
)
def test_what_cannot_be_a_scratchnn_model_is_refused_by_name(nodes, init, message):
    with pytest.raises(ModelFileError, match=re.escape(message)):
        from_onnx(graph_model(nodes, init), "net.onnx")


def test_batch_norm_in_training_mode_is_refused():
    nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1)]
    init = {"g": np.ones(4), "b": np.zeros(4), "m": np.zeros(4), "v": np.ones(4)}
    with pytest.raises(ModelFileError, match="training mode"):
        from_onnx(graph_model(nodes, init, n_out=4), "bn.onnx")


def test_a_layer_without_an_onnx_operator_is_refused_by_name(monkeypatch):
    from scratchnn.interop import onnx as onnx_interop

    monkeypatch.delitem(onnx_interop._WRITERS, "Dropout")  # as if Dropout were a new layer without an export
    with pytest.raises(
        ModelFileError,
        match=r"cannot write layer 4, Dropout\(0.2\), as ONNX: no export for "
        r"Dropout layers \(known: AvgPool2D, BatchNorm",
    ):
        to_onnx(mlp(batch_norm=True))


def test_without_the_onnx_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ScratchnnError, match=r"pip install 'scratchnn\[onnx\]'"):
        to_onnx(build_mlp((4, 3)))


def test_cli_export_then_import_round_trips_a_model_file(tmp_path, capsys, test_images):
    model = mlp(batch_norm=True)
    save_model(tmp_path / "model.npz", model, {"dataset": "fashion-mnist", "class_names": ["a", "b"]})
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx"), "--probabilities"]) == 0
    assert "as ONNX opset 17, output probabilities" in capsys.readouterr().out
    probs = run_onnxruntime(onnx.load(str(tmp_path / "model.onnx")), test_images[:100])
    assert np.abs(probs - softmax(model.predict_logits(test_images[:100]))).max() < 1e-6

    assert main(["import", str(tmp_path / "model.onnx"), str(tmp_path / "back.npz")]) == 0
    out = capsys.readouterr().out
    assert "without the final Softmax" in out and f"saved {tmp_path / 'back.npz'}" in out
    back, meta = load_model(tmp_path / "back.npz")
    np.testing.assert_array_equal(back.predict_logits(test_images[:100]), model.predict_logits(test_images[:100]))
    assert meta["dataset"] == "fashion-mnist" and meta["class_names"] == ["a", "b"]
    assert meta["imported_from"] == str(tmp_path / "model.onnx")


def test_cli_import_of_a_bad_file_is_one_error_line(tmp_path, capsys):
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all")
    assert main(["import", str(tmp_path / "bad.onnx"), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scratchnn import: error: {tmp_path / 'bad.onnx'}: not a valid ONNX model")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()

    proto = graph_model([helper.make_node("Sigmoid", ["x"], ["y"])], {}, n_out=4)
    onnx.save(proto, str(tmp_path / "sigmoid.onnx"))
    assert main(["import", str(tmp_path / "sigmoid.onnx"), str(tmp_path / "out.npz")]) == 2
    assert "operator Sigmoid is not supported" in capsys.readouterr().err
