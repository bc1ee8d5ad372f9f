"""Checks of one case's decoded volumes: every problem is collected with the file it concerns.

Geometry tolerance: voxel sizes within 0.1 % (relative), axis directions within 1e-3, origins within a
twentieth of the smallest voxel — differences below that are float rounding, not a different grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartseg.data.io import Volume, read_volume
from heartseg.data.preprocess import SPACING_TOLERANCE
from heartseg.errors import BadInput, Problem

DIRECTION_TOLERANCE = 1e-3
ORIGIN_TOLERANCE_VOXELS = 0.05


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def geometry_problems(ref: Volume, other: Volume, what: str) -> list[Problem]:
    """Shape, spacing, then orientation/origin of `other` against `ref`; named after `other`'s file."""
    where, hint = str(other.path), f"check that the {what} belongs to this image"
    if ref.shape != other.shape:
        return [Problem(f"image and {what} shapes differ: {ref.shape} vs {other.shape}", where, hint)]
    z_ref, z_other = ref.zooms, other.zooms
    if np.any(np.abs(z_ref - z_other) > SPACING_TOLERANCE * np.maximum(z_ref, 1e-6)):
        return [Problem(f"image and {what} voxel spacings differ: {_fmt(z_ref)} vs {_fmt(z_other)} mm", where, hint)]
    dirs_ref, dirs_other = ref.affine[:3, :3] / z_ref, other.affine[:3, :3] / z_other
    if np.max(np.abs(dirs_ref - dirs_other)) > DIRECTION_TOLERANCE:
        return [Problem(f"image and {what} axis directions differ (affines disagree)", where, hint)]
    shift = float(np.linalg.norm(ref.affine[:3, 3] - other.affine[:3, 3]))
    if shift > ORIGIN_TOLERANCE_VOXELS * float(z_ref.min()):
        return [Problem(f"image and {what} origins differ by {shift:.3g} mm (affines disagree)", where, hint)]
    return []


def image_problems(vol: Volume) -> list[Problem]:
    if vol.data.dtype.kind not in "fc":
        return []
    bad = vol.data.size - int(np.count_nonzero(np.isfinite(vol.data)))
    if bad:
        nan = int(np.count_nonzero(np.isnan(vol.data)))
        kinds = "NaN" if nan == bad else ("infinite" if nan == 0 else "NaN or infinite")
        return [Problem(f"image has {bad} non-finite voxels ({kinds})", str(vol.path), "replace them before training")]
    return []


def label_values(vol: Volume) -> tuple[np.ndarray | None, list[Problem]]:
    """Distinct label values, or a problem when the label is not integer-valued and finite."""
    data, where = vol.data, str(vol.path)
    if data.dtype.kind in "fc":
        if not np.all(np.isfinite(data)):
            return None, [Problem("label has non-finite voxels (NaN or infinite)", where)]
        values = np.unique(data)
        if np.any(values != np.round(values)):
            return None, [Problem(f"label has non-integer values (e.g. {values[values != np.round(values)][0]:g})", where,
                                  "labels must be integer class values, not probabilities")]
        return values.astype(np.int64), []
    if data.dtype.kind not in "iub":
        return None, [Problem(f"label has data type {data.dtype}, expected integers", where)]
    if data.dtype.itemsize == 1:  # bincount is much faster than sorting for bytes
        counts = np.bincount(data.reshape(-1).view(np.uint8), minlength=256)
        values = np.flatnonzero(counts).astype(np.int64)
        return (np.sort(values - 256 * (values > 127)) if data.dtype.kind == "i" else values), []
    return np.unique(data).astype(np.int64), []


def check_label(vol: Volume, declared: dict[int, str] | None) -> tuple[list[int], list[Problem], list[Problem]]:
    """(values present, problems, warnings). declared=None skips the declared-values check."""
    values, problems = label_values(vol)
    if values is None:
        return [], problems, []
    where = str(vol.path)
    present = [int(v) for v in values]
    if declared is not None:
        undeclared = [v for v in present if v not in declared]
        if undeclared:
            problems.append(Problem(
                f"label value{'s' if len(undeclared) > 1 else ''} {', '.join(map(str, undeclared))} not declared in "
                f"dataset.json (declared: {', '.join(map(str, sorted(declared)))})", where))
    elif any(v < 0 or v > 255 for v in present):
        problems.append(Problem(f"label values must lie in 0..255, found {min(present)}..{max(present)}", where))
    warnings = [] if any(v != 0 for v in present) or problems else [Problem("label is empty (only background)", where)]
    return present, problems, warnings


def check_case(name: str, image_paths: list[Path], label_path: Path | None, declared: dict[int, str] | None,
               ) -> tuple[list[Volume], Volume | None, list[Problem], list[Problem]]:
    """Decode and check one case: (images, label, problems, warnings); nothing is raised."""
    problems: list[Problem] = []
    images: list[Volume] = []
    for path in image_paths:
        vol, problem = read_volume(Path(path))
        if problem:
            problems.append(problem)
        else:
            problems += image_problems(vol)
            images.append(vol)
    for vol in images[1:]:
        if not problems:
            problems += geometry_problems(images[0], vol, "channel")
    label, warnings = None, []
    if label_path is not None:
        label, problem = read_volume(Path(label_path))
        if problem:
            problems.append(problem)
        else:
            _, label_problems, warnings = check_label(label, declared)
            problems += label_problems
            if images and len(images) == len(image_paths):
                problems += geometry_problems(images[0], label, "label")
    return images, label, problems, warnings


def read_case(name: str, image_paths: list[Path], label_path: Path | None, declared: dict[int, str] | None,
              ) -> tuple[list[Volume], Volume | None]:
    """check_case that raises BadInput with every problem of the case."""
    images, label, problems, _ = check_case(name, image_paths, label_path, declared)
    if problems:
        raise BadInput(problems)
    return images, label
