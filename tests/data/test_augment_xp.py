"""Augmentation computes through its array module ``xp``, so the same code runs on a GPU.

CI has no GPU. These tests show the plumbing on the CPU instead: with
``xp = RecordingNumpy()`` (NumPy seen through a recorder, tests/xp_double.py) the
warp gives bit-identical results and every array operation is seen going
through ``xp``; an AST check keeps hard-wired ``np.<function>(...)`` calls out of
the code that touches images, grids and buffers; and a checked-in hash pins
the CPU results to what they were before the module learnt about ``xp``.
tests/gpu/test_augment_gpu.py runs the same code with CuPy where there is a GPU.
"""

import ast
import hashlib
import inspect
import sys
import types

import numpy as np
import pytest
from xp_double import RecordingNumpy

from scratchnn.data import augment
from scratchnn.data.augment import (
    Augmentation,
    affine_sampling_grid,
    elastic_displacements,
    mirror_x,
    random_affine_matrices,
    warp_bilinear,
)

EVERY_DISTORTION = dict(
    max_shift=2.0, max_rotation=10.0, max_scale=0.1, elastic_alpha=1.5, elastic_sigma=4.0, flip_horizontal=True
)


def random_images(shape, seed=7):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("shape", [(16, 784), (16, 28, 28)])
def test_apply_through_a_recording_numpy_is_bit_identical_and_runs_the_warp_through_it(shape):
    images = random_images(shape)
    augmentation = Augmentation(**EVERY_DISTORTION)
    plain_rng, recorded_rng = np.random.default_rng(3), np.random.default_rng(3)
    expected = augmentation.apply(images, plain_rng)
    xp = RecordingNumpy()
    out = np.empty_like(images)
    result = augmentation.apply(images, recorded_rng, out=out, xp=xp)
    assert result is out
    assert result.tobytes() == expected.tobytes()
    # The grid (add), the elastic smoothing (matmul), the warp's clip, floor,
    # index conversion (copyto) and gathers (take), and the final clip.
    for name in ("add", "matmul", "clip", "floor", "copyto", "take", "subtract", "zeros"):
        assert xp.calls[name] > 0, (name, xp.calls)
    assert xp.calls["take"] == 4  # the four neighbours of every sample
    assert xp.calls["clip"] == 3  # two coordinate clips and the value clip
    # The random numbers came from the host generator, in the same number and order.
    assert recorded_rng.bit_generator.state == plain_rng.bit_generator.state


def test_each_public_warp_function_takes_its_module_from_the_keyword():
    rng = np.random.default_rng(0)
    matrices = random_affine_matrices(5, rng, 2.0, 10.0, 0.1)
    xp = RecordingNumpy()
    coords = affine_sampling_grid(matrices, 28, 28, xp=xp)
    assert xp.calls["add"] == 1 and xp.calls["arange"] == 2
    for got, want in zip(coords, affine_sampling_grid(matrices, 28, 28)):
        np.testing.assert_array_equal(got, want)

    xp = RecordingNumpy()
    fields = elastic_displacements(5, np.random.default_rng(1), 1.0, 4.0, xp=xp)
    assert xp.calls["matmul"] == 2 and xp.calls["empty"] == 1
    for got, want in zip(fields, elastic_displacements(5, np.random.default_rng(1), 1.0, 4.0)):
        np.testing.assert_array_equal(got, want)

    xp = RecordingNumpy()
    images = random_images((5, 28, 28))
    warped = warp_bilinear(images, *coords, xp=xp)
    assert xp.calls["take"] == 4 and xp.calls["floor"] == 2
    np.testing.assert_array_equal(warped, warp_bilinear(images, *coords))


def test_work_buffers_are_kept_per_array_module():
    augment._per_thread.buffers = {}  # start below the cache's limit, which clears it
    recorder = RecordingNumpy()
    on_numpy = augment._scratch("test_buffer", (3, 4), xp=np)
    on_recorder = augment._scratch("test_buffer", (3, 4), xp=recorder)
    assert on_numpy is not on_recorder
    assert augment._scratch("test_buffer", (3, 4), xp=np) is on_numpy
    assert augment._scratch("test_buffer", (3, 4), xp=recorder) is on_recorder
    assert recorder.calls["zeros"] == 1  # made by the module it was asked for


def test_out_from_another_array_module_is_refused(monkeypatch):
    class OtherArray(np.ndarray):  # module_of reads the type's module, as for cupy.ndarray
        pass

    OtherArray.__module__ = "cupy._core.core"
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    images = random_images((2, 784))
    with pytest.raises(ValueError, match="same module as the images"):
        Augmentation().apply(images, np.random.default_rng(0), out=np.empty_like(images).view(OtherArray))


# SHA-256 of the bytes Augmentation(**AFFINE_AND_FLIP).apply(random_images((16, 784)),
# np.random.default_rng(2026)) returned at git commit 5bd41af, the last version
# before augmentation computed through xp (computed once with that version's code).
# The affine warp uses no BLAS, so these bytes are the same whatever OpenBLAS kernel
# the CPU picks (checked with OPENBLAS_CORETYPE=Haswell, SkylakeX, Sandybridge,
# Prescott). The elastic field's matrix products are not: their last bits depend
# on the kernel, so the elastic path is pinned by the tests below instead.
AFFINE_AND_FLIP = dict(max_shift=2.0, max_rotation=10.0, max_scale=0.1, flip_horizontal=True)
AFFINE_AND_FLIP_SHA256_AT_5BD41AF = "01241ac3a2e1a6e55961e6b94e00f007fe4b86771346cdeb67911b22dc2b27da"


@pytest.mark.parametrize("xp", [None, RecordingNumpy()], ids=["numpy", "recording"])
def test_cpu_results_are_bit_identical_to_the_version_before_xp(xp):
    images = random_images((16, 784))
    warped = Augmentation(**AFFINE_AND_FLIP).apply(images, np.random.default_rng(2026), xp=xp)
    assert hashlib.sha256(warped.tobytes()).hexdigest() == AFFINE_AND_FLIP_SHA256_AT_5BD41AF


def test_apply_draws_matrices_then_flips_then_noise_and_composes_them_exactly():
    """Every distortion on: apply is exactly its parts, drawn in this order from one generator."""
    images = random_images((16, 28, 28))
    rng = np.random.default_rng(2026)
    matrices = random_affine_matrices(16, rng, 2.0, 10.0, 0.1)
    mirror_x(matrices, rng.random((16,)) < 0.5)
    coords_y, coords_x = affine_sampling_grid(matrices, 28, 28)
    dy, dx = elastic_displacements(16, rng, 1.5, 4.0)
    expected = np.clip(warp_bilinear(images, coords_y + dy, coords_x + dx), 0.0, 1.0)
    augmented = Augmentation(**EVERY_DISTORTION).apply(images, np.random.default_rng(2026))
    np.testing.assert_array_equal(augmented, expected)


def test_elastic_noise_is_the_hosts_uniform_float32_draw_smoothed_by_the_gaussian():
    rng = np.random.default_rng(5)
    dy, dx = elastic_displacements(3, rng, 1.5, 4.0, size=28)
    draw = np.random.default_rng(5).random((6, 28, 28), dtype=np.float32)
    noise = (draw.astype(np.float64) * 2.0 - 1.0) * np.sqrt(3.0)
    offsets = np.arange(28)[:, None] - np.arange(28)[None, :]
    gaussian = np.exp(-(offsets**2) / (2.0 * 4.0**2))
    gaussian /= np.linalg.norm(gaussian, axis=1, keepdims=True)
    fields = 1.5 * gaussian @ noise @ gaussian.T
    np.testing.assert_allclose(dy, fields[:3], atol=2e-5)
    np.testing.assert_allclose(dx, fields[3:], atol=2e-5)
    # The generator advanced by exactly that one draw.
    after = np.random.default_rng(5)
    after.random((6, 28, 28), dtype=np.float32)
    assert rng.random() == after.random()


# Functions that compute on the host with NumPy on purpose, and why. Every other
# function in augment.py touches images, grids, displacements or buffers and must
# take its array functions from ``xp``.
HOST_SIDE = {
    "affine_matrices": "the (B, 2, 3) matrices, from the host's random draws; copied to the device once",
    "mirror_x": "edits those host matrices",
    "random_affine_matrices": "draws from the host generator",
    "_gaussian_smoothing_matrix": "a (S, S) constant computed once on the host in float64, then copied",
}
# np.<name>(...) calls that stay allowed everywhere: dtype and scalar helpers, not array work.
ALLOWED_NUMPY_CALLS = {"np.dtype", "np.float32", "np.issubdtype"}


def numpy_calls_outside_the_host_side(source):
    """``(function, call)`` for every ``np.<...>(...)`` call in a function not in HOST_SIDE."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or function.name in HOST_SIDE:
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.split(".")[0] == "np" and name not in ALLOWED_NUMPY_CALLS:
                    found.append((function.name, name))
    return found


def test_no_hard_wired_numpy_call_touches_images_grids_or_buffers():
    source = inspect.getsource(augment)
    assert numpy_calls_outside_the_host_side(source) == []
    defined = {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}
    assert set(HOST_SIDE) <= defined  # no stale exemption
    assert {"apply", "warp_bilinear", "affine_sampling_grid", "elastic_displacements", "_scratch"} <= defined


def test_the_numpy_call_check_catches_a_hard_wired_call():
    source = "def warp(images, xp):\n    y = xp.floor(images)\n    return np.take(y, [0]) + np.float32(1)\n"
    assert numpy_calls_outside_the_host_side(source) == [("warp", "np.take")]
    nested = "def apply(self, x):\n    def inner():\n        return np.linalg.norm(x)\n    return inner()\n"
    assert ("apply", "np.linalg.norm") in numpy_calls_outside_the_host_side(nested)
