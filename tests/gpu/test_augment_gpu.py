"""Augmentation on a GPU: the same code with CuPy arrays gives NumPy's result.

Skipped, as optional, where CuPy or a CUDA GPU is missing (tests/skip_policy.py).
The random numbers are drawn on the host in both cases, so the same seed gives
the same distortions; only the floating-point rounding of the arithmetic (the
elastic field's matrix products above all) may differ, hence the 1e-5 tolerance.
"""

import numpy as np
import pytest

from scratchnn.data.augment import Augmentation, affine_sampling_grid, random_affine_matrices, warp_bilinear

EVERY_DISTORTION = dict(
    max_shift=2.0, max_rotation=10.0, max_scale=0.1, elastic_alpha=1.5, elastic_sigma=4.0, flip_horizontal=True
)


@pytest.fixture(scope="module")
def cupy():
    try:
        import cupy
    except ImportError as exc:
        pytest.skip(f"needs a GPU: CuPy is not installed ({exc})")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDA error types for a missing driver or device
        pytest.skip(f"needs a GPU: CuPy finds no usable CUDA device ({exc})")
    if count == 0:
        pytest.skip("needs a GPU: CuPy finds no CUDA device")
    return cupy


def digits(shape, seed=0):
    """Random pixels with a bright block, so the warp moves real edges."""
    images = np.random.default_rng(seed).random(shape, dtype=np.float32) * 0.5
    images.reshape(shape[0], 28, 28)[:, 8:20, 10:18] = 1.0
    return images


@pytest.mark.parametrize(
    "options",
    [EVERY_DISTORTION, {}, dict(max_shift=1.0, max_rotation=0.0, max_scale=0.0, flip_horizontal=True)],
    ids=["every-distortion", "affine-defaults", "clothes"],
)
@pytest.mark.parametrize("shape", [(128, 784), (7, 28, 28)])
def test_apply_on_cupy_arrays_matches_numpy_and_stays_on_the_gpu(cupy, options, shape):
    images = digits(shape)
    augmentation = Augmentation(**options)
    cpu_rng, gpu_rng = np.random.default_rng(42), np.random.default_rng(42)
    expected = augmentation.apply(images, cpu_rng)
    on_gpu = cupy.asarray(images)
    out = cupy.empty_like(on_gpu)
    result = augmentation.apply(on_gpu, gpu_rng, out=out)
    assert result is out
    assert isinstance(result, cupy.ndarray) and result.dtype == np.float32 and result.shape == shape
    np.testing.assert_allclose(cupy.asnumpy(result), expected, atol=1e-5, rtol=0)
    assert np.abs(expected - images).mean() > 0.01  # the comparison is of distorted images
    # The same draws, from the host generator, on both devices.
    assert gpu_rng.bit_generator.state == cpu_rng.bit_generator.state
    np.testing.assert_array_equal(cupy.asnumpy(on_gpu), images)  # the input is untouched


def test_several_batches_in_a_row_and_in_place_keep_matching_numpy(cupy):
    augmentation = Augmentation(**EVERY_DISTORTION)
    cpu_rng, gpu_rng = np.random.default_rng(1), np.random.default_rng(1)
    for batch_size in (128, 128, 5, 128):
        images = digits((batch_size, 784), seed=batch_size)
        expected = augmentation.apply(images, cpu_rng)
        on_gpu = cupy.asarray(images)
        result = augmentation.apply(on_gpu, gpu_rng, out=on_gpu)
        assert result is on_gpu
        np.testing.assert_allclose(cupy.asnumpy(result), expected, atol=1e-5, rtol=0)


def test_gpu_and_cpu_calls_interleaved_never_share_work_buffers(cupy):
    augmentation = Augmentation(**EVERY_DISTORTION)
    images = digits((16, 784))
    first_cpu = augmentation.apply(images, np.random.default_rng(9))
    on_gpu = augmentation.apply(cupy.asarray(images), np.random.default_rng(9))
    second_cpu = augmentation.apply(images, np.random.default_rng(9))
    np.testing.assert_array_equal(first_cpu, second_cpu)
    np.testing.assert_allclose(cupy.asnumpy(on_gpu), first_cpu, atol=1e-5, rtol=0)


def test_identity_settings_copy_on_the_gpu(cupy):
    images = digits((4, 784))
    identity = Augmentation(max_shift=0, max_rotation=0, max_scale=0)
    copied = identity.apply(cupy.asarray(images), np.random.default_rng(0))
    assert isinstance(copied, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(copied), images)


def test_warp_on_the_gpu_reads_zero_outside_and_matches_numpy_everywhere(cupy):
    images = digits((3, 28, 28))
    matrices = random_affine_matrices(3, np.random.default_rng(3), 40.0, 180.0, 0.5)  # far outside too
    coords_y, coords_x = affine_sampling_grid(matrices, 28, 28)
    expected = warp_bilinear(images, coords_y, coords_x)
    result = warp_bilinear(cupy.asarray(images), cupy.asarray(coords_y), cupy.asarray(coords_x))
    assert isinstance(result, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(result), expected, atol=1e-5, rtol=0)
    assert (expected == 0).mean() > 0.1  # some samples did fall outside the image


def test_out_on_the_host_for_gpu_images_is_refused(cupy):
    images = digits((2, 784))
    with pytest.raises(ValueError, match="same module as the images"):
        Augmentation().apply(cupy.asarray(images), np.random.default_rng(0), out=np.empty_like(images))
