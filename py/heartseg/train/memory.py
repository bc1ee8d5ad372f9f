"""Memory readings for epoch_end events and TensorBoard: process RSS from /proc, CUDA allocated/reserved."""

from __future__ import annotations

import resource
import sys

import torch


def cpu_rss_mb() -> float:
    """Current resident set size in MB (/proc/self/status on Linux; peak RSS from getrusage elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)


def cuda_mb(device: torch.device) -> tuple[float | None, float | None]:
    """(allocated, reserved) MB on a CUDA device; (None, None) elsewhere."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return None, None
    mb = 1024.0 * 1024.0
    return (round(torch.cuda.memory_allocated(device) / mb, 1), round(torch.cuda.memory_reserved(device) / mb, 1))


def snapshot(device: torch.device) -> dict[str, float | None]:
    allocated, reserved = cuda_mb(device)
    return {"cpu_rss_mb": cpu_rss_mb(), "gpu_allocated_mb": allocated, "gpu_reserved_mb": reserved}


class OutOfMemory(Exception):
    """CUDA ran out of memory: the message names the batch and patch that failed and a smaller pair to try."""

    def __init__(self, batch: int, patch: list[int], features: list[int], amp: bool, total_bytes: int | None):
        fit_batch, fit_patch = fit_suggestion(batch, patch, features, amp, total_bytes)
        flags = f"--batch {fit_batch}" if fit_patch == list(patch) else f"--batch {fit_batch} --patch {','.join(map(str, fit_patch))}"
        self.hint = f"try data.batch {fit_batch} and data.patch {fit_patch} ({flags})"
        super().__init__(f"CUDA ran out of memory with data.batch {batch} and data.patch {list(patch)}")


def fit_suggestion(batch: int, patch: list[int], features: list[int], amp: bool,
                   total_bytes: int | None) -> tuple[int, list[int]]:
    """A smaller (batch, patch): the largest the cost model fits in 85 % of the card when its size is known,
    else half the batch, else the largest patch axis halved; patches stay divisible by the U-Net's pooling."""
    from heartseg.cost import training_memory_bytes

    step = 2 ** (len(features) - 1)
    candidates = [(b, list(patch)) for b in range(batch - 1, 0, -1)]
    shrunk = list(patch)
    while max(shrunk) - step >= max(step, 8):
        axis = max(range(3), key=lambda i: shrunk[i])
        shrunk = [p - step if i == axis else p for i, p in enumerate(shrunk)]
        candidates.append((1, shrunk))
    if not candidates:
        return batch, list(patch)
    if total_bytes:
        for b, p in candidates:
            if training_memory_bytes(features, p, b, amp=amp) <= 0.85 * total_bytes:
                return b, p
    if batch > 1:
        return max(1, batch // 2), list(patch)
    halved = list(patch)
    axis = max(range(3), key=lambda i: halved[i])
    halved[axis] = max(step, halved[axis] // 2 // step * step)
    return 1, halved
