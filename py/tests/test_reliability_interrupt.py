"""Interruptions at known points of a real (tiny, deterministic) training lose nothing.

SIGINT and SIGTERM in data preparation, mid-epoch, in validation and inside a checkpoint write; SIGKILL inside a
checkpoint write; then --resume (or, before a run folder exists, a plain restart) must finish with exactly the
uninterrupted run's metrics and weights (tolerance 1e-5). Two runs with one name must not touch each other.
The engine is paused by reliability_hooks.py at each point, so no test depends on timing.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from heartseg.fsutil import is_temporary
from heartseg.train.runfolder import BEST, LAST
from reliability_engine import (Engine, assert_same_training, digest, events, interrupt_at, leftovers,
                                load_weights_only, run_engine)
from test_train_helpers import tiny_config_dict, tiny_dataset

EPOCHS, ITERS = 3, 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SimpleNamespace:
    """A tiny dataset, its config, and the uninterrupted run every interrupted one must equal."""
    home = tmp_path_factory.mktemp("interrupt")
    root = tiny_dataset(home / "data")

    def config(name: str, cache: Path) -> Path:
        path = home / f"{name}.json"
        data = tiny_config_dict(root, cache, epochs=EPOCHS, iters_per_epoch=ITERS, tb_image_every=100)
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    cfg = config("config", home / "cache")
    baseline = home / "baseline"
    rc, _, err = run_engine(["train", "--config", str(cfg), "--run", str(baseline)], home / "markers")
    assert rc == 0, err
    return SimpleNamespace(home=home, cfg=cfg, config=config, baseline=baseline)


def train_args(cfg: Path, run: Path) -> list[str]:
    return ["train", "--config", str(cfg), "--run", str(run)]


def resume_args(run: Path) -> list[str]:
    return ["train", "--run", str(run), "--resume"]


def assert_interrupted(run: Path, result: tuple[int, str, str], sig: signal.Signals, epoch: int) -> dict:
    rc, _, err = result
    assert rc == 130, err
    assert "Traceback" not in err
    end = events(run)[-1]
    assert end["type"] == "run_end" and end["status"] == "interrupted" and end["reason"] == sig.name
    last = load_weights_only(run / LAST)
    assert last["epoch"] == epoch
    assert leftovers(run) == []  # the interrupted write finished and was renamed; the lock is released
    return last


def test_sigint_in_validation_then_sigterm_and_sigkill_inside_checkpoint_writes(tiny, tmp_path):
    run = tmp_path / "a"
    assert_interrupted(run, interrupt_at(train_args(tiny.cfg, run), tmp_path / "m1", "validate:1", signal.SIGINT),
                       signal.SIGINT, epoch=1)
    assert_interrupted(run, interrupt_at(resume_args(run), tmp_path / "m2", "save:1", signal.SIGTERM),
                       signal.SIGTERM, epoch=2)

    # SIGKILL with half of epoch 3's last.pt on disk: the previous last.pt and best.pt must survive untouched
    before = {name: digest(run / name) for name in (LAST, BEST)}
    engine = Engine(resume_args(run), tmp_path / "m3", pause="save:1")
    engine.wait_paused("save")
    assert [p for p in (run / "checkpoints").iterdir() if is_temporary(p.name)], "the kill must land inside a write"
    engine.signal(signal.SIGKILL)
    assert engine.finish()[0] == -signal.SIGKILL
    for name in (LAST, BEST):
        assert digest(run / name) == before[name]
        assert load_weights_only(run / name)["format"] == "heartseg"
    assert load_weights_only(run / LAST)["epoch"] == 2

    rc, _, err = run_engine(resume_args(run), tmp_path / "m4")
    assert rc == 0, err
    assert_same_training(run, tiny.baseline)
    assert leftovers(run) == []  # not even the killed write's temporary file


def test_sigint_mid_epoch_then_sigterm_in_validation_then_sigint_inside_a_checkpoint_write(tiny, tmp_path):
    run = tmp_path / "b"
    last = assert_interrupted(run, interrupt_at(train_args(tiny.cfg, run), tmp_path / "m1", "step:2", signal.SIGINT),
                              signal.SIGINT, epoch=0)
    assert last["global_step"] == 2  # stopped after the step in flight, mid-epoch
    assert_interrupted(run, interrupt_at(resume_args(run), tmp_path / "m2", "validate:1", signal.SIGTERM),
                       signal.SIGTERM, epoch=1)
    assert_interrupted(run, interrupt_at(resume_args(run), tmp_path / "m3", "save:1", signal.SIGINT),
                       signal.SIGINT, epoch=2)
    rc, _, err = run_engine(resume_args(run), tmp_path / "m4")
    assert rc == 0, err
    assert_same_training(run, tiny.baseline)
    starts = [e for e in events(run) if e["type"] == "run_start"]
    assert [s["resumed_from_epoch"] for s in starts] == [None, 0, 1, 2]


def test_sigint_then_sigterm_during_data_preparation_leave_no_run_folder_and_no_half_built_cache(tiny, tmp_path):
    cache = tmp_path / "cache"  # empty: preparation has real work to do
    cfg, run = tiny.config("prep", cache), tmp_path / "run"
    for n, sig in enumerate((signal.SIGINT, signal.SIGTERM)):
        rc, _, err = interrupt_at(train_args(cfg, run), tmp_path / f"m{n}", "prepare:1", sig)
        assert rc == 130, (sig.name, err)
        assert "Traceback" not in err
        assert not run.exists()
        assert list(cache.glob("cases/.tmp-*")) == []  # the staging folder is gone: nothing half-built stays
    rc, _, err = run_engine(train_args(cfg, run), tmp_path / "m2")
    assert rc == 0, err
    assert_same_training(run, tiny.baseline)


def test_two_runs_with_one_name_cannot_corrupt_each_other(tiny, tmp_path):
    run = tmp_path / "one-name"
    first = Engine(train_args(tiny.cfg, run), tmp_path / "m1", pause=f"step:{ITERS + 1}")
    first.wait_paused("step")  # epoch 2: the folder, its lock and epoch 1's last.pt exist
    kept = {name: digest(run / name) for name in ("config.json", "events.jsonl", LAST, BEST)}
    second = Engine(train_args(tiny.cfg, run), tmp_path / "m2")
    third = Engine(resume_args(run), tmp_path / "m3")
    rc2, _, err2 = second.finish()
    rc3, _, err3 = third.finish()
    assert rc2 == 2 and "already exists" in err2 and str(run) in err2, err2
    assert rc3 == 2 and f"in use by process {first.proc.pid}" in err3 and str(run) in err3, err3
    assert {name: digest(run / name) for name in kept} == kept
    first.release()
    rc1, _, err1 = first.finish()
    assert rc1 == 0, err1
    assert_same_training(run, tiny.baseline)
    assert [e["type"] for e in events(run)].count("run_start") == 1
