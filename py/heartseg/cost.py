"""Arithmetic cost of heartseg's 3D U-Net: parameters, forward FLOPs and the activations kept for backward.

Counted from the architecture (heartseg.model.UNet3D) without building it, so the planner can weigh thousands of
candidates. Checked against the model: the default network has 22,581,217 parameters and a forward pass of
475.6 GFLOP on a 1x1x64x128x128 patch; the saved-activation count matches autograd's saved tensors within 1 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TRAIN_FLOPS_FACTOR = 3.0
"""Forward + backward is about three forward passes (the backward computes gradients for inputs and weights)."""
ACTIVATION_OVERHEAD = 1.3
"""Peak training memory over saved activations: gradients in flight and allocator slack (measured on CPU)."""


def _check(features: Sequence[int], patch: Sequence[int] | None = None) -> None:
    if len(features) < 1 or any(int(f) < 1 for f in features):
        raise ValueError(f"features must be positive channel counts, got {list(features)}")
    if patch is not None and (len(patch) != 3 or any(int(p) < 1 for p in patch)):
        raise ValueError(f"patch must be three positive sizes, got {list(patch)}")


def parameters(features: Sequence[int], in_channels: int = 1, out_channels: int = 1) -> int:
    """Trainable parameters: 3x3x3 convs with bias, BatchNorm weight+bias, 2x2x2 transposed convs, 1x1x1 head."""
    _check(features)

    def double(cin: int, cout: int) -> int:
        return (27 * cin * cout + cout) + 2 * cout + (27 * cout * cout + cout) + 2 * cout

    total, c = 0, in_channels
    for f in features:
        total += double(c, f)
        c = f
    total += double(features[-1], 2 * features[-1])
    c = 2 * features[-1]
    for f in reversed(features):
        total += 8 * c * f + f + double(2 * f, f)
        c = f
    return total + features[0] * out_channels + out_channels


def forward_flops(features: Sequence[int], patch: Sequence[int], in_channels: int = 1, out_channels: int = 1,
                  batch: int = 1) -> float:
    """Forward FLOPs (2 per multiply-add, convolutions only) for `batch` patches of `patch` voxels."""
    _check(features, patch)
    n = float(math.prod(int(p) for p in patch))
    total, c = 0.0, in_channels
    for f in features:
        total += 2 * 27 * (c * f + f * f) * n
        c, n = f, n / 8
    b = 2 * features[-1]
    total += 2 * 27 * (c * b + b * b) * n
    c = b
    for f in reversed(features):
        n *= 8
        total += 2 * c * f * n + 2 * 27 * (2 * f * f + f * f) * n
        c = f
    return batch * (total + 2 * features[0] * out_channels * n)


def saved_floats_per_voxel(features: Sequence[int], in_channels: int = 1) -> float:
    """Numbers autograd keeps per input voxel in training mode.

    Per double conv: each conv's output (for BatchNorm) and each BatchNorm+ReLU output (for the next op), 4 x width;
    per pooling: its output plus int64 indices (3 x width / 8); per decoder level: the concatenated skip (2 x width)
    and its double conv; the transposed conv keeps only its input, counted already. The head's output is kept by
    the loss, not the model; ACTIVATION_OVERHEAD covers it.
    """
    _check(features)
    total, scale = float(in_channels), 1.0
    for f in features:
        total += 4 * f * scale
        scale /= 8
        total += 3 * f * scale
    total += 4 * 2 * features[-1] * scale
    for f in reversed(features):
        scale *= 8
        total += 2 * f * scale + 4 * f * scale
    return total


def training_memory_bytes(features: Sequence[int], patch: Sequence[int], batch: int, *, amp: bool = False,
                          in_channels: int = 1, out_channels: int = 1) -> float:
    """Estimated peak memory of one training step: activations (2 bytes each under AMP, else 4) with overhead,
    plus weights, gradients and two Adam moments in fp32 (16 bytes per parameter)."""
    _check(features, patch)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    voxels = float(math.prod(int(p) for p in patch))
    act = batch * voxels * saved_floats_per_voxel(features, in_channels) * (2 if amp else 4)
    return act * ACTIVATION_OVERHEAD + 16.0 * parameters(features, in_channels, out_channels)


def run_minutes(steps: int, step_seconds: float, budget_minutes: float = 0.0) -> float:
    """How long a run of `steps` steps takes; a time budget (train.minutes > 0) ends it on time, whichever comes first."""
    minutes = steps * step_seconds / 60.0
    return min(minutes, budget_minutes) if budget_minutes > 0 else minutes
