"""A training batch as tensors: the one conversion the loop, the final-weights pass and the benchmarks share."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (B, C, Z, Y, X), label (B, Z, Y, X)) from a dict or a pair, as tensors."""
    image, label = (batch["image"], batch["label"]) if isinstance(batch, dict) else (batch[0], batch[1])
    image = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    label = label if isinstance(label, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(label))
    return image.float(), label  # labels widen to int64 on the device (train_step), not on the host
