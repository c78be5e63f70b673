"""cs231n_lib.lectures.l06_regularisation (augmentation) against independent oracles: NumPy's flips, rot90 and roll, slicing,
scipy.ndimage's bilinear affine_transform, and colour formulas written out here."""
import numpy as np
import pytest
from scipy import ndimage

from cs231n_lib.lectures import l06_regularisation as augment


@pytest.fixture
def photo():
    return np.random.default_rng(0).random((9, 9, 3))           # (H, W, C) in [0, 1)


@pytest.fixture
def batch():
    return np.random.default_rng(1).random((4, 3, 8, 8))        # (N, C, H, W)


# ----------------------------------------------------------------------------- flips and crops
def test_flip_matches_numpy_and_twice_is_identity(photo, batch):
    assert np.array_equal(augment.horizontal_flip(photo), np.fliplr(photo))
    assert np.array_equal(augment.horizontal_flip(batch), batch[..., ::-1])
    assert np.array_equal(augment.horizontal_flip(augment.horizontal_flip(photo)), photo)
    gray = photo[..., 0]
    assert np.array_equal(augment.horizontal_flip(gray), np.fliplr(gray))


def test_random_flip_per_image_and_reproducible(batch):
    assert np.array_equal(augment.random_flip(batch, 0, p=1.0), batch[..., ::-1])
    assert np.array_equal(augment.random_flip(batch, 0, p=0.0), batch)
    out = augment.random_flip(np.repeat(batch[:1], 200, axis=0), 3)
    flipped = np.array([np.array_equal(o, batch[0, :, :, ::-1]) for o in out])
    kept = np.array([np.array_equal(o, batch[0]) for o in out])
    assert np.all(flipped ^ kept) and 0.35 < flipped.mean() < 0.65
    assert np.array_equal(augment.random_flip(batch, 5), augment.random_flip(batch, 5))


def test_crop_is_slicing_and_rejects_windows_outside(photo):
    assert np.array_equal(augment.crop(photo, 2, 3, 4, 5), photo[2:6, 3:8])
    with pytest.raises(ValueError, match="does not fit"):
        augment.crop(photo, 6, 0, 4, 4)


def test_random_crop_shapes_and_windows(photo, batch):
    out = augment.random_crop(photo, (5, 6), 0)
    assert out.shape == (5, 6, 3)
    windows = [photo[t:t + 5, l:l + 6] for t in range(5) for l in range(4)]
    assert any(np.array_equal(out, w) for w in windows)
    assert augment.random_crop(batch, 6, 0).shape == (4, 3, 6, 6)
    assert np.array_equal(augment.random_crop(photo, 9, 0), photo)          # the whole image: identity
    padded = augment.random_crop(batch, 8, 1, pad=2, fill=-1.0)              # shifts by up to 2 pixels
    assert padded.shape == batch.shape
    big = np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    for n in range(4):
        assert any(np.array_equal(padded[n], big[n, :, t:t + 8, l:l + 8]) for t in range(5) for l in range(5))
    with pytest.raises(ValueError, match="larger"):
        augment.random_crop(photo, 10, 0)


# ----------------------------------------------------------------------------- geometry
def test_rotate_90_equals_rot90(photo, batch):
    assert np.allclose(augment.rotate(photo, 90), np.rot90(photo))
    assert np.allclose(augment.rotate(photo, -90), np.rot90(photo, -1))
    assert np.allclose(augment.rotate(photo, 180), np.rot90(photo, 2))
    assert np.allclose(augment.rotate(batch, 90), np.rot90(batch, axes=(2, 3)))
    assert np.allclose(augment.rotate(photo, 360), photo)


@pytest.mark.parametrize("dy, dx", [(2, -3), (-1, 0), (0, 4)])
def test_integer_translation_is_roll_with_fill(photo, dy, dx):
    expected = np.roll(photo, (dy, dx), axis=(0, 1))
    rows, cols = np.arange(9), np.arange(9)
    uncovered = ((rows - dy < 0) | (rows - dy >= 9))[:, None] | ((cols - dx < 0) | (cols - dx >= 9))[None, :]
    expected[uncovered] = 0.5
    assert np.allclose(augment.translate(photo, dy, dx, fill=0.5), expected)


def test_half_pixel_shift_averages_neighbours(photo):
    out = augment.translate(photo, 0, 0.5)
    assert np.allclose(out[:, 1:], (photo[:, 1:] + photo[:, :-1]) / 2)


def _scipy_affine(image, A, t, fill):
    """Oracle: scipy's bilinear affine_transform of one (H, W) image with our centred convention."""
    H, W = image.shape
    c = np.array([(H - 1) / 2, (W - 1) / 2])
    A_inv = np.linalg.inv(A)                    # output (o) -> input (s): s = A_inv (o - c - t) + c
    offset = c - A_inv @ (c + np.asarray(t, float))
    return ndimage.affine_transform(image, A_inv, offset=offset, order=1, mode="grid-constant", cval=fill)


def test_rotation_stretch_and_shift_match_scipy(batch):
    image = batch[0, 0]
    a = np.deg2rad(23.0)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    assert np.allclose(augment.rotate(image, 23.0, fill=0.2), _scipy_affine(image, R, (0, 0), 0.2))
    assert np.allclose(augment.stretch(image, 1.3, 0.8), _scipy_affine(image, np.diag([1.3, 0.8]), (0, 0), 0.0))
    A = np.array([[1.1, 0.2], [-0.1, 0.9]])
    assert np.allclose(augment.affine_transform(image, A, (0.7, -1.2)), _scipy_affine(image, A, (0.7, -1.2), 0.0))


def test_batch_layout_matches_single_images(photo, batch):
    rotated = augment.rotate(batch, 17)
    for n in range(len(batch)):
        single = augment.rotate(batch[n].transpose(1, 2, 0), 17)        # (H, W, C) layout
        assert np.allclose(rotated[n], single.transpose(2, 0, 1))


def test_stretch_identity_and_errors(photo):
    assert np.allclose(augment.stretch(photo, 1.0), photo)
    with pytest.raises(ValueError, match="positive"):
        augment.stretch(photo, 0.0)


def test_random_affine(batch):
    assert np.allclose(augment.random_affine(batch, 0, degrees=0, shift=0, scale=(1, 1)), batch)
    out = augment.random_affine(np.repeat(batch[:1], 3, axis=0), 4, degrees=20, shift=1.0, max_stretch=0.2)
    assert out.shape == (3, 3, 8, 8)
    assert not np.allclose(out[0], out[1])                                   # one draw per image
    assert np.array_equal(augment.random_affine(batch, 9), augment.random_affine(batch, 9))
    assert augment.random_affine(batch.astype(np.float32), 0).dtype == np.float32


def test_random_resized_crop(photo):
    assert np.allclose(augment.random_resized_crop(photo, 0, area=(1, 1), ratio=(1, 1)), photo)
    out = augment.random_resized_crop(photo, 1, size=5, area=(0.2, 0.5))
    assert out.shape == (5, 5, 3) and 0 <= out.min() and out.max() <= 1
    assert augment.random_resized_crop(photo, 1, size=(4, 6)).shape == (4, 6, 3)


# ----------------------------------------------------------------------------- colour
def _luma(img):
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def test_brightness_contrast_saturation_formulas(photo):
    assert np.allclose(augment.adjust_brightness(photo, 1.0), photo)
    assert np.allclose(augment.adjust_brightness(photo, 0.5), photo * 0.5)
    assert np.allclose(augment.adjust_brightness(photo, 3.0), np.clip(photo * 3, 0, 1))
    flat = augment.adjust_contrast(photo, 0.0)
    assert np.allclose(flat, _luma(photo).mean())
    assert np.allclose(augment.adjust_contrast(photo, 0.5), _luma(photo).mean() + 0.5 * (photo - _luma(photo).mean()))
    gray = augment.adjust_saturation(photo, 0.0)
    assert np.allclose(gray, _luma(photo)[..., None].repeat(3, axis=-1))
    assert np.allclose(augment.adjust_saturation(photo, 1.0), photo)


def test_color_jitter_range_shape_and_dtype(photo, batch):
    out = augment.color_jitter(photo, 0, brightness=0.9, contrast=0.9, saturation=0.9)
    assert out.shape == photo.shape and out.min() >= 0 and out.max() <= 1
    out32 = augment.color_jitter(batch.astype(np.float32), 1)
    assert out32.dtype == np.float32 and out32.shape == batch.shape and 0 <= out32.min() and out32.max() <= 1
    assert not np.allclose(augment.color_jitter(batch, 2), batch)


def test_pca_lighting_adds_one_colour_per_image():
    img = 0.4 + 0.1 * np.random.default_rng(3).random((6, 6, 3))          # mid-range: no clipping
    out = augment.pca_lighting(img, 0, std=0.5)
    shift = (out - img).reshape(-1, 3)
    assert np.allclose(shift, shift[0]) and np.abs(shift[0]).max() > 0
    assert np.allclose(augment.pca_lighting(img, 0, std=0.0), img)
    with pytest.raises(ValueError, match="RGB"):
        augment.pca_lighting(img[..., :1], 0)


def test_bad_inputs():
    with pytest.raises(ValueError):
        augment.horizontal_flip(np.zeros(5))
    with pytest.raises(TypeError, match="rng"):
        augment.random_flip(np.zeros((2, 1, 4, 4)), None)
    with pytest.raises(ValueError, match="channels"):
        augment.adjust_brightness(np.zeros((2, 2, 4, 4)), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        augment.adjust_contrast(np.zeros((4, 4, 3)), -1.0)
