"""Orientation, resampling, normalisation and the exact way back (restore), with hand-computed values."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from heartseg.data import preprocess_image, restore
from heartseg.data.io import read_volume
from heartseg.data.preprocess import (CaseMeta, from_ras_zyx, label_volumes, normalize, oriented_spacing,
                                      preprocess_volumes, resize, target_shape, to_ras_zyx)
from heartseg.errors import BadInput
from tests.conftest import write_nifti

PERMUTED = np.array([[0, 0, 3.0, 0], [2.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])  # stored axes -> A, S, R
c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
OBLIQUE = np.array([[c, -s, 0, 5], [s, c, 0, -3], [0, 0, 2.0, 1], [0, 0, 0, 1]])

AFFINES = {"ras": np.diag([1.0, 2, 3, 1]), "lps": np.diag([-1.0, -2, 3, 1]), "permuted": PERMUTED, "oblique": OBLIQUE}


@pytest.mark.parametrize("affine, expected", [
    (np.diag([1.0, 2, 3, 1]), [3, 2, 1]),
    (np.diag([-1.0, -2, 3, 1]), [3, 2, 1]),
    (PERMUTED, [1, 2, 3]),  # R from stored axis 2 (3 mm), A from axis 0 (2 mm), S from axis 1 (1 mm)
    (OBLIQUE, [2, 1, 1]),
])
def test_oriented_spacing(affine, expected):
    assert oriented_spacing(affine) == pytest.approx(expected)


@pytest.mark.parametrize("affine, expected", [
    (np.diag([1.0, 1, 1, 1]), lambda a: a.transpose(2, 1, 0)),
    (np.diag([-1.0, 1, 1, 1]), lambda a: a[::-1].transpose(2, 1, 0)),  # stored x runs right-to-left
    (np.diag([-1.0, -1, 1, 1]), lambda a: a[::-1, ::-1].transpose(2, 1, 0)),
    (PERMUTED, lambda a: a.transpose(1, 0, 2)),  # z <- stored 1, y <- stored 0, x <- stored 2
])
def test_to_ras_zyx(affine, expected):
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    np.testing.assert_array_equal(to_ras_zyx(a, nib.orientations.io_orientation(affine)), expected(a))


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_orientation_round_trip(name):
    a = np.arange(3 * 4 * 5).reshape(3, 4, 5)
    ornt = nib.orientations.io_orientation(AFFINES[name])
    np.testing.assert_array_equal(from_ras_zyx(to_ras_zyx(a, ornt), ornt), a)
    four = np.stack([to_ras_zyx(a, ornt), -to_ras_zyx(a, ornt)], axis=-1)  # channels last survive too
    np.testing.assert_array_equal(from_ras_zyx(four, ornt), np.stack([a, -a], axis=-1))


@pytest.mark.parametrize("shape, spacing, target, expected", [
    ([10, 20, 30], [2, 1, 1], [1, 1, 1], [20, 20, 30]),
    ([10, 10, 10], [1, 1, 1], [2, 2, 2], [5, 5, 5]),
    ([3, 3, 3], [1, 1, 1], [1.5, 1.5, 1.5], [2, 2, 2]),
    ([7, 7, 7], [1, 1, 1], [1.0005, 1, 0.9995], [7, 7, 7]),  # within 0.1 %: no resampling
    ([1, 4, 4], [1, 1, 1], [5, 1, 1], [1, 4, 4]),  # never below one voxel
])
def test_target_shape(shape, spacing, target, expected):
    assert target_shape(shape, spacing, target) == expected


def test_resize_linear_ramp_hand_values():
    ramp = np.arange(4, dtype=np.float32).reshape(4, 1, 1)
    out = resize(ramp, (8, 1, 1), order=1)[:, 0, 0]
    # centres aligned: output i reads input 0.5 i - 0.25, held at the edges
    np.testing.assert_allclose(out, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0], atol=1e-6)
    np.testing.assert_allclose(resize(out.reshape(8, 1, 1), (4, 1, 1), order=1)[:, 0, 0], [0.125, 1, 2, 2.875], atol=1e-6)


def test_resize_labels_keep_values_and_identity_is_free():
    lab = np.zeros((6, 6, 6), np.uint8)
    lab[1:4, 2:5, 2:4] = 3
    up = resize(lab, (12, 12, 12), order=0)
    assert up.dtype == np.uint8 and set(np.unique(up)) == {0, 3} and int((up == 3).sum()) == 18 * 8
    assert resize(lab, (6, 6, 6), order=0) is lab


def test_normalize_zscore_over_body_by_hand():
    img = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3], np.float32).reshape(9, 1, 1)
    out, stats = normalize(img, "zscore")  # body = values above the minimum: 1, 2, 3 -> mean 2, std sqrt(2/3)
    std = math.sqrt(2 / 3)
    assert stats["mean"] == pytest.approx(2) and stats["std"] == pytest.approx(std)
    np.testing.assert_allclose(out[6:, 0, 0], [-1 / std, 0, 1 / std], rtol=1e-6)
    assert out[0, 0, 0] == pytest.approx(-2 / std) and stats["pad"] == pytest.approx(-2 / std)


def test_normalize_percentile_clips_then_scores():
    img = np.arange(100, dtype=np.float32).reshape(100, 1, 1)
    out, stats = normalize(img, "percentile")  # numpy's linear percentiles of 0..99: 0.495 and 98.505
    assert float(out.min()) == pytest.approx((0.495 - 49.5) / stats["std"], rel=1e-5)
    assert float(out.mean()) == pytest.approx(0, abs=1e-5) and float(out.std()) == pytest.approx(1, rel=1e-5)


@pytest.mark.parametrize("img, method, expected", [
    (np.full((2, 2, 2), 7.0), "zscore", np.zeros((2, 2, 2))),  # constant: finite, no division by zero
    (np.array([[[1.5, -2.0]]]), "none", np.array([[[1.5, -2.0]]])),
])
def test_normalize_edge_cases(img, method, expected):
    out, _ = normalize(img, method)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected)


def test_normalize_unknown_method():
    with pytest.raises(ValueError, match="normalization: got 'robust'"):
        normalize(np.zeros((2, 2, 2)), "robust")


@pytest.mark.parametrize("img, expected", [
    (np.array([[[2.0, 4.0], [6.0, 10.0]]]), np.array([[[0.0, 0.25], [0.5, 1.0]]])),  # (x - 2) / 8
    (np.array([[[-1.0, 1.0]]]), np.array([[[0.0, 1.0]]])),
    (np.full((1, 2, 2), 7.0), np.zeros((1, 2, 2))),  # constant: (x - min) / 1e-8 stays 0, finite
])
def test_normalize_minmax_is_the_classic_formula(img, expected):
    out, stats = normalize(img, "minmax")
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert stats["min"] == float(img.min()) and stats["max"] == float(img.max())


def test_label_volumes_by_hand():
    lab = np.zeros((4, 4, 4), np.uint8)
    lab[0, 0, :3] = 1
    lab[1, 1, :2] = 2
    vols = label_volumes(lab, np.diag([1.0, 2, 3, 1]))  # 6 mm^3 per voxel
    assert vols == {"1": {"voxels": 3, "ml": pytest.approx(0.018)}, "2": {"voxels": 2, "ml": pytest.approx(0.012)}}


def _case(tmp_path, affine, shape=(9, 8, 7)):
    lab = np.zeros(shape, np.uint8)
    lab[2:6, 3:6, 1:5] = 1
    lab[5:7, 1:3, 4:6] = 2
    img = (np.random.default_rng(0).normal(size=shape) + 3 * lab).astype(np.float32)
    images = [read_volume(write_nifti(tmp_path / "i.nii.gz", img, affine))[0]]
    label = read_volume(write_nifti(tmp_path / "l.nii.gz", lab, affine))[0]
    return images, label, lab


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_restore_is_exact_without_resampling(tmp_path, name):
    images, label, lab = _case(tmp_path, AFFINES[name])
    image, out_label, meta = preprocess_volumes("c", images, label, None, "zscore")
    assert image.shape == (1, *meta.resampled_shape) and out_label.shape == tuple(meta.resampled_shape)
    assert meta.resampled_shape == meta.oriented_shape and not meta.resampled
    back = restore(out_label, meta, is_label=True)
    np.testing.assert_array_equal(back, lab)
    restored = nib.Nifti1Image(back, meta.affine)  # overlays the source: same affine, same shape
    assert restored.shape == lab.shape and np.allclose(restored.affine, AFFINES[name])


@pytest.mark.parametrize("target", [[1.0, 1.0, 1.0], [2.0, 0.5, 0.7]])
def test_restore_after_resampling_is_close(tmp_path, target):
    images, label, lab = _case(tmp_path, np.diag([0.8, 0.9, 1.5, 1]), shape=(20, 18, 10))
    _, out_label, meta = preprocess_volumes("c", images, label, target, "zscore")
    assert meta.resampled and meta.spacing == target
    back = restore(out_label, meta, is_label=True)
    assert back.shape == lab.shape and back.dtype == np.uint8
    for v in (1, 2):
        dice = 2 * np.sum((back == v) & (lab == v)) / (np.sum(back == v) + np.sum(lab == v))
        assert dice > 0.7, (v, dice)
    assert meta.label_volumes["1"]["voxels"] == int((lab == 1).sum())  # measured on the source grid


def test_restore_probabilities_channels_last(tmp_path):
    images, label, _ = _case(tmp_path, np.diag([-1.0, 1, 1, 1]))
    _, out_label, meta = preprocess_volumes("c", images, label, [0.5, 1, 1], "none")
    probs = np.stack([(out_label == 0), (out_label > 0)]).astype(np.float32)
    back = restore(probs, meta, is_label=False)
    assert back.shape == (9, 8, 7, 2) and back.dtype == np.float32
    np.testing.assert_allclose(back.sum(-1), 1.0, atol=1e-5)  # linear interpolation keeps a partition of unity


def test_restore_refuses_wrong_shape(tmp_path):
    images, label, _ = _case(tmp_path, np.eye(4))
    _, out_label, meta = preprocess_volumes("c", images, label, None, "zscore")
    with pytest.raises(ValueError, match="does not end in the preprocessed shape"):
        restore(out_label[:-1], meta, is_label=True)


def test_meta_json_round_trip(tmp_path):
    images, label, _ = _case(tmp_path, OBLIQUE)
    _, _, meta = preprocess_volumes("c", images, label, [1, 1, 1], "zscore")
    again = CaseMeta.from_json(meta.to_json())
    assert again.to_json() == meta.to_json() and isinstance(again.affine, np.ndarray)
    assert again.labels_present == [1, 2]


def test_preprocess_image_multichannel(tmp_path):
    arr = np.random.default_rng(1).normal(size=(6, 5, 4)).astype(np.float32)
    paths = [write_nifti(tmp_path / f"x_{c:04d}.nii.gz", arr * (c + 1), np.diag([-1.0, 1, 2, 1])) for c in range(2)]
    image, meta = preprocess_image(paths, [1.0, 1.0, 1.0], "zscore")
    assert image.shape == (2, 8, 5, 6) and image.dtype == np.float32 and meta.label is None
    np.testing.assert_allclose(image[0], image[1], atol=1e-5)  # z-score removes the channel's scale


def test_preprocess_image_bad_input_names_file(tmp_path):
    arr = np.zeros((4, 4, 4), np.float32)
    arr[0, 0, 0] = np.nan
    path = write_nifti(tmp_path / "bad.nii.gz", arr)
    with pytest.raises(BadInput) as info:
        preprocess_image(path, None)
    assert info.value.problems[0].file == str(path) and "non-finite" in info.value.problems[0].message


@pytest.mark.parametrize("spacing", [[1, 1], [1, 0, 1]])
def test_preprocess_image_bad_spacing(tmp_path, spacing):
    path = write_nifti(tmp_path / "x.nii.gz", np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="spacing"):
        preprocess_image(path, spacing)


# --- labels on the image's grid (issue 15, item 1) ------------------------------------------------------------------

from heartseg.data.preprocess import pad_values, resize_labels  # noqa: E402


@pytest.mark.parametrize("line, size, expected", [
    ([0, 1, 1, 0], 2, [1, 0]),  # both samples are half-voxel ties: the checkerboard gives one to each side
    ([0, 1, 1, 1], 2, [1, 1]),  # a tie at z=0 (even: the higher value) and a full voxel
    ([0, 0, 1, 1], 2, [0, 1]),  # no ties: each sample sits between two equal voxels
    ([0, 1, 2, 2], 2, [1, 2]),  # three values: the tie of 0 and 1 at an even sample goes to 1
    ([1, 1, 0, 0], 2, [1, 0]),
    ([0, 1], 4, [0, 0, 1, 1]),  # upsampling: samples at -0.25, 0.25, 0.75, 1.25 (edges clamp)
    ([2, 0, 0], 3, [2, 0, 0]),  # same shape: unchanged
])
def test_resize_labels_by_hand(line, size, expected):
    lab = np.array(line, np.uint8).reshape(-1, 1, 1)
    got = resize_labels(lab, (size, 1, 1))
    assert got.dtype == np.uint8 and got[:, 0, 0].tolist() == expected


def test_resize_labels_ties_follow_a_checkerboard():
    lab = np.zeros((4, 4, 1), np.uint8)
    lab[1:3, 1:3] = 1  # every 2x2 output sample covers exactly one foreground voxel in z-y: weight 0.25, no tie
    assert resize_labels(lab, (2, 2, 1)).sum() == 0
    lab = np.zeros((2, 4, 4), np.uint8)
    lab[:, :, 1:3] = 1  # along x every sample is half inside: ties everywhere, alternating with y + x
    got = resize_labels(lab, (2, 2, 2))
    assert got[0].tolist() == [[1, 0], [0, 1]] and got[1].tolist() == [[0, 1], [1, 0]]


def test_resize_labels_bad_input():
    with pytest.raises(ValueError, match="3-D"):
        resize_labels(np.zeros((4, 4), np.uint8), (2, 2))


def _ellipsoid(shape, centre_share=0.45, radii=(9.3, 12.1, 10.4)):
    z, y, x = np.indices(shape)
    c = np.array(shape) * centre_share + 0.3
    return ((((z - c[0]) / radii[0]) ** 2 + ((y - c[1]) / radii[1]) ** 2 + ((x - c[2]) / radii[2]) ** 2) <= 1)


def _centroid(mask, scale):
    """Mean voxel position in source voxel units: a resampled grid's voxel j is centred at (j + 0.5) * scale - 0.5."""
    return ((np.argwhere(mask) + 0.5) * np.asarray(scale, float) - 0.5).mean(axis=0)


@pytest.mark.parametrize("shape", [(40, 40, 40), (40, 41, 42), (43, 42, 41), (88, 96, 97), (41, 41, 41)])
def test_label_centroid_stays_after_a_2x_downsample(tmp_path, shape):
    # 0.625 mm -> 1.25 mm through the real path (a RAS NIfTI pair), even and odd axis lengths; nearest neighbour
    # moved the centroid by about -0.5 fine voxels along every even-length axis
    lab_zyx = _ellipsoid(shape).astype(np.uint8)
    lab = lab_zyx.transpose(2, 1, 0)  # stored (x, y, z)
    affine = np.diag([0.625, 0.625, 0.625, 1.0])
    images = [read_volume(write_nifti(tmp_path / "i.nii.gz", lab.astype(np.float32), affine))[0]]
    label = read_volume(write_nifti(tmp_path / "l.nii.gz", lab, affine))[0]
    image, out_label, meta = preprocess_volumes("c", images, label, [1.25, 1.25, 1.25], "none")
    scale = np.array(meta.oriented_shape) / np.array(meta.resampled_shape)
    moved_mm = (_centroid(out_label == 1, scale) - _centroid(lab_zyx == 1, 1.0)) * 0.625
    assert np.abs(moved_mm).max() < 0.1 * 0.625, moved_mm  # under a tenth of a fine voxel on every axis
    # the image, resampled at the same coordinates, puts its mass at the same place
    image_centre = (np.argwhere(np.ones_like(image[0], bool)) * 1.0)
    weights = image[0].ravel()
    image_centroid = (((image_centre + 0.5) * scale - 0.5) * weights[:, None]).sum(0) / weights.sum()
    assert np.abs((_centroid(out_label == 1, scale) - image_centroid) * 0.625).max() < 0.1 * 0.625
    if np.all(scale == 2):  # exact ties everywhere on the boundary: a one-sided tie rule lost 7 % here
        volume = (out_label == 1).sum() * 8 / (lab_zyx == 1).sum()
        assert abs(volume - 1) < 0.02, volume


def _dice(a, b):
    return 2 * np.sum(a & b) / (np.sum(a) + np.sum(b))


def test_la2018_label_round_trip(la2018, tmp_path):
    # a real la2018 label (0.625 mm) to the default training grid (1.25 mm) and back onto its own grid
    from heartseg.inference import restore_prediction
    from heartseg.config import InferConfig

    images = [read_volume(la2018 / "imagesTr" / "la2018_000.nii.gz")[0]]
    label = read_volume(la2018 / "labelsTr" / "la2018_000.nii.gz")[0]
    source = np.asarray(label.data) == 1
    _, out_label, meta = preprocess_volumes("la2018_000", images, label, [1.25, 1.25, 1.25], "zscore")
    lab_zyx = to_ras_zyx(source, np.asarray(meta.ornt))
    scale = np.array(meta.oriented_shape) / np.array(meta.resampled_shape)
    moved = _centroid(out_label == 1, scale) - _centroid(lab_zyx, 1.0)
    assert np.abs(moved).max() < 0.1, moved  # fine voxels; nearest neighbour: -0.69 in z
    # a hard label through the coarse grid and back (nearest neighbour both ways gave 0.958)
    assert _dice(restore(out_label, meta, is_label=True) == 1, source) >= 0.97
    # what a perfect model predicts, each coarse voxel's share of the atrium, restored as probabilities then
    # thresholded on the source grid: the boundary is kept (>= 0.99, the acceptance)
    coverage = resize(np.ascontiguousarray(lab_zyx, dtype=np.float32), meta.resampled_shape, order=1)
    classes, _ = restore_prediction(coverage[None], meta, InferConfig(postprocess=[]))
    assert _dice(classes == 1, source) >= 0.99


@pytest.mark.parametrize("image, expected", [
    (np.array([[[[0.0, -2.5], [3.0, 1.0]]]]), [-2.5]),
    (np.stack([np.full((2, 2, 2), 4.0), np.arange(8.0).reshape(2, 2, 2) - 1]), [4.0, -1.0]),
])
def test_pad_values_are_each_channels_minimum(image, expected):
    assert pad_values(image) == expected


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.zeros((0, 2, 2, 2)), np.zeros((1, 0, 2, 2))])
def test_pad_values_bad_input(bad):
    with pytest.raises(ValueError, match="pad_values"):
        pad_values(bad)
