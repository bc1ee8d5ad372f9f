"""What the planner reads: a dataset's fingerprint (headers, the cache's metadata, a light read) and the device."""

from __future__ import annotations

from typing import Any

import numpy as np
from nibabel import orientations

from heartseg import machine
from heartseg.data import cache
from heartseg.data.discover import discover
from heartseg.data.io import file_hash, read_header, read_volume
from heartseg.data.preprocess import oriented_spacing
from heartseg.errors import BadInput
from heartseg.planning.rules import GPU_MFU, Device, Fingerprint, _median

LIGHT_READ_CASES = 8
"""Cases decoded for intensities and label sizes when the cache has none (evenly spread over the dataset)."""


def _cached_metas(cases, cache_dir: str | None) -> dict[str, Any]:
    """CaseMeta of each case whose cache entry matches its files' content (any spacing), keyed by case name."""
    cases_dir = cache.cache_root(cache_dir) / "cases"
    if not cases_dir.is_dir():
        return {}
    found = {}
    for case in cases:
        prefix = cache.entry_name(case.name, "")
        for entry in sorted(cases_dir.glob(prefix + "*")):
            meta = cache.read_meta(entry)
            if meta is None or len(entry.name) - len(prefix) != 20:
                continue
            paths = [*case.images, *([case.label] if case.label else [])]
            try:
                if all(meta.digests.get(str(p)) == file_hash(p) for p in paths):
                    found[case.name] = meta
                    break
            except OSError:
                break
    return found


def _oriented_shape(shape, affine) -> list[int]:
    """(z, y, x) voxel counts after reorientation to RAS, from the stored shape and the affine."""
    oriented = [0, 0, 0]
    for stored_axis, (ras_axis, _) in enumerate(orientations.io_orientation(affine)):
        oriented[int(ras_axis)] = int(shape[stored_axis])
    return oriented[::-1]


def _extent_mm(mask: np.ndarray, affine, sizes) -> list[float] | None:
    """(z, y, x) size in mm, after reorientation to RAS, of the box around a mask's voxels (`sizes`: the stored axes'
    voxel sizes); None when it is empty."""
    if not mask.any():
        return None
    extent = [0.0, 0.0, 0.0]
    for stored_axis, (ras_axis, _) in enumerate(orientations.io_orientation(affine)):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != stored_axis)))
        extent[int(ras_axis)] = float((hit[-1] - hit[0] + 1) * sizes[stored_axis])
    return extent[::-1]


def _light_read(case, labels: dict[int, str], fractions: dict[int, list[float]] | None,
                extents: list[list[float]] | None = None) -> np.ndarray:
    """Foreground intensities (subsampled) of one case; adds its label shares to `fractions` and its foreground's
    extent in mm to `extents` when given."""
    image, problem = read_volume(case.images[0])
    if problem:
        raise BadInput(problem)
    data = np.asarray(image.data, dtype=np.float32)
    mask = None
    if case.label is not None:
        label, problem = read_volume(case.label)
        if problem:
            raise BadInput(problem)
        values = np.rint(np.asarray(label.data)).astype(np.int64).clip(0, 255)
        mask = values > 0
        extent = _extent_mm(mask, label.affine, label.zooms) if extents is not None and mask.ndim == 3 else None
        if extent is not None:
            extents.append(extent)
        if fractions is not None:
            counts = np.bincount(values.ravel(), minlength=max(labels, default=0) + 1)
            for value in range(1, len(counts)):
                if value in labels or counts[value]:
                    fractions.setdefault(value, []).append(counts[value] / values.size)
    fg = data[mask] if mask is not None and mask.any() else data.ravel()
    return fg[:: max(1, fg.size // 100_000)]


def read_fingerprint(root, cache_dir: str | None = None, val_fraction: float = 0.2) -> Fingerprint:
    """Spacings and shapes from every header; label sizes from the cache's metadata when every case is cached,
    else from a light read of a few cases, which also gives the foreground intensity percentiles."""
    dataset, problems = discover(root, require_labels=False)
    if dataset is None or problems:
        raise BadInput(problems)
    cases = sorted(dataset.cases, key=lambda c: c.name)
    spacings, shapes = [], []
    for case in cases:
        header, problem = read_header(case.images[0])
        if problem:
            problems.append(problem)
            continue
        spacings.append(oriented_spacing(header[1]))
        shapes.append(_oriented_shape(*header))
    if problems:
        raise BadInput(problems)
    metas = _cached_metas(cases, cache_dir)
    cached = bool(metas) and len(metas) == len(cases)
    fractions: dict[int, list[float]] = {}
    if cached:
        for meta in metas.values():
            total = float(np.prod(meta.oriented_shape))
            for value, vol in meta.label_volumes.items():
                fractions.setdefault(int(value), []).append(vol["voxels"] / total)
    spread = {round(k * (len(cases) - 1) / max(LIGHT_READ_CASES - 1, 1)) for k in range(min(LIGHT_READ_CASES, len(cases)))}
    extents: list[list[float]] = []
    samples = [_light_read(cases[i], dataset.labels, None if cached else fractions, extents) for i in sorted(spread)]
    pooled = np.concatenate(samples)
    intensity = {f"p{q:g}": round(float(np.percentile(pooled, q)), 4) for q in (0.5, 50, 99.5)}
    modality = " ".join(dataset.modality.values()) or "MRI"
    # the largest extent seen per axis: the planner's patch must hold the biggest target with its context
    foreground_mm = [round(max(e[i] for e in extents), 2) for i in range(3)] if extents else None
    return Fingerprint(spacings, shapes, modality, intensity,
                       {k: _median(v) for k, v in sorted(fractions.items())}, val_fraction, foreground_mm)


def detect_device(requested: str = "auto") -> Device:
    """The device a plan is made for: CUDA memory measured with mem_get_info, else CPU cores and RAM."""
    if requested not in ("auto", "cpu", "cuda"):
        raise BadInput(f"--device: got {requested!r}, expected auto, cpu or cuda")
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: torch sees no CUDA device", hint=f"torch {torch.__version__}; use --device cpu")
    if requested != "cpu" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(0)
        name = torch.cuda.get_device_name(0)
        peak = machine.gpu_peak_tflops(name) or 100.0
        return Device("cuda", name, machine.cpu_cores(), free / 1024**3, peak * 1e12 * GPU_MFU)
    cores = machine.cpu_cores()
    return Device("cpu", machine.cpu_model(), cores, machine.ram_gb() or 4.0, cores * machine.CPU_GFLOPS_PER_CORE * 1e9)
