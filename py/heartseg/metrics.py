"""Segmentation metrics per case and label: overlap, surface distances in mm, volume differences in mL.

Documented values where a ratio is undefined (never NaN):
- both masks empty: dice = iou = precision = recall = 1, hd95 = hd95_pooled = assd = 0, volume differences 0;
- one mask empty (a missed structure, or one predicted where there is none): dice = iou = 0; hd95, hd95_pooled
  and assd are the diagonal of the image's box in mm (sqrt of the sum of (size x spacing)^2), the largest
  distance the image can hold, so a miss scores the worst finite distance and means stay numbers; precision (no
  predicted voxels) and recall (no reference voxels) are 0; rel_vol_diff is 1 for an empty prediction and inf
  only when the reference is empty (a volume relative to nothing).
Surface voxels are a mask's voxels with a background 6-neighbour (outside the volume counts as background).
HD95 is the larger of the two directed 95th percentiles (linear interpolation) of surface-to-surface distances
(MONAI's value); HD95 pooled is the 95th percentile of both directions' distances together (MedPy's `hd95`, which
the left-atrium literature reports); ASSD the mean of all surface distances in both directions; distances use the
voxel spacing, in mm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

METRIC_NAMES: tuple[str, ...] = (
    "dice", "iou", "precision", "recall", "hd95", "hd95_pooled", "assd", "abs_vol_diff_ml", "rel_vol_diff")
"""Every metric case_metrics reports, in the column order of metrics.csv."""
HIGHER_IS_BETTER = {"dice", "iou", "precision", "recall"}
METRIC_INFO: dict[str, dict[str, str]] = {
    "dice": {"unit": "", "description": "Dice overlap, 2|A∩B| / (|A| + |B|)"},
    "iou": {"unit": "", "description": "intersection over union (Jaccard)"},
    "precision": {"unit": "", "description": "share of predicted voxels that are in the reference"},
    "recall": {"unit": "", "description": "share of reference voxels that are predicted"},
    "hd95": {"unit": "mm", "description": "95th-percentile Hausdorff distance, the larger of the two directed values "
                                          "(MONAI); the image box's diagonal when one mask is empty"},
    "hd95_pooled": {"unit": "mm", "description": "95th percentile of both directions' surface distances pooled "
                                                 "(MedPy hd95, as LA papers report it); the image box's diagonal "
                                                 "when one mask is empty"},
    "assd": {"unit": "mm", "description": "average symmetric surface distance; the image box's diagonal when one "
                                          "mask is empty"},
    "abs_vol_diff_ml": {"unit": "mL", "description": "absolute volume difference"},
    "rel_vol_diff": {"unit": "", "description": "volume difference relative to the reference (inf when the "
                                                "reference is empty)"},
}
"""Unit and meaning of each metric (exported to schema/contract.json for the front's tables)."""

_SIX = ndimage.generate_binary_structure(3, 1)


def _as_bool(mask: np.ndarray, name: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool:
        m = m != 0
    if m.ndim != 3:
        raise ValueError(f"{name} must be a 3-D mask, got shape {m.shape}")
    return m


def _check_pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, r = _as_bool(pred, "pred"), _as_bool(ref, "ref")
    if p.shape != r.shape:
        raise ValueError(f"pred and ref shapes differ: {p.shape} vs {r.shape}")
    return p, r


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """2|P∩R| / (|P|+|R|) of two boolean masks; 1.0 when both are empty."""
    p, r = _check_pair(pred, ref)
    total = int(p.sum()) + int(r.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(p, r).sum()) / total


def surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with at least one background 6-neighbour; outside the volume is background."""
    m = _as_bool(mask, "mask")
    return m & ~ndimage.binary_erosion(m, structure=_SIX, border_value=0)


def _crop_union(p: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both masks to their union's bounding box plus one background voxel on every side (zero-padded)."""
    union = p | r
    coords = [np.flatnonzero(union.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    box = tuple(slice(c[0], c[-1] + 1) for c in coords)
    return np.pad(p[box], 1), np.pad(r[box], 1)


def surface_distances(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each pred surface voxel to the ref surface, and from each ref surface voxel to pred's.

    Both masks must be non-empty. Works on the union's bounding box, which holds every surface voxel, so
    cropping does not change any distance.
    """
    p, r = _check_pair(pred, ref)
    if not p.any() or not r.any():
        raise ValueError("surface distances need two non-empty masks")
    spacing = _check_spacing(spacing)
    p, r = _crop_union(p, r)
    sp, sr = surface(p), surface(r)
    to_ref = ndimage.distance_transform_edt(~sr, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return to_ref[sp].astype(np.float64), to_pred[sr].astype(np.float64)


def _check_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    s = tuple(float(v) for v in spacing)
    if len(s) != 3 or not all(np.isfinite(v) and v > 0 for v in s):
        raise ValueError(f"spacing must be three positive numbers (z, y, x) in mm, got {list(spacing)}")
    return s  # type: ignore[return-value]


def box_diagonal(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """The diagonal of an image's box in mm: the distance reported when one of two masks is empty."""
    return float(np.sqrt(sum((float(n) * float(s)) ** 2 for n, s in zip(shape, spacing))))


def binary_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """All METRIC_NAMES for one pair of boolean masks (see the module docstring for empty masks)."""
    p, r = _check_pair(pred, ref)
    spacing = _check_spacing(spacing)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    n_p, n_r = int(p.sum()), int(r.sum())
    tp = int(np.logical_and(p, r).sum())
    out: dict[str, float] = {}
    if n_p + n_r == 0:
        out.update(dice=1.0, iou=1.0, precision=1.0, recall=1.0, hd95=0.0, hd95_pooled=0.0, assd=0.0)
    else:
        out["dice"] = 2.0 * tp / (n_p + n_r)
        out["iou"] = tp / (n_p + n_r - tp)
        out["precision"] = tp / n_p if n_p else 0.0
        out["recall"] = tp / n_r if n_r else 0.0
        if n_p and n_r:
            d_pr, d_rp = surface_distances(p, r, spacing)
            both = np.concatenate([d_pr, d_rp])
            out["hd95"] = float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95)))
            out["hd95_pooled"] = float(np.percentile(both, 95))
            out["assd"] = float(both.mean())
        else:
            out["hd95"] = out["hd95_pooled"] = out["assd"] = box_diagonal(p.shape, spacing)
    out["abs_vol_diff_ml"] = abs(n_p - n_r) * voxel_ml
    out["rel_vol_diff"] = abs(n_p - n_r) / n_r if n_r else (0.0 if n_p == 0 else float("inf"))
    return {name: out[name] for name in METRIC_NAMES}


def case_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float],
                 labels: Mapping[int, str]) -> dict[str, dict[str, float]]:
    """Metrics per foreground label (value 0 is skipped) of two integer label maps: {label name: {metric: value}}."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: {pred.shape} vs {ref.shape}")
    if pred.ndim != 3:
        raise ValueError(f"label maps must be 3-D, got shape {pred.shape}")
    result: dict[str, dict[str, float]] = {}
    for value, name in sorted(labels.items(), key=lambda kv: int(kv[0])):
        if int(value) == 0:
            continue
        result[str(name)] = binary_metrics(pred == int(value), ref == int(value), spacing)
    if not result:
        raise ValueError(f"no foreground labels to score in {dict(labels)}")
    return result
