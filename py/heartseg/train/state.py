"""What a full checkpoint holds, in types `torch.load(weights_only=True)` accepts (no numpy arrays, no classes)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

import heartseg
from heartseg.checkpoint import FORMAT, FORMAT_VERSION


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def to_cpu(obj: Any) -> Any:
    """The same nesting with every tensor copied to the CPU: a checkpoint of GPU optimiser state must not keep
    CUDA tensors (torch.save would write them as CUDA storage and loading would need that GPU)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def full_checkpoint(*, model_state: dict[str, torch.Tensor], architecture: dict[str, Any], config: dict[str, Any],
                    epoch: int, global_step: int, optimizer: dict[str, Any], scheduler: dict[str, Any],
                    scaler: dict[str, Any] | None, progress: dict[str, Any], best: dict[str, Any],
                    metrics: dict[str, Any], history: list[dict[str, Any]], world_size: int,
                    data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict heartseg writes as last.pt / best.pt; `load_checkpoint` recognises it by format == 'heartseg'."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "heartseg_version": heartseg.__version__,
        "torch_version": str(torch.__version__),
        "model": {k: v.detach().cpu() for k, v in model_state.items()},
        "architecture": architecture,
        "config": config,
        "epoch": epoch,
        "global_step": global_step,
        "epoch_progress": progress,
        "optimizer": to_cpu(optimizer),
        "scheduler": scheduler,
        "scaler": to_cpu(scaler),
        "rng": rng_state(),
        "best": best,
        "metrics": metrics,
        "history": history,
        "world_size": world_size,
        # the grid and labels the model was trained on, so a bare best.pt predicts at the right spacing
        **(data or {}),
    }
