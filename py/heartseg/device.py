"""The one rule for turning a device setting ('auto', 'cpu', 'cuda', 'cuda:N') into a torch.device."""

from __future__ import annotations

import torch

from heartseg.errors import BadInput

HINT = "use auto, cpu, cuda or cuda:N"


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """'auto' is CUDA when torch sees a GPU, else the CPU; 'cuda' means this process's GPU (cuda:LOCAL_RANK under
    torchrun). BadInput naming the setting when the device does not exist here."""
    spec = (spec or "auto").strip()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec != "cuda" and not spec.startswith("cuda:"):
        raise BadInput(f"unknown device {spec!r}", hint=HINT)
    if not torch.cuda.is_available():
        raise BadInput(f"device {spec} asked for, but torch {torch.__version__} sees no CUDA device",
                       hint="use --device cpu (or auto)")
    try:
        device = torch.device(f"cuda:{local_rank}") if spec == "cuda" else torch.device(spec)
    except RuntimeError:
        raise BadInput(f"unknown device {spec!r}", hint=HINT) from None
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise BadInput(f"device {device} does not exist: torch sees {torch.cuda.device_count()} CUDA device(s)",
                       hint=HINT)
    return device
