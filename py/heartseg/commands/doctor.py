"""`doctor`: one JSON line describing Python, torch, CUDA/cuDNN, devices and the engine's packages."""

from __future__ import annotations

import importlib
import json
import platform
import sys
from typing import Any

PACKAGES = ("numpy", "nibabel", "scipy", "skimage", "tensorboard", "matplotlib", "monai")


def add_arguments(p) -> None:
    pass


def _version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken optional package is reported as missing, not a crash
        return None
    return str(getattr(module, "__version__", "unknown"))


def report() -> dict[str, Any]:
    import heartseg

    info: dict[str, Any] = {
        "engine": heartseg.__version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "torch": None, "cuda_available": False, "cuda": None, "cudnn": None, "devices": [],
        "packages": {name: _version(name) for name in PACKAGES},
        "problems": [],
    }
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        info["problems"].append(f"torch cannot be imported: {e}")
        return info
    info["torch"] = str(torch.__version__)
    info["cuda_available"] = bool(torch.cuda.is_available())
    info["cuda"] = torch.version.cuda
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    info["threads"] = torch.get_num_threads()
    if info["cuda_available"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["devices"].append({"index": i, "name": props.name,
                                    "total_memory_mb": round(props.total_memory / 2**20),
                                    "capability": f"{props.major}.{props.minor}",
                                    "bf16": bool(torch.cuda.is_bf16_supported())})
    major_minor = tuple(int(p) for p in info["torch"].split("+")[0].split(".")[:2] if p.isdigit())
    if major_minor < (2, 4):
        info["problems"].append(f"torch {info['torch']} is older than 2.4, which heartseg needs")
    if sys.version_info < (3, 10):
        info["problems"].append(f"Python {platform.python_version()} is older than 3.10, which heartseg needs")
    return info


def run(args) -> int:
    print(json.dumps(report()), flush=True)
    return 0
