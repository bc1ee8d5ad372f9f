"""TensorBoard logging in RUN/tensorboard (rank 0 only): scalars, the model graph once, overlay images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

TAGS = {
    "train_loss": "Loss/train",
    "val_loss": "Loss/val",
    "val_dice": "Dice/val",
    "lr": "LR",
    "epoch_seconds": "Time/epoch_seconds",
    "voxels_per_s": "Throughput/voxels_per_s",
    "cuda_allocated_mb": "Memory/cuda_allocated_mb",
    "cuda_reserved_mb": "Memory/cuda_reserved_mb",
}
IMAGE_TAG = "Val/overlay"
LABEL_COLOURS = np.array([[0, 0, 0], [255, 64, 64], [64, 160, 255], [255, 200, 0], [64, 220, 120]], dtype=np.float32)


def overlay(image: np.ndarray, label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(3, H, 2W) uint8: the grey slice with the reference (left) and the prediction (right) tinted per label."""
    if image.shape != label.shape or image.shape != pred.shape or image.ndim != 2:
        raise ValueError(f"overlay needs three 2-D arrays of one shape, got {image.shape}, {label.shape}, {pred.shape}")
    lo, hi = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
    grey = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1) * 255.0
    panels = []
    for mask in (label, pred):
        rgb = np.repeat(grey[..., None], 3, axis=-1)
        colours = LABEL_COLOURS[np.clip(mask.astype(np.int64), 0, len(LABEL_COLOURS) - 1)]
        tint = (mask > 0)[..., None]
        rgb = np.where(tint, 0.55 * rgb + 0.45 * colours, rgb)
        panels.append(rgb)
    return np.concatenate(panels, axis=1).astype(np.uint8).transpose(2, 0, 1)


def best_slice(label: np.ndarray) -> int:
    """The axial (z) slice with the most foreground; the middle one when there is none."""
    counts = (label > 0).reshape(label.shape[0], -1).sum(1)
    return int(np.argmax(counts)) if counts.max() > 0 else label.shape[0] // 2


class TBLogger:
    """A SummaryWriter that does nothing when disabled (ranks other than 0, or tensorboard missing)."""

    def __init__(self, log_dir: Path | None, enabled: bool = True):
        self.writer = None
        self.graph_written = False
        if enabled and log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, values: dict[str, float | None], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if value is not None and key in TAGS:
                self.writer.add_scalar(TAGS[key], float(value), step)
        self.writer.flush()

    def graph(self, model: torch.nn.Module, example: torch.Tensor) -> str | None:
        """Trace the model once; returns a reason when tracing fails (the run goes on without a graph)."""
        if self.writer is None or self.graph_written:
            return None
        self.graph_written = True
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracing warns about deprecation and shape checks; both harmless here
                self.writer.add_graph(model, example)
        except Exception as e:  # noqa: BLE001 - a missing graph must never stop training
            return f"TensorBoard graph not written: {type(e).__name__}: {e}"
        finally:
            model.train(was_training)
        self.writer.flush()
        return None

    def image(self, image: np.ndarray, label: np.ndarray, pred: np.ndarray, step: int) -> None:
        if self.writer is None:
            return
        z = best_slice(label)
        self.writer.add_image(IMAGE_TAG, overlay(image[z], label[z], pred[z]), step, dataformats="CHW")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
