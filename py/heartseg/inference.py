"""Whole-volume sliding-window inference: windows, Gaussian blending, mirroring TTA, probabilities to labels.

Window positions and the Gaussian importance map follow the common convention (MONAI's
`sliding_window_inference` with mode="gaussian", sigma_scale=0.125): starts every int(patch * (1 - overlap))
voxels, the last window flush with the far edge; volumes smaller than the patch are padded symmetrically with
`pad` (predict_volume passes heartseg.data.preprocess.pad_values, the rule training patches are padded with).
Stitching keeps two float32 buffers, K output channels plus one weight channel, the size of the (padded) volume.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from heartseg.data.preprocess import pad_values

SIGMA_SCALE = 0.125
"""Gaussian sigma as a share of the patch size along each axis."""
MIN_WEIGHT = 1e-3
"""Floor of the importance map, so that window borders never divide by (almost) zero."""


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start offsets along one axis so that windows of `patch` voxels cover `size` voxels (size >= patch)."""
    if patch > size:
        raise ValueError(f"patch {patch} is larger than the (padded) size {size}")
    if patch == size:
        return [0]
    step = max(int(patch * (1 - overlap)), 1)
    count = math.ceil((size - patch) / step) + 1
    return [min(i * step, size - patch) for i in range(count)]


def importance_map(patch: Sequence[int], gaussian: bool = True, device: Any = None) -> torch.Tensor:
    """Per-voxel weight of a window's output: a separable Gaussian (sigma = patch/8) or ones, floored at 1e-3."""
    if not gaussian:
        return torch.ones(tuple(patch), dtype=torch.float32, device=device)
    weights = None
    for axis, size in enumerate(patch):
        sigma = size * SIGMA_SCALE
        x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
        g = torch.exp(x**2 / (-2 * sigma**2))
        shape = [1] * len(patch)
        shape[axis] = size
        g = g.reshape(shape)
        weights = g if weights is None else weights * g
    assert weights is not None
    floor = max(float(weights.min()), MIN_WEIGHT)
    return weights.clamp_(min=floor)


def mirror_axes(passes: int | bool) -> list[tuple[int, ...]]:
    """Spatial axes (of a (B, C, z, y, x) batch) to flip for each of `passes` TTA passes (1, 2, 4 or 8);
    () is the plain pass. Fewer passes mirror the in-plane axes (x, then y) first."""
    passes = 8 if passes is True else 1 if passes is False else int(passes)
    if passes not in (1, 2, 4, 8):
        raise ValueError(f"tta must be 1, 2, 4 or 8 passes, got {passes}")
    axes = (4, 3, 2)[: {1: 0, 2: 1, 4: 2, 8: 3}[passes]]
    return [combo for r in range(len(axes) + 1) for combo in itertools.combinations(axes, r)]


def _check_args(image: torch.Tensor, patch: Sequence[int], overlap: float, sw_batch: int, out_channels: int) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"image must be a 4-D tensor (C, Z, Y, X), got {getattr(image, 'shape', type(image))}")
    if len(patch) != 3 or any(int(p) < 1 for p in patch):
        raise ValueError(f"patch must be three positive sizes (z, y, x), got {list(patch)}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if sw_batch < 1:
        raise ValueError(f"sw_batch must be >= 1, got {sw_batch}")
    if out_channels < 1:
        raise ValueError(f"out_channels must be >= 1, got {out_channels}")


def sliding_window(
    fn: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    patch: Sequence[int],
    *,
    overlap: float = 0.5,
    gaussian: bool = True,
    tta: int | bool = 1,
    sw_batch: int = 2,
    pad: float | Sequence[float] = 0.0,
    device: Any = None,
    stitch_device: Any = None,
    out_channels: int,
) -> torch.Tensor:
    """Apply `fn` ((B, C, pz, py, px) -> (B, K, pz, py, px)) over a whole (C, Z, Y, X) volume; returns (K, Z, Y, X).

    Overlapping window outputs are blended with the importance map; with `tta`, every window is also run mirrored
    along each subset of the three axes and the un-mirrored outputs averaged. The result lives on `stitch_device`
    (default: `device`, else the image's device); windows are moved to `device` (default: the image's device).
    """
    patch = [int(p) for p in patch]
    _check_args(image, patch, overlap, sw_batch, out_channels)
    device = torch.device(device) if device is not None else image.device
    stitch_device = torch.device(stitch_device) if stitch_device is not None else device
    spatial = list(image.shape[1:])
    pads = [max(p - s, 0) for p, s in zip(patch, spatial)]
    if any(pads):
        fill = [float(pad)] * image.shape[0] if isinstance(pad, (int, float)) else [float(v) for v in pad]
        if len(fill) != image.shape[0]:
            raise ValueError(f"pad has {len(fill)} value(s) for {image.shape[0]} channel(s)")
        padded_image = torch.empty((image.shape[0], *(s + d for s, d in zip(spatial, pads))), dtype=image.dtype,
                                   device=image.device)
        for c, value in enumerate(fill):
            padded_image[c].fill_(value)
        padded_image[(slice(None), *(slice(d // 2, d // 2 + s) for d, s in zip(pads, spatial)))] = image
        image = padded_image
    padded = list(image.shape[1:])

    weights = importance_map(patch, gaussian, device=stitch_device)
    total = torch.zeros((out_channels, *padded), dtype=torch.float32, device=stitch_device)
    weight_sum = torch.zeros((1, *padded), dtype=torch.float32, device=stitch_device)
    starts = list(itertools.product(*(window_starts(s, p, overlap) for s, p in zip(padded, patch))))
    flips = mirror_axes(tta)

    for first in range(0, len(starts), sw_batch):
        chunk = starts[first:first + sw_batch]
        slices = [tuple(slice(o, o + p) for o, p in zip(origin, patch)) for origin in chunk]
        batch = torch.stack([image[(slice(None), *sl)] for sl in slices]).to(device)
        out = None
        for dims in flips:
            x = torch.flip(batch, dims) if dims else batch
            with torch.no_grad():  # callers outside inference_mode must not build autograd graphs per window
                y = fn(x)
            if y.ndim != 5 or tuple(y.shape) != (len(chunk), out_channels, *patch):
                raise ValueError(
                    f"fn returned shape {tuple(y.shape)}, expected {(len(chunk), out_channels, *patch)}")
            y = torch.flip(y, dims) if dims else y
            if out is None:  # a copy: fn may hand back its own input, which later passes still read
                out = y.to(stitch_device, torch.float32, copy=True)
            else:
                out.add_(y.to(stitch_device, torch.float32))
        assert out is not None
        if len(flips) > 1:
            out.div_(len(flips))
        for k, sl in enumerate(slices):
            total[(slice(None), *sl)].add_(out[k] * weights)
            weight_sum[(slice(None), *sl)].add_(weights)

    total.div_(weight_sum)
    del weight_sum
    if any(pads):
        crop = tuple(slice(d // 2, d // 2 + s) for d, s in zip(pads, spatial))
        total = total[(slice(None), *crop)].contiguous()
    return total


def resolve_stitch_device(setting: str, device: torch.device, out_channels: int, spatial: Sequence[int]) -> torch.device:
    """'auto' stitches on the model's GPU when (K+1) float32 volumes fit in a third of its free memory."""
    if setting == "cpu" or device.type != "cuda":
        return torch.device("cpu")
    if setting == "cuda":
        return device
    need = (out_channels + 1) * int(np.prod(spatial)) * 4 * 2  # buffers plus the probability copy
    free, _ = torch.cuda.mem_get_info(device)
    return device if need < free / 3 else torch.device("cpu")


def tta_note(passes: int) -> str | None:
    """The line evaluate/predict print when mirroring TTA is on: what it costs (None for one pass)."""
    flips = mirror_axes(passes)
    if len(flips) == 1:
        return None
    axes = sorted({"zyx"[d - 2] for dims in flips for d in dims}, key="zyx".index)
    return (f"test-time augmentation: {len(flips)} passes per window (mirrored along {', '.join(axes)}), "
            f"{len(flips)}x the model calls and about {len(flips)}x the inference time")


class Ensemble(torch.nn.Module):
    """Several models as one: the mean of their probabilities (sigmoid for one output channel, else softmax),
    returned as logits whose sigmoid/softmax is that mean, so everything downstream treats it as one model."""

    def __init__(self, models: Sequence[torch.nn.Module], out_channels: int):
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.members = torch.nn.ModuleList(models)
        self.out_channels = int(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for member in self.members:
            y = member(x).float()
            p = torch.sigmoid(y) if self.out_channels == 1 else torch.softmax(y, dim=1)
            total = p if total is None else total + p
        assert total is not None
        mean = total / len(self.members)
        eps = 1e-7  # keeps the logits finite where every member is certain
        return torch.logit(mean, eps=eps) if self.out_channels == 1 else torch.log(mean.clamp_min(eps))


def keep_largest_component(labels: np.ndarray) -> np.ndarray:
    """Per label value, keep only its largest 26-connected component (the rest becomes background)."""
    from scipy import ndimage

    out = labels.copy()
    structure = np.ones((3, 3, 3), dtype=bool)
    for value in np.unique(labels):
        if value == 0:
            continue
        mask = labels == value
        components, count = ndimage.label(mask, structure=structure)
        if count <= 1:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        out[mask & (components != int(np.argmax(sizes)))] = 0
    return out


def fill_holes(labels: np.ndarray) -> np.ndarray:
    """Per label value, fill its interior holes: background voxels it encloses (6-connected to nothing outside).

    Only background is filled, so a label enclosed by another (a nested structure) keeps its voxels.
    """
    from scipy import ndimage

    out = labels.copy()
    for value in np.unique(labels):
        if value == 0:
            continue
        mask = labels == value
        holes = ndimage.binary_fill_holes(mask) & ~mask & (out == 0)
        out[holes] = value
    return out


POSTPROCESS_STEPS = {"largest": keep_largest_component, "fill_holes": fill_holes}
"""infer.postprocess step name -> function on a label map, applied in the config's order."""


def postprocess(labels: np.ndarray, steps: Sequence[str]) -> np.ndarray:
    """Apply infer.postprocess steps (e.g. ["largest", "fill_holes"]) to a label map, in order."""
    for step in steps:
        if step not in POSTPROCESS_STEPS:
            raise ValueError(f"unknown postprocess step {step!r}, expected one of {', '.join(POSTPROCESS_STEPS)}")
        labels = POSTPROCESS_STEPS[step](labels)
    return labels


def probabilities_to_labels(probs: torch.Tensor | np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(K, Z, Y, X) probabilities -> uint8 labels: p > threshold for one channel, argmax otherwise."""
    p = probs if isinstance(probs, torch.Tensor) else torch.from_numpy(np.asarray(probs))
    if p.shape[0] == 1:
        labels = p[0] > threshold
    else:
        labels = torch.argmax(p, dim=0)
    return labels.to(torch.uint8).cpu().numpy()


def _autocast(device: torch.device, precision: str = "auto"):
    """The training's precision (train.precision as the run recorded it); 'auto': native mixed precision on CUDA."""
    from heartseg.train.runtime import amp_dtype

    dtype = amp_dtype(device, precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def predict_volume(model: torch.nn.Module, image: torch.Tensor | np.ndarray, patch: Sequence[int], infer_cfg: Any,
                   out_channels: int, device: Any, precision: str = "auto",
                   layout: str = "contiguous") -> tuple[np.ndarray, np.ndarray]:
    """Segment one preprocessed (C, Z, Y, X) volume: (labels uint8 (Z, Y, X), probabilities float32 (K, Z, Y, X)).
    precision and layout: the run's train.precision and train.layout (what training chose by measuring)."""
    device = torch.device(device)
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    if layout == "channels_last":
        model.to(memory_format=fmt)  # weights and windows in the same format, as in training
    # a copy: cached cases are read-only memory maps, which torch will not wrap
    x = image.float() if isinstance(image, torch.Tensor) else torch.from_numpy(np.array(image, dtype=np.float32))
    if x.ndim != 4:
        raise ValueError(f"image must be (C, Z, Y, X), got shape {tuple(x.shape)}")
    stitch = resolve_stitch_device(getattr(infer_cfg, "stitch_device", "auto"), device, out_channels, x.shape[1:])
    pad = pad_values(x.detach().cpu().numpy())  # the rule training patches are padded with

    def probabilities(batch: torch.Tensor) -> torch.Tensor:
        with _autocast(device, precision):
            logits = model(batch.contiguous(memory_format=fmt))
        logits = logits.float()
        return torch.sigmoid(logits) if out_channels == 1 else torch.softmax(logits, dim=1)

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            probs = sliding_window(
                probabilities, x, patch, overlap=infer_cfg.overlap, gaussian=infer_cfg.gaussian, tta=infer_cfg.tta,
                sw_batch=infer_cfg.sw_batch, pad=pad, device=device, stitch_device=stitch, out_channels=out_channels)
            labels = probabilities_to_labels(probs, float(getattr(infer_cfg, "threshold", 0.5)))
            probs_np = probs.cpu().numpy().astype(np.float32, copy=False)
    finally:
        model.train(was_training)
    labels = postprocess(labels, getattr(infer_cfg, "postprocess", ()))
    return labels, probs_np


def restore_prediction(probs: np.ndarray, meta: Any, infer_cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (K, Z, Y, X) on the preprocessed grid -> (class indices uint8, probabilities) on the source grid.

    The probabilities are interpolated linearly onto the source grid, then thresholded and post-processed there:
    thresholding first on the coarser grid and upsampling the labels would lose where the boundary lies within a
    voxel. The probabilities come back in stored order, (x, y, z) for one channel, (x, y, z, K) otherwise, and
    labels_from_probabilities(probabilities, infer_cfg) gives the class indices again.
    """
    from heartseg.data.preprocess import restore

    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 4:
        raise ValueError(f"probabilities must be (K, Z, Y, X), got shape {probs.shape}")
    restored = restore(probs[0] if probs.shape[0] == 1 else probs, meta, is_label=False).astype(np.float32, copy=False)
    return labels_from_probabilities(restored, infer_cfg), restored


def labels_from_probabilities(restored: np.ndarray, infer_cfg: Any) -> np.ndarray:
    """Class indices of a restored probability map ((x, y, z) sigmoid, or (x, y, z, K) softmax): the threshold
    (infer.threshold, one channel) or argmax, then infer.postprocess."""
    restored = np.asarray(restored)
    if restored.ndim == 3:
        classes = (restored > float(getattr(infer_cfg, "threshold", 0.5))).astype(np.uint8)
    elif restored.ndim == 4:
        classes = np.argmax(restored, axis=-1).astype(np.uint8)
    else:
        raise ValueError(f"restored probabilities must be 3-D or 4-D, got shape {restored.shape}")
    return postprocess(classes, getattr(infer_cfg, "postprocess", ()))
