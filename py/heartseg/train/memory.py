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
