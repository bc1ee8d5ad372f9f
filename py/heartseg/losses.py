"""Segmentation losses on logits: soft Dice (sigmoid or softmax) and Dice + cross-entropy.

Convention: logits (B, 1, Z, Y, X) mean one foreground label (sigmoid, target in {0, 1});
logits (B, K, Z, Y, X) with K > 1 mean softmax over K classes including background (target in 0..K-1).
Targets are (B, Z, Y, X) integer maps (a (B, 1, Z, Y, X) target is accepted too).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SumReducer = Callable[[torch.Tensor], torch.Tensor]


def _check(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if logits.ndim < 3:
        raise ValueError(f"logits must be (B, C, *spatial), got shape {tuple(logits.shape)}")
    if target.ndim == logits.ndim and target.shape[1] == 1:
        target = target[:, 0]
    if tuple(target.shape) != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)} "
                         "(expected (B, *spatial))")
    return target.long()


def _probs_and_onehot(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground probabilities and one-hot targets, (B, C_fg, N) each; background is left out of Dice."""
    b, c = logits.shape[:2]
    if c == 1:
        probs = torch.sigmoid(logits.float()).reshape(b, 1, -1)
        onehot = (target > 0).reshape(b, 1, -1).float()
        return probs, onehot
    probs = torch.softmax(logits.float(), dim=1).reshape(b, c, -1)[:, 1:]
    onehot = F.one_hot(target.clamp(0, c - 1).reshape(b, -1), c).permute(0, 2, 1).float()[:, 1:]
    return probs, onehot


def _dice_from(probs: torch.Tensor, onehot: torch.Tensor, smooth: float, batch_dice: bool,
               reduce_sums: SumReducer | None) -> torch.Tensor:
    dims = (0, 2) if batch_dice else (2,)
    sums = torch.stack([(probs * onehot).sum(dims), probs.sum(dims) + onehot.sum(dims)])
    if reduce_sums is not None and batch_dice:
        sums = reduce_sums(sums)  # pooled over every rank's batch: distributed Dice equals single-process Dice
    dice = (2 * sums[0] + smooth) / (sums[1] + smooth)
    return 1 - dice.mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5, batch_dice: bool = True,
                   reduce_sums: SumReducer | None = None) -> torch.Tensor:
    """1 - mean foreground soft Dice. batch_dice pools voxels of the whole batch per class (nnU-Net style),
    so a patch without foreground does not push towards an all-empty prediction; `smooth` keeps 0/0 finite."""
    target = _check(logits, target)
    probs, onehot = _probs_and_onehot(logits, target)
    return _dice_from(probs, onehot, smooth, batch_dice, reduce_sums)


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy for one output channel, multi-class cross-entropy otherwise."""
    target = _check(logits, target)
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), (target > 0).float())
    return F.cross_entropy(logits.float(), target)


class SegLoss(nn.Module):
    """'dice' or 'dice_ce' (soft Dice + cross-entropy, equal weights)."""

    def __init__(self, kind: str = "dice_ce", smooth: float = 1e-5, batch_dice: bool = True,
                 reduce_sums: SumReducer | None = None):
        super().__init__()
        if kind not in ("dice", "dice_ce"):
            raise ValueError(f"loss must be 'dice' or 'dice_ce', got {kind!r}")
        if smooth <= 0:
            raise ValueError(f"smooth must be positive, got {smooth}")
        self.kind, self.smooth, self.batch_dice, self.reduce_sums = kind, smooth, batch_dice, reduce_sums

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = soft_dice_loss(logits, target, self.smooth, self.batch_dice, self.reduce_sums)
        if self.kind == "dice_ce":
            loss = loss + cross_entropy_loss(logits, target)
        return loss


def build_loss(kind: str, reduce_sums: SumReducer | None = None) -> SegLoss:
    return SegLoss(kind, reduce_sums=reduce_sums)


def loss_from_probs(probs: np.ndarray | torch.Tensor, label: np.ndarray | torch.Tensor, kind: str = "dice_ce",
                    smooth: float = 1e-5) -> float:
    """The training loss of one whole volume from its (K, Z, Y, X) probabilities (validation reports this)."""
    p = torch.as_tensor(np.asarray(probs) if not isinstance(probs, torch.Tensor) else probs).float()
    t = label.long() if isinstance(label, torch.Tensor) else torch.from_numpy(np.array(label, dtype=np.int64))
    if p.ndim != 4 or tuple(p.shape[1:]) != tuple(t.shape):
        raise ValueError(f"probs (K, Z, Y, X) {tuple(p.shape)} and label (Z, Y, X) {tuple(t.shape)} do not match")
    k = p.shape[0]
    eps = 1e-7
    if k == 1:
        fg, onehot = p.reshape(1, 1, -1), (t > 0).float().reshape(1, 1, -1)
        q = fg.clamp(eps, 1 - eps)
        ce = -(onehot * q.log() + (1 - onehot) * (1 - q).log()).mean()
    else:
        flat = p.reshape(k, -1)
        onehot_all = F.one_hot(t.clamp(0, k - 1).reshape(-1), k).T.float()
        fg, onehot = flat[1:].unsqueeze(0), onehot_all[1:].unsqueeze(0)
        ce = -(onehot_all * flat.clamp_min(eps).log()).sum(0).mean()
    loss = _dice_from(fg, onehot, smooth, True, None)
    if kind == "dice_ce":
        loss = loss + ce
    return float(loss)
