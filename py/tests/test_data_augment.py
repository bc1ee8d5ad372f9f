"""Patch extraction and augmentation: hand-checked crops, flips, rotations; labels stay integral and aligned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scipy import ndimage

from heartseg.config import AugmentConfig
from heartseg.data.augment import crop, draw_spatial, extract, intensity

VOL = np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8)
ROT90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # patch (y, x) offset (a, b) reads volume (-b, a)
TILT90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # couples z and y: the general 3-D path


@pytest.mark.parametrize("lo, size, expected", [
    ((0, 0, 0), (1, 1, 2), [[[0, 1]]]),
    ((-1, 0, 0), (2, 1, 1), [[[-5]], [[0]]]),  # outside the volume: the pad value
    ((5, 6, 7), (2, 2, 2), [[[335, -5], [-5, -5]], [[-5, -5], [-5, -5]]]),
    ((9, 9, 9), (1, 1, 1), [[[-5]]]),
])
def test_crop_hand_values(lo, size, expected):
    out = crop(VOL, np.array(lo), np.array(size), -5.0)
    np.testing.assert_array_equal(out, expected)


def test_crop_pads_per_channel():
    two = np.stack([VOL, VOL])
    out = crop(two, np.array([-1, 0, 0]), np.array([1, 1, 1]), [-1.0, -2.0])
    assert out.shape == (2, 1, 1, 1) and out.ravel().tolist() == [-1.0, -2.0]


@pytest.mark.parametrize("matrix", [np.eye(3), np.diag([-1.0, 1, 1]), np.diag([1.0, -1, -1]), ROT90, np.eye(3) / 2,
                                    TILT90])
def test_patch_centre_is_the_sampled_voxel(matrix):
    centre = np.array([3, 3, 4])
    img, lab = extract(VOL[None], VOL.astype(np.uint16), centre, (4, 4, 4), matrix, [0.0])
    assert img.shape == (1, 4, 4, 4) and img.dtype == np.float32 and lab.shape == (4, 4, 4)
    assert img[0, 2, 2, 2] == VOL[3, 3, 4] and lab[2, 2, 2] == VOL[3, 3, 4]


def test_identity_is_a_crop_and_flip_mirrors_it():
    centre, size = np.array([3, 3, 4]), np.array([2, 4, 4])
    img, _ = extract(VOL[None], None, centre, size, np.eye(3), [0.0])
    np.testing.assert_array_equal(img[0], VOL[2:4, 1:5, 2:6])
    flipped, _ = extract(VOL[None], None, centre, size, np.diag([1.0, 1, -1]), [0.0])
    np.testing.assert_array_equal(flipped[0], VOL[2:4, 1:5, 3:7][..., ::-1])  # mirrored about the centre voxel


@pytest.mark.parametrize("matrix", [ROT90, TILT90])
@pytest.mark.parametrize("offset", [(0, 1, 0), (0, 0, 1), (1, -1, 1), (-1, 1, -2)])
def test_rotation_hand_values(offset, matrix):
    centre, size = np.array([3, 3, 4]), np.array([4, 4, 4])
    img, lab = extract(VOL[None], VOL.astype(np.int32), centre, size, matrix, [0.0])
    o = np.array(offset) + size // 2
    src = centre + matrix @ np.array(offset)
    assert img[0][tuple(o)] == pytest.approx(VOL[tuple(src.astype(int))]) and lab[tuple(o)] == VOL[tuple(src.astype(int))]


def test_zoom_hand_values():
    centre, size = np.array([3, 3, 4]), np.array([4, 4, 4])
    img, _ = extract(VOL[None], None, centre, size, np.eye(3) / 2, [0.0])
    # patch offset (0, 0, 1) reads half a voxel to the right: linear interpolation of two neighbours
    assert img[0, 2, 2, 3] == pytest.approx((VOL[3, 3, 4] + VOL[3, 3, 5]) / 2)
    assert img[0, 2, 2, 0] == pytest.approx(VOL[3, 3, 3])


def test_axial_fast_path_agrees_with_general_path():
    rng = np.random.default_rng(4)
    vol = ndimage.gaussian_filter(rng.normal(size=(20, 30, 30)), 2).astype(np.float32)
    lab = (vol > 0).astype(np.uint8)
    centre, size = np.array([10, 15, 15]), np.array([8, 16, 16])
    for _ in range(5):
        matrix = draw_spatial(rng, AugmentConfig(probability=1.0))
        fast = extract(vol[None], lab, centre, size, matrix, [0.0])
        mid, reach = size // 2, np.abs(matrix) @ np.maximum(size // 2, size - 1 - size // 2)
        lo = np.floor(centre - reach).astype(int) - 1
        region = crop(vol, lo, np.ceil(centre + reach).astype(int) + 2 - lo, 0.0)
        slow = ndimage.affine_transform(region, matrix, offset=(centre - lo) - matrix @ mid, output_shape=tuple(size),
                                        order=1, mode="nearest", prefilter=False)
        np.testing.assert_allclose(fast[0][0], slow, atol=1e-4)


def test_augmented_labels_stay_integral_and_aligned():
    rng = np.random.default_rng(0)
    label = np.zeros((24, 40, 40), np.uint8)
    label[6:18, 10:30, 12:28] = 1
    label[9:14, 15:22, 16:22] = 2
    image = label.astype(np.float32)[None] * 10
    cfg = AugmentConfig(probability=1.0)
    for _ in range(10):
        matrix = draw_spatial(rng, cfg)
        img, lab = extract(image, label, np.array([12, 20, 20]), (16, 32, 32), matrix, [0.0])
        assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1, 2}
        agree = np.mean(np.round(img[0] / 10) == lab)  # only boundary voxels may disagree
        assert agree > 0.95, agree


def test_draw_spatial_switches():
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(draw_spatial(rng, None), np.eye(3))
    off = AugmentConfig(flip=False, rotate=False, scale=False)
    np.testing.assert_array_equal(draw_spatial(rng, off), np.eye(3))
    only_rotate = AugmentConfig(flip=False, scale=False, probability=1.0, rotate_degrees=20)
    for _ in range(20):
        m = draw_spatial(rng, only_rotate)
        assert m[0].tolist() == [1, 0, 0] and m[:, 0].tolist() == [1, 0, 0]  # axial plane only
        assert abs(math.degrees(math.atan2(m[2, 1], m[1, 1]))) <= 20 and np.linalg.det(m) == pytest.approx(1)
    only_scale = AugmentConfig(flip=False, rotate=False, probability=1.0, scale_range=[0.8, 1.25])
    for _ in range(20):
        zoom = 1 / draw_spatial(rng, only_scale)[0, 0]
        assert 0.8 <= zoom <= 1.25


def test_flip_share_is_one_half():
    rng = np.random.default_rng(2)
    cfg = AugmentConfig(rotate=False, scale=False)
    signs = np.array([np.diag(draw_spatial(rng, cfg)) for _ in range(2000)])
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose((signs < 0).mean(axis=0), 0.5, atol=0.05)


def test_intensity_transforms():
    base = np.linspace(-1, 3, 2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)
    assert intensity(base.copy(), np.random.default_rng(0), None).tolist() == base.tolist()
    off = AugmentConfig(intensity=False, gamma=False, noise=False, probability=1.0)
    assert intensity(base.copy(), np.random.default_rng(0), off).tolist() == base.tolist()
    gamma = AugmentConfig(intensity=False, noise=False, probability=1.0)
    out = intensity(base.copy(), np.random.default_rng(0), gamma)
    assert out.min() == pytest.approx(base.min()) and out.max() == pytest.approx(base.max())  # range kept
    assert np.all(np.diff(out[0].ravel()) >= -1e-6)  # monotone
    on = AugmentConfig(probability=1.0)
    a = intensity(base.copy(), np.random.default_rng(5), on)
    b = intensity(base.copy(), np.random.default_rng(5), on)
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, base)
