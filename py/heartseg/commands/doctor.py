"""`doctor`: one JSON line describing Python, torch, CUDA/cuDNN, devices and the engine's packages."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from heartseg import requirements


def add_arguments(p) -> None:
    pass


def report() -> dict[str, Any]:
    import heartseg

    needs = requirements.check()  # the packages of requirements.txt, the one list
    info: dict[str, Any] = {
        "engine": heartseg.__version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "torch": None, "cuda_available": False, "cuda": None, "cudnn": None, "devices": [],
        "packages": needs["packages"],
        "problems": list(needs["problems"]),
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
    return info


def run(args) -> int:
    print(json.dumps(report()), flush=True)
    return 0
