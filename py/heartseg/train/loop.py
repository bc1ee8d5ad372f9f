"""The training loop as named steps: start, train_step, validate, epoch_end; `fit` strings them together.

Everything comes from the Config; resume restores the exact state (model, optimiser, schedule, scaler, RNG,
global step, partial-epoch sums), and the patch sampler is stateless per global step, so a resumed run
continues the same sequence of batches as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from heartseg import events as ev
from heartseg.checkpoint import LoadedCheckpoint, load_into, save_atomic
from heartseg.config import Config, to_dict
from heartseg.losses import build_loss
from heartseg.model import build_model
from heartseg.train import distributed
from heartseg.train.distributed import DistInfo
from heartseg.train.memory import snapshot
from heartseg.train.runtime import amp_dtype, seed_everything, slow_amp_warning
from heartseg.train.optim import StepSchedule, build_optimizer
from heartseg.train.runfolder import BEST, LAST
from heartseg.train.signals import StopRequest
from heartseg.train.state import full_checkpoint, set_rng_state
from heartseg.train.tb import TBLogger
from heartseg.train.validation import ValResult, validate


@dataclass
class Outcome:
    status: str
    """completed, interrupted (or failed, set by the caller)."""
    reason: str
    exit_code: int
    epoch: int
    best_dice: float | None


def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (B, C, Z, Y, X), label (B, Z, Y, X)) from a dict or a pair, as tensors."""
    image, label = (batch["image"], batch["label"]) if isinstance(batch, dict) else (batch[0], batch[1])
    image = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    label = label if isinstance(label, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(label))
    return image.float(), label  # labels widen to int64 on the device (train_step), not on the host


class Trainer:
    def __init__(self, cfg: Config, *, in_channels: int, out_channels: int, run_dir: Path | None = None,
                 events: ev.EventWriter | None = None, info: DistInfo | None = None, stop: StopRequest | None = None,
                 log: Callable[[str], None] | None = None):
        if out_channels < 1 or in_channels < 1:
            raise ValueError(f"in/out channels must be >= 1, got {in_channels}, {out_channels}")
        self.cfg, self.in_channels, self.out_channels = cfg, in_channels, out_channels
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.info = info or DistInfo()
        self.events = events or ev.NullWriter()
        self.stop = stop or StopRequest()
        self.log = log or (lambda msg: None)
        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.progress: dict[str, float] = {"loss_sum": 0.0, "steps": 0, "seconds": 0.0, "voxels": 0.0}
        self.best: dict[str, Any] = {"dice": None, "epoch": None, "since": 0}
        self.history: list[dict[str, Any]] = []
        self.tb: TBLogger | None = None
        self._last_step_event = 0.0
        self._skipped_steps = 0
        self.label_values: list[int] | None = None
        """Label values in class order when they are not 0..K-1 (targets are then mapped to class indices)."""

    # --- start ---------------------------------------------------------------------------------------------------
    def start(self, resume: LoadedCheckpoint | None = None, init: LoadedCheckpoint | None = None) -> dict[str, Any]:
        """Device, seeds, model, optimiser, schedule, scaler; then restore `resume` or load `init` weights.
        Returns the --init mismatch report (empty lists when nothing was skipped)."""
        cfg, t = self.cfg, self.cfg.train
        self.device = distributed.resolve_device(t.device, self.info)
        distributed.init(self.info, self.device)
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        seed_everything(t.seed, t.deterministic, self.device)
        model = build_model(self.in_channels, self.out_channels, cfg.model.features)
        report: dict[str, Any] = {"missing": [], "unexpected": [], "shape": []}
        if init is not None:
            report = load_into(model, init.state_dict, strict=False, file=init.path)
        if resume is not None:
            load_into(model, resume.state_dict, strict=True, file=resume.path)
        model.to(self.device)
        if t.layout == "channels_last":
            model.to(memory_format=torch.channels_last_3d)
        net = distributed.wrap(model, self.info, self.device, sync_bn=t.sync_bn)
        self.model = distributed.unwrap(net)  # BatchNorm conversion replaced modules: keep the live ones
        self.net = torch.compile(net) if t.compile else net
        self.optimizer = build_optimizer(self.net.parameters(), cfg.optim)
        self.schedule = StepSchedule(self.optimizer, cfg.optim, t.epochs, t.iters_per_epoch)
        self.amp_dtype = amp_dtype(self.device, t.precision)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        warning = slow_amp_warning(self.device, self.amp_dtype)
        if warning and self.info.is_main:
            self.events.emit(ev.Warning(message=warning, hint="see pytorch issues 163539 and 166122"))
        self.loss_fn = build_loss(t.loss, reduce_sums=distributed.sum_tensor if self.info.enabled else None)
        if resume is not None:
            self._restore(resume)
        if self.info.is_main and self.run_dir is not None:
            self.tb = TBLogger(self.run_dir / "tensorboard")
        return report

    def _restore(self, ckpt: LoadedCheckpoint) -> None:
        full = ckpt.full or {}
        for key in ("optimizer", "scheduler", "epoch", "global_step"):
            if key not in full:
                raise ValueError(f"{ckpt.path}: not a full heartseg checkpoint (no {key}); use --init for weights only")
        self.optimizer.load_state_dict(full["optimizer"])
        self.schedule.load_state_dict(full["scheduler"])
        if full.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(full["scaler"])
        if full.get("rng"):
            set_rng_state(full["rng"])
        self.epoch, self.global_step = int(full["epoch"]), int(full["global_step"])
        self.progress = dict(full.get("epoch_progress") or self.progress)
        self.best = dict(full.get("best") or self.best)
        self.history = list(full.get("history") or [])

    # --- train_step ----------------------------------------------------------------------------------------------
    def train_step(self, image: torch.Tensor, label: torch.Tensor) -> float:
        """One optimiser step on one batch; returns the loss (this rank's)."""
        self.net.train()
        fmt = torch.channels_last_3d if self.cfg.train.layout == "channels_last" else torch.contiguous_format
        image = image.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
        label = label.to(self.device, non_blocking=True).long()
        self.optimizer.zero_grad(set_to_none=True)
        amp = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with amp:
            logits = self.net(image)
        loss = self.loss_fn(logits, label)
        self.scaler.scale(loss).backward()
        value = float(loss.detach())
        bad = distributed.any_rank(not math.isfinite(value), self.device)  # every rank must take the same decision
        if bad and not self.scaler.is_enabled():
            self._skipped_steps += 1  # fp32: a non-finite loss would poison the weights; skip this update
            self.optimizer.zero_grad(set_to_none=True)
        else:
            if self.cfg.optim.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.schedule.step()
        self.global_step += 1
        return value

    # --- validate ------------------------------------------------------------------------------------------------
    def validate(self, prepared: Any, names: list[str], keep_sample: bool = False) -> ValResult:
        return validate(self.model, prepared, names, self.cfg, self.out_channels, self.device, keep_sample)

    # --- epoch_end -----------------------------------------------------------------------------------------------
    def epoch_end(self, epoch: int, val: ValResult | None, val_seconds: float = 0.0) -> bool:
        """Events, TensorBoard, checkpoints; returns True when early stopping says stop."""
        t = self.cfg.train
        steps = max(1.0, float(self.progress["steps"]))
        loss_sum, voxels = distributed.reduce_floats([self.progress["loss_sum"], self.progress["voxels"]], self.device)
        train_loss = loss_sum / (steps * self.info.world_size)
        train_seconds = float(self.progress["seconds"])
        seconds = train_seconds + val_seconds  # the whole epoch, so the ETA includes validation
        is_best = False
        if val is not None:
            if self.best["dice"] is None or val.dice > self.best["dice"]:
                self.best.update(dice=val.dice, epoch=epoch, since=0)
                is_best = True
            else:
                self.best["since"] = int(self.best["since"]) + 1
        lr = self.schedule.lr()
        memory = snapshot(self.device)
        done_seconds = [h["seconds"] for h in self.history] + [seconds]
        eta = float(np.mean(done_seconds)) * (t.epochs - epoch)
        vps = voxels / train_seconds if train_seconds > 0 else None
        record = {"epoch": epoch, "train_loss": train_loss, "lr": lr, "seconds": round(seconds, 3),
                  "val_loss": val.loss if val else None, "val_dice": val.dice if val else None,
                  "voxels_per_s": vps}
        self.history.append(record)
        self.epoch = epoch
        self.progress = {"loss_sum": 0.0, "steps": 0, "seconds": 0.0, "voxels": 0.0}
        if self.info.is_main:
            self.events.emit(ev.EpochEnd(
                epoch=epoch, epochs=t.epochs, train_loss=train_loss, lr=lr, seconds=round(seconds, 3),
                memory=ev.Memory(**memory), val_loss=record["val_loss"], val_dice=record["val_dice"],
                val_dice_per_label=val.dice_per_label if val else None, best_dice=self.best["dice"],
                is_best=is_best, eta_seconds=round(eta, 1), voxels_per_s=vps))
            if self.tb is not None:
                self.tb.scalars({"train_loss": train_loss, "val_loss": record["val_loss"], "val_dice": record["val_dice"],
                                 "lr": lr, "epoch_seconds": seconds, "voxels_per_s": vps,
                                 # 0 on CPU: no CUDA memory in use, and every run has the same charts
                                 "cuda_allocated_mb": memory["gpu_allocated_mb"] or 0.0,
                                 "cuda_reserved_mb": memory["gpu_reserved_mb"] or 0.0}, epoch)
                if val is not None and val.sample is not None:
                    self.tb.image(val.sample["image"], val.sample["label"], val.sample["pred"], epoch)
            self.save("last")
            if is_best:
                self.save("best")
        stop = t.patience > 0 and val is not None and int(self.best["since"]) >= t.patience
        return stop

    # --- checkpoints ---------------------------------------------------------------------------------------------
    def checkpoint_dict(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return full_checkpoint(
            model_state=self.model.state_dict(), architecture=self.model.architecture(), config=to_dict(self.cfg),
            epoch=self.epoch, global_step=self.global_step, optimizer=self.optimizer.state_dict(),
            scheduler=self.schedule.state_dict(), scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            progress=dict(self.progress), best=dict(self.best),
            metrics={"val_dice": last.get("val_dice"), "val_loss": last.get("val_loss"),
                     "train_loss": last.get("train_loss"), "best_dice": self.best["dice"]},
            history=list(self.history), world_size=self.info.world_size, data=getattr(self, "data_info", None))

    def save(self, kind: str) -> Path | None:
        """Write last.pt or best.pt atomically (rank 0 only) and emit a checkpoint event."""
        if not self.info.is_main or self.run_dir is None:
            return None
        path = self.run_dir / (LAST if kind == "last" else BEST)
        save_atomic(self.checkpoint_dict(), path)
        metric = self.best["dice"] if kind == "best" else (self.history[-1]["val_dice"] if self.history else None)
        self.events.emit(ev.Checkpoint(path=str(path), kind=kind, epoch=self.epoch, metric=metric))
        return path

    # --- the run -------------------------------------------------------------------------------------------------
    def _step_event(self, epoch: int, it: int, loss: float, vps: float) -> None:
        now = time.monotonic()
        if self.info.is_main and now - self._last_step_event >= self.cfg.train.step_event_seconds:
            self._last_step_event = now
            self.events.emit(ev.Step(epoch=epoch, iter=it, iters=self.cfg.train.iters_per_epoch,
                                     loss=loss if math.isfinite(loss) else 1e9, lr=self.schedule.lr(),
                                     voxels_per_s=vps))

    def _stop_requested(self) -> bool:
        return distributed.any_rank(self.stop.requested, self.device)

    def remember_data(self, prepared: Any) -> None:
        if prepared is None:
            return  # fit() without a dataset (no validation cases): nothing to record
        self.data_info = {"spacing": [float(s) for s in prepared.spacing],
                          "labels": {str(k): str(v) for k, v in prepared.labels.items()}}

    def fit(self, prepared: Any, val_names: list[str], batches: Callable[[int, int], Iterable[Any]],
            stop_after_epoch: int | None = None) -> Outcome:
        """Train until train.epochs (or early stopping, a signal, or `stop_after_epoch`, which tests use).
        `batches(start_step, count)` yields the batches for global steps start_step .. start_step+count-1."""
        t = self.cfg.train
        self.remember_data(prepared)
        from heartseg.train import finalize  # the final model: weight average per step, BatchNorm batches at the end

        finalize.attach(self, batches, prepared, val_names)
        per_step_voxels = float(self.cfg.data.batch * int(np.prod(self.cfg.data.patch)) * self.info.world_size)
        while self.epoch < t.epochs:
            epoch = self.epoch + 1
            done = int(self.progress["steps"])
            if done == 0 and self.info.is_main:
                self.events.emit(ev.EpochStart(epoch=epoch, epochs=t.epochs, iters=t.iters_per_epoch))
            if self._stop_requested():
                return self._interrupted()
            tick = time.perf_counter()
            for batch in batches(self.global_step, t.iters_per_epoch - done):
                image, label = unpack(batch)
                if self.label_values is not None and self.label_values != list(range(len(self.label_values))):
                    label = torch.searchsorted(torch.tensor(self.label_values, dtype=label.dtype), label.contiguous())
                loss = self.train_step(image, label)
                now = time.perf_counter()
                self.progress["loss_sum"] += loss if math.isfinite(loss) else 0.0
                self.progress["steps"] += 1
                self.progress["seconds"] += now - tick
                self.progress["voxels"] += per_step_voxels / self.info.world_size
                self._step_event(epoch, int(self.progress["steps"]), loss, per_step_voxels / max(now - tick, 1e-9))
                tick = now
                if self._stop_requested():
                    return self._interrupted()
            if self._skipped_steps and self.info.is_main:
                self.events.emit(ev.Warning(message=f"{self._skipped_steps} step(s) skipped: non-finite loss",
                                            hint="lower optim.lr or check the data"))
                self._skipped_steps = 0
            val, val_seconds = None, 0.0
            if val_names and (epoch % t.val_every == 0 or epoch == t.epochs):  # no validation cases: data.fold 'all'
                want_image = self.tb is not None and (epoch % max(1, t.tb_image_every) == 0 or epoch == t.epochs)
                tick = time.perf_counter()
                val = self.validate(prepared, val_names, keep_sample=want_image)
                val_seconds = time.perf_counter() - tick
            if self.epoch_end(epoch, val, val_seconds):
                finalize.finalize(self)  # checkpoints/final.pt
                return Outcome("completed", "early_stopping", 0, self.epoch, self.best["dice"])
            if stop_after_epoch is not None and self.epoch >= stop_after_epoch and self.epoch < t.epochs:
                return Outcome("interrupted", "stop_after_epoch", 130, self.epoch, self.best["dice"])
        finalize.finalize(self)  # checkpoints/final.pt
        return Outcome("completed", "max_epochs", 0, self.epoch, self.best["dice"])

    def _interrupted(self) -> Outcome:
        self.save("last")
        return Outcome("interrupted", self.stop.signal_name or "SIGINT", 130, self.epoch, self.best["dice"])

    def write_graph(self) -> str | None:
        if self.tb is None:
            return None
        side = 2 ** len(self.cfg.model.features)  # the smallest input that passes every level: the graph is the same
        example = torch.zeros((1, self.in_channels, side, side, side), device=self.device)
        return self.tb.graph(self.model, example)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
