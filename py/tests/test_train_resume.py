"""Exact resume: 2 epochs + resume + 2 epochs equals 4 epochs; SIGINT mid-epoch then --resume completes the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.checkpoint import load_checkpoint
from heartseg.data import PatchSampler, make_train_loader, prepare
from heartseg.event_writer import EventWriter
from heartseg.events import validate_record
from heartseg.train.loop import Trainer
from heartseg.train.runfolder import LAST
from test_train_helpers import PY_ROOT, engine, read_events, tiny_config_dict, tiny_dataset, write_config


def _fit(cfg: cfgmod.Config, run_dir: Path, stop_after: int | None = None, resume: bool = False) -> Trainer:
    prepared = prepare(cfg.data)
    train_names, val_names = prepared.split()
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, in_channels=1, out_channels=1, run_dir=run_dir, events=EventWriter(run_dir))
    trainer.start(resume=load_checkpoint(run_dir / LAST) if resume else None)
    sampler = PatchSampler(prepared, train_names, cfg.data, cfg.augment, cfg.train.seed, 0)
    trainer.fit(prepared, val_names, lambda start, n: make_train_loader(sampler, start, n, 0), stop_after_epoch=stop_after)
    trainer.close()
    return trainer


def test_two_plus_two_epochs_equal_four(tmp_path, restore_torch_globals):
    root = tiny_dataset(tmp_path / "data")
    cfg_dict = tiny_config_dict(root, tmp_path / "cache", epochs=4, val_every=1)
    straight = _fit(cfgmod.from_dict(cfg_dict), tmp_path / "straight")
    first = _fit(cfgmod.from_dict(cfg_dict), tmp_path / "split", stop_after=2)
    assert first.epoch == 2 and len(first.history) == 2
    resumed = _fit(cfgmod.from_dict(cfg_dict), tmp_path / "split", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(straight.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
    assert straight.global_step == resumed.global_step == 12
    for (k, p), (_, q) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(p.float(), q.float(), atol=1e-5), k
    # the training state really is restored, not recomputed: a different schedule position would change lr
    assert resumed.schedule.step_count == 12


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"engine exited early ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the engine")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_epoch_then_resume_completes_like_an_uninterrupted_run(tmp_path, sig):
    root = tiny_dataset(tmp_path / "data")
    cfg = write_config(tmp_path / "cfg.json", tiny_config_dict(root, tmp_path / "cache", epochs=2,
                                                                  iters_per_epoch=40))
    straight = engine("train", "--config", str(cfg), "--run", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1")
    env.pop("HEARTSEG_EVENT_FD", None)
    proc = subprocess.Popen([sys.executable, "-m", "heartseg", "train", "--config", str(cfg), "--run", str(run)],
                            cwd=PY_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events_file = run / "events.jsonl"
        _wait_for(lambda: events_file.exists() and sum('"type":"step"' in line for line in
                                                       events_file.read_text().splitlines()) >= 3, 120, proc)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, proc.stderr.read()
    events = read_events(run)
    for record in events:
        validate_record(record)
    end = events[-1]
    assert end["type"] == "run_end" and end["status"] == "interrupted" and end["reason"] == sig.name
    last = load_checkpoint(run / LAST)
    steps = last.full["global_step"]
    assert 3 <= steps < 80 and not (run / ".lock").exists()

    resumed = engine("train", "--run", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    events = read_events(run)
    starts = [e for e in events if e["type"] == "run_start"]
    assert len(starts) == 2 and starts[1]["resumed_from_epoch"] == last.epoch
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed"
    done = load_checkpoint(run / LAST).full
    want = load_checkpoint(tmp_path / "straight" / LAST).full
    assert done["global_step"] == want["global_step"] == 80
    for a, b in zip(want["history"], done["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_dice"] == pytest.approx(b["val_dice"], abs=1e-5)
