"""Deep supervision (nnU-Net style): the loss also scores the decoder's coarser levels through 1x1 heads.

Only training sees the heads. The U-Net's own weights keep the homework layout, so final.pt, evaluation and prediction
are unchanged; last.pt carries the heads under DS_STATE so that a resume continues with them.
Level i (0 = full resolution) weighs 1/2^i; the coarsest level weighs nothing (its map is too coarse to help); the
weights are normalised to sum to 1. Labels reach level i by majority over its 2^i blocks (ties go to the lower
class), so a coarse target stays centred on the full-resolution one, unlike strided sampling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from heartseg.model import UNet3D

if TYPE_CHECKING:
    from heartseg.checkpoint import LoadedCheckpoint

DS_STATE = "deep_supervision_heads"
"""Key of the heads' state_dict in a full checkpoint (last.pt, best.pt)."""


def level_weights(levels: int) -> list[float]:
    """Loss weight of each supervised decoder level, full resolution first; the coarsest level is left out."""
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    raw = [0.5 ** i for i in range(max(levels - 1, 1))]
    total = sum(raw)
    return [w / total for w in raw]


def downsample_labels(target: torch.Tensor, size: Sequence[int], classes: int) -> torch.Tensor:
    """(B, Z, Y, X) integer labels to `size` by majority in each block (adaptive average of the one-hot map)."""
    if target.ndim != 4:
        raise ValueError(f"target must be (B, Z, Y, X), got shape {tuple(target.shape)}")
    if classes < 2:
        raise ValueError(f"classes must be >= 2 (background included), got {classes}")
    size = tuple(int(s) for s in size)
    if size == tuple(target.shape[1:]):
        return target.long()
    onehot = F.one_hot(target.long().clamp(0, classes - 1), classes).permute(0, 4, 1, 2, 3).float()
    return F.adaptive_avg_pool3d(onehot, size).argmax(dim=1)


def build_heads(unet: UNet3D) -> nn.ModuleList:
    """One 1x1x1 convolution per supervised coarser level (its decoder width -> the output channels)."""
    widths = list(reversed(unet.features))  # decoder widths, coarsest first, as UNet3D.decode returns them
    n_aux = len(level_weights(len(widths))) - 1
    return nn.ModuleList(nn.Conv3d(w, unet.out_channels, kernel_size=1) for w in widths[-1 - n_aux:-1][::-1])


class DeepSupervised(nn.Module):
    """The U-Net and its heads for training: forward returns logits per supervised level, full resolution first
    (the first is exactly the U-Net's own output)."""

    def __init__(self, unet: UNet3D, heads: nn.ModuleList):
        super().__init__()
        expected = len(level_weights(len(unet.features))) - 1
        if len(heads) != expected:
            raise ValueError(f"{len(heads)} heads for a {len(unet.features)}-level U-Net: expected {expected}")
        self.unet, self.heads = unet, heads

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = self.unet.decode(x)  # coarsest first
        finer_first = levels[::-1]
        return [self.unet.final_conv(finer_first[0])] + [h(f) for h, f in zip(self.heads, finer_first[1:])]


class DeepSupervisionLoss(nn.Module):
    """sum_i w_i * loss(logits_i, labels at level i's size), with `level_weights`."""

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], levels: int):
        super().__init__()
        self.loss, self.weights = loss, level_weights(levels)

    def forward(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        if len(outputs) != len(self.weights):
            raise ValueError(f"{len(outputs)} outputs for {len(self.weights)} supervised levels")
        if target.ndim == outputs[0].ndim:
            target = target[:, 0]
        classes = max(int(outputs[0].shape[1]), 2)  # one sigmoid channel is background + foreground
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for w, logits in zip(self.weights, outputs):
            total = total + w * self.loss(logits, downsample_labels(target, logits.shape[2:], classes))
        return total


def heads_for(unet: UNet3D, resume: LoadedCheckpoint | None = None) -> nn.ModuleList:
    """New heads, or a resumed run's own (its full checkpoint has DS_STATE)."""
    heads = build_heads(unet)
    if resume is None:
        return heads
    state = (resume.full or {}).get(DS_STATE)
    if state is None:
        raise ValueError(f"{resume.path}: no deep-supervision heads "
                         f"({DS_STATE}); it was trained without train.deep_supervision, which a resume cannot change")
    heads.load_state_dict(state, strict=True)
    return heads
