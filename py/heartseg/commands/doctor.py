"""`doctor`: one JSON line describing Python, torch, CUDA/cuDNN, devices and the engine's packages."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from heartseg import requirements


def add_arguments(p) -> None:
    p.add_argument("--speed", action="store_true",
                   help="also time a few training steps (fp32/bf16 x contiguous/channels_last) and report the choice "
                        "train.precision/layout 'auto' would make (seconds on a CPU)")


def speed(device_spec: str = "auto", measure=None) -> dict[str, Any]:
    """What 'auto' precision and layout choose here, measured on the preset model for this device (cpu or gpu)."""
    import torch

    from heartseg import config as cfgmod
    from heartseg import presets
    from heartseg.device import resolve_device
    from heartseg.train import runtime

    device = resolve_device(device_spec)
    cfg = cfgmod.from_dict(presets.load("gpu" if device.type == "cuda" else "cpu"))
    cfg.train.precision, cfg.train.layout, cfg.train.deterministic = "auto", "auto", False
    choice = runtime.choose_for(cfg, device, 1, 1, measure=measure)
    return {"device": str(device), "model": cfg.model.features, "batch": cfg.data.batch, "patch": cfg.data.patch,
            "threads": torch.get_num_threads(), "precision": choice.precision, "layout": choice.layout,
            "speedup": choice.speedup, "reason": choice.reason, "seconds_per_step": choice.timings}


def report(with_speed: bool = False) -> dict[str, Any]:
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
    from heartseg.train.runtime import cpu_bf16_native, cuda_bf16_native, slow_amp_warning

    info["cpu_bf16_native"] = cpu_bf16_native()
    if info["cuda_available"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["devices"].append({"index": i, "name": props.name,
                                    "total_memory_mb": round(props.total_memory / 2**20),
                                    "capability": f"{props.major}.{props.minor}",
                                    "bf16": cuda_bf16_native(torch.device("cuda", i))})
        slow = slow_amp_warning(torch.device("cuda", 0), torch.bfloat16)
        if slow:
            info["problems"].append(slow)
    if with_speed:
        try:
            info["speed"] = speed()
        except Exception as e:  # noqa: BLE001 - a report: say what failed, keep the rest
            info["problems"].append(f"speed measurement failed: {e}")
    return info


def run(args) -> int:
    print(json.dumps(report(with_speed=getattr(args, "speed", False))), flush=True)
    return 0
