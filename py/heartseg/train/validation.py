"""Validation on whole volumes: sliding-window prediction, per-label Dice and the loss, summed over ranks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from heartseg.inference import predict_volume
from heartseg.losses import loss_from_probs
from heartseg.metrics import dice
from heartseg.train import distributed


@dataclass
class ValResult:
    loss: float
    dice: float
    """Mean over foreground labels of the per-label mean over cases."""
    dice_per_label: dict[str, float]
    cases: int
    sample: dict[str, np.ndarray] | None = field(default=None, repr=False)
    """One case's image channel 0, label and prediction (rank 0's first case), for the TensorBoard overlay."""


def class_values(labels: dict[Any, str]) -> list[int]:
    """Label values in class-index order (index 0 is background)."""
    return sorted(int(k) for k in labels)


def label_names(labels: dict[Any, str]) -> dict[int, str]:
    return {int(k): str(v) for k, v in labels.items()}


def validate(model: torch.nn.Module, prepared: Any, names: Sequence[str], cfg: Any, out_channels: int,
             device: torch.device, keep_sample: bool = False) -> ValResult:
    """Each rank predicts its share of `names`; sums of Dice, loss and counts are reduced over ranks."""
    rank, world = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if distributed.active() else (0, 1)
    values = class_values(prepared.labels)
    names_by_value = label_names(prepared.labels)
    foreground = [v for v in values if v != 0]
    dice_sums = [0.0] * len(foreground)
    loss_sum, count = 0.0, 0
    sample = None
    for name in list(names)[rank::world]:
        case = prepared.load(name)
        image = torch.from_numpy(np.array(case.image, dtype=np.float32))  # a copy: the cache is read-only memmap
        label = np.asarray(case.label)
        pred, probs = predict_volume(model, image, cfg.data.patch, cfg.infer, out_channels, device,
                                     precision=cfg.train.precision, layout=cfg.train.layout)
        target = np.searchsorted(values, label) if values != list(range(len(values))) else label
        loss_sum += loss_from_probs(probs, target, cfg.train.loss)
        for i, v in enumerate(foreground):
            pred_mask = pred == (i + 1) if out_channels > 1 else pred > 0
            dice_sums[i] += dice(pred_mask, label == v)
        count += 1
        if keep_sample and sample is None:
            # predictions are class indices; show them as label values so colours match the reference
            shown = np.asarray(values, dtype=np.int64)[np.clip(pred, 0, len(values) - 1)] if out_channels > 1 else pred
            sample = {"image": np.asarray(case.image[0], dtype=np.float32), "label": label, "pred": shown}
    totals = distributed.reduce_floats([loss_sum, float(count), *dice_sums], device)
    loss_sum, count, dice_sums = totals[0], int(totals[1]), totals[2:]
    if count == 0:
        raise ValueError("validation needs at least one case")
    per_label = {names_by_value[v]: s / count for v, s in zip(foreground, dice_sums)}
    mean_dice = float(np.mean(list(per_label.values()))) if per_label else 0.0
    return ValResult(loss=loss_sum / count, dice=mean_dice, dice_per_label=per_label, cases=count, sample=sample)
