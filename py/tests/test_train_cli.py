"""`python -m heartseg train` end to end: events, run folder, refusals before anything is created, --init."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.checkpoint import load_checkpoint
from heartseg.events import validate_record
from heartseg.model import build_model
from test_train_helpers import engine, read_events, tiny_config_dict, tiny_dataset, write_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete tiny run (2 epochs x 3 steps), shared by the tests that only read it."""
    tmp = tmp_path_factory.mktemp("train")
    root = tiny_dataset(tmp / "data")
    cfg_dict = tiny_config_dict(root, tmp / "cache", epochs=2)
    cfg = write_config(tmp / "cfg.json", cfg_dict)
    run = tmp / "run"
    result = engine("train", "--config", str(cfg), "--run", str(run))
    assert result.returncode == 0, result.stderr
    return {"tmp": tmp, "root": root, "cfg": cfg, "cfg_dict": cfg_dict, "run": run}


def test_events_of_a_real_run_validate_and_come_in_order(finished):
    events = read_events(finished["run"])
    for record in events:
        validate_record(record)
    types = [e["type"] for e in events]
    assert types[:3] == ["run_start", "data_summary", "epoch_start"]
    assert types[-1] == "run_end" and events[-1]["status"] == "completed" and events[-1]["exit_code"] == 0
    assert types.count("epoch_end") == 2 and types.count("epoch_start") == 2 and "step" in types
    ends = [e for e in events if e["type"] == "epoch_end"]
    assert [e["epoch"] for e in ends] == [1, 2]
    assert all(0 <= e["val_dice"] <= 1 and e["memory"]["cpu_rss_mb"] > 0 for e in ends)
    checkpoints = [e for e in events if e["type"] == "checkpoint"]
    assert [c["kind"] for c in checkpoints].count("last") == 2 and "best" in [c["kind"] for c in checkpoints]
    summary = events[1]
    assert (summary["train_cases"], summary["val_cases"], summary["patch"]) == (3, 1, [16, 16, 16])


def test_run_folder_holds_the_complete_config_and_full_checkpoints(finished):
    run = finished["run"]
    stored = json.loads((run / "config.json").read_text())
    assert stored.keys() == cfgmod.defaults().keys()
    cfg = cfgmod.from_dict(stored)
    assert cfg.model.out_channels == 1 and cfg.data.spacing is not None  # resolved from the dataset
    assert cfg.train.iters_per_epoch == finished["cfg_dict"]["train"]["iters_per_epoch"]
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) == 3 and len(split["val"]) == 1 and not set(split["train"]) & set(split["val"])
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert last.kind == best.kind == "heartseg" and last.epoch == 2
    for key in ("optimizer", "scheduler", "rng", "history", "best", "global_step", "config"):
        assert key in last.full
    assert last.full["global_step"] == 6 and len(last.full["history"]) == 2
    assert best.metrics["best_dice"] == last.full["best"]["dice"]
    assert not (run / ".lock").exists()
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]


def test_an_existing_run_is_refused_without_resume_and_left_untouched(finished):
    run = finished["run"]
    before = (run / "events.jsonl").read_text()
    result = engine("train", "--config", str(finished["cfg"]), "--run", str(run))
    assert result.returncode == 2
    assert "already exists" in result.stderr and str(run) in result.stderr
    assert (run / "events.jsonl").read_text() == before


@pytest.mark.parametrize("change,message", [
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"optim": {"learning_rate": 1}}, "optim.learning_rate"),
    ({"data": {"root": "/nonexistent/dataset"}}, "/nonexistent/dataset"),
    ({"model": {"out_channels": 3}}, "model.out_channels"),
    ({"model": {"in_channels": 2}}, "model.in_channels"),
])
def test_bad_config_or_dataset_is_refused_before_the_run_folder_exists(finished, tmp_path, change, message):
    cfg = write_config(tmp_path / "bad.json", cfgmod.merge(finished["cfg_dict"], change))
    run = tmp_path / "never"
    result = engine("train", "--config", str(cfg), "--run", str(run))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not run.exists()


def test_resume_of_a_missing_run_is_refused(tmp_path):
    result = engine("train", "--run", str(tmp_path / "missing"), "--resume")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_resume_refuses_a_config_that_changes_the_training(finished, tmp_path):
    cfg = write_config(tmp_path / "other.json", {"optim": {"lr": 0.5}})
    result = engine("train", "--config", str(cfg), "--run", str(finished["run"]), "--resume")
    assert result.returncode == 2 and "optim.lr" in result.stderr


def test_a_live_lock_refuses_and_a_stale_lock_is_taken_over(finished, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished["run"], run)
    (run / ".lock").write_text(f"{os.getpid()} {os.uname().nodename}\n")  # this test process: alive
    busy = engine("train", "--run", str(run), "--resume")
    assert busy.returncode == 2 and "in use" in busy.stderr
    (run / ".lock").write_text(f"{2**22 + 12345} {os.uname().nodename}\n")  # beyond pid_max: dead
    more = write_config(tmp_path / "more.json", {"train": {"epochs": 3}})
    taken = engine("train", "--config", str(more), "--run", str(run), "--resume")
    assert taken.returncode == 0, taken.stderr
    assert load_checkpoint(run / "checkpoints" / "last.pt").epoch == 3 and not (run / ".lock").exists()


def test_init_whose_classes_differ_from_the_dataset_is_refused_before_anything_is_written(finished, tmp_path):
    # the network comes from the weights (issue 14): a 3-class head on a 2-label dataset is a refusal, not a partial load
    other = tmp_path / "three_classes.pt"
    torch.save({f"module.{k}": v for k, v in build_model(1, 3, [4, 8]).state_dict().items()}, other)
    cfg = write_config(tmp_path / "cfg.json", cfgmod.merge(finished["cfg_dict"], {"train": {"epochs": 1}}))
    run = tmp_path / "init"
    result = engine("train", "--config", str(cfg), "--run", str(run), "--init", str(other))
    assert result.returncode == 2, result.stderr
    assert "out_channels is 3" in result.stderr and "2 labels" in result.stderr
    assert "Traceback" not in result.stderr
    assert not run.exists()


def test_init_refuses_an_untrusted_checkpoint(finished, tmp_path):
    fixture = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "untrusted_code_checkpoint.pth"
    if not fixture.exists():
        pytest.skip("../shared/fixtures is absent")
    result = engine("train", "--config", str(finished["cfg"]), "--run", str(tmp_path / "r"), "--init", str(fixture),
                    cwd=tmp_path)
    assert result.returncode == 2 and "arbitrary code" in result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "HEARTSEG_PICKLE_EXECUTED").exists()


def test_bad_input_reaches_the_front_as_events_on_the_event_fd(finished, tmp_path):
    import subprocess
    import sys

    from test_train_helpers import PY_ROOT

    cfg = write_config(tmp_path / "bad.json", cfgmod.merge(finished["cfg_dict"], {"data": {"root": str(tmp_path)}}))
    read_fd, write_fd = os.pipe()
    # the front uses fd 3; any number works since the engine reads it from HEARTSEG_EVENT_FD
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), HEARTSEG_EVENT_FD=str(write_fd), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "heartseg", "train", "--config", str(cfg), "--run",
                           str(tmp_path / "run")], env=env, cwd=PY_ROOT, capture_output=True, text=True, timeout=120,
                          pass_fds=(write_fd,))
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        records = [json.loads(line) for line in f.read().splitlines()]
    assert proc.returncode == 2 and not (tmp_path / "run").exists()
    for record in records:
        validate_record(record)
    errors = [r for r in records if r["type"] == "error"]
    assert errors and all(r["kind"] == "bad_input" for r in errors)
    assert records[-1]["type"] == "run_end" and records[-1]["exit_code"] == 2
