"""Resources running out: a full disk inside a checkpoint write, read-only run folders, CUDA out of memory.

Each ends in one clear line naming the path (or the batch/patch that would fit), no traceback, and no partial
file. The full disk and the out-of-memory error are injected by reliability_hooks.py into the real engine.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from types import SimpleNamespace

import pytest

from heartseg.train.runfolder import BEST, LAST
from reliability_engine import digest, events, leftovers, load_weights_only, permission_prefix, run_engine
from test_train_helpers import tiny_config_dict, tiny_dataset

BATCH, PATCH = 2, [16, 16, 16]


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory) -> SimpleNamespace:
    """A run whose disk fills during its third checkpoint write (epoch 2's last.pt, after epoch 1's last and best)."""
    home = tmp_path_factory.mktemp("resources")
    root = tiny_dataset(home / "data")
    cfg = home / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(root, home / "cache", epochs=2, iters_per_epoch=2, tb_image_every=100)),
                   encoding="utf-8")
    run = home / "full"
    rc, out, err = run_engine(["train", "--config", str(cfg), "--run", str(run)], home / "markers", fail="save:ENOSPC:3")
    return SimpleNamespace(home=home, cfg=cfg, run=run, rc=rc, out=out, err=err)


def own_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("heartseg: ")]


def test_a_full_disk_in_a_checkpoint_write_names_the_file_and_leaves_no_partial_file(full_disk):
    run, err = full_disk.run, full_disk.err
    assert full_disk.rc == 1, err
    assert any("No space left on device" in line and str(run / LAST) in line for line in own_lines(err)), err
    assert "Traceback" not in err  # a full disk is not a bug: one line, not a stack
    assert leftovers(run) == []
    assert load_weights_only(run / LAST)["epoch"] == 1  # the previous checkpoint is intact
    assert load_weights_only(run / BEST)["epoch"] == 1
    end = events(run)[-1]
    assert end["type"] == "run_end" and end["status"] == "failed"
    assert any(e["type"] == "error" and e.get("kind") == "io" for e in events(run))


def test_cuda_out_of_memory_says_which_batch_or_patch_would_fit(full_disk, tmp_path):
    run = tmp_path / "oom"
    rc, _, err = run_engine(["train", "--config", str(full_disk.cfg), "--run", str(run)], tmp_path / "m",
                            fail="step:OOM:1")
    assert rc == 1, err
    assert "Traceback" not in err
    said = " ".join(own_lines(err) + [f"{e['message']} {e.get('hint') or ''}" for e in events(run) if e["type"] == "error"])
    smaller_batch = [int(b) for b in re.findall(r"batch\D{0,16}?(\d+)", said) if int(b) < BATCH]
    smaller_patch = [p for p in re.findall(r"patch\D{0,16}?(\d+)\D{1,4}(\d+)\D{1,4}(\d+)", said)
                     if math.prod(map(int, p)) < math.prod(PATCH)]
    assert smaller_batch or smaller_patch, said
    assert any(e["type"] == "error" and e.get("kind") == "out_of_memory" for e in events(run))
    assert leftovers(run) == []


needs_permissions = pytest.mark.skipif(permission_prefix() is None,
                                       reason="running as root without setpriv: chmod cannot make a folder read-only")


@needs_permissions
def test_a_read_only_runs_folder_is_refused_naming_it_and_nothing_is_written(full_disk, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    rc, _, err = run_engine(["train", "--config", str(full_disk.cfg), "--run", str(runs / "new")], tmp_path / "m",
                            prefix=permission_prefix())
    assert rc == 2, err
    assert any(str(runs) in line and re.search(r"permission|read-only|not writable", line, re.I) for line in own_lines(err)), err
    assert "Traceback" not in err
    assert list(runs.iterdir()) == []


@needs_permissions
def test_resuming_a_read_only_run_folder_is_refused_before_training_and_changes_nothing(full_disk, tmp_path):
    run = tmp_path / "ro"
    shutil.copytree(full_disk.run, run)
    before = {str(p): digest(p) for p in run.rglob("*") if p.is_file()}
    for p in [run, *run.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    rc, _, err = run_engine(["train", "--run", str(run), "--resume"], tmp_path / "m", prefix=permission_prefix())
    assert rc == 2, err
    assert any(str(run) in line and re.search(r"permission|read-only|not writable", line, re.I) for line in own_lines(err)), err
    assert "Traceback" not in err
    assert {str(p): digest(p) for p in run.rglob("*") if p.is_file()} == before
