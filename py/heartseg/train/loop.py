"""The training loop as named steps: start, train_step, validate, epoch_end; `fit` strings them together.

Everything comes from the Config; resume restores the exact state (model, optimiser, schedule, scaler, RNG,
global step, partial-epoch sums), and the patch sampler is stateless per global step, so a resumed run
continues the same sequence of batches as an uninterrupted one.

Speed: precision and memory layout 'auto' are chosen by timing the model at start (train/start.py,
runtime.choose_for); with train.minutes the schedule runs on elapsed time and the run ends on time with lr 0
(optim.TimeBudget); the loss stays on the device and is read at sync points (every step on a CPU, where reading is
free, every start.SYNC_EVERY_CUDA steps on a GPU); last.pt is written every train.checkpoint_minutes and at the end;
one batch stream (one DataLoader, its workers alive) serves the whole run.
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
from heartseg.event_writer import EventWriter, NullWriter
from heartseg.checkpoint import LoadedCheckpoint, save_atomic
from heartseg.config import Config, to_dict
from heartseg.deep_supervision import DS_STATE
from heartseg.train import distributed
from heartseg.train.distributed import DistInfo
from heartseg.train.memory import snapshot
from heartseg.train.runtime import Choice
from heartseg.train.optim import TimeBudget
from heartseg.train.runfolder import BEST, LAST
from heartseg.train.signals import StopRequest
from heartseg.train.start import start_trainer
from heartseg.train.state import full_checkpoint
from heartseg.train.tb import TBLogger
from heartseg.train.validation import ValResult, validate
from heartseg.train.batch import unpack

END_MARGIN = 0.02
"""Share of a time budget kept free besides the final validation and checkpoints (start-up jitter, finalize)."""


@dataclass
class Outcome:
    status: str
    """completed, interrupted (or failed, set by the caller)."""
    reason: str
    exit_code: int
    epoch: int
    best_dice: float | None


class Trainer:
    def __init__(self, cfg: Config, *, in_channels: int, out_channels: int, run_dir: Path | None = None,
                 events: EventWriter | None = None, info: DistInfo | None = None, stop: StopRequest | None = None,
                 log: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        if out_channels < 1 or in_channels < 1:
            raise ValueError(f"in/out channels must be >= 1, got {in_channels}, {out_channels}")
        self.cfg, self.in_channels, self.out_channels = cfg, in_channels, out_channels
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.info = info or DistInfo()
        self.events = events or NullWriter()
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
        self.clock = clock
        """Seconds (monotonic): the time budget, checkpoint cadence and ETA read it; tests give a fake one."""
        self._t0 = clock()
        self.elapsed_before = 0.0
        """Training seconds of earlier sessions of this run (resume)."""
        self.timing: dict[str, float] = {"step": 0.0, "validation": 0.0, "save": 0.0}
        """Longest recent durations, seconds: what the end of a time-budgeted run must leave room for."""
        self.choice: Choice | None = None
        self.ds_heads: torch.nn.ModuleList | None = None
        """The deep-supervision heads while training with train.deep_supervision (saved in last.pt for resume)."""
        self.budget: TimeBudget | None = None
        self._last_save = clock()
        self._loss_acc: torch.Tensor | None = None
        self._nonfinite: torch.Tensor | None = None

    # --- start ---------------------------------------------------------------------------------------------------
    def start(self, resume: LoadedCheckpoint | None = None, init: LoadedCheckpoint | None = None) -> dict[str, Any]:
        """Device, seeds, model, optimiser, schedule, scaler; then restore `resume` or load `init` weights
        (train/start.py). Returns the --init mismatch report (empty lists when nothing was skipped)."""
        return start_trainer(self, resume, init)

    # --- train_step ----------------------------------------------------------------------------------------------
    def train_step(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """One optimiser step on one batch; returns this rank's loss, detached and on the device (reading it waits
        for the device: the loop does so only at sync points). A step whose gradients are not finite is skipped."""
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
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        if self.scaler.is_enabled():
            # the inf check stays on the device, where the fused optimiser reads it; DDP has already averaged the
            # gradients, so every rank skips the same steps without a reduction of its own
            self.scaler.unscale_(self.optimizer)
            if clip < math.inf:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update(None if self.amp_dtype == torch.float16 else 1.0)
        else:
            # CPU: reading the norm costs nothing (no device to wait for); gradients are identical on every rank
            norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
            if bool(torch.isfinite(norm)):
                self.optimizer.step()
            else:
                self._skipped_steps += 1  # a non-finite gradient would poison the weights; skip this update
                self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        self.global_step += 1
        value = loss.detach().float()
        finite = torch.isfinite(value)
        if self._loss_acc is None or self._loss_acc.device != value.device:
            self._loss_acc = torch.zeros((), dtype=torch.float64, device=value.device)
            self._nonfinite = torch.zeros((), dtype=torch.int64, device=value.device)
        self._loss_acc += torch.where(finite, value, torch.zeros_like(value))
        if self.scaler.is_enabled():
            self._nonfinite += (~finite).long()
        return value

    def _flush_loss(self) -> None:
        """Move the device-side loss sum into progress (one read of the device)."""
        if self._loss_acc is None:
            return
        self.progress["loss_sum"] += float(self._loss_acc)
        self._skipped_steps += int(self._nonfinite) if self._nonfinite is not None else 0
        self._loss_acc.zero_()
        if self._nonfinite is not None:
            self._nonfinite.zero_()

    # --- validate ------------------------------------------------------------------------------------------------
    def validate(self, prepared: Any, names: list[str], keep_sample: bool = False) -> ValResult:
        return validate(self.model, prepared, names, self.cfg, self.out_channels, self.device, keep_sample)

    # --- epoch_end -----------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds this run has trained, earlier sessions included."""
        return self.elapsed_before + (self.clock() - self._t0)

    def _reserve(self, budget: float) -> float:
        """What the end of a budgeted run needs: the final validation and final.pt's own (the longest seen; a tenth
        of the budget before the first), its BatchNorm batches, the last checkpoints, and a margin."""
        validation = self.timing["validation"] if self.timing["validation"] > 0 else 0.1 * budget
        bn_batches = 0.5 * self.cfg.train.bn_recalibration * self.timing["step"]  # forward only: about half a step
        return 2.25 * validation + bn_batches + 3.0 * self.timing["save"] + END_MARGIN * budget

    def epoch_end(self, epoch: int, val: ValResult | None, val_seconds: float = 0.0, final: bool = False) -> bool:
        """Events, TensorBoard, checkpoints (last.pt every train.checkpoint_minutes, and when `final`); returns
        True when early stopping says stop."""
        t = self.cfg.train
        self._flush_loss()
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
        stop = t.patience > 0 and val is not None and int(self.best["since"]) >= t.patience
        final = final or stop or epoch >= t.epochs
        lr = self.schedule.lr()
        memory = snapshot(self.device)
        done_seconds = [h["seconds"] for h in self.history] + [seconds]
        elapsed = self.elapsed()
        budget = t.minutes * 60.0 if t.minutes > 0 else None
        eta = 0.0 if final else float(np.mean(done_seconds)) * (t.epochs - epoch)
        if budget is not None and not final:
            eta = min(eta, max(0.0, budget - elapsed))
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
                is_best=is_best, eta_seconds=round(eta, 1), voxels_per_s=vps, elapsed_seconds=round(elapsed, 1),
                budget_seconds=budget))
            if self.tb is not None:
                self.tb.scalars({"train_loss": train_loss, "val_loss": record["val_loss"], "val_dice": record["val_dice"],
                                 "lr": lr, "epoch_seconds": seconds, "voxels_per_s": vps,
                                 # 0 on CPU: no CUDA memory in use, and every run has the same charts
                                 "cuda_allocated_mb": memory["gpu_allocated_mb"] or 0.0,
                                 "cuda_reserved_mb": memory["gpu_reserved_mb"] or 0.0}, epoch)
                if val is not None and val.sample is not None:
                    self.tb.image(val.sample["image"], val.sample["label"], val.sample["pred"], epoch)
            due = t.checkpoint_minutes <= 0 or self.clock() - self._last_save >= t.checkpoint_minutes * 60.0
            if due or final:
                self.save("last")
            if is_best:
                self.save("best")
        return stop

    # --- checkpoints ---------------------------------------------------------------------------------------------
    def checkpoint_dict(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        state = full_checkpoint(
            model_state=self.model.state_dict(), architecture=self.model.architecture(), config=to_dict(self.cfg),
            epoch=self.epoch, global_step=self.global_step, optimizer=self.optimizer.state_dict(),
            scheduler=self.schedule.state_dict(), scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            progress={**self.progress, "elapsed": round(self.elapsed(), 3)}, best=dict(self.best),
            metrics={"val_dice": last.get("val_dice"), "val_loss": last.get("val_loss"),
                     "train_loss": last.get("train_loss"), "best_dice": self.best["dice"]},
            history=list(self.history), world_size=self.info.world_size,
            data={**(getattr(self, "data_info", None) or {}), "timing": dict(self.timing)})
        if self.ds_heads is not None:
            state[DS_STATE] = {k: v.detach().cpu() for k, v in self.ds_heads.state_dict().items()}
        return state

    def save(self, kind: str) -> Path | None:
        """Write last.pt or best.pt atomically (rank 0 only) and emit a checkpoint event."""
        if not self.info.is_main or self.run_dir is None:
            return None
        path = self.run_dir / (LAST if kind == "last" else BEST)
        self._flush_loss()
        tick = self.clock()
        save_atomic(self.checkpoint_dict(), path)
        now = self.clock()
        self.timing["save"] = max(self.timing["save"], now - tick)
        if kind == "last":
            self._last_save = now
        metric = self.best["dice"] if kind == "best" else (self.history[-1]["val_dice"] if self.history else None)
        self.events.emit(ev.Checkpoint(path=str(path), kind=kind, epoch=self.epoch, metric=metric))
        return path

    # --- the run -------------------------------------------------------------------------------------------------
    def _step_event(self, epoch: int, it: int, loss: float, vps: float) -> None:
        self._last_step_event = self.clock()
        if self.info.is_main:
            self.events.emit(ev.Step(epoch=epoch, iter=it, iters=self.cfg.train.iters_per_epoch,
                                     loss=loss if math.isfinite(loss) else 1e9, lr=self.schedule.lr(),
                                     voxels_per_s=vps, elapsed_seconds=round(self.elapsed(), 1)))

    def _sync_point(self) -> tuple[bool, float]:
        """(stop requested on any rank, elapsed seconds: the largest over ranks, so every rank sets the same lr)."""
        stop, elapsed = bool(self.stop.requested), self.elapsed()
        if self.info.enabled:
            flag, elapsed = distributed.reduce_floats([1.0 if stop else 0.0, elapsed], self.device, op="max")
            stop = flag > 0
        return stop, elapsed

    def _stop_requested(self) -> bool:
        return distributed.any_rank(self.stop.requested, self.device)

    def remember_data(self, prepared: Any) -> None:
        if prepared is None:
            return  # fit() without a dataset (no validation cases): nothing to record
        self.data_info = {"spacing": [float(s) for s in prepared.spacing],
                          "labels": {str(k): str(v) for k, v in prepared.labels.items()}}

    def fit(self, prepared: Any, val_names: list[str], batches: Callable[[int, int], Iterable[Any]],
            stop_after_epoch: int | None = None) -> Outcome:
        """Train until train.epochs, the time budget (train.minutes), early stopping, a signal, or
        `stop_after_epoch` (tests). `batches(start_step, count)` yields the batches for global steps
        start_step .. start_step+count-1; it is called once for the whole run, so loader workers live as long."""
        t = self.cfg.train
        self.remember_data(prepared)
        from heartseg.train import finalize  # the final model: weight average per step, BatchNorm batches at the end

        finalize.attach(self, batches, prepared, val_names)
        remaining = t.epochs * t.iters_per_epoch - self.global_step
        if self.epoch >= t.epochs or remaining <= 0:
            return Outcome("completed", "max_epochs", 0, self.epoch, self.best["dice"])
        stream = iter(batches(self.global_step, remaining))
        try:
            return self._fit(prepared, val_names, stream, stop_after_epoch)
        finally:
            close = getattr(stream, "close", None) or getattr(stream, "_shutdown_workers", None)
            if callable(close):
                close()
            del stream

    def _fit(self, prepared: Any, val_names: list[str], stream: Any, stop_after_epoch: int | None) -> Outcome:
        t = self.cfg.train
        per_step_voxels = float(self.cfg.data.batch * int(np.prod(self.cfg.data.patch)) * self.info.world_size)
        out_of_time = False
        while self.epoch < t.epochs and not out_of_time:
            epoch = self.epoch + 1
            done = int(self.progress["steps"])
            if done == 0 and self.info.is_main:
                self.events.emit(ev.EpochStart(epoch=epoch, epochs=t.epochs, iters=t.iters_per_epoch))
            stop, elapsed = self._sync_point()
            if stop:
                return self._interrupted()
            tick = self.clock()
            window = (tick, 0)  # start and steps of the throughput window of the next step event
            for _ in range(t.iters_per_epoch - done):
                batch = next(stream)
                image, label = unpack(batch)
                if self.label_values is not None and self.label_values != list(range(len(self.label_values))):
                    label = torch.searchsorted(torch.tensor(self.label_values, dtype=label.dtype), label.contiguous())
                loss = self.train_step(image, label)
                now = self.clock()
                self.progress["steps"] += 1
                self.progress["seconds"] += now - tick
                self.progress["voxels"] += per_step_voxels / self.info.world_size
                window = (window[0], window[1] + 1)
                tick = now
                if self.global_step % self.sync_every and int(self.progress["steps"]) < t.iters_per_epoch:
                    continue
                # a sync point: the loss, the clock and the stop flag are read here only
                step_seconds = (now - window[0]) / max(1, window[1])
                self.timing["step"] = step_seconds if self.timing["step"] == 0 else \
                    0.8 * self.timing["step"] + 0.2 * step_seconds
                stop, elapsed = self._sync_point()
                if self.budget is not None:
                    self.budget.set_reserve(self._reserve(self.budget.budget))
                    self.schedule.set_fraction(self.budget.advance(elapsed))
                    out_of_time = self.budget.out_of_time(elapsed, self.sync_every * self.timing["step"])
                if now - self._last_step_event >= t.step_event_seconds or out_of_time:
                    value = float(loss)
                    self._step_event(epoch, int(self.progress["steps"]), value,
                                     per_step_voxels * window[1] / max(now - window[0], 1e-9))
                    window = (now, 0)
                if stop:
                    return self._interrupted()
                if out_of_time:
                    self.schedule.finish()  # the budget ends here: lr exactly 0, then the final validation
                    break
            self._flush_loss()
            if self._skipped_steps and self.info.is_main:
                self.events.emit(ev.Warning(message=f"{self._skipped_steps} step(s) skipped: non-finite loss",
                                            hint="lower optim.lr or check the data"))
                self._skipped_steps = 0
            final = out_of_time or epoch == t.epochs
            if final:
                self.schedule.finish()
            val, val_seconds = None, 0.0
            if val_names and (epoch % t.val_every == 0 or final):  # no validation cases: data.fold 'all'
                want_image = self.tb is not None and (epoch % max(1, t.tb_image_every) == 0 or final)
                tick = self.clock()
                val = self.validate(prepared, val_names, keep_sample=want_image)
                val_seconds = self.clock() - tick
                self.timing["validation"] = max(0.8 * self.timing["validation"], val_seconds)
            if self.epoch_end(epoch, val, val_seconds, final=final):
                self._end_of_training()
                return Outcome("completed", "early_stopping", 0, self.epoch, self.best["dice"])
            if stop_after_epoch is not None and self.epoch >= stop_after_epoch and self.epoch < t.epochs \
                    and not out_of_time:
                self.save("last")
                return Outcome("interrupted", "stop_after_epoch", 130, self.epoch, self.best["dice"])
        self._end_of_training()
        return Outcome("completed", "time_budget" if out_of_time else "max_epochs", 0, self.epoch, self.best["dice"])

    def _end_of_training(self) -> None:
        """Once, after the last step, its validation and last.pt: checkpoints/final.pt (train/finalize.py)."""
        from heartseg.train import finalize

        finalize.finalize(self)

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
