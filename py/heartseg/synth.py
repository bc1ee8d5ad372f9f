"""Synthetic cardiac-MRI-like volumes in Decathlon layout, for demos and tests (deterministic per seed).

Anatomy is drawn in normalised physical coordinates, RAS axes (x right, y anterior, z superior): a body with
soft-tissue texture and a fat rim, dark lungs and a spine, scaled to the field of view (the smaller in-plane
half-width is 1), and the heart: bright blood pools (ventricles, right atrium, aorta, pulmonary artery) and the left
atrium, a deformed blob with four pulmonary veins, drawn in units of at most HEART_SCALE_MM. Small fields of view
(up to 160 mm across, the demo's) show a miniature chest; large ones (a 400 mm full-field scan) keep the heart at
anatomical size, a left atrium of about 50-80 mL, instead of growing it with the volume. The atrium has the blood pools' intensity: a network must use shape and position.
Then a smooth bias field and Rician noise. Volumes are stored with an L-P-S affine, as many scanners write,
so reorientation is exercised end to end.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from scipy import ndimage

HEART_SCALE_MM = 80.0
"""mm per normalised unit of the heart at most: left atria of about 50-80 mL (7.5 mL median at the demo's 40)."""
DEFAULT_SHAPE = (32, 64, 64)
DEFAULT_SPACING = (2.0, 1.25, 1.25)
LABELS = {"0": "background", "1": "left atrium"}


def _grid(shape, spacing, most: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised (x, y, z) coordinates of every voxel of a (z, y, x) array, voxel centres symmetric about 0:
    in units of the smaller in-plane half-width, or of `most` mm when that is smaller."""
    half = min(shape[1] * spacing[1], shape[2] * spacing[2]) / 2
    half = min(half, most) if most else half
    axes = [(np.arange(n) - (n - 1) / 2) * s / half for n, s in zip(shape, spacing)]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    return x, y, z


def _soft(f: np.ndarray, width: float = 0.06) -> np.ndarray:
    """Partial-volume edge of the region f < 1."""
    return 1.0 / (1.0 + np.exp(np.clip((f - 1.0) / width, -30, 30)))


def _ellipsoid(p, centre, axes) -> np.ndarray:
    return sum(((p[i] - centre[i]) / axes[i]) ** 2 for i in range(3))


def _tube(p, a, b, radius) -> np.ndarray:
    """Distance to segment a-b over radius (f < 1 inside)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    t = sum((p[i] - a[i]) * d[i] for i in range(3)) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt(sum((p[i] - (a[i] + t * d[i])) ** 2 for i in range(3))) / radius


def _waves(p, rng, count: int, freq: tuple[float, float]) -> np.ndarray:
    """A smooth random field in [-1, 1]: a few random plane waves."""
    out = 0.0
    for _ in range(count):
        w = rng.normal(size=3)
        w *= rng.uniform(*freq) / np.linalg.norm(w)
        out = out + np.sin(w[0] * p[0] + w[1] * p[1] + w[2] * p[2] + rng.uniform(0, 2 * np.pi))
    return out / count


def _vein_paths(rng, centre, axes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Four pulmonary veins: left/right x superior/inferior, leaving the atrium backwards and sideways."""
    paths = []
    for side in (-1.0, 1.0):
        for up in (-1.0, 1.0):
            out = np.array([side * 0.85, -0.6, up * 0.35]) + rng.normal(0, 0.08, 3)
            out /= np.linalg.norm(out)
            start = centre + 0.6 * axes * out
            bend = out + np.array([side * 0.5, 0.1, up * 0.2]) + rng.normal(0, 0.1, 3)
            mid = start + rng.uniform(0.2, 0.26) * out
            end = mid + rng.uniform(0.12, 0.2) * bend / np.linalg.norm(bend)
            paths.append((start, mid, end))
    return paths


def make_case(rng: np.random.Generator, shape=DEFAULT_SHAPE, spacing=DEFAULT_SPACING) -> tuple[np.ndarray, np.ndarray]:
    """One case as (image, label) arrays in RAS (z, y, x) order: image float32 (arbitrary units), label uint8."""
    p = _grid(shape, spacing)  # the body fills the field of view
    h = _grid(shape, spacing, HEART_SCALE_MM)  # the heart keeps its size in mm on large fields of view
    jit = lambda c, s=0.03: np.asarray(c, float) + rng.normal(0, s, 3)  # noqa: E731
    size = lambda a: np.asarray(a, float) * rng.uniform(0.88, 1.12)  # noqa: E731
    tissue, blood = rng.uniform(0.26, 0.34), rng.uniform(0.78, 0.95)
    img = np.zeros(tuple(shape), np.float32)

    def paint(mask: np.ndarray, value) -> None:
        nonlocal img
        img = img * (1 - mask) + value * mask

    body_f = (p[0] / (0.97 + 0.03 * p[2])) ** 2 + (p[1] / rng.uniform(0.86, 0.95)) ** 2
    texture = ndimage.gaussian_filter(rng.normal(size=tuple(shape)).astype(np.float32), 1.0)
    texture *= 0.15 / max(float(texture.std()), 1e-6)
    paint(_soft(body_f), rng.uniform(0.5, 0.6))  # the subcutaneous fat rim shows where tissue stops
    paint(_soft(body_f / 0.88), tissue * (1 + texture))
    for side in (-1, 1):
        paint(_soft(_ellipsoid(p, jit([side * 0.62, -0.2, 0.0]), size([0.27, 0.48, 1.3]))), 0.04)
    paint(_soft(_tube(p, jit([0.05, -0.78, -2]), jit([0.05, -0.78, 2]), 0.13)), 0.42)  # spine
    lv_c, lv_a = jit([-0.3, 0.3, -0.3]), size([0.3, 0.26, 0.34])
    paint(_soft(_ellipsoid(h, lv_c, lv_a + 0.09)), 0.12)  # nulled myocardium, as in LGE
    paint(_soft(_ellipsoid(h, lv_c, lv_a)), blood)
    paint(_soft(_ellipsoid(h, jit([0.15, 0.5, -0.3]), size([0.32, 0.16, 0.3]))), blood)  # right ventricle
    paint(_soft(_ellipsoid(h, jit([0.47, 0.05, 0.05]), size([0.19, 0.21, 0.24]))), blood)  # right atrium
    for c, r in (([0.1, 0.14], 0.11), ([-0.16, 0.45], 0.1)):  # ascending aorta, pulmonary artery
        xy = jit([*c, 0])[:2]
        paint(_soft(_tube(h, [*xy, 0.0], [*(xy + rng.normal(0, 0.05, 2)), 2.0], r * rng.uniform(0.9, 1.1))), blood)
    xy = jit([-0.25, -0.62, 0])[:2]
    paint(_soft(_tube(h, [*xy, -2.0], [*xy, 2.0], 0.1 * rng.uniform(0.9, 1.1))), blood)  # descending aorta
    la_c, la_a = jit([-0.1, -0.2, 0.15]), size([0.34, 0.22, 0.26])
    la_f = _ellipsoid(h, la_c, la_a) * (1 + rng.uniform(0.5, 0.8) * _waves(h, rng, 3, (3.0, 5.0)))
    for start, mid, end in _vein_paths(rng, la_c, la_a):
        r = rng.uniform(0.065, 0.085)
        la_f = np.minimum(la_f, np.minimum(_tube(h, start, mid, r), _tube(h, mid, end, r * 0.85)))
    paint(_soft(la_f), blood)
    label = (la_f < 1.0).astype(np.uint8)
    bias = np.exp(0.25 * _waves(p, rng, 3, (0.5, 1.5)))
    sigma = rng.uniform(0.025, 0.045)
    signal = img * bias
    img = np.sqrt((signal + rng.normal(0, sigma, img.shape)) ** 2 + rng.normal(0, sigma, img.shape) ** 2)
    return (img * rng.uniform(800, 1200)).astype(np.float32), label


def to_nifti(array_zyx: np.ndarray, spacing, dtype) -> nib.Nifti1Image:
    """Store a RAS (z, y, x) array with an L-P-S affine (x and y reversed), voxel centres symmetric about 0."""
    sz, sy, sx = (float(s) for s in spacing)
    data = np.ascontiguousarray(array_zyx.transpose(2, 1, 0)[::-1, ::-1, :]).astype(dtype)
    nx, ny, nz = data.shape
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = [(nx - 1) * sx / 2, (ny - 1) * sy / 2, -(nz - 1) * sz / 2]
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    return img


def write_dataset(out: str | Path, cases: int, seed: int, shape=DEFAULT_SHAPE, spacing=DEFAULT_SPACING,
                  log: Callable[[str], None] | None = None, prefix: str = "synth") -> Path:
    """Write a Decathlon dataset into `out` (absent or empty), atomically: built beside it, then renamed."""
    out = Path(out)
    if cases < 1:
        raise ValueError(f"cases: got {cases}, expected an integer >= 1")
    if len(shape) != 3 or any(int(s) < 8 for s in shape):
        raise ValueError(f"shape: got {list(shape)}, expected three sizes >= 8 (z, y, x)")
    if len(spacing) != 3 or any(float(s) <= 0 for s in spacing):
        raise ValueError(f"spacing: got {list(spacing)}, expected three positive numbers (z, y, x)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "imagesTr").mkdir(parents=True)
        (tmp / "labelsTr").mkdir()
        training = []
        for i in range(cases):
            name = f"{prefix}_{i:03d}"
            image, label = make_case(np.random.default_rng([seed, i]), tuple(map(int, shape)), spacing)
            nib.save(to_nifti(np.round(image), spacing, np.int16), tmp / "imagesTr" / f"{name}.nii.gz")
            nib.save(to_nifti(label, spacing, np.uint8), tmp / "labelsTr" / f"{name}.nii.gz")
            training.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
            if log:
                log(f"synth: {name} ({i + 1}/{cases}), left atrium {int(label.sum())} voxels")
        meta = {"name": "Synthetic LA", "description": "Synthetic cardiac-MRI-like volumes made by heartseg synth",
                "reference": f"heartseg synth --cases {cases} --seed {seed}", "licence": "CC0",
                "tensorImageSize": "3D", "modality": {"0": "MRI"}, "labels": LABELS, "numTraining": cases,
                "numTest": 0, "training": training, "test": []}
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
