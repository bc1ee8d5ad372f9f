"""Optimisers (AdamW, SGD with Nesterov momentum) and per-step learning-rate schedules with linear warm-up."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

SCHEDULES = ("poly", "cosine", "step", "constant")


def build_optimizer(params: Iterable[torch.nn.Parameter], ocfg: Any) -> torch.optim.Optimizer:
    if ocfg.lr <= 0:
        raise ValueError(f"optim.lr must be positive, got {ocfg.lr}")
    if ocfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=ocfg.lr, weight_decay=ocfg.weight_decay)
    if ocfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=ocfg.lr, momentum=ocfg.momentum, nesterov=ocfg.momentum > 0,
                               weight_decay=ocfg.weight_decay)
    raise ValueError(f"optim.optimizer must be 'adamw' or 'sgd', got {ocfg.optimizer!r}")


def lr_at(step: int, peak: float, schedule: str, total_steps: int, warmup_steps: int = 0,
          decay_every: int = 1, gamma: float = 0.5, poly_exponent: float = 0.9) -> float:
    """Learning rate for 0-based global `step`: linear warm-up to `peak`, then the schedule over the rest."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if total_steps < 1 or warmup_steps < 0 or decay_every < 1:
        raise ValueError(f"need total_steps >= 1, warmup_steps >= 0, decay_every >= 1; got {total_steps}, "
                         f"{warmup_steps}, {decay_every}")
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    after = step - warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, after / span)
    if schedule == "poly":
        return peak * (1.0 - t) ** poly_exponent
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "step":
        return peak * gamma ** (after // decay_every)
    return peak


class StepSchedule:
    """Sets the optimiser's lr from the global step; its state is just that step, so resume is exact."""

    def __init__(self, optimizer: torch.optim.Optimizer, ocfg: Any, epochs: int, iters_per_epoch: int):
        self.optimizer = optimizer
        self.peak = float(ocfg.lr)
        self.schedule = ocfg.schedule
        self.total = epochs * iters_per_epoch
        self.warmup = max(0, int(ocfg.warmup_epochs)) * iters_per_epoch
        self.decay_every = max(1, int(ocfg.step_size)) * iters_per_epoch
        self.gamma = float(ocfg.step_gamma)
        self.step_count = 0
        self._apply()

    def lr(self, step: int | None = None) -> float:
        return lr_at(self.step_count if step is None else step, self.peak, self.schedule, self.total,
                     self.warmup, self.decay_every, self.gamma)

    def _apply(self) -> None:
        lr = self.lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "schedule": self.schedule, "total": self.total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self._apply()
