"""Work split over threads (scratchnn.nn.parallel): the same results as one thread, gradients
that pass the finite-difference checks when every layer's batch is cut into uneven slices,
errors from any slice, and BLAS held to one thread only while the slices run."""

import multiprocessing
import threading

import numpy as np
import pytest
from test_conv import CONV_CASES, direct_convolution
from test_layers import check_layer

from scratchnn.nn import BatchNorm, Conv2D, Dense, MaxPool2D, ReLU, parallel
from scratchnn.nn.architecture import build_model, parse_architecture

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture
def three_threads(monkeypatch):
    """Cut every batch, however small, into three slices (uneven for most sizes)."""
    monkeypatch.setattr(parallel, "MIN_SLICE_WORK", 1)
    parallel.set_threads(3)
    if parallel.threads() != 3:
        pytest.skip("no BLAS that threadpoolctl can hold to one thread")
    yield
    parallel.set_threads(None)


def test_slices_cover_the_batch_in_order(three_threads):
    for n in (1, 2, 3, 4, 5, 128, 1001):
        cuts = parallel.slices(n, work=10**6)
        assert cuts[0][0] == 0 and cuts[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
        assert all(stop > start for start, stop in cuts)
        assert len(cuts) == min(3, n)
        sizes = [stop - start for start, stop in cuts]
        assert max(sizes) - min(sizes) <= 1


def test_a_batch_of_one_example_runs_whole_in_the_caller(three_threads):
    calls = []
    parallel.split_batch(1, 10**9, lambda start, stop, i: calls.append((start, stop, i, threading.get_ident())))
    assert calls == [(0, 1, 0, threading.get_ident())]


def _split_in_a_forked_child():
    ran = []
    parallel.split_batch(6, 10**9, lambda start, stop, i: ran.append((start, stop, i)))
    assert sorted(ran) == [(0, 3, 0), (3, 6, 1)]


def test_a_forked_child_splits_work_with_its_own_pool():
    # multiprocessing's fork (Linux's default before Python 3.14) after training in the
    # parent: the parent's pool threads do not exist in the child, so the child must not
    # hand work to them (with two threads it waited forever before).
    parallel.set_threads(2)
    try:
        if parallel.threads() != 2:
            pytest.skip("no BLAS that threadpoolctl can hold to one thread")
        parallel.split_batch(6, 10**9, lambda start, stop, i: None)  # the parent's pool exists
        child = multiprocessing.get_context("fork").Process(target=_split_in_a_forked_child)
        child.start()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
            pytest.fail("the forked child hung on the parent's thread pool")
        assert child.exitcode == 0
    finally:
        parallel.set_threads(None)


def test_small_work_stays_in_one_slice(monkeypatch):
    parallel.set_threads(2)
    try:
        if parallel.threads() != 2:
            pytest.skip("no BLAS that threadpoolctl can hold to one thread")
        assert parallel.slices(128, parallel.MIN_SLICE_WORK * 2 - 1) == [(0, 128)]
        assert parallel.slices(128, parallel.MIN_SLICE_WORK * 2) == [(0, 64), (64, 128)]
    finally:
        parallel.set_threads(None)


def test_one_thread_never_splits():
    parallel.set_threads(1)
    try:
        assert parallel.slices(10**6, 10**12) == [(0, 10**6)]
        seen = []
        parallel.split_batch(100, 10**12, lambda start, stop, i: seen.append((start, stop, i)))
        assert seen == [(0, 100, 0)]
    finally:
        parallel.set_threads(None)


@pytest.mark.parametrize("c_in, filters, k, s, p, h, w", CONV_CASES)
def test_split_conv_matches_direct_convolution_and_its_gradients(three_threads, c_in, filters, k, s, p, h, w):
    rng = np.random.default_rng(0)
    layer = Conv2D(c_in, filters, k, s, p, rng, np.float64)
    layer.b[...] = rng.standard_normal(filters)
    x = rng.standard_normal((5, c_in, h, w))
    np.testing.assert_allclose(layer.forward(x), direct_convolution(x, layer.W, layer.b, s, p), atol=1e-12)
    check_layer(layer, x)


def test_split_pool_relu_and_dense_gradients(three_threads):
    rng = np.random.default_rng(1)
    x = rng.permutation(5 * 3 * 6 * 7).reshape(5, 3, 6, 7) * 0.1  # distinct: one clear maximum a window
    check_layer(MaxPool2D(2), x)
    check_layer(ReLU(), rng.standard_normal((5, 3, 4, 4)))
    check_layer(Dense(6, 4, rng, np.float64), rng.standard_normal((5, 6)))


def test_split_batch_norm_gradients_and_statistics(three_threads):
    rng = np.random.default_rng(4)
    maps = rng.standard_normal((5, 3, 4, 4)) * np.array([1.0, 4.0, 0.5])[:, None, None] + 2
    check_layer(BatchNorm(3, dtype=np.float64), maps)
    check_layer(BatchNorm(6, dtype=np.float64), rng.standard_normal((5, 6)))
    layer = BatchNorm(3, momentum=0.0, dtype=np.float64)
    y = layer.forward(maps.copy(), training=True)  # statistics added up over three slices
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), maps.var(axis=(0, 2, 3)) / (maps.var(axis=(0, 2, 3)) + 1e-5))
    np.testing.assert_allclose(layer.running_var, maps.var(axis=(0, 2, 3), ddof=1))


CNN = "conv4k3p1 relu maxpool2 conv6k3s2 relu maxpool2 flatten dense10 relu dense3"
CNN_WITH_BATCH_NORM = "conv4k3p1 bn relu maxpool2 conv6k3s2 bn relu maxpool2 flatten dense10 bn relu dense3"


def _step_with_threads(threads, text, x):
    parallel.set_threads(threads)
    model = build_model(parse_architecture(text), (1, 12, 12), seed=0, dtype=np.float64)
    logits = model.forward(x, training=True).copy()
    model.backward(np.sin(logits))  # any fixed dL/dlogits
    return logits, model.grads.copy()


@pytest.mark.parametrize("text", [CNN, CNN_WITH_BATCH_NORM])
def test_a_split_step_equals_the_one_thread_step(three_threads, text):
    x = np.random.default_rng(2).standard_normal((7, 1, 12, 12))
    logits, grads = _step_with_threads(3, text, x)
    logits1, grads1 = _step_with_threads(1, text, x)
    if text == CNN:  # each example's numbers come from its own slice alone
        np.testing.assert_array_equal(logits, logits1)
    else:  # batch statistics are sums over the slices, added in another order
        np.testing.assert_allclose(logits, logits1, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grads, grads1, rtol=1e-10, atol=1e-13)  # likewise the weight gradients


def test_an_error_in_any_slice_reaches_the_caller_after_all_slices_end(three_threads):
    finished = []

    def do(start, stop, i):
        if i == 2:
            raise RuntimeError(f"slice {i} failed")
        finished.append(i)

    with pytest.raises(RuntimeError, match="slice 2 failed"):
        parallel.split_batch(9, 10**6, do)
    assert sorted(finished) == [0, 1]


def test_the_caller_runs_the_first_slice_and_the_pool_the_others(three_threads):
    ran_in = {}
    parallel.split_batch(9, 10**6, lambda start, stop, i: ran_in.__setitem__(i, threading.get_ident()))
    assert sorted(ran_in) == [0, 1, 2]
    assert ran_in[0] == threading.get_ident()
    assert threading.get_ident() not in (ran_in[1], ran_in[2])


def test_blas_is_held_to_one_thread_only_inside(three_threads):
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = [lib.num_threads for lib in blas.lib_controllers]
    inside = []
    parallel.split_batch(9, 10**6, lambda *_: inside.append(threadpoolctl.threadpool_info()))
    with parallel.one_blas_thread():
        with parallel.one_blas_thread():  # nested blocks keep the hold
            nested = [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
        still = [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
    assert all(info["num_threads"] == 1 for infos in inside for info in infos if info["user_api"] == "blas")
    assert set(nested) == {1} and set(still) == {1}
    assert [lib.num_threads for lib in blas.lib_controllers] == before


def test_bad_thread_settings_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="threads must be a whole number >= 1, got 0"):
        parallel.set_threads(0)
    monkeypatch.setenv("SCRATCHNN_THREADS", "two")
    monkeypatch.setattr(parallel, "_threads", None)
    with pytest.raises(ValueError, match="SCRATCHNN_THREADS must be a whole number >= 1, got 'two'"):
        parallel.threads()
    monkeypatch.delenv("SCRATCHNN_THREADS")
    parallel.set_threads(None)
    # Inside a block the BLAS hold is already taken for the old count.
    parallel.set_threads(2)
    try:
        inside = pytest.raises(RuntimeError, match=r"^set_threads\(\) inside a one_blas_thread\(\) block$")
        with parallel.one_blas_thread(), inside:
            parallel.set_threads(3)
    finally:
        parallel.set_threads(None)


def test_the_default_follows_blas_so_one_blas_thread_means_one_core():
    import os
    import subprocess
    import sys

    script = "from scratchnn.nn import parallel; print(parallel.threads())"
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNN_THREADS"}
    one = subprocess.run([sys.executable, "-c", script], env=env | {"OPENBLAS_NUM_THREADS": "1"}, capture_output=True)
    assert one.stdout.decode().strip() == "1"
    forced = env | {"OPENBLAS_NUM_THREADS": "1", "SCRATCHNN_THREADS": "3"}
    three = subprocess.run([sys.executable, "-c", script], env=forced, capture_output=True)
    if parallel._blas_controller() is None:
        pytest.skip("no BLAS that threadpoolctl can hold to one thread")
    assert three.stdout.decode().strip() == "3"  # SCRATCHNN_THREADS wins


def test_every_heavy_layer_shares_its_forward_and_backward_out(three_threads, monkeypatch):
    """Removing a layer's use of split_batch (working on the whole batch instead) fails here."""
    calls = []
    real = parallel.split_batch

    def recording(n, work, do):
        calls.append(len(parallel.slices(n, work)))
        real(n, work, do)

    monkeypatch.setattr(parallel, "split_batch", recording)
    rng = np.random.default_rng(5)
    maps = rng.standard_normal((6, 2, 6, 6))
    for layer, x in [
        (Conv2D(2, 3, 3, 1, 1, rng, np.float64), maps),
        (Conv2D(1, 3, 3, 1, 0, rng, np.float64), maps[:, :1]),
        (MaxPool2D(2), maps),
        (ReLU(), maps.copy()),
        (Dense(40, 30, rng, np.float64), rng.standard_normal((6, 40))),
        (BatchNorm(2, dtype=np.float64), maps),
    ]:
        calls.clear()
        out = layer.forward(x, training=True)
        forward_calls = len(calls)
        layer.backward(np.ones_like(out))
        assert forward_calls >= 1 and len(calls) > forward_calls, repr(layer)
        assert set(calls) == {3}, repr(layer)  # three slices each time
