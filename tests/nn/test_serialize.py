"""Model files from anywhere: every bad file gets one ModelFileError, and
nothing is allocated from the file before it is checked."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scratchnn.errors import ModelFileError
from scratchnn.nn import build_mlp
from scratchnn.nn.serialize import META_KEY, load_model, model_spec, save_model

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def write_model_file(path, meta, arrays):
    """An .npz like save_model writes, with any description and arrays."""
    np.savez(path, **{META_KEY: np.array(json.dumps(meta))}, **arrays)


@pytest.fixture
def good(tmp_path):
    model = build_mlp([6, 4, 3], batch_norm=True)
    path = tmp_path / "good.npz"
    save_model(path, model, {"dataset": "mnist"})
    return path, model


def _meta_and_arrays(model):
    return {"model": model_spec(model), "metadata": {}}, dict(model.state_arrays())


def refused(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message and "allow_pickle" not in message and "\n" not in message
    return message


def test_a_plain_npy_array_is_named_as_such(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    refused(path, "expected a scratchnn model file \\(an .npz archive\\), found a single NumPy .npy array")


def test_random_bytes_and_empty_files(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    refused(path, "found something else")
    path.write_bytes(b"")
    refused(path, "found something else")
    refused(tmp_path, "cannot read the model file")  # a folder


def test_an_object_array_needing_pickle_is_refused_without_advice(good, tmp_path):
    _, model = good
    meta, arrays = _meta_and_arrays(model)
    arrays["layer0.W"] = np.array([{"run": "code"}], dtype=object)
    path = tmp_path / "pickled.npz"
    write_model_file(path, meta, arrays)
    refused(path, "array 'layer0.W' has dtype object, expected a float array or text")


def test_integer_arrays_and_a_non_float_dtype_are_refused(good, tmp_path):
    _, model = good
    meta, arrays = _meta_and_arrays(model)
    path = tmp_path / "ints.npz"
    write_model_file(path, meta, {**arrays, "layer0.W": arrays["layer0.W"].astype(np.int32)})
    refused(path, "'layer0.W' has dtype int32")
    write_model_file(path, meta, {**arrays, "layer0.W": arrays["layer0.W"].astype(np.float64)})
    refused(path, "'layer0.W' has dtype float64, expected float32")
    meta["model"]["dtype"] = "int32"
    write_model_file(path, meta, arrays)
    refused(path, "dtype 'int32', expected float32 or float64")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.update(model=[1, 2]), "'model' object"),
        (lambda m: m["model"].update(layers={"type": "Dense"}), "list of layer specs"),
        (lambda m: m["model"]["layers"].__setitem__(0, 128), "a layer spec is a dict with a 'type', got 128"),
        (lambda m: m["model"]["layers"].__setitem__(0, [["Dense", 4]]), "a layer spec is a dict"),
        (lambda m: m["model"].update(input_shape="six"), "input shape"),
        (lambda m: m["model"].update(format=7), "format 7"),
        (lambda m: m["model"]["layers"].__setitem__(0, {"type": "Dense", "units": 10**12}), "too large for memory"),
        (lambda m: m["model"]["layers"].insert(0, {"type": "MaxPool2D", "size": 2}), "layer 1"),
        (lambda m: m.update(metadata=[1]), "metadata must be a JSON object"),
    ],
)
def test_malformed_descriptions_are_refused_before_anything_is_built(good, tmp_path, change, match):
    _, model = good
    meta, arrays = _meta_and_arrays(model)
    change(meta)
    path = tmp_path / "bad.npz"
    write_model_file(path, meta, arrays)
    refused(path, match)


def test_arrays_that_do_not_fit_the_description(good, tmp_path):
    _, model = good
    meta, arrays = _meta_and_arrays(model)
    path = tmp_path / "bad.npz"
    write_model_file(path, meta, {**arrays, "layer0.W": np.zeros((7, 4), np.float32)})
    refused(path, r"'layer0.W' has shape \(7, 4\), expected \(6, 4\)")
    del arrays["layer0.b"]
    write_model_file(path, meta, arrays)
    refused(path, r"missing \['layer0.b'\]")


def rewrite_member(source_path, target_path, member, change):
    """Copy the archive at ``source_path`` to ``target_path`` with ``change(bytes)`` applied to one member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(source_path) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            payload = source.read(info)
            target.writestr(info.filename, change(payload) if info.filename == member else payload)
    target_path.write_bytes(buffer.getvalue())


def test_a_header_that_declares_terabytes_is_refused_without_allocating(good, tmp_path):
    path, _ = good
    huge = tmp_path / "huge.npz"
    rewrite_member(path, huge, "layer0.W.npy", lambda payload: payload.replace(b"(6, 4)", b"(9999999, 9999999)"))
    tracemalloc.start()
    try:
        refused(huge, "declares shape \\(9999999, 9999999\\).*more than the archive holds")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: nothing near the 400 TB the header declares


@pytest.mark.parametrize(
    "damage",
    [
        b"{'descr': '<f4', 'fortran_order': False, 'shape': ((",  # tokenizer error
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (6, 4\x00",
    ],
)  # NUL byte
def test_a_header_numpy_cannot_parse_is_a_model_file_error(good, tmp_path, damage):
    path, _ = good
    damaged = tmp_path / "damaged.npz"

    def overwrite_header(payload):
        start = payload.index(b"{")
        return payload[:start] + damage + payload[start + len(damage) :]

    rewrite_member(path, damaged, "layer0.W.npy", overwrite_header)
    refused(damaged, "damaged .npz archive")


def test_a_good_file_round_trips(good):
    path, model = good
    loaded, metadata = load_model(path)
    assert metadata == {"dataset": "mnist"} and repr(loaded) == repr(model)
    for key, value in model.state_arrays().items():
        np.testing.assert_array_equal(loaded.state_arrays()[key], value)


@PROPERTY
@given(data=st.binary(max_size=3000))
def test_any_bytes_give_a_model_file_error(tmp_path, data):
    path = tmp_path / "any.npz"
    path.write_bytes(data)
    with pytest.raises(ModelFileError):
        load_model(path)


@PROPERTY
@given(position=st.integers(min_value=0), value=st.integers(0, 255), cut=st.booleans())
def test_damaged_model_files_load_or_give_a_model_file_error(good, tmp_path, position, value, cut):
    path, _ = good
    data = bytearray(path.read_bytes())
    position %= len(data)
    if cut:
        data = data[:position]
    else:
        data[position] = value
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    try:
        model, _ = load_model(damaged)
    except ModelFileError:
        return
    assert model.output_size == 3


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
LAYER = st.fixed_dictionaries(
    {"type": st.sampled_from(["Dense", "ReLU", "BatchNorm", "Dropout", "Conv2D", "MaxPool2D", "Flatten", "Wobble"])},
    optional={
        "units": st.integers(-2, 2**40),
        "p": JSON,
        "filters": st.integers(-1, 64),
        "kernel": st.integers(-1, 9),
        "momentum": JSON,
        "size": JSON,
    },
)


@PROPERTY
@given(
    layers=st.lists(LAYER | JSON, max_size=5),
    input_shape=JSON | st.lists(st.integers(-1, 2**31), max_size=4),
    dtype=st.sampled_from(["float32", "float64", "int8", "object", 3]),
    extra=JSON,
)
def test_any_description_loads_or_gives_a_model_file_error(tmp_path, layers, input_shape, dtype, extra):
    path = tmp_path / "described.npz"
    meta = {
        "model": {"format": 2, "dtype": dtype, "input_shape": input_shape, "layers": layers},
        "metadata": {"extra": extra},
    }
    write_model_file(path, meta, {"layer0.W": np.zeros((2, 2), np.float32)})
    try:
        load_model(path)
    except ModelFileError:
        pass


def test_a_float64_model_comes_back_as_float64(tmp_path):
    model = build_mlp([6, 4, 3], seed=2, dtype=np.float64)
    save_model(tmp_path / "f64.npz", model)
    loaded, metadata = load_model(tmp_path / "f64.npz")
    assert loaded.dtype == np.float64 and metadata == {}
    np.testing.assert_array_equal(loaded.params, model.params)


def test_a_description_without_dtype_or_metadata_means_float32_and_none(good, tmp_path):
    _, model = good
    meta, arrays = _meta_and_arrays(model)
    del meta["model"]["dtype"], meta["metadata"]
    path = tmp_path / "plain.npz"
    write_model_file(path, meta, arrays)
    loaded, metadata = load_model(path)
    assert loaded.dtype == np.float32 and metadata == {}
    np.testing.assert_array_equal(loaded.params, model.params)


def _version_1(model, dtype=None):
    layers = [
        {"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out}
        if hasattr(layer, "n_in")
        else {"type": type(layer).__name__}
        for layer in model.layers
    ]
    description = {"format": 1, "layers": layers, **({"dtype": dtype} if dtype else {})}
    return {"model": description, "metadata": {}}, dict(model.state_arrays())


@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_version_1_files_keep_their_dtype_float32_when_unsaid(tmp_path, dtype):
    model = build_mlp([5, 3, 2], seed=1, dtype=np.float64 if dtype == "float64" else np.float32)
    path = tmp_path / "v1.npz"
    write_model_file(path, *_version_1(model, dtype))
    loaded, _ = load_model(path)
    assert loaded.dtype == model.dtype and loaded.input_shape == (5,)
    np.testing.assert_array_equal(loaded.params, model.params)


def test_a_version_1_file_without_a_dense_layer_is_refused(tmp_path):
    path = tmp_path / "v1.npz"
    write_model_file(path, {"model": {"format": 1, "layers": [{"type": "ReLU"}]}}, {})
    refused(path, "a format-1 model needs a Dense layer")
