"""Process-wide settings of a training run: seeds, determinism, cuDNN, mixed precision."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def amp_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for train.precision; None means fp32. 'auto' is bf16/fp16 on CUDA and fp32 on a CPU."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def slow_amp_warning(device: torch.device, dtype: torch.dtype | None) -> str | None:
    """torch 2.9.x turned cuDNN off for fp16/bf16 Conv3d with cuDNN >= 9.8 (pytorch#163539): about 4x slower."""
    if device.type != "cuda" or dtype is None:
        return None
    version = str(torch.__version__).split("+")[0].split(".")
    cudnn = torch.backends.cudnn.version() or 0
    if version[:2] == ["2", "9"] and cudnn >= 90800:
        return (f"torch {torch.__version__} with cuDNN {cudnn}: mixed-precision 3D convolutions skip cuDNN and run "
                "about 4x slower; use torch >= 2.10 with cuDNN >= 9.15, or set train.precision to fp32")
    return None


def seed_everything(seed: int, deterministic: bool, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed patch shapes: let cuDNN pick kernels once
