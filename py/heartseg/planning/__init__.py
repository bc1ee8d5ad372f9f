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


CALIBRATE_TOLERANCE = 1.2
"""A real step this much slower (or faster) than the plan's estimate re-plans at the rate it measured."""
CALIBRATE_MAX_SECONDS = 60.0
"""No calibration step when the estimate is longer than this (the plan then keeps the small patch's rate)."""


def measured_plan(fp: Fingerprint, device: Device, budget_minutes: float | None = None,
                  measure: Callable[..., dict] | None = None) -> Plan:
    """make_plan, then a few timed steps of the planned model in each precision and layout: the fastest that is
    at least 1.2x fp32 contiguous becomes train.precision / train.layout, and the FLOP rate the steps reached
    replaces the assumed one. The small patch those steps use runs faster per FLOP than a full one, so on a CPU
    one step of the chosen variant on the planned patch calibrates the rate and the plan is made again (at most
    twice): its step time and iterations are measured, not guessed."""
    import dataclasses

    import torch

    from heartseg.train import runtime

    first = make_plan(fp, device, budget_minutes)
    feats, patch = first.config["model"]["features"], first.config["data"]["patch"]
    batch = first.config["data"]["batch"]
    dev = torch.device("cuda" if device.kind == "cuda" else "cpu")
    timed_patch = runtime.measure_patch(feats, patch, batch, dev)
    variants = runtime.variants_to_measure(dev)
    timer = measure or runtime.time_variants
    try:
        timings = timer(feats, 1, 1, timed_patch, batch, dev, variants)
    except RuntimeError as e:  # out of memory while measuring: keep the unmeasured plan and say so
        first.reasons["train.precision"] += f" (not measured: {str(e).splitlines()[0][:120]})"
        return first
    choice = runtime.choose(timings, runtime.bf16_native(dev))
    best = timings[(choice.precision, choice.layout)]
    rate = device.flops * step_seconds(feats, timed_patch, batch, device) / best  # FLOP/s the chosen variant reached
    plan = make_plan(fp, dataclasses.replace(device, flops=rate), budget_minutes)
    calibrated, last_timed = "", timed_patch
    for _ in range(2):
        feats, patch = plan.config["model"]["features"], plan.config["data"]["patch"]
        estimate = step_seconds(feats, patch, batch, dataclasses.replace(device, flops=rate))
        if dev.type == "cuda" or patch == last_timed or estimate > CALIBRATE_MAX_SECONDS:
            break
        try:
            real = timer(feats, 1, 1, patch, batch, dev, [(choice.precision, choice.layout)], steps=1)
        except RuntimeError:
            break
        seconds = real[(choice.precision, choice.layout)]
        calibrated = (f"; one step of the planned patch took {seconds:.2f} s (the small patch's rate predicted "
                      f"{estimate:.2f} s)")
        last_timed = patch
        if 1 / CALIBRATE_TOLERANCE <= seconds / estimate <= CALIBRATE_TOLERANCE:
            break
        rate *= estimate / seconds
        plan = make_plan(fp, dataclasses.replace(device, flops=rate), budget_minutes)
    plan.config["train"].update(precision=choice.precision, layout=choice.layout)
    timed = "x".join(map(str, timed_patch))  # the patch the variants were timed on
    plan.reasons["train.precision"] = f"measured on this {device.kind}: {choice.reason}"
    plan.reasons["train.layout"] = (f"{choice.layout}: measured with the precision (batch {batch} x {timed})"
                                    + calibrated)
    plan.estimates.update(measured_step_seconds=round(best, 4), measured_gflops=round(rate / 1e9, 1),
                          speedup=choice.speedup or 1.0,
                          timings={runtime.variant_name(*k): round(v, 4) for k, v in timings.items()})
    return plan
