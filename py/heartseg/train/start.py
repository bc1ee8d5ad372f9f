"""The training loop's first step: device, threads, precision and layout, seeds, model, optimiser, schedule and
scaler on a Trainer, then the state of a run being resumed (or the weights of --init).

Functions of a heartseg.train.loop.Trainer (typed Any: the loop imports this module, not the other way round)."""

from __future__ import annotations

from typing import Any

import torch

from heartseg import events as ev
from heartseg.checkpoint import LoadedCheckpoint, load_into
from heartseg.config import to_dict
from heartseg.deep_supervision import DeepSupervised, DeepSupervisionLoss, heads_for as ds_heads
from heartseg.losses import build_loss
from heartseg.model import build_model
from heartseg.train import distributed
from heartseg.train.optim import StepSchedule, TimeBudget, build_optimizer
from heartseg.train.runtime import amp_dtype, choose_for, seed_everything, slow_amp_warning
from heartseg.train.state import set_rng_state
from heartseg.train.tb import TBLogger

SYNC_EVERY_CUDA = 10
"""Steps between reads of the loss, the stop flag and the clock on a GPU (each read waits for the GPU)."""


def start_trainer(trainer: Any, resume: LoadedCheckpoint | None = None,
                  init: LoadedCheckpoint | None = None) -> dict[str, Any]:
    """Everything a Trainer needs before its first step; returns the --init mismatch report (empty lists when
    nothing was skipped)."""
    cfg, t = trainer.cfg, trainer.cfg.train
    trainer._t0 = trainer.clock()  # the budget counts from here: model build and the speed measurement included
    trainer.device = distributed.resolve_device(t.device, trainer.info)
    distributed.init(trainer.info, trainer.device)
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    elif cfg.data.workers > 0 and trainer.device.type == "cpu":
        # the loader's workers take cores of their own: the step gets the rest, not an oversubscribed machine
        from heartseg.machine import cpu_cores

        torch.set_num_threads(max(1, cpu_cores() - cfg.data.workers))
    choose_speed(trainer, resume)
    seed_everything(t.seed, t.deterministic, trainer.device)
    model = build_model(trainer.in_channels, trainer.out_channels, cfg.model.features)
    report: dict[str, Any] = {"missing": [], "unexpected": [], "shape": []}
    if init is not None:
        report = load_into(model, init.state_dict, strict=False, file=init.path)
    if resume is not None:
        load_into(model, resume.state_dict, strict=True, file=resume.path)
    trained: torch.nn.Module = model
    if t.deep_supervision:
        trained = DeepSupervised(model, ds_heads(model, resume))
    trained.to(trainer.device)
    if t.layout == "channels_last":
        trained.to(memory_format=torch.channels_last_3d)
    net = distributed.wrap(trained, trainer.info, trainer.device, sync_bn=t.sync_bn)
    live = distributed.unwrap(net)  # BatchNorm conversion replaced modules: keep the live ones
    trainer.model = live.unet if t.deep_supervision else live
    trainer.ds_heads = live.heads if t.deep_supervision else None
    trainer.net = torch.compile(net) if t.compile else net
    cuda = trainer.device.type == "cuda"
    trainer.optimizer = build_optimizer(trainer.net.parameters(), cfg.optim, fused=True)
    trainer.schedule = StepSchedule(trainer.optimizer, cfg.optim, t.epochs, t.iters_per_epoch)
    trainer.amp_dtype = amp_dtype(trainer.device, t.precision)
    # on CUDA the scaler always runs: its inf check stays on the device (a fixed scale of 1 unless fp16)
    trainer.scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    trainer.sync_every = SYNC_EVERY_CUDA if cuda else 1
    warning = slow_amp_warning(trainer.device, trainer.amp_dtype)
    if warning and trainer.info.is_main:
        trainer.events.emit(ev.Warning(message=warning, hint="see pytorch issues 163539 and 166122"))
    trainer.loss_fn = build_loss(t.loss, reduce_sums=distributed.sum_tensor if trainer.info.enabled else None)
    if t.deep_supervision:
        trainer.loss_fn = DeepSupervisionLoss(trainer.loss_fn, len(cfg.model.features))
    if resume is not None:
        restore(trainer, resume)
    if t.minutes > 0:
        trainer.budget = TimeBudget(t.minutes * 60.0, trainer._reserve(t.minutes * 60.0), trainer.elapsed_before,
                                    trainer.schedule.fraction)
    if trainer.info.is_main and trainer.run_dir is not None:
        trainer.tb = TBLogger(trainer.run_dir / "tensorboard")
    return report


def choose_speed(trainer: Any, resume: LoadedCheckpoint | None) -> None:
    """train.precision / train.layout: a resumed run keeps its recorded choice; 'auto' is measured (rank 0,
    then shared, so every rank computes alike) and written back to the config, which checkpoints and
    config.json carry to evaluation and prediction."""
    t = trainer.cfg.train
    stored = ((resume.full or {}).get("config") or {}).get("train", {}) if resume is not None else {}
    for key in ("precision", "layout"):
        if getattr(t, key) == "auto" and stored.get(key) not in (None, "auto"):
            setattr(t, key, stored[key])
    choice = None
    if trainer.info.is_main:
        choice = choose_for(trainer.cfg, trainer.device, trainer.in_channels, trainer.out_channels)
    choice = distributed.broadcast_object(choice)
    measured = t.precision == "auto" or t.layout == "auto"
    t.precision, t.layout = choice.precision, choice.layout
    trainer.choice = choice
    if measured and trainer.info.is_main:
        trainer.log(f"heartseg: {choice.precision}, {choice.layout}: {choice.reason}")
        if trainer.run_dir is not None and (trainer.run_dir / "config.json").is_file():
            from heartseg.train.runfolder import write_config

            write_config(trainer.run_dir, to_dict(trainer.cfg))  # resolved, as data.spacing is


def restore(trainer: Any, ckpt: LoadedCheckpoint) -> None:
    """The optimiser, schedule, scaler, RNG, counters, partial-epoch sums, timings, best and history of last.pt."""
    full = ckpt.full or {}
    for key in ("optimizer", "scheduler", "epoch", "global_step"):
        if key not in full:
            raise ValueError(f"{ckpt.path}: not a full heartseg checkpoint (no {key}); use --init for weights only")
    trainer.optimizer.load_state_dict(full["optimizer"])
    trainer.schedule.load_state_dict(full["scheduler"])
    if full.get("scaler") and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(full["scaler"])
    if full.get("rng"):
        set_rng_state(full["rng"])
    trainer.epoch, trainer.global_step = int(full["epoch"]), int(full["global_step"])
    trainer.progress = dict(full.get("epoch_progress") or trainer.progress)
    trainer.elapsed_before = float(trainer.progress.pop("elapsed", 0.0))
    trainer.timing.update({k: float(v) for k, v in (full.get("timing") or {}).items() if k in trainer.timing})
    trainer.best = dict(full.get("best") or trainer.best)
    trainer.history = list(full.get("history") or [])
