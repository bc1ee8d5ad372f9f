"""Planning around a checkpoint (`plan DATA --init CKPT`, `train --init`): the checkpoint fixes the network and the
preprocessing it was trained with; only the patch, batch and number of steps are planned, for that network."""

from __future__ import annotations

import copy
import math
from typing import Any

from heartseg import cost
from heartseg.planning.rules import (DEFAULT_BUDGET_MINUTES, MAX_ITERATIONS, TRAIN_SHARE, Device, Plan,
                                     step_seconds)


def fit_to_checkpoint(plan: Plan, device: Device, architecture: dict[str, Any], applied: Any,
                      budget_minutes: float | None = None) -> Plan:
    """`plan` with model.* and the preprocessing keys taken from the checkpoint (`applied`: a
    checkpoint.Application), the patch made a multiple of 2^depth that fits memory with that network, and the steps
    recomputed for its step time. Reasons say which values came from the checkpoint and which were planned."""
    import dataclasses

    measured = plan.estimates.get("measured_gflops")  # the FLOP rate the plan's timed steps reached, when measured
    if measured:
        device = dataclasses.replace(device, flops=float(measured) * 1e9)
    feats = [int(f) for f in architecture["features"]]
    depth, unit = len(feats), 2 ** len(feats)
    gpu = device.kind == "cuda"
    config, reasons = copy.deepcopy(plan.config), dict(plan.reasons)
    config["model"] = {"features": feats, "in_channels": int(architecture["in_channels"]),
                       "out_channels": int(architecture["out_channels"])}
    fixed = f"from the --init checkpoint's weights, not planned: UNet3D {depth} levels, widths {feats}"
    for key in ("model.features", "model.in_channels", "model.out_channels"):
        reasons[key] = fixed
    for key, value in applied.values.items():
        section, name = key.split(".")
        config.setdefault(section, {})[name] = value
        reasons[key] = f"kept from the checkpoint ({applied.sources[key]}): the weights were trained with it"
    data = config["data"]
    batch = int(data.get("batch", 2))
    patch = [max(unit, int(p) // unit * unit) for p in data["patch"]]
    limit = device.memory_gb * 1024**3 * (0.85 if gpu else 0.5)
    while cost.training_memory_bytes(feats, patch, batch, amp=gpu) > limit and max(patch) > unit:
        axis = patch.index(max(patch))  # the longest side gives way first
        patch[axis] -= unit
    data["patch"] = patch
    reasons["data.patch"] = (f"planned for the checkpoint's network: {'x'.join(map(str, patch))}, multiples of 2^{depth}"
                             f" within memory (the plan's own: {'x'.join(map(str, plan.config['data']['patch']))})")
    reasons["data.batch"] = f"planned: {batch}; " + reasons.get("data.batch", "")
    est = step_seconds(feats, patch, batch, device)
    budget = float(budget_minutes or DEFAULT_BUDGET_MINUTES[device.kind]) * 60.0
    train = config.setdefault("train", {})
    iters_per_epoch = int(train.get("iters_per_epoch", 250))
    iterations = max(1, min(MAX_ITERATIONS, int(budget * TRAIN_SHARE / est)))
    epochs = max(1, math.ceil(iterations / iters_per_epoch))
    train["epochs"] = epochs if gpu else max(epochs + 1, math.ceil(1.5 * epochs))
    reasons["train.epochs"] = (f"planned for the checkpoint's network: {epochs} x {iters_per_epoch} steps of ~{est:.2g} s"
                               f" fill {TRAIN_SHARE:.0%} of the {budget / 60:.0f}-min budget")
    memory = cost.training_memory_bytes(feats, patch, batch, amp=gpu)
    estimates = {**plan.estimates, "step_seconds": round(est, 3), "memory_gb": round(memory / 1024**3, 2),
                 "train_minutes": round(cost.run_minutes(train["epochs"] * iters_per_epoch, est,
                                                         train.get("minutes", 0.0)), 1),
                 "forward_gflop_per_patch": round(cost.forward_flops(feats, patch) / 1e9, 2),
                 "parameters": cost.parameters(feats)}
    return Plan(config, reasons, estimates)
