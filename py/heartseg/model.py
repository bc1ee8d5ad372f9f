"""The 3D U-Net, with exactly the state_dict layout of the classic homework model so its checkpoints load strictly.

Layout per level: (Conv3d 3x3x3 + BatchNorm3d + ReLU) twice, max-pool 2 down, ConvTranspose3d 2 up, skip
concatenated before the decoder's double conv, 1x1x1 head. The bottleneck has twice the last encoder width.
Output convention: out_channels == 1 is one foreground label (sigmoid); K > 1 is softmax over K classes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    """Two 3x3x3 convolutions with BatchNorm and ReLU; indices 0,1,3,4 hold parameters (2 and 5 are ReLUs)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1, bias=True),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1, bias=True),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


def _check_architecture(in_channels: Any, out_channels: Any, features: Any) -> tuple[int, int, tuple[int, ...]]:
    if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
        raise ValueError(f"in_channels must be an integer >= 1, got {in_channels!r}")
    if not isinstance(out_channels, int) or isinstance(out_channels, bool) or out_channels < 1:
        raise ValueError(f"out_channels must be an integer >= 1, got {out_channels!r}")
    feats = tuple(features) if isinstance(features, (list, tuple)) else ()
    if len(feats) < 1 or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in feats):
        raise ValueError(f"features must be a non-empty sequence of positive integers, got {features!r}")
    return in_channels, out_channels, feats


def _pad_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Zero-pad (centred, extra voxel at the end) to the skip's size: odd sizes lose a voxel when pooled."""
    pads: list[int] = []
    for have, want in zip(reversed(x.shape[2:]), reversed(tuple(size))):
        d = int(want) - int(have)
        pads += [d // 2, d - d // 2]
    return F.pad(x, pads)


class UNet3D(nn.Module):
    """3D U-Net; `features` are the encoder widths (depth = len(features)), the bottleneck doubles the last."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, features: Sequence[int] = (32, 64, 128, 256)):
        super().__init__()
        in_channels, out_channels, feats = _check_architecture(in_channels, out_channels, features)
        self.in_channels, self.out_channels, self.features = in_channels, out_channels, list(feats)
        self.encoder_layers = nn.ModuleList()
        channels = in_channels
        for f in feats:
            self.encoder_layers.append(DoubleConv(channels, f))
            channels = f
        self.pool = nn.MaxPool3d(kernel_size=2, stride=2)
        self.bottleneck = DoubleConv(feats[-1], feats[-1] * 2)
        self.upconvs = nn.ModuleList()
        self.decoder_layers = nn.ModuleList()
        for f in reversed(feats):
            self.upconvs.append(nn.ConvTranspose3d(f * 2, f, kernel_size=2, stride=2))
            self.decoder_layers.append(DoubleConv(f * 2, f))
        self.final_conv = nn.Conv3d(feats[0], out_channels, kernel_size=1)

    def decode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The decoder's output at every level, coarsest first (the last is at the input's resolution)."""
        skips = []
        for enc in self.encoder_layers:
            x = enc(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        levels = []
        for up, dec, skip in zip(self.upconvs, self.decoder_layers, reversed(skips)):
            x = up(x)
            if x.shape[2:] != skip.shape[2:]:
                x = _pad_to(x, skip.shape[2:])
            x = dec(torch.cat((skip, x), dim=1))
            levels.append(x)
        return levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(self.decode(x)[-1])

    def architecture(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "features": list(self.features)}


def build_model(in_channels: int, out_channels: int, features: Sequence[int]) -> UNet3D:
    return UNet3D(in_channels=in_channels, out_channels=out_channels, features=tuple(features))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def strip_module_prefix(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Remove the 'module.' prefix that DataParallel/DDP add (and '_orig_mod.' from torch.compile)."""
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def architecture_from_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Read in/out channels and encoder widths from tensor shapes; ValueError when it is not a UNet3D state_dict."""
    sd = strip_module_prefix(sd)
    features = []
    level = 0
    while f"encoder_layers.{level}.double_conv.0.weight" in sd:
        features.append(int(sd[f"encoder_layers.{level}.double_conv.0.weight"].shape[0]))
        level += 1
    missing = [k for k in ("encoder_layers.0.double_conv.0.weight", "final_conv.weight") if k not in sd]
    if missing:
        raise ValueError(f"not a UNet3D state_dict: no {missing[0]}")
    first = sd["encoder_layers.0.double_conv.0.weight"]
    final = sd["final_conv.weight"]
    if getattr(first, "ndim", 0) != 5 or getattr(final, "ndim", 0) != 5:
        raise ValueError("not a UNet3D state_dict: convolution weights are not 5-D (3D convolutions)")
    return {"in_channels": int(first.shape[1]), "out_channels": int(final.shape[0]), "features": features}
