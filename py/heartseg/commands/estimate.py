"""`estimate --config FILE|-`: the cost model applied to a config: parameters, memory, time per step and in total.

The numbers come from heartseg.cost (parameters, FLOPs, saved activations) and planning's step-time rule, the same
ones `plan` weighs its choices with, so the configure screen shows what the planner would expect. `problems` holds
the config's own checks, cross-field ones included (e.g. the patch against the network's depth), in the words
`train` would refuse it with. One JSON object on stdout; exit 2 only when the file cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from heartseg.errors import EXIT_OK, BadInput


def add_arguments(p) -> None:
    p.add_argument("--config", metavar="FILE", required=True, help="a JSON config (partial is fine); - reads stdin")


def _read(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot read the config ({e.strerror or e})", file=source) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"not valid JSON ({e.msg} at line {e.lineno})", file=None if source == "-" else source) from None


def _device(spec: str):
    """The planner's device description for a config's train.device ('cuda:N' plans like 'cuda')."""
    from heartseg.planning import detect_device

    return detect_device("cuda" if spec.startswith("cuda") else spec)


def estimate(data: Any) -> dict[str, Any]:
    from pydantic import ValidationError

    from heartseg import config as cfgmod
    from heartseg import cost
    from heartseg.planning.rules import step_seconds

    out: dict[str, Any] = {"parameters": None, "memory_gb": None, "step_seconds": None, "total_minutes": None,
                           "steps": None, "device": None, "problems": []}
    if not isinstance(data, dict):
        out["problems"] = [f"config: got {json.dumps(data)}, expected a JSON object"]
        return out
    data = cfgmod.upgrade(data)
    try:
        cfg = cfgmod.Config.model_validate(data)
    except ValidationError as e:
        out["problems"] = cfgmod.problems_of(e, data)
        return out
    features, patch, batch = list(cfg.model.features), list(cfg.data.patch), cfg.data.batch
    out_channels = cfg.model.out_channels or 1  # 0 is decided by the dataset's labels; one foreground label is usual
    out["parameters"] = cost.parameters(features, cfg.model.in_channels, out_channels)
    try:
        device = _device(cfg.train.device)
    except BadInput as e:
        out["problems"] = [f"train.device: {e.summary()}"]
        device = _device("cpu")
    gpu = device.kind == "cuda"
    amp = gpu and cfg.train.precision != "fp32"
    memory = cost.training_memory_bytes(features, patch, batch, amp=amp, in_channels=cfg.model.in_channels,
                                        out_channels=out_channels)
    step = step_seconds(features, patch, batch, device)
    steps = cfg.train.epochs * cfg.train.iters_per_epoch
    minutes = cost.run_minutes(steps, step, cfg.train.minutes)
    out.update(memory_gb=round(memory / 1024**3, 3), step_seconds=round(step, 4), total_minutes=round(minutes, 2),
               steps=steps, device=f"{device.kind}: {device.name}")
    return out


def run(args) -> int:
    print(json.dumps(estimate(_read(args.config))), flush=True)
    return EXIT_OK
