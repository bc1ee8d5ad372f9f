"""What machine a measurement ran on: CPU model, cores, RAM, torch, GPU name, memory and peak FLOP/s."""

from __future__ import annotations

import os
import platform
from typing import Any

# Dense peak tensor-core FLOP/s (no sparsity) by GPU name fragment, (bf16/fp16, tf32) in TFLOP/s, from the
# vendors' data sheets; used for MFU and for the planner's step-time estimate. Longer fragments are tried first.
GPU_PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H200": (989.0, 494.0),
    "H100 PCIe": (756.0, 378.0),
    "H100": (989.0, 494.0),
    "GH200": (989.0, 494.0),
    "B200": (2250.0, 1100.0),
    "A100": (312.0, 156.0),
    "A10G": (70.0, 35.0),
    "A10": (125.0, 62.5),
    "L40S": (362.0, 183.0),
    "L40": (181.0, 90.5),
    "L4": (121.0, 60.0),
    "A6000": (155.0, 77.4),
    "V100": (125.0, 15.7),
    "T4": (65.0, 8.1),
    "RTX 4090": (165.0, 82.6),
    "RTX 3090": (71.0, 35.6),
}

CPU_GFLOPS_PER_CORE = 25.0
"""fp32 convolution throughput per core for the planner's estimate; measured: the default model's training step
(3 x 475.6 GFLOP) takes about 28 s on 2 threads of an AVX-512 EPYC (shared/NOTES.md), i.e. about 25 GFLOP/s a core."""


def gpu_peak_tflops(name: str, amp: bool = True) -> float | None:
    """Peak dense TFLOP/s of a GPU from its name (None when unknown): bf16/fp16 with amp, else tf32."""
    for fragment in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
        if fragment.lower() in name.lower():
            half, tf32 = GPU_PEAK_TFLOPS[fragment]
            return half if amp else tf32
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0 / 1024.0, 1)
    except OSError:
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024.0**3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def cpu_cores() -> int:
    """Cores this process may use (affinity), which is what torch's thread pool sees."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpus() -> list[dict[str, Any]]:
    """Name, total and free memory (measured with mem_get_info) of each visible CUDA device; [] without CUDA."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        name = torch.cuda.get_device_name(i)
        out.append({"index": i, "name": name, "memory_gb": round(total / 1024**3, 1),
                    "free_gb": round(free / 1024**3, 1), "peak_tflops_bf16": gpu_peak_tflops(name, True)})
    return out


def describe(with_gpus: bool = True) -> dict[str, Any]:
    """The machine description written at the top of bench/results.json."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": cpu_cores(),
        "ram_gb": ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch_threads": None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except ImportError:
        info["torch"] = None
    info["gpus"] = gpus() if with_gpus else []
    return info
