"""Tests for scratchnn.data.augment: exact geometry first, then statistics, then real digits."""

import gzip
import math

import numpy as np
import pytest

from scratchnn.data.augment import (
    Augmentation,
    affine_matrices,
    affine_sampling_grid,
    elastic_displacements,
    random_affine_matrices,
    warp_bilinear,
)
from scratchnn.errors import ConfigError

NO_DISTORTION = dict(max_shift=0.0, max_rotation=0.0, max_scale=0.0, elastic_alpha=0.0)


def random_images(batch_size=4, height=28, width=28, seed=0):
    return np.random.default_rng(seed).random((batch_size, height, width), dtype=np.float32)


def warp_with(matrices, images):
    coords_y, coords_x = affine_sampling_grid(matrices, *images.shape[1:])
    return warp_bilinear(images, coords_y, coords_x)


def reference_bilinear(image, y, x):
    """Bilinear sample of one image at one point, written out plainly; outside reads 0."""
    height, width = image.shape

    def pixel(row, column):
        return image[row, column] if 0 <= row < height and 0 <= column < width else 0.0

    row, column = math.floor(y), math.floor(x)
    fy, fx = y - row, x - column
    return (
        (1 - fy) * (1 - fx) * pixel(row, column)
        + (1 - fy) * fx * pixel(row, column + 1)
        + fy * (1 - fx) * pixel(row + 1, column)
        + fy * fx * pixel(row + 1, column + 1)
    )


# --- warp_bilinear ---------------------------------------------------------------


def test_warp_matches_plain_bilinear_formula_inside_at_edges_and_far_outside():
    images = random_images(batch_size=2, height=6, width=5)
    rng = np.random.default_rng(1)
    coords_y = rng.uniform(-3, 9, size=images.shape).astype(np.float32)
    coords_x = rng.uniform(-3, 8, size=images.shape).astype(np.float32)
    coords_y[0, 0, :3] = [-1.0, 5.0, 5.5]  # exactly on and just beyond the frame
    coords_x[0, 0, :3] = [2.0, 4.0, -0.5]
    warped = warp_bilinear(images, coords_y, coords_x)
    expected = np.array(
        [
            reference_bilinear(images[b], float(coords_y[b, i, j]), float(coords_x[b, i, j]))
            for b, i, j in np.ndindex(images.shape)
        ]
    ).reshape(images.shape)
    np.testing.assert_allclose(warped, expected, atol=1e-6)


def test_half_pixel_offsets_average_the_neighbours():
    images = random_images(batch_size=3)
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float32)

    along_x = warp_bilinear(images, rows, columns + 0.5)
    pair_mean = (images[:, :, :-1] + images[:, :, 1:]) / 2
    np.testing.assert_allclose(along_x[:, :, :-1], pair_mean, atol=1e-6)
    # The last column's right neighbour is outside the image, so it counts as 0.
    np.testing.assert_allclose(along_x[:, :, -1], images[:, :, -1] / 2, atol=1e-6)


def test_half_pixel_offsets_in_both_directions_average_four_pixels():
    images = random_images(batch_size=3)
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float32)
    warped = warp_bilinear(images, rows + 0.5, columns + 0.5)
    four_neighbour_mean = (images[:, :-1, :-1] + images[:, :-1, 1:] + images[:, 1:, :-1] + images[:, 1:, 1:]) / 4
    np.testing.assert_allclose(warped[:, :-1, :-1], four_neighbour_mean, atol=1e-6)


def test_samples_outside_the_image_read_zero():
    images = np.ones((2, 28, 28), dtype=np.float32)
    far = np.full((28, 28), 40.0, dtype=np.float32)
    assert not warp_bilinear(images, far, far).any()
    assert not warp_bilinear(images, -far, far / 4).any()


def test_warp_writes_into_out_and_rejects_coordinates_that_do_not_fit():
    images = random_images(batch_size=2)
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float32)
    out = np.empty_like(images)
    assert warp_bilinear(images, rows, columns, out=out) is out
    np.testing.assert_allclose(out, images, atol=1e-6)
    with pytest.raises(ValueError, match="broadcast"):
        warp_bilinear(images, rows[:-1], columns[:-1])


# --- affine geometry --------------------------------------------------------------


def test_identity_matrix_warp_returns_the_input():
    images = random_images()
    identity = affine_matrices(np.zeros(4), np.zeros(4), np.zeros(4), np.ones(4))
    np.testing.assert_allclose(identity[:, :, :2], np.tile(np.eye(2), (4, 1, 1)), atol=1e-7)
    np.testing.assert_allclose(identity[:, :, 2], 0, atol=1e-6)
    np.testing.assert_allclose(warp_with(identity, images), images, atol=1e-6)


def test_shift_of_one_pixel_in_x_moves_the_image_one_column_right():
    images = random_images()
    # Hand-built inverse map: x_in = x_out - 1, y_in = y_out.
    hand_built = np.tile(np.array([[1, 0, -1], [0, 1, 0]], dtype=np.float32), (4, 1, 1))
    expected = np.roll(images, 1, axis=2)
    expected[:, :, 0] = 0  # zero fill instead of wrapping around
    np.testing.assert_allclose(warp_with(hand_built, images), expected, atol=1e-6)
    built = affine_matrices(1.0, 0.0, 0.0, 1.0)  # scalars give one (2, 3) matrix
    np.testing.assert_allclose(built, hand_built[0], atol=1e-6)


def test_shift_of_one_pixel_in_y_moves_the_image_one_row_down():
    images = random_images()
    expected = np.roll(images, 1, axis=1)
    expected[:, 0, :] = 0
    matrices = affine_matrices(np.zeros(4), np.ones(4), np.zeros(4), np.ones(4))
    np.testing.assert_allclose(warp_with(matrices, images), expected, atol=1e-6)


def test_positive_rotation_of_90_degrees_is_np_rot90_counter_clockwise():
    # An asymmetric pattern: a bar along the top and a block on the left.
    pattern = np.zeros((28, 28), dtype=np.float32)
    pattern[3:6, 4:24] = 1.0
    pattern[8:20, 2:7] = 0.5
    images = np.stack([pattern, random_images(batch_size=1)[0]])
    quarter_turn = affine_matrices(np.zeros(2), np.zeros(2), np.full(2, 90.0), np.ones(2))
    turned = warp_with(quarter_turn, images)
    np.testing.assert_allclose(turned, np.rot90(images, k=1, axes=(1, 2)), atol=1e-5)
    back = affine_matrices(np.zeros(2), np.zeros(2), np.full(2, -90.0), np.ones(2))
    turned_back = warp_with(back, images)
    np.testing.assert_allclose(turned_back, np.rot90(images, k=-1, axes=(1, 2)), atol=1e-5)


def test_zoom_above_one_enlarges_about_the_centre():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 11:17, 11:17] = 1.0  # a 6x6 square centred on (13.5, 13.5)
    enlarged = warp_with(affine_matrices(0.0, 0.0, 0.0, 2.0)[None], image)
    columns_lit = np.flatnonzero(enlarged[0].max(axis=0) > 0.5)
    assert columns_lit.min() == 8 and columns_lit.max() == 19  # 12 wide, still centred


def test_random_matrices_respect_the_parameter_ranges():
    batch_size, max_shift, max_rotation, max_scale = 4000, 2.0, 10.0, 0.1
    rng = np.random.default_rng(3)
    matrices = random_affine_matrices(batch_size, rng, max_shift, max_rotation, max_scale)
    assert matrices.shape == (batch_size, 2, 3) and matrices.dtype == np.float32
    linear, offset = matrices[:, :, :2].astype(np.float64), matrices[:, :, 2].astype(np.float64)
    # A = R(-theta) / s: recover theta, s, then t from b = c - A (c + t).
    angles = np.degrees(np.arctan2(linear[:, 1, 0], linear[:, 0, 0]))
    scales = 1.0 / np.sqrt(np.linalg.det(linear))
    centre = np.full((batch_size, 2), 13.5)
    shifts = np.linalg.solve(linear, (centre - offset)[:, :, None])[:, :, 0] - centre
    for values, bound, name in [
        (shifts[:, 0], max_shift, "shift x"),
        (shifts[:, 1], max_shift, "shift y"),
        (angles, max_rotation, "rotation"),
        (scales - 1, max_scale, "zoom"),
    ]:
        assert np.abs(values).max() <= bound * (1 + 1e-4), name
        assert np.abs(values).max() > 0.98 * bound, f"{name} does not reach its range"
        assert abs(values.mean()) < 0.05 * bound, f"{name} is not centred on 0"
    assert abs(np.corrcoef(shifts[:, 0], shifts[:, 1])[0, 1]) < 0.1  # drawn independently


# --- elastic field ----------------------------------------------------------------


def test_elastic_field_is_centred_smooth_and_alpha_sized():
    alpha = 2.0
    dy, dx = elastic_displacements(256, np.random.default_rng(4), alpha, sigma=4.0)
    assert dy.shape == dx.shape == (256, 28, 28) and dy.dtype == dx.dtype == np.float32
    assert not np.array_equal(dy, dx)
    for field in (dy, dx):
        assert abs(field.mean()) < 0.1 * alpha
        assert abs(np.sqrt(np.mean(field**2)) - alpha) < 0.1 * alpha  # alpha is the RMS
    # Smooth: neighbours differ far less than in unsmoothed noise of the same RMS,
    # where E|u1 - u2| = 2 sqrt(3) / 3 for unit-variance uniform u.
    neighbour_step = np.abs(np.diff(dx, axis=2)).mean() / alpha
    assert neighbour_step < 0.25 * (2 * math.sqrt(3) / 3)


def test_elastic_field_scales_linearly_with_alpha():
    small = elastic_displacements(8, np.random.default_rng(5), 1.0, 4.0)
    large = elastic_displacements(8, np.random.default_rng(5), 3.0, 4.0)
    np.testing.assert_allclose(large[0], 3 * small[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(large[1], 3 * small[1], rtol=1e-5, atol=1e-6)


def test_smaller_sigma_gives_a_rougher_field():
    rough = elastic_displacements(64, np.random.default_rng(6), 1.0, 1.0)[1]
    smooth = elastic_displacements(64, np.random.default_rng(6), 1.0, 4.0)[1]
    assert np.abs(np.diff(rough, axis=2)).mean() > 2 * np.abs(np.diff(smooth, axis=2)).mean()


# --- Augmentation.apply -------------------------------------------------------------


def test_identity_parameters_return_the_input_exactly():
    augmentation = Augmentation(**NO_DISTORTION)
    assert augmentation.is_identity() and not Augmentation().is_identity()
    images = random_images(batch_size=5).reshape(5, 784)
    unchanged = augmentation.apply(images, np.random.default_rng(0))
    np.testing.assert_allclose(unchanged, images, atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [dict(max_shift=2.0), dict(max_rotation=10.0), dict(max_scale=0.1), dict(elastic_alpha=1.0)],
    ids=lambda options: next(iter(options)),
)
def test_every_distortion_changes_the_images_on_its_own(options):
    augmentation = Augmentation(**{**NO_DISTORTION, **options})
    assert not augmentation.is_identity()
    images = random_images(batch_size=8)
    changed = augmentation.apply(images, np.random.default_rng(0))
    assert np.abs(changed - images).mean() > 0.05


def test_apply_is_the_affine_warp_plus_the_elastic_field_drawn_from_the_same_rng():
    augmentation = Augmentation(max_shift=1.5, max_rotation=7.0, max_scale=0.05, elastic_alpha=1.2, elastic_sigma=3.0)
    images = random_images(batch_size=6)
    rng = np.random.default_rng(7)
    matrices = random_affine_matrices(6, rng, 1.5, 7.0, 0.05)
    coords_y, coords_x = affine_sampling_grid(matrices, 28, 28)
    dy, dx = elastic_displacements(6, rng, 1.2, 3.0)
    expected = np.clip(warp_bilinear(images, coords_y + dy, coords_x + dx), 0, 1)
    augmented = augmentation.apply(images, np.random.default_rng(7))
    np.testing.assert_allclose(augmented, expected, atol=1e-6)


@pytest.mark.parametrize("elastic_alpha", [0.0, 1.5])
def test_same_seed_same_batch_different_seed_different_batch(elastic_alpha):
    augmentation = Augmentation(elastic_alpha=elastic_alpha)
    images = random_images(batch_size=8)
    first = augmentation.apply(images, np.random.default_rng(11))
    again = augmentation.apply(images, np.random.default_rng(11))
    other = augmentation.apply(images, np.random.default_rng(12))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.01


def test_output_is_float32_in_range_and_the_input_is_untouched():
    images = random_images(batch_size=16)
    images[:, 10:18, 10:18] = 1.0  # saturated strokes must stay <= 1 after interpolation
    original = images.copy()
    for augmentation in (Augmentation(), Augmentation(elastic_alpha=2.0)):
        augmented = augmentation.apply(images, np.random.default_rng(0))
        assert augmented.dtype == np.float32 and augmented.shape == images.shape
        assert augmented.min() >= 0.0 and augmented.max() <= 1.0
        np.testing.assert_array_equal(images, original)


def test_flat_and_square_batches_give_the_same_result():
    augmentation = Augmentation(elastic_alpha=1.0)
    images = random_images(batch_size=4)
    square = augmentation.apply(images, np.random.default_rng(2))
    flat = augmentation.apply(images.reshape(4, 784), np.random.default_rng(2))
    assert flat.shape == (4, 784)
    np.testing.assert_array_equal(flat.reshape(4, 28, 28), square)


def test_apply_writes_into_out_even_when_out_is_the_input():
    augmentation = Augmentation()
    images = random_images(batch_size=4).reshape(4, 784)
    expected = augmentation.apply(images, np.random.default_rng(3))
    out = np.empty_like(images)
    assert augmentation.apply(images, np.random.default_rng(3), out=out) is out
    np.testing.assert_array_equal(out, expected)
    in_place = images.copy()
    augmentation.apply(in_place, np.random.default_rng(3), out=in_place)
    np.testing.assert_array_equal(in_place, expected)


def test_batches_larger_than_the_kept_work_buffers_give_the_same_digits():
    # 1400 images need index arrays over 8 MB, which are allocated fresh each call.
    augmentation = Augmentation(elastic_alpha=1.0)
    images = np.tile(random_images(batch_size=4), (350, 1, 1))
    large = augmentation.apply(images, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    matrices = random_affine_matrices(1400, rng, 2.0, 10.0, 0.1)
    coords_y, coords_x = affine_sampling_grid(matrices, 28, 28)
    dy, dx = elastic_displacements(1400, rng, 1.0, 4.0)
    for start in (0, 700, 1396):  # spot-check slices through the small-batch path
        part = slice(start, start + 4)
        sample_y, sample_x = coords_y[part] + dy[part], coords_x[part] + dx[part]
        expected = warp_bilinear(images[part], sample_y, sample_x)
        np.testing.assert_allclose(large[part], np.clip(expected, 0, 1), atol=1e-6)


def test_an_empty_batch_gives_an_empty_batch():
    empty = np.zeros((0, 784), np.float32)
    assert Augmentation().apply(empty, np.random.default_rng(0)).shape == (0, 784)


def test_batches_of_other_sizes_reuse_nothing_stale():
    augmentation = Augmentation()
    small = random_images(batch_size=3, seed=1)
    big = random_images(batch_size=9, seed=2)
    before = augmentation.apply(small, np.random.default_rng(4))
    augmentation.apply(big, np.random.default_rng(4))
    np.testing.assert_array_equal(augmentation.apply(small, np.random.default_rng(4)), before)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_shift=-1.0), "max_shift"),
        (dict(max_rotation=float("nan")), "max_rotation"),
        (dict(max_scale=1.0), "max_scale"),
        (dict(elastic_alpha=1.0, elastic_sigma=0.0), "elastic_sigma"),
        (dict(elastic_alpha="2"), "elastic_alpha"),
    ],
)
def test_impossible_settings_are_rejected_with_the_option_named(options, message):
    with pytest.raises(ConfigError, match=message):
        Augmentation(**options)


def test_wrong_image_shapes_and_out_buffers_are_rejected():
    augmentation = Augmentation()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(B, 784\)"):
        augmentation.apply(np.zeros((2, 783), np.float32), rng)
    with pytest.raises(ValueError, match=r"\(B, 784\)"):
        augmentation.apply(np.zeros((2, 28, 27), np.float32), rng)
    with pytest.raises(ValueError, match="float images"):
        augmentation.apply(np.zeros((2, 784), np.uint8), rng)
    with pytest.raises(ValueError, match="out must be"):
        augmentation.apply(np.zeros((2, 784), np.float32), rng, out=np.zeros((2, 784)))


# --- real digits ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_digits(mnist_gz_dir):
    """The first 256 MNIST test digits, float32 in [0, 1], shape (256, 28, 28)."""
    with gzip.open(mnist_gz_dir / "t10k-images-idx3-ubyte.gz") as handle:
        pixels = np.frombuffer(handle.read(), dtype=np.uint8, offset=16)
    return pixels[: 256 * 784].reshape(256, 28, 28).astype(np.float32) / 255.0


def centres_of_mass(images):
    """(B, 2) ink-weighted mean (row, column) of every image."""
    rows, columns = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    mean_row = (images * rows).sum(axis=(1, 2)) / mass
    mean_column = (images * columns).sum(axis=(1, 2)) / mass
    return np.stack([mean_row, mean_column], axis=1)


def ink(images):
    return images.sum(axis=(1, 2))


def test_real_digits_keep_their_ink_and_stay_near_their_place(real_digits):
    augmentation = Augmentation()
    augmented = augmentation.apply(real_digits, np.random.default_rng(8))
    assert abs(ink(augmented).mean() - ink(real_digits).mean()) < 0.1 * ink(real_digits).mean()
    moved = np.abs(centres_of_mass(augmented) - centres_of_mass(real_digits))
    assert moved.max() <= augmentation.max_shift + 1
    assert moved.mean() > 0.3  # it did move them


def test_real_digits_keep_their_ink_under_elastic_distortion(real_digits):
    alpha = 1.5
    elastic_only = Augmentation(**{**NO_DISTORTION, "elastic_alpha": alpha})
    augmented = elastic_only.apply(real_digits, np.random.default_rng(9))
    assert abs(ink(augmented).mean() - ink(real_digits).mean()) < 0.1 * ink(real_digits).mean()
    # The centre of mass moves by the ink-weighted mean displacement, whose RMS
    # cannot exceed the field's RMS, alpha (Jensen), but is not bounded per digit.
    moved = centres_of_mass(augmented) - centres_of_mass(real_digits)
    assert 0.2 * alpha < np.sqrt(np.mean(moved**2)) <= alpha
    both = Augmentation(elastic_alpha=alpha).apply(real_digits, np.random.default_rng(9))
    assert abs(ink(both).mean() - ink(real_digits).mean()) < 0.1 * ink(real_digits).mean()


def test_horizontal_flip_mirrors_about_half_the_images():
    rng = np.random.default_rng(0)
    images = rng.random((400, 28, 28), dtype=np.float32)
    flip_only = Augmentation(max_shift=0, max_rotation=0, max_scale=0, flip_horizontal=True)
    assert not flip_only.is_identity()
    out = flip_only.apply(images, np.random.default_rng(1))
    mirrored = np.array([np.allclose(o, i[:, ::-1], atol=1e-5) for o, i in zip(out, images)])
    unchanged = np.array([np.allclose(o, i, atol=1e-5) for o, i in zip(out, images)])
    assert np.all(mirrored ^ unchanged)  # each image is exactly one of the two
    assert 160 < mirrored.sum() < 240


def test_flip_off_leaves_the_random_stream_of_other_settings_alone():
    images = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32)
    a = Augmentation().apply(images, np.random.default_rng(3))
    b = Augmentation(flip_horizontal=False).apply(images, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
