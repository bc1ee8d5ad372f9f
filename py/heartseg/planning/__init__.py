"""Automatic planning: `plan_for(root, device, budget)` reads a dataset and the device and proposes a partial
config (spacing, patch, batch, network width and depth, iterations) with one reason per choice.

rules.py holds the rules (pure); fingerprint.py reads the dataset and the device.
"""

from __future__ import annotations

from typing import Any

from heartseg.planning.fingerprint import detect_device, read_fingerprint
from heartseg.planning.rules import Device, Fingerprint, Plan, make_plan, median_shape, target_spacing

__all__ = ["Device", "Fingerprint", "Plan", "detect_device", "make_plan", "median_shape", "plan_for",
           "read_fingerprint", "target_spacing"]


def plan_for(root, device: str = "auto", budget_minutes: float | None = None,
             cache_dir: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """What `train` calls when given no preset or config: (partial config, reason per dotted key)."""
    plan = make_plan(read_fingerprint(root, cache_dir), detect_device(device), budget_minutes)
    return plan.config, plan.reasons
