"""Metrics against hand-computed cubes, spheres and empty masks, and against MONAI on random masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heartseg.metrics import METRIC_NAMES, binary_metrics, case_metrics, dice, surface, surface_distances


def box(shape, lo, hi):
    m = np.zeros(shape, dtype=bool)
    m[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    return m


def ball(shape, centre_mm, radius_mm, spacing):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm)) <= radius_mm**2


# 4x4x4 cube vs the same cube one voxel further along x: 48 shared voxels; of 56 surface voxels per cube,
# 20 (one 4x4 face plus the 2x2 inside of the opposite face) lie one x-step from the other surface, 36 on it.
SHIFT = (box((8, 8, 9), (2, 2, 2), (6, 6, 6)), box((8, 8, 9), (2, 2, 3), (6, 6, 7)))
# 4x4x4 cube nested one voxel inside a 6x6x6 cube: inner surface is 1 from the outer; the outer's 152 surface
# voxels are 1 (96 face), sqrt(2) (48 edge) or sqrt(3) (8 corner) from the inner surface.
NESTED = (box((9, 9, 9), (2, 2, 2), (6, 6, 6)), box((9, 9, 9), (1, 1, 1), (7, 7, 7)))
OUTER = np.sort(np.r_[np.ones(96), np.full(48, math.sqrt(2)), np.full(8, math.sqrt(3))])

CASES = [
    # name, pred, ref, spacing, expected subset
    ("identical", SHIFT[0], SHIFT[0], (1, 1, 1),
     dict(dice=1, iou=1, precision=1, recall=1, hd95=0, hd95_pooled=0, assd=0, abs_vol_diff_ml=0, rel_vol_diff=0)),
    # pooled: 112 distances, 72 zeros then 40 ones; the 95th percentile sits at index 105.45: 1
    ("shift-x", *SHIFT, (1, 1, 1),
     dict(dice=0.75, iou=0.6, precision=0.75, recall=0.75, hd95=1.0, hd95_pooled=1.0, assd=40 / 112,
          abs_vol_diff_ml=0)),
    ("shift-x anisotropic", *SHIFT, (3.0, 2.0, 0.5),
     dict(dice=0.75, hd95=0.5, hd95_pooled=0.5, assd=0.5 * 40 / 112, abs_vol_diff_ml=0)),
    # pooled: 56 inner + 96 outer ones (indices 0-151), 48 x sqrt(2) (152-199), 8 x sqrt(3); index 196.65: sqrt(2),
    # below the MONAI value, which is the outer surface's own 95th percentile
    ("nested", *NESTED, (1, 1, 1),
     dict(dice=128 / 280, iou=64 / 216, precision=1.0, recall=64 / 216,
          hd95=OUTER[143] + 0.45 * (OUTER[144] - OUTER[143]), hd95_pooled=math.sqrt(2), assd=(56 + OUTER.sum()) / 208,
          abs_vol_diff_ml=152 / 1000, rel_vol_diff=152 / 216)),
    ("nested, 2 mm voxels", *NESTED, (2, 2, 2),
     dict(dice=128 / 280, hd95=2 * (OUTER[143] + 0.45 * (OUTER[144] - OUTER[143])), hd95_pooled=2 * math.sqrt(2),
          assd=2 * (56 + OUTER.sum()) / 208, abs_vol_diff_ml=152 * 8 / 1000)),
    ("both empty", np.zeros((5, 5, 5), bool), np.zeros((5, 5, 5), bool), (1, 1, 1),
     dict(dice=1, iou=1, precision=1, recall=1, hd95=0, hd95_pooled=0, assd=0, abs_vol_diff_ml=0, rel_vol_diff=0)),
    # one mask empty: distances are the box diagonal, sqrt(10^2 + 5^2 + 2.5^2) mm here, never inf
    ("empty prediction", np.zeros((5, 5, 5), bool), box((5, 5, 5), (1, 1, 1), (3, 3, 3)), (2, 1, 0.5),
     dict(dice=0, iou=0, precision=0, recall=0, hd95=math.sqrt(131.25), hd95_pooled=math.sqrt(131.25),
          assd=math.sqrt(131.25), abs_vol_diff_ml=8 * 1e-3, rel_vol_diff=1.0)),
    ("empty reference", box((5, 5, 5), (1, 1, 1), (3, 3, 3)), np.zeros((5, 5, 5), bool), (1, 1, 1),
     dict(dice=0, iou=0, precision=0, recall=0, hd95=math.sqrt(75), hd95_pooled=math.sqrt(75), assd=math.sqrt(75),
          rel_vol_diff=math.inf)),
    ("disjoint voxels 3 mm apart", box((3, 3, 5), (1, 1, 0), (2, 2, 1)), box((3, 3, 5), (1, 1, 3), (2, 2, 4)),
     (1, 1, 1), dict(dice=0, precision=0, recall=0, hd95=3.0, hd95_pooled=3.0, assd=3.0)),
]


@pytest.mark.parametrize("name,pred,ref,spacing,expected", CASES, ids=[c[0] for c in CASES])
def test_hand_computed(name, pred, ref, spacing, expected):
    got = binary_metrics(pred, ref, spacing)
    assert list(got) == list(METRIC_NAMES)
    for key, value in expected.items():
        if math.isinf(value):
            assert math.isinf(got[key]), key
        else:
            assert got[key] == pytest.approx(value, abs=1e-9), key
    assert not any(math.isnan(v) for v in got.values())


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8)])
def test_concentric_spheres(spacing):
    # radii 10 and 7 mm: every surface distance is about 3 mm; volumes follow 4/3 pi r^3
    shape = tuple(int(32 / s) for s in spacing)
    centre = [n * s / 2 for n, s in zip(shape, spacing)]
    pred, ref = ball(shape, centre, 7.0, spacing), ball(shape, centre, 10.0, spacing)
    got = binary_metrics(pred, ref, spacing)
    half_diag = 0.5 * math.sqrt(sum(s * s for s in spacing))
    assert got["hd95"] == pytest.approx(3.0, abs=2 * half_diag)
    assert got["assd"] == pytest.approx(3.0, abs=half_diag)
    assert got["dice"] == pytest.approx(2 * 7**3 / (7**3 + 10**3), rel=0.05)
    assert got["abs_vol_diff_ml"] == pytest.approx(4 / 3 * math.pi * (10**3 - 7**3) / 1000, rel=0.06)
    assert got["precision"] == 1.0


@pytest.mark.parametrize("mask,count", [
    (box((3, 3, 3), (1, 1, 1), (2, 2, 2)), 1),  # a lone voxel is its own surface
    (box((5, 5, 5), (1, 1, 1), (4, 4, 4)), 26),  # 3x3x3 cube: all but the centre
    (np.ones((3, 3, 3), bool), 26),  # filling the volume: outside counts as background, the centre is inside
    (np.ones((1, 4, 4), bool), 16),  # a one-voxel slab at the border is all surface
    (np.ones((4, 4, 4), bool), 56),
    (np.zeros((4, 4, 4), bool), 0),
])
def test_surface_uses_six_connectivity_and_closed_border(mask, count):
    assert int(surface(mask).sum()) == count


def test_surface_distances_are_directed():
    d_pr, d_rp = surface_distances(*NESTED, spacing=(1, 1, 1))
    assert np.allclose(d_pr, 1.0) and len(d_pr) == 56
    assert np.allclose(np.sort(d_rp), OUTER)


@pytest.mark.parametrize("pred,ref,expected", [
    (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), 1.0),
    (np.ones((2, 2, 2)), np.zeros((2, 2, 2)), 0.0),
    (box((2, 2, 4), (0, 0, 0), (2, 2, 2)), box((2, 2, 4), (0, 0, 1), (2, 2, 4)), 2 * 4 / (8 + 12)),
])
def test_dice(pred, ref, expected):
    assert dice(pred, ref) == pytest.approx(expected)


def test_case_metrics_per_label_name_skips_background():
    ref = np.zeros((6, 6, 6), np.uint8)
    ref[1:3, 1:3, 1:3] = 1
    ref[4:6, 4:6, 4:6] = 3
    pred = ref.copy()
    pred[4:6, 4:6, 4:6] = 0  # label 3 missed entirely
    got = case_metrics(pred, ref, (1, 1, 1), {0: "background", 1: "atrium", 3: "ventricle"})
    assert list(got) == ["atrium", "ventricle"]
    assert got["atrium"]["dice"] == 1.0
    assert got["ventricle"]["dice"] == 0.0 and got["ventricle"]["hd95"] == pytest.approx(math.sqrt(108))


@pytest.mark.parametrize("call,match", [
    (lambda: binary_metrics(np.zeros((3, 3, 3)), np.zeros((3, 3, 4)), (1, 1, 1)), "shapes differ"),
    (lambda: binary_metrics(np.zeros((3, 3, 3)), np.zeros((3, 3, 3)), (1, 1)), "spacing"),
    (lambda: binary_metrics(np.zeros((3, 3, 3)), np.zeros((3, 3, 3)), (1, 0, 1)), "spacing"),
    (lambda: binary_metrics(np.zeros((3, 3)), np.zeros((3, 3)), (1, 1, 1)), "3-D"),
    (lambda: case_metrics(np.zeros((3, 3, 3)), np.zeros((3, 3, 3)), (1, 1, 1), {0: "background"}), "no foreground"),
    (lambda: surface_distances(np.zeros((3, 3, 3)), np.ones((3, 3, 3)), (1, 1, 1)), "non-empty"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI's own deprecation notices
@pytest.mark.parametrize("seed,spacing", [(0, (1.0, 1.0, 1.0)), (1, (2.5, 0.7, 0.7)), (2, (1.0, 1.5, 0.6)),
                                          (3, (0.625, 0.625, 0.625))])
def test_agrees_with_monai_on_random_masks(seed, spacing):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = (18, 22, 20)
    ref = ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5
    pred = ndimage.binary_opening(rng.random(shape) > 0.45) | (ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.52)
    got = binary_metrics(pred, ref, spacing)
    P = torch.from_numpy(pred)[None, None].float()
    R = torch.from_numpy(ref)[None, None].float()
    m_dice = monai_metrics.compute_dice(P, R, include_background=True).item()
    m_hd95 = monai_metrics.compute_hausdorff_distance(P, R, include_background=True, percentile=95,
                                                      spacing=list(spacing)).item()
    m_assd = monai_metrics.compute_average_surface_distance(P, R, include_background=True, symmetric=True,
                                                            spacing=list(spacing)).item()
    half_diag = 0.5 * math.sqrt(sum(s * s for s in spacing))
    assert got["dice"] == pytest.approx(m_dice, abs=1e-6)
    assert got["hd95"] == pytest.approx(m_hd95, abs=half_diag)
    assert got["assd"] == pytest.approx(m_assd, abs=half_diag)
    assert got["hd95_pooled"] <= got["hd95"]  # the pooled percentile never exceeds the larger directed one


@pytest.mark.parametrize("shape, spacing", [((5, 5, 5), (1, 1, 1)), ((4, 30, 30), (2.5, 0.7, 0.7))])
def test_empty_prediction_prints_no_infinity(shape, spacing):
    # a missed structure: every metric a finite number, so tables, means and JSON stay readable
    ref = np.zeros(shape, bool)
    ref[1:3, 1:3, 1:3] = True
    got = binary_metrics(np.zeros(shape, bool), ref, spacing)
    assert all(math.isfinite(v) for v in got.values()), got
    diagonal = math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing)))
    assert got["hd95"] == got["hd95_pooled"] == got["assd"] == pytest.approx(diagonal)


def test_every_metric_is_documented():
    from heartseg.metrics import METRIC_INFO

    assert list(METRIC_INFO) == list(METRIC_NAMES)
    assert METRIC_INFO["hd95_pooled"]["unit"] == "mm" and "MedPy" in METRIC_INFO["hd95_pooled"]["description"]
    assert "diagonal" in METRIC_INFO["hd95"]["description"]
