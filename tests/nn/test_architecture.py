"""Architectures as data: specs, the text form, shape inference, checks before allocation, model files."""

import json

import numpy as np
import pytest

from scratchnn.errors import ConfigError, ModelFileError, ShapeError
from scratchnn.nn import (
    Dense,
    Dropout,
    Flatten,
    ReLU,
    Sequential,
    architecture_text,
    build_mlp,
    build_model,
    input_shape_for,
    mlp_specs,
    model_specs,
    parse_architecture,
    plan_model,
)
from scratchnn.nn.architecture import BYTES_PER_PARAM
from scratchnn.nn.serialize import load_model, save_model

REFERENCE = "conv32k3 relu maxpool2 conv64k3 relu maxpool2 flatten dense128 relu dense10"


def test_text_form_reads_every_setting_and_round_trips():
    specs = parse_architecture("conv8k5s2p2, relu  pool3s1 avgpool2 bn dropout0.25 flatten dense16 dense10")
    assert specs[0] == {"type": "Conv2D", "filters": 8, "kernel": 5, "stride": 2, "padding": 2}
    assert specs[2] == {"type": "MaxPool2D", "size": 3, "stride": 1}
    assert specs[3] == {"type": "AvgPool2D", "size": 2, "stride": None}
    assert specs[4] == {"type": "BatchNorm", "momentum": 0.9, "eps": 1e-5}
    assert specs[5] == {"type": "Dropout", "p": 0.25}
    assert specs[7] == {"type": "Dense", "units": 16}
    assert parse_architecture(architecture_text(specs)) == specs
    assert architecture_text(parse_architecture(REFERENCE)) == REFERENCE


@pytest.mark.parametrize(
    "text, message",
    [
        ("conv32k3 relu blob7 dense10", r"^--arch: cannot read 'blob7'; write layers like conv32k3s1p1, .*\)$"),
        ("conv32q3 dense10", r"^--arch: cannot read 'conv32q3'; .* \(known: .*conv, .*dense, .*\)$"),
        ("relu5", r"^--arch: cannot read 'relu5'; "),
        ("", r"^--arch: expected layers like 'conv32k3 relu pool2 flatten dense10', got nothing$"),
        # A known word without its required number names the word as typed.
        ("dense", r"^--arch 'dense': Dense needs units$"),
        ("conv32k3 conv relu", r"^--arch 'conv': Conv2D needs filters$"),
    ],
)
def test_bad_text_is_one_clear_error(text, message):
    with pytest.raises(ConfigError, match=message) as exc:
        parse_architecture(text)
    assert "\n" not in str(exc.value)


def test_shapes_are_inferred_layer_by_layer():
    plans = plan_model(parse_architecture(REFERENCE), (1, 28, 28))
    assert [p.output_shape for p in plans] == [
        (32, 26, 26),
        (32, 26, 26),
        (32, 13, 13),
        (64, 11, 11),
        (64, 11, 11),
        (64, 5, 5),
        (1600,),
        (128,),
        (128,),
        (10,),
    ]
    assert sum(p.n_params for p in plans) == 9 * 32 + 32 + 9 * 32 * 64 + 64 + 1600 * 128 + 128 + 128 * 10 + 10
    padded = plan_model(parse_architecture("conv4k5s2p2 flatten dense3"), (2, 9, 7))
    assert padded[0].output_shape == (4, 5, 4)  # (9 + 4 - 5) // 2 + 1, (7 + 4 - 5) // 2 + 1
    overlapping = plan_model(parse_architecture("maxpool3s1 avgpool2s2 flatten"), (2, 7, 6))
    assert [plan.output_shape for plan in overlapping] == [(2, 5, 4), (2, 2, 2), (8,)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("conv8k3 relu dense10", r"layer 3 \(dense10\) on input \(8, 26, 26\): Dense needs a vector.*put Flatten"),
        ("maxpool40 flatten dense10", r"layer 1 \(maxpool40\).*40x40 window is larger than its input of 28x28"),
        ("conv8k29 flatten dense10", "29x29 window is larger"),
        ("flatten conv8k3 dense10", r"layer 2 \(conv8k3\) on input \(784,\): Conv2D needs feature maps"),
        ("conv8k3 relu", r"the last layer gives feature maps \(8, 26, 26\)"),
        ("conv0k3 flatten dense10", "filters must be a whole number >= 1, got 0"),
        ("dropout1.5 flatten dense10", r"dropout probability must be in \[0, 1\)"),
    ],
)
def test_layers_that_do_not_chain_are_refused_naming_the_layer(text, message):
    with pytest.raises(ConfigError, match=message) as exc:
        build_model(parse_architecture(text), (1, 28, 28))
    assert "\n" not in str(exc.value)


def test_bad_specs_are_refused():
    with pytest.raises(ConfigError, match="unknown layer type 'Conv3D'"):
        plan_model([{"type": "Conv3D"}], (1, 8, 8))
    with pytest.raises(ConfigError, match="Dense has no setting size"):
        plan_model([{"type": "Dense", "units": 3, "size": 2}], (4,))
    with pytest.raises(ConfigError, match="Dense needs units"):
        plan_model([{"type": "Dense"}], (4,))


def test_a_model_too_large_for_memory_is_refused_before_allocating():
    # 784 * 1e8 weights would be 314 GB of float32: the check must come first, and fast.
    with pytest.raises(ConfigError, match=r"too large for memory: 79,500,000,010 parameters"):
        build_mlp([784, 100_000_000, 10])
    with pytest.raises(ConfigError, match="too large for memory"):
        plan_model(mlp_specs([784, 1000, 10]), (784,), memory_limit=1_000_000)
    plan_model(mlp_specs([784, 1000, 10]), (784,), memory_limit=10**9)  # fits


def test_build_mlp_is_the_builder_with_mlp_specs():
    a = build_mlp([12, 8, 3], seed=4, dropout=0.1, batch_norm=True)
    b = build_model(mlp_specs([12, 8, 3], 0.1, True), (12,), seed=4)
    assert repr(a) == repr(b) == "Sequential(Dense(12, 8), BatchNorm(8), ReLU(), Dropout(0.1), Dense(8, 3))"
    np.testing.assert_array_equal(a.params, b.params)
    assert model_specs(a) == [
        {"type": "Dense", "units": 8},
        {"type": "BatchNorm", "momentum": 0.9, "eps": 1e-5},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.1},
        {"type": "Dense", "units": 3},
    ]


def test_input_shape_and_output_size_come_from_shape_inference():
    cnn = build_model(parse_architecture("conv4k3 relu maxpool2 flatten dense7"), (1, 10, 10))
    assert cnn.input_shape == (1, 10, 10) and cnn.input_size == 100 and cnn.output_size == 7
    mlp = Sequential([ReLU(), Dropout(0.1), Dense(6, 3)])
    assert mlp.input_shape == (6,) and mlp.output_size == 3


def test_a_model_whose_input_or_output_cannot_be_determined_is_a_clear_error():
    with pytest.raises(ShapeError, match="cannot tell the input shape"):
        Sequential([Flatten(), Dense(4, 2)])
    with pytest.raises(ShapeError, match="cannot tell the input shape"):
        Sequential([ReLU()])
    with pytest.raises(ShapeError, match=r"output \(3, 4, 4\) is not a vector"):
        Sequential([ReLU()], input_shape=(3, 4, 4))
    with pytest.raises(ShapeError, match=r"layer 2 Dense\(5, 2\) does not fit its input \(4,\)"):
        Sequential([Dense(3, 4), Dense(5, 2)])


@pytest.mark.parametrize("first", [ReLU(), Flatten(), Dropout(0.5)])
def test_the_callers_batch_is_never_changed_whatever_the_first_layer(first):
    rng = np.random.default_rng(0)
    model = Sequential([first, Dense(6, 3, rng), ReLU()], input_shape=(6,))
    x = rng.standard_normal((5, 6)).astype(np.float32)
    kept = x.copy()
    logits = model.forward(x, training=True).copy()
    np.testing.assert_array_equal(x, kept)
    model.backward(np.ones_like(logits))  # backward stops at the first layer with parameters
    if isinstance(first, ReLU):
        np.testing.assert_allclose(
            logits, np.maximum(np.maximum(kept, 0) @ model.layers[1].W + model.layers[1].b, 0), rtol=1e-5
        )


def test_predict_accepts_any_batch_shape_of_the_right_size():
    model = build_model(parse_architecture("conv3k3 relu flatten dense4"), (1, 6, 6), seed=1)
    x = np.random.default_rng(2).random((5, 6, 6), dtype=np.float32)
    expected = model.predict_logits(x.reshape(5, 1, 6, 6))
    np.testing.assert_array_equal(model.predict_logits(x), expected)
    np.testing.assert_array_equal(model.predict_logits(x.reshape(5, 36)), expected)
    with pytest.raises(ShapeError, match=r"input of shape \(5, 35\) does not fit the model"):
        model.predict(x.reshape(5, 36)[:, :35])


def test_input_shape_for_picks_rows_or_one_channel_maps():
    assert input_shape_for(mlp_specs([784, 10]), (28, 28)) == (784,)
    assert input_shape_for(parse_architecture(REFERENCE), (28, 28)) == (1, 28, 28)
    assert input_shape_for(parse_architecture("relu flatten dense10"), (28, 28)) == (784,)
    assert input_shape_for(mlp_specs([5, 10]), (5,)) == (5,)


def test_cnn_model_file_round_trip(tmp_path):
    model = build_model(parse_architecture("conv4k3p1 bn relu maxpool2 flatten dropout0.2 dense5"), (1, 8, 8), seed=3)
    model.layers[1].running_var[...] = 2.0
    save_model(tmp_path / "cnn.npz", model, {"note": 1})
    loaded, meta = load_model(tmp_path / "cnn.npz")
    assert meta == {"note": 1} and repr(loaded) == repr(model) and loaded.input_shape == (1, 8, 8)
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))
    with np.load(tmp_path / "cnn.npz") as archive:
        assert json.loads(str(archive["__model__"]))["model"]["format"] == 2


def write_version_1_file(path, model):
    """A model file exactly as format 1 wrote it (before architectures were data)."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            layers.append({"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out})
        elif isinstance(layer, ReLU):
            layers.append({"type": "ReLU"})
        elif isinstance(layer, Dropout):
            layers.append({"type": "Dropout", "p": layer.p})
        else:
            layers.append(
                {
                    "type": "BatchNorm",
                    "n_features": int(layer.gamma.shape[0]),
                    "momentum": layer.momentum,
                    "eps": layer.eps,
                }
            )
    meta = {"model": {"format": 1, "dtype": "float32", "layers": layers}, "metadata": {"dataset": "mnist"}}
    np.savez(path, **model.state_arrays(), __model__=np.array(json.dumps(meta)))


def test_version_1_mlp_files_still_load(tmp_path):
    model = build_mlp([784, 32, 16, 10], seed=2, dropout=0.1, batch_norm=True)
    model.layers[1].running_mean[...] = 0.25
    write_version_1_file(tmp_path / "old.npz", model)
    loaded, meta = load_model(tmp_path / "old.npz")
    assert meta == {"dataset": "mnist"} and loaded.input_shape == (784,) and loaded.output_size == 10
    x = np.random.default_rng(1).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))


def test_model_files_whose_description_does_not_work_are_refused(tmp_path):
    def write(name, layers, input_shape):
        meta = {"model": {"format": 2, "dtype": "float32", "input_shape": input_shape, "layers": layers}}
        np.savez(tmp_path / name, __model__=np.array(json.dumps(meta)))
        return tmp_path / name

    huge = write("huge.npz", [{"type": "Dense", "units": 10**9}, {"type": "Dense", "units": 10}], [784])
    with pytest.raises(ModelFileError, match="huge.npz.*too large for memory"):
        load_model(huge)
    unchained = write("unchained.npz", [{"type": "Conv2D", "filters": 4}, {"type": "Dense", "units": 10}], [1, 8, 8])
    with pytest.raises(ModelFileError, match="unchained.npz.*Dense needs a vector"):
        load_model(unchained)
    with pytest.raises(ModelFileError, match="format 7"):
        meta = {"model": {"format": 7, "layers": []}}
        np.savez(tmp_path / "future.npz", __model__=np.array(json.dumps(meta)))
        load_model(tmp_path / "future.npz")


def _gib_model(width):
    """An MLP spec list 784-width-10 and the bytes plan_model says it needs in float32."""
    specs = mlp_specs([784, width, 10])
    params = 784 * width + width + width * 10 + 10
    return specs, params * BYTES_PER_PARAM[np.dtype(np.float32)]


@pytest.mark.parametrize(
    "width, limit, limit_text",
    [
        (1000, 1023, "1023 bytes"),
        (1000, 1024, "1.0 KiB"),
        (1000, 1536, "1.5 KiB"),
        (1000, 5 * 2**20, "5.0 MiB"),
        (100_000_000, 3 * 2**30, "3.0 GiB"),
        (10**11, 2 * 2**40, "2.0 TiB"),
    ],
)
def test_the_too_large_message_gives_both_sizes_in_readable_units(width, limit, limit_text):
    specs, need = _gib_model(width)
    units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"]
    power = min(max(int(np.log2(need) // 10), 0), 5)
    need_text = f"{need / 1024**power:.1f} {units[power]}"
    with pytest.raises(ConfigError) as caught:
        plan_model(specs, (784,), memory_limit=limit)
    assert str(caught.value).endswith(
        f"need about {need_text} for weights, gradients and optimiser state; this machine has {limit_text}"
    )


def test_sizes_beyond_pebibytes_are_still_written_in_pebibytes():
    specs, need = _gib_model(10**14)  # about 1.3e18 bytes: 1100 PiB, not "1.1 EiB"
    with pytest.raises(ConfigError, match=rf"need about {need / 2**50:.1f} PiB .* has 1\.0 KiB$"):
        plan_model(specs, (784,), memory_limit=1024)


def test_a_float_setting_keeps_its_decimal_point_in_the_text_form():
    specs = [{"type": "Dropout", "p": 0.0}, {"type": "Dropout", "p": 0.5}, {"type": "Dense", "units": 10}]
    assert architecture_text(specs) == "dropout0.0 dropout0.5 dense10"
    read_back = parse_architecture(architecture_text(specs))
    assert read_back == specs and isinstance(read_back[0]["p"], float)


def test_build_mlp_checks_its_sizes_and_allows_a_layer_of_one():
    for sizes in ([784], [784, 0, 10], [784, 10, 0], []):
        with pytest.raises(ValueError, match="at least two positive integers"):
            build_mlp(sizes)
    one = build_mlp([3, 1, 2])  # a one-unit bottleneck is a valid network
    assert repr(one) == "Sequential(Dense(3, 1), ReLU(), Dense(1, 2))" and one.predict(np.ones((4, 3))).shape == (4,)
    assert build_mlp([2, 2]).output_size == 2  # a single Dense layer: softmax regression
    # The documented default seed is 0: the same network as seed=0, another than seed=1.
    np.testing.assert_array_equal(build_mlp([5, 4, 3]).params, build_mlp([5, 4, 3], seed=0).params)
    assert not np.array_equal(build_mlp([5, 4, 3]).params, build_mlp([5, 4, 3], seed=1).params)


def test_a_model_of_one_input_number_takes_a_flat_vector_of_examples():
    model = build_mlp([1, 4, 2], seed=3)
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    np.testing.assert_array_equal(model.predict_logits(x), model.predict_logits(x.reshape(7, 1)))
    with pytest.raises(ShapeError, match=r"input of shape \(\) does not fit"):
        model.predict(np.float32(1.0))
    with pytest.raises(ShapeError, match=r"input of shape \(7,\) does not fit"):
        build_mlp([7, 2]).predict(np.ones(7, np.float32))  # one example needs a batch axis


@pytest.mark.parametrize("first", [ReLU(), Dropout(0.5)])
def test_batches_of_changing_size_through_a_first_layer_that_works_in_place(first):
    rng = np.random.default_rng(0)
    model = Sequential([first, Dense(6, 3, rng)], input_shape=(6,))
    for n in (5, 3, 5, 8):
        x = rng.standard_normal((n, 6)).astype(np.float32)
        kept = x.copy()
        logits = model.forward(x, training=False)
        np.testing.assert_array_equal(x, kept)
        expected = (np.maximum(kept, 0) if isinstance(first, ReLU) else kept) @ model.layers[1].W + model.layers[1].b
        np.testing.assert_allclose(logits, expected, rtol=1e-5)


def test_a_new_layer_whose_name_extends_a_known_one_is_read_by_its_whole_name():
    from scratchnn.nn import Conv2D
    from scratchnn.nn.layers import LAYER_TYPES

    class Conv2DWide(Conv2D):  # registers itself, as every new layer does
        text_name = "convw"

    try:
        specs = parse_architecture("convw8k5 conv4k3 maxpool2")
        assert [spec["type"] for spec in specs] == ["Conv2DWide", "Conv2D", "MaxPool2D"]
        assert specs[0]["filters"] == 8 and specs[0]["kernel"] == 5
    finally:
        del LAYER_TYPES["Conv2DWide"]


@pytest.mark.parametrize(
    "text, shape",
    [
        ("conv4k3p1 bn relu maxpool2 conv6k3 bn relu avgpool2 flatten dense5 bn relu dropout0.2 dense3", (2, 12, 12)),
        ("bn dense7 bn relu dense2", (5,)),
    ],
)
def test_each_layers_planned_parameter_count_is_what_it_builds(text, shape):
    # The plan sizes the flat parameter vector and the memory check before anything exists.
    specs = parse_architecture(text)
    model = build_model(specs, shape, seed=0)
    built = [sum(p.size for p, _ in layer.parameters()) for layer in model.layers]
    assert [plan.n_params for plan in plan_model(specs, shape)] == built
    assert sum(built) == model.params.size


def test_a_model_that_just_fits_the_memory_is_accepted():
    specs, need = _gib_model(1000)
    assert len(plan_model(specs, (784,), memory_limit=need)) == 3
    with pytest.raises(ConfigError, match="too large for memory"):
        plan_model(specs, (784,), memory_limit=need - 1)
