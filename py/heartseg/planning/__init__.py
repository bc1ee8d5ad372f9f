"""Automatic planning: `plan_for(root, device, budget)` reads a dataset and the device and proposes a partial
config (spacing, patch, batch, network width and depth, iterations) with one reason per choice.

rules.py holds the rules (pure); fingerprint.py reads the dataset and the device.
"""

from __future__ import annotations

from typing import Any, Callable

from heartseg.planning.fingerprint import detect_device, read_fingerprint
from heartseg.planning.rules import (Device, Fingerprint, Plan, make_plan, median_shape, step_seconds,
                                     target_spacing)

__all__ = ["Device", "Fingerprint", "Plan", "detect_device", "make_plan", "measured_plan", "median_shape", "plan_for",
           "read_fingerprint", "target_spacing"]


def plan_for(root, device: str = "auto", budget_minutes: float | None = None,
             cache_dir: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """What `train` calls when given no preset or config: (partial config, reason per dotted key)."""
    plan = measured_plan(read_fingerprint(root, cache_dir), detect_device(device), budget_minutes)
    return plan.config, plan.reasons


def measured_plan(fp: Fingerprint, device: Device, budget_minutes: float | None = None,
                  measure: Callable[..., dict] | None = None) -> Plan:
    """make_plan, then a few timed steps of the planned model in each precision and layout: the fastest that is
    at least 1.2x fp32 contiguous becomes train.precision / train.layout, and the FLOP rate the steps reached
    replaces the assumed one, so the plan's step time and iterations are measured, not guessed."""
    import dataclasses

    import torch

    from heartseg.train import runtime

    first = make_plan(fp, device, budget_minutes)
    feats, patch = first.config["model"]["features"], first.config["data"]["patch"]
    batch = first.config["data"]["batch"]
    dev = torch.device("cuda" if device.kind == "cuda" else "cpu")
    timed_patch = runtime.measure_patch(feats, patch, batch, dev)
    variants = runtime.variants_to_measure(dev)
    try:
        timings = (measure or runtime.time_variants)(feats, 1, 1, timed_patch, batch, dev, variants)
    except RuntimeError as e:  # out of memory while measuring: keep the unmeasured plan and say so
        first.reasons["train.precision"] += f" (not measured: {str(e).splitlines()[0][:120]})"
        return first
    choice = runtime.choose(timings, runtime.bf16_native(dev))
    best = timings[(choice.precision, choice.layout)]
    estimated = step_seconds(feats, timed_patch, batch, device)
    rate = device.flops * estimated / best  # FLOP/s the chosen variant reached
    plan = make_plan(fp, dataclasses.replace(device, flops=rate), budget_minutes)
    plan.config["train"].update(precision=choice.precision, layout=choice.layout)
    timed = "x".join(map(str, timed_patch))
    plan.reasons["train.precision"] = f"measured on this {device.kind}: {choice.reason}"
    plan.reasons["train.layout"] = (f"{choice.layout}: measured with the precision (batch {batch} x {timed})")
    plan.estimates.update(measured_step_seconds=round(best, 4), measured_gflops=round(rate / 1e9, 1),
                          speedup=choice.speedup or 1.0,
                          timings={runtime.variant_name(*k): round(v, 4) for k, v in timings.items()})
    return plan
