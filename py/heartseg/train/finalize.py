"""The final model of a training run, checkpoints/final.pt: weights with stable BatchNorm statistics.

With batch 2 and momentum 0.1, BatchNorm's running statistics are an average over the last ~20 patches, so the
model evaluated at any one epoch carries whatever those patches happened to be (validation Dice swings by a few
hundredths between epochs at a low learning rate). At the end of training:
- train.ema_decay > 0: the weights are an exponential moving average of the weights after every optimiser step
  (tracked from attach(), which the loop calls before the first step; a resumed run restarts the average from
  the weights it resumes with, as the average is not part of last.pt);
- train.bn_recalibration = N > 0: every BatchNorm's running mean and variance are recomputed as a plain average
  over N training batches (the same sampler and augmentation as training, the steps after the last one), with the
  final weights, in training mode and without gradients.
final.pt is written even when both are off (then it is last.pt's weights): evaluate and predict take it by default
(infer.checkpoint 'final'); best.pt, selected on the validation cases, stays available as 'best'.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from heartseg import events as ev
from heartseg.checkpoint import save_atomic
from heartseg.train.runfolder import FINAL

_BN_TYPES = (torch.nn.modules.batchnorm._BatchNorm,)


class WeightAverage:
    """Exponential moving average of a model's floating-point parameters, with the usual warm-up:
    the decay used at update n is min(decay, (1 + n) / (10 + n)), so early weights do not dominate."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.names = [n for n, p in model.named_parameters() if p.dtype.is_floating_point]
        params = dict(model.named_parameters())
        self.shadow = [params[n].detach().clone().float() for n in self.names]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        params = dict(model.named_parameters())
        current = [params[n].detach().float() for n in self.names]
        torch._foreach_mul_(self.shadow, d)
        torch._foreach_add_(self.shadow, current, alpha=1 - d)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        params = dict(model.named_parameters())
        for n, value in zip(self.names, self.shadow):
            params[n].copy_(value.to(params[n].dtype))


def attach(trainer: Any, batches: Callable[[int, int], Iterable[Any]], prepared: Any = None,
           val_names: Sequence[str] = ()) -> None:
    """Before the first step: remember where training batches (and the validation cases) come from; start the
    weight average if asked."""
    trainer.finalize_batches = batches
    trainer.finalize_validation = (prepared, list(val_names))
    trainer.weight_average = None
    decay = float(trainer.cfg.train.ema_decay)
    if decay > 0:
        average = WeightAverage(trainer.model, decay)
        trainer.weight_average = average
        # after every optimiser step that really happened (a step skipped for non-finite gradients is not one)
        trainer.optimizer.register_step_post_hook(lambda *_: average.update(trainer.model))


def bn_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, batches: Iterable[Any], count: int, device: torch.device,
                   amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> int:
    """Recompute every BatchNorm's running statistics as the plain average over `count` batches (training mode,
    no gradients; the model's mode and momenta are restored). Returns the number of batches used."""
    from heartseg.train.batch import unpack

    layers = bn_layers(model)
    if not layers or count <= 0:
        return 0
    momenta = [m.momentum for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    used = 0
    try:
        for batch in itertools.islice(batches, count):
            image, _ = unpack(batch)
            image = image.to(device).contiguous(memory_format=fmt)
            amp = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
            with amp:
                model(image)
            used += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return used


def final_model(trainer: Any) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A copy of the trained model with the averaged weights and recalibrated statistics, and what was done."""
    t = trainer.cfg.train
    model = copy.deepcopy(trainer.model)
    info: dict[str, Any] = {"ema_decay": float(t.ema_decay), "ema_updates": 0, "bn_recalibration_batches": 0}
    average = getattr(trainer, "weight_average", None)
    if average is not None and average.updates > 0:
        average.copy_to(model)
        info["ema_updates"] = average.updates
    batches = getattr(trainer, "finalize_batches", None)
    if t.bn_recalibration > 0 and batches is not None and bn_layers(model):
        stream = batches(trainer.global_step, int(t.bn_recalibration))  # the steps after the last: never trained on
        try:
            info["bn_recalibration_batches"] = recalibrate_bn(
                model, iter(stream), int(t.bn_recalibration), trainer.device, getattr(trainer, "amp_dtype", None),
                t.layout == "channels_last")
        finally:
            close = getattr(stream, "close", None) or getattr(stream, "_shutdown_workers", None)
            if callable(close):
                close()
    model.eval()
    return model, info


def finalize(trainer: Any) -> Path | None:
    """Build the final model on every rank (BatchNorm layers may synchronise), write checkpoints/final.pt on rank 0
    and emit a checkpoint event of kind 'final'. Called once by the loop after the last step and last.pt."""
    model, info = final_model(trainer)
    prepared, val_names = getattr(trainer, "finalize_validation", (None, []))
    dice = None
    if prepared is not None and val_names:  # the final model's own score: the one reported, not a selection
        from heartseg.train.validation import validate

        result = validate(model, prepared, val_names, trainer.cfg, trainer.out_channels, trainer.device)
        dice = info["val_dice"] = float(result.dice)
        info["val_dice_per_label"] = {k: float(v) for k, v in result.dice_per_label.items()}
    if not trainer.info.is_main or trainer.run_dir is None:
        return None
    state = trainer.checkpoint_dict()
    state["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state["final"] = info
    state["metrics"] = {**(state.get("metrics") or {}), "val_dice": dice}
    path = trainer.run_dir / FINAL
    save_atomic(state, path)
    last = trainer.history[-1]["val_dice"] if trainer.history else None
    trainer.events.emit(ev.Checkpoint(path=str(path), kind="final", epoch=trainer.epoch, metric=dice))
    done = [f"EMA of {info['ema_updates']} steps" if info["ema_updates"] else None,
            f"BatchNorm statistics over {info['bn_recalibration_batches']} training batches"
            if info["bn_recalibration_batches"] else None]
    what = ", ".join(d for d in done if d) or "the last weights as they are"
    fmt = lambda v: "none" if v is None else f"{float(v):.4f}"  # noqa: E731
    trainer.log(f"heartseg: final model -> {path} ({what}); validation Dice {fmt(dice)} (last epoch "
                f"{fmt(last)}, best.pt {fmt(trainer.best.get('dice'))}, selected on these same cases)")
    return path
