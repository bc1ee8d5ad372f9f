"""The engine's own dataset analysis, read straight from the NIfTI files with nibabel (no cache, no resampling).

Shapes and spacings are in the stored axis order (x, y, z), as nibabel reports them. Percentiles use numpy's
default ('linear', i.e. R's type 7) over the finite voxels; means are computed in float64; mL = voxels x the
product of the header's voxel sizes. Field names follow the front's analysis (src/core/analyze/types.ts) so the
two can be compared key by key; paths are relative to the dataset root.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from heartseg.data.discover import discover
from heartseg.errors import BadInput, Problem


def _read(path: Path) -> tuple[Any, np.ndarray | None, Problem | None]:
    try:
        img = nib.load(str(path))
        return img, np.asanyarray(img.dataobj), None
    except FileNotFoundError:
        return None, None, Problem("file not found", str(path))
    except Exception as e:  # noqa: BLE001 - nibabel and gzip raise many types for damaged files
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, None, Problem(f"cannot read NIfTI file ({text})", str(path))


def intensity_stats(data: np.ndarray) -> dict[str, float | None]:
    """min, max, mean, p005, p995 over the finite voxels, and how many were not finite (NaN or infinite)."""
    flat = np.asarray(data, dtype=np.float64).reshape(-1)
    finite = np.isfinite(flat)
    non_finite = int(flat.size - np.count_nonzero(finite))
    if non_finite:
        flat = flat[finite]
    if flat.size == 0:
        return {"min": None, "max": None, "mean": None, "p005": None, "p995": None, "nonFinite": non_finite}
    p_lo, p_hi = np.percentile(flat, [0.5, 99.5])
    return {"min": float(flat.min()), "max": float(flat.max()), "mean": float(flat.mean()),
            "p005": float(p_lo), "p995": float(p_hi), "nonFinite": non_finite}


def _round_half_up(values) -> list[int]:
    return [int(np.floor(v + 0.5)) for v in values]  # as JavaScript's Math.round, not banker's rounding


def label_stats(data: np.ndarray, zooms) -> dict[str, Any]:
    """labelVolumes (every value found, background included), foreground (all labels > 0) and its centroid."""
    data = np.asarray(data)
    values, counts = np.unique(data, return_counts=True)
    voxel_ml = float(np.prod(np.asarray(zooms[:3], dtype=np.float64))) / 1000.0
    volumes = {f"{v:g}": {"voxels": int(c), "ml": int(c) * voxel_ml} for v, c in zip(values.tolist(), counts)}
    fg = np.argwhere(data > 0)
    centre = fg.mean(axis=0) if len(fg) else (np.array(data.shape[:3]) - 1) / 2
    return {"labelVolumes": volumes,
            "foreground": {"voxels": int(len(fg)), "ml": len(fg) * voxel_ml, "fraction": len(fg) / data.size},
            "centre": _round_half_up(centre)}


def analyze(root: str | Path) -> dict[str, Any]:
    """Per-case shape, spacing, dtype, intensity statistics and label volumes; BadInput lists unreadable files."""
    start = time.perf_counter()
    dataset, problems = discover(root, require_labels=False)
    if dataset is None:
        raise BadInput(problems)
    cases = []
    for case in dataset.cases:
        rel = lambda p: os.path.relpath(p, dataset.root)  # noqa: E731
        entry: dict[str, Any] = {"name": case.name, "image": rel(case.images[0]),
                                 "label": rel(case.label) if case.label else None}
        img, data, problem = _read(case.images[0])
        if problem:
            problems.append(problem)
            continue
        entry.update(shape=[int(s) for s in img.shape], spacing=[float(z) for z in img.header.get_zooms()[:3]],
                     orientation="".join(nib.aff2axcodes(img.affine)), datatype=str(img.get_data_dtype()),
                     intensity=intensity_stats(data))
        for extra in case.images[1:]:
            _, more, problem = _read(extra)
            if problem:
                problems.append(problem)
            else:
                entry.setdefault("more_channels", []).append(intensity_stats(more))
        del data
        if case.label is not None:
            lab_img, lab, problem = _read(case.label)
            if problem:
                problems.append(problem)
            else:
                entry["labelDatatype"] = str(lab_img.get_data_dtype())
                entry.update(label_stats(lab, img.header.get_zooms()))
        cases.append(entry)
    if problems:
        raise BadInput(problems)
    spacings = np.array([c["spacing"] for c in cases]) if cases else np.zeros((0, 3))
    return {"name": dataset.name, "root": str(dataset.root),
            "labels": {str(k): v for k, v in dataset.labels.items()}, "modality": dataset.modality,
            "cases": cases,
            "summary": {"cases": len(cases),
                        "medianSpacing": [float(v) for v in np.median(spacings, axis=0)] if cases else None,
                        "seconds": round(time.perf_counter() - start, 3)}}
