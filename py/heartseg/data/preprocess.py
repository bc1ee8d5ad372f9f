"""One case from NIfTI volumes to the training grid and back: orient to RAS, resample, normalise; restore.

Arrays on the training grid are (z, y, x) after reorientation to RAS; CaseMeta keeps what inverts that exactly.
Image resampling is linear (order 1, fast and never overshoots). Labels are resampled at exactly the image's sample
coordinates by resize_labels: each label's mask interpolated linearly, the largest weight wins. Nearest neighbour
(order 0) is not used: at a 2x downsample every sample is a half-voxel tie, which it breaks towards one side, so
labels landed about half a fine voxel off the averaged image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
from nibabel import orientations as ornts
from scipy import ndimage

from heartseg.data.io import Volume

RAS = ornts.axcodes2ornt(("R", "A", "S"))
SPACING_TOLERANCE = 1e-3  # relative; spacings closer than this are treated as equal (no resampling)
NORMALIZATIONS = ("zscore", "percentile", "minmax", "none")
MINMAX_EPS = 1e-8
"""minmax: (x - min) / (max - min + eps), the classic per-volume scaling of hand-written 3D U-Net scripts."""


@dataclass
class CaseMeta:
    """Everything needed to map a preprocessed case back onto its source grid, plus what was measured there."""

    name: str
    images: list[str]
    label: str | None
    shape: list[int]
    """Source voxel grid as stored, nibabel order (x, y, z)."""
    affine: np.ndarray
    """Source affine (4x4); predictions restored with restore() use it unchanged."""
    ornt: list[list[float]]
    """nibabel orientation of the source array: stored axis -> (RAS axis, flip)."""
    source_spacing: list[float]
    """Source voxel size (z, y, x) after reorientation to RAS, mm."""
    oriented_shape: list[int]
    """Shape (z, y, x) after reorientation, before resampling."""
    spacing: list[float]
    """Spacing (z, y, x) of the preprocessed grid, mm."""
    resampled_shape: list[int]
    """Shape (z, y, x) of the preprocessed grid."""
    normalization: str
    intensity: list[dict[str, float]] = field(default_factory=list)
    """Per channel: the mean and std used for normalisation, and 'pad' (the lowest normalised value)."""
    label_volumes: dict[str, dict[str, float]] = field(default_factory=dict)
    """Label value (string) -> {'voxels', 'ml'} on the source grid; background excluded."""
    digests: dict[str, str] = field(default_factory=dict)
    """Source path -> content hash."""

    @property
    def labels_present(self) -> list[int]:
        return sorted(int(k) for k, v in self.label_volumes.items() if v["voxels"] > 0)

    @property
    def resampled(self) -> bool:
        return list(self.oriented_shape) != list(self.resampled_shape)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["affine"] = np.asarray(self.affine, dtype=float).tolist()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "CaseMeta":
        d = dict(d)
        d["affine"] = np.asarray(d["affine"], dtype=np.float64)
        return cls(**d)


def oriented_spacing(affine: np.ndarray) -> list[float]:
    """Voxel size (z, y, x) in the RAS-reoriented array, from the affine alone."""
    ornt = ornts.io_orientation(affine)
    zooms = nib.affines.voxel_sizes(affine)
    ras = [0.0, 0.0, 0.0]
    for stored_axis, (ras_axis, _) in enumerate(ornt):
        ras[int(ras_axis)] = float(zooms[stored_axis])
    return ras[::-1]


def to_ras_zyx(data: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """(x, y, z) stored order -> (z, y, x) in RAS; a view where possible."""
    return ornts.apply_orientation(data, ornt).transpose(2, 1, 0)


def from_ras_zyx(data: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """Inverse of to_ras_zyx for (z, y, x) or channels-last (z, y, x, K) arrays."""
    back = data.swapaxes(0, 2)
    return ornts.apply_orientation(back, ornts.ornt_transform(RAS, np.asarray(ornt)))


def target_shape(shape: list[int], spacing: list[float], target: list[float]) -> list[int]:
    if same_spacing(spacing, target):
        return list(shape)
    return [max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target)]


def same_spacing(a, b) -> bool:
    return all(abs(x - y) <= SPACING_TOLERANCE * max(abs(y), 1e-6) for x, y in zip(a, b))


def resize(data: np.ndarray, shape: list[int] | tuple[int, ...], order: int) -> np.ndarray:
    """Resample a 3-D array onto `shape` with voxel centres aligned (the same mapping both ways)."""
    if tuple(data.shape) == tuple(shape):
        return data
    scale = np.array(data.shape, dtype=np.float64) / np.array(shape, dtype=np.float64)
    return ndimage.affine_transform(np.ascontiguousarray(data), scale, offset=0.5 * scale - 0.5,
                                    output_shape=tuple(int(s) for s in shape), order=order, mode="nearest",
                                    prefilter=False)


def _checkerboard(shape: list[int] | tuple[int, ...]) -> np.ndarray:
    """True where z + y + x is even (broadcast from three 1-D ranges, no full index arrays)."""
    z, y, x = (np.arange(int(n)) % 2 for n in shape)
    return (z[:, None, None] + y[None, :, None] + x[None, None, :]) % 2 == 0


def resize_labels(label: np.ndarray, shape: list[int] | tuple[int, ...]) -> np.ndarray:
    """Resample a 3-D label map onto `shape` at the same sample coordinates as resize() (image and label align).

    Each value's mask is interpolated linearly and the value with the largest weight wins, so one foreground label
    is its mask thresholded at 0.5. An exact tie (a sample half inside, as at every boundary of a 2x downsample)
    goes to the higher value where z + y + x is even and to the lower where it is odd: a fixed checkerboard that
    favours neither side, so volume and centroid stay where they were (any one-sided rule shifts or shrinks them).
    """
    label = np.asarray(label)
    if label.ndim != 3:
        raise ValueError(f"resize_labels: expected a 3-D label map, got shape {label.shape}")
    if tuple(label.shape) == tuple(shape):
        return label
    values = np.unique(label)
    out = np.full(tuple(int(s) for s in shape), values[0], dtype=label.dtype)
    if len(values) == 1:
        return out
    even = _checkerboard(out.shape)
    best = resize((label == values[0]).astype(np.float32), out.shape, order=1)
    for value in values[1:]:
        weight = resize((label == value).astype(np.float32), out.shape, order=1)
        take = (weight > best) | ((weight == best) & even)
        out[take] = value
        np.maximum(best, weight, out=best)
    return out


def pad_values(image: np.ndarray) -> list[float]:
    """The one padding rule of training patches and inference windows: each channel's own minimum.

    After normalisation that is the value of air or zero padding, so a window reaching past the volume sees what
    the border of a scan looks like rather than a value (0.0, the body mean) that never occurs there.
    """
    image = np.asarray(image)
    if image.ndim != 4 or image.shape[0] < 1 or image[0].size == 0:
        raise ValueError(f"pad_values: expected a non-empty (C, Z, Y, X) image, got shape {image.shape}")
    return [float(np.min(image[c])) for c in range(image.shape[0])]


def body_mask(image: np.ndarray) -> np.ndarray:
    """The rule for 'body': voxels above the volume's minimum (drops zero padding and masked air).

    When that keeps under 10 % of the voxels (an almost constant image), all voxels count.
    """
    mask = image > image.min()
    return mask if mask.mean() >= 0.1 else np.ones_like(mask)


def normalize(image: np.ndarray, method: str) -> tuple[np.ndarray, dict[str, float]]:
    """One channel to float32: 'zscore' over the body, 'percentile' (clip 0.5-99.5 %, then z-score), 'minmax' or 'none'."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization: got {method!r}, expected one of {', '.join(NORMALIZATIONS)}")
    image = np.asarray(image, dtype=np.float32)
    if method == "none":
        return image, {"mean": 0.0, "std": 1.0, "pad": float(image.min())}
    if method == "minmax":
        lo, hi = float(image.min()), float(image.max())
        out = (image - np.float32(lo)) / np.float32(hi - lo + MINMAX_EPS)
        return out.astype(np.float32, copy=False), {"min": lo, "max": hi, "pad": 0.0}
    if method == "percentile":
        lo, hi = np.percentile(image, [0.5, 99.5])
        image = np.clip(image, lo, hi)
        values = image
    else:
        values = image[body_mask(image)]
    mean, std = float(values.mean(dtype=np.float64)), float(values.std(dtype=np.float64))
    std = std if std > 1e-8 else 1.0  # a constant image stays finite
    out = (image - np.float32(mean)) / np.float32(std)
    return out.astype(np.float32, copy=False), {"mean": mean, "std": std, "pad": float(out.min())}


def label_volumes(label: np.ndarray, affine: np.ndarray) -> dict[str, dict[str, float]]:
    """Voxel count and mL per foreground label value, on the grid the label was stored on."""
    values, counts = np.unique(np.asarray(label), return_counts=True)
    ml_per_voxel = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    return {str(int(v)): {"voxels": int(c), "ml": float(c) * ml_per_voxel} for v, c in zip(values, counts) if v != 0}


def preprocess_volumes(name: str, images: list[Volume], label: Volume | None, spacing: list[float] | None,
                       normalization: str) -> tuple[np.ndarray, np.ndarray | None, CaseMeta]:
    """Checked volumes -> (image (C, Z, Y, X) float32, label (Z, Y, X) uint8 or None, meta)."""
    ref = images[0]
    ornt = ornts.io_orientation(ref.affine)
    source_spacing = oriented_spacing(ref.affine)
    target = list(map(float, spacing)) if spacing is not None else source_spacing
    oriented = list(to_ras_zyx(np.empty(ref.shape, dtype=np.uint8), ornt).shape)
    shape = target_shape(oriented, source_spacing, target)
    channels, intensity = [], []
    for vol in images:
        normed, stats = normalize(vol.data, normalization)
        channels.append(resize(to_ras_zyx(normed, ornt), shape, order=1).astype(np.float32, copy=False))
        intensity.append(stats)
    image = np.ascontiguousarray(np.stack(channels))
    out_label, volumes = None, {}
    if label is not None:
        lab = np.asarray(label.data)
        volumes = label_volumes(lab, label.affine)
        out_label = np.ascontiguousarray(resize_labels(to_ras_zyx(lab.astype(np.uint8), ornt), shape))
    meta = CaseMeta(
        name=name, images=[str(v.path) for v in images], label=str(label.path) if label is not None else None,
        shape=list(ref.shape), affine=ref.affine.copy(), ornt=np.asarray(ornt).tolist(), source_spacing=source_spacing,
        oriented_shape=oriented, spacing=target if shape != oriented else source_spacing, resampled_shape=shape,
        normalization=normalization, intensity=intensity, label_volumes=volumes,
        digests={str(v.path): v.digest for v in [*images, *([label] if label is not None else [])]})
    return image, out_label, meta


def restore(array: np.ndarray, meta: CaseMeta, *, is_label: bool) -> np.ndarray:
    """(Z, Y, X) or (K, Z, Y, X) on the preprocessed grid -> the source grid in stored order (x, y, z[, K]).

    nib.Nifti1Image(restore(...), meta.affine) overlays the source image exactly. Labels go through resize_labels;
    probabilities (is_label=False) are interpolated linearly. Predictions should restore probabilities and
    threshold on the source grid (heartseg.inference.restore_prediction): a label map thresholded on a coarser grid
    has lost the boundary's position within its voxels.
    """
    array = np.asarray(array)
    if array.ndim not in (3, 4) or list(array.shape[-3:]) != list(meta.resampled_shape):
        raise ValueError(f"restore: array shape {tuple(array.shape)} does not end in the preprocessed shape "
                         f"{tuple(meta.resampled_shape)} of case {meta.name}")
    vols = [array] if array.ndim == 3 else list(array)
    vols = [resize_labels(v, meta.oriented_shape) if is_label else resize(v, meta.oriented_shape, 1) for v in vols]
    stacked = vols[0] if array.ndim == 3 else np.stack(vols, axis=-1)
    out = from_ras_zyx(stacked, np.asarray(meta.ornt))
    if list(out.shape[:3]) != list(meta.shape):
        raise AssertionError(f"restore produced {out.shape[:3]}, expected {meta.shape}")  # a bug, not bad input
    return np.ascontiguousarray(out)


def foreground_index(label: np.ndarray, max_per_label: int = 4096, seed: int = 0) -> dict[int, np.ndarray]:
    """Per foreground label: up to max_per_label voxel coordinates (n, 3) int16, so sampling a centre is O(1)."""
    rng = np.random.default_rng(seed)
    index = {}
    for value in np.unique(label):
        if value == 0:
            continue
        coords = np.argwhere(label == value)
        if len(coords) > max_per_label:
            coords = coords[np.sort(rng.choice(len(coords), max_per_label, replace=False))]
        index[int(value)] = coords.astype(np.int16 if max(label.shape) < 32767 else np.int32)
    return index
