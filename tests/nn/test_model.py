"""The Sequential model: shapes, flat parameters, whole-network gradients, He init, save/load."""

import pickle

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error

from scratchnn.errors import ModelFileError
from scratchnn.nn import Dense, SoftmaxCrossEntropy, build_mlp, he_normal
from scratchnn.nn.architecture import build_model, parse_architecture
from scratchnn.nn.serialize import load_model, save_model


def test_forward_shapes_for_classic_architecture():
    model = build_mlp([784, 128, 64, 10], seed=0)
    assert [p.shape for p, _ in sum((layer.parameters() for layer in model.layers), [])] == [
        (784, 128),
        (128,),
        (128, 64),
        (64,),
        (64, 10),
        (10,),
    ]
    out = model.forward(np.zeros((32, 784), np.float32))
    assert out.shape == (32, 10) and out.dtype == np.float32


def test_parameters_are_views_into_one_flat_vector_weights_first():
    model = build_mlp([4, 3, 2], seed=0)
    assert model.params.size == 4 * 3 + 3 + 3 * 2 + 2
    assert model.n_decayed == 4 * 3 + 3 * 2  # weights first, then biases
    dense = model.layers[0]
    assert np.shares_memory(dense.W, model.params) and np.shares_memory(dense.dW, model.grads)
    model.params[:] = 0.5
    assert np.all(dense.W == 0.5) and np.all(model.layers[-1].b == 0.5)
    np.testing.assert_array_equal(model.params[: model.n_decayed].reshape(-1)[:12], dense.W.reshape(-1))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_whole_network_gradient_check(batch_norm):
    """dL/dparams from backprop equals central differences for the whole model + loss."""
    rng = np.random.default_rng(0)
    model = build_mlp([6, 5, 4, 3], seed=1, batch_norm=batch_norm, dtype=np.float64)
    model.params[:] += 0.1 * rng.standard_normal(model.params.size)  # nonzero biases too
    x = rng.standard_normal((7, 6))
    y = rng.integers(0, 3, 7)
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        return loss_fn.forward(model.forward(x.copy(), training=True), y)

    loss()
    model.backward(loss_fn.backward())
    analytic = model.grads.copy()
    numeric = numerical_gradient(loss, model.params)
    assert relative_error(analytic, numeric) < 1e-6


def test_he_normal_statistics():
    w = he_normal(784, 512, np.random.default_rng(0))
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.002
    assert abs(w.std() - np.sqrt(2 / 784)) / np.sqrt(2 / 784) < 0.01


def test_he_init_is_seeded_and_biases_are_zero():
    a, b, c = build_mlp([10, 8, 3], seed=5), build_mlp([10, 8, 3], seed=5), build_mlp([10, 8, 3], seed=6)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert np.all(a.params[a.n_decayed :] == 0)


def test_predict_batches_give_the_same_answer_as_one_pass():
    model = build_mlp([20, 16, 4], seed=0)
    x = np.random.default_rng(1).random((250, 20), dtype=np.float32)
    whole = model.forward(x.copy()).copy()
    np.testing.assert_allclose(model.predict_logits(x, batch_size=64), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, batch_size=64), whole.argmax(axis=1))


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    model = build_mlp([12, 8, 8, 3], seed=3, dropout=0.2, batch_norm=True)
    model.layers[1].running_mean[...] = 0.3  # running statistics must travel too
    path = tmp_path / "model.npz"
    save_model(path, model, {"note": "hello"})
    loaded, meta = load_model(path)
    assert meta == {"note": "hello"}
    assert repr(loaded) == repr(model)
    x = np.random.default_rng(0).random((9, 12), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))
    np.load(path, allow_pickle=False).close()  # plain arrays only


def test_load_model_rejects_bad_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError, match="junk.npz"):
        load_model(junk)
    good = tmp_path / "good.npz"
    save_model(good, build_mlp([4, 3, 2]))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(ModelFileError, match="truncated.npz"):
        load_model(truncated)
    other = tmp_path / "plain.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a readable scratchnn model file: no __model__ entry"):
        load_model(other)


def test_dense_layer_contract_for_any_batch_size():
    layer = Dense(3, 2, np.random.default_rng(0))
    for n in (1, 5, 2):
        assert layer.forward(np.ones((n, 3), np.float32)).shape == (n, 2)
        assert layer.backward(np.ones((n, 2), np.float32)).shape == (n, 3)


def test_predict_logits_keeps_the_model_dtype_and_matches_one_big_batch():
    model = build_mlp([5, 7, 3], seed=2)
    x = np.random.default_rng(1).random((23, 5), dtype=np.float32)
    small = model.predict_logits(x, batch_size=4)
    assert small.dtype == np.float32 and small.shape == (23, 3)
    np.testing.assert_allclose(small, model.predict_logits(x, batch_size=100), rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x, batch_size=4), small.argmax(axis=1))


def test_repr_lists_the_layers_in_order():
    assert repr(build_mlp([3, 4, 2])) == "Sequential(Dense(3, 4), ReLU(), Dense(4, 2))"


def test_a_relu_before_a_max_pool_runs_after_it_with_exactly_the_same_results():
    from scratchnn.nn import Conv2D, Flatten, MaxPool2D, ReLU
    from scratchnn.nn.architecture import build_model, parse_architecture

    text = "conv4k3 relu maxpool2 relu maxpool2 flatten dense5 relu dense3"
    model = build_model(parse_architecture(text), (1, 11, 11), seed=0, dtype=np.float64)
    assert [type(layer) for layer in model.execution_order] == [
        Conv2D,
        MaxPool2D,
        MaxPool2D,
        ReLU,
        ReLU,
        Flatten,
        Dense,
        ReLU,
        Dense,
    ]
    x = np.random.default_rng(0).standard_normal((6, 1, 11, 11)) - 0.5
    dlogits = np.random.default_rng(1).standard_normal((6, 3))
    # The layers in the order written, by hand: ReLU on the full maps, then the pool.
    h = x.copy()
    for layer in model.layers:
        h = layer.forward(h, training=True)
    written = h.copy()
    g = dlogits.copy()
    for layer in reversed(model.layers):
        g = layer.backward(g)
    written_grads = model.grads.copy()
    pooled = model.layers[0].forward(x.copy())  # some windows hold no positive value (ReLU ties at 0)
    assert (MaxPool2D(2).forward(pooled) <= 0).any()
    np.testing.assert_array_equal(model.forward(x, training=True), written)
    model.backward(dlogits)
    np.testing.assert_array_equal(model.grads, written_grads)


def test_a_pickled_model_computes_the_same_on_the_same_device():
    # Pickling (multiprocessing, joblib, scikit-learn's clone) stores the device by
    # name, not the array module itself, and restores the module on loading.
    model = build_model(parse_architecture("conv2k3 bn relu maxpool2 flatten dropout0.5 dense3"), (1, 6, 6), seed=0)
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.xp is np and all(layer.xp is np for layer in copy.layers)
    np.testing.assert_array_equal(copy.forward(x), model.forward(x))


def test_a_model_without_parameters_runs_forward_and_backward():
    # e.g. a fixed pooling front end: nothing to train, and backward has no layer to stop at.
    model = build_model(parse_architecture("maxpool2 flatten"), (1, 4, 4))
    x = np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4)
    np.testing.assert_array_equal(model.forward(x, training=True), [[5, 7, 13, 15], [21, 23, 29, 31]])
    assert model.params.size == 0
    model.backward(np.ones((2, 4), np.float32))
