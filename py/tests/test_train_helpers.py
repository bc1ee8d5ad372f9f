"""Helpers for the training tests (a tiny synthetic dataset and config), plus a check that they are valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from heartseg import config as cfgmod

PY_ROOT = Path(__file__).resolve().parents[1]


def tiny_dataset(folder: Path, cases: int = 4, shape=(16, 24, 24)) -> Path:
    from heartseg.synth import write_dataset

    return write_dataset(folder, cases, 0, shape, (2.0, 1.25, 1.25))


def tiny_config_dict(data_root: Path, cache_dir: Path, **train: Any) -> dict[str, Any]:
    """Small enough for seconds per run on one thread; deterministic so resumes can be compared exactly."""
    return {
        "data": {"root": str(data_root), "cache_dir": str(cache_dir), "patch": [16, 16, 16], "batch": 2,
                 "val_fraction": 0.25, "foreground_share": 0.5},
        "model": {"features": [4, 8]},
        "optim": {"lr": 0.01},
        "train": {"epochs": 4, "iters_per_epoch": 3, "device": "cpu", "threads": 1, "deterministic": True,
                  "tb_image_every": 1, "step_event_seconds": 0.0, "checkpoint_minutes": 0.0, **train},
        "infer": {"sw_batch": 1, "overlap": 0.25},
    }


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def engine(*args: str, cwd: Path | None = None, timeout: float = 300, **popen: Any):
    """Run `python -m heartseg ARGS` the way the front does (own process, PYTHONPATH at py/)."""
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("HEARTSEG_EVENT_FD", None)
    return subprocess.run([sys.executable, "-m", "heartseg", *args], cwd=cwd or PY_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **popen)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]


def test_tiny_config_is_a_valid_config(tmp_path):
    cfg = cfgmod.from_dict(tiny_config_dict(tmp_path / "data", tmp_path / "cache"))
    assert cfg.train.deterministic and cfg.model.features == [4, 8]


def test_tiny_dataset_prepares(tmp_path):
    from heartseg.data import prepare

    root = tiny_dataset(tmp_path / "data")
    cfg = cfgmod.from_dict(tiny_config_dict(root, tmp_path / "cache"))
    prepared = prepare(cfg.data)
    train, val = prepared.split()
    assert len(train) == 3 and len(val) == 1 and prepared.labels == {0: "background", 1: "left atrium"}
