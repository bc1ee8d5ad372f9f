"""TensorBoard: a real run's tags read back with tensorboard's own reader; tbread on the seed log; overlays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heartseg.commands.tbread import read_scalars, tags
from heartseg.train.tb import IMAGE_TAG, TAGS, best_slice, overlay
from test_train_helpers import engine, tiny_config_dict, tiny_dataset, write_config

SEED_LOG = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "seed_run_tensorboard"


def test_a_short_run_writes_every_tag(tmp_path):
    root = tiny_dataset(tmp_path / "data")
    cfg = write_config(tmp_path / "cfg.json", tiny_config_dict(root, tmp_path / "cache", epochs=2))
    result = engine("train", "--config", str(cfg), "--run", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    found = tags(tmp_path / "run" / "tensorboard")
    assert set(TAGS.values()) <= set(found["scalars"])
    assert found["images"] == [IMAGE_TAG] and found["graph"]
    scalars = read_scalars(tmp_path / "run" / "tensorboard")
    assert [step for step, _ in scalars["Loss/train"]] == [1, 2]
    assert all(0 <= v <= 1 for _, v in scalars["Dice/val"])
    cli = engine("tbread", str(tmp_path / "run" / "tensorboard"))
    assert cli.returncode == 0 and json.loads(cli.stdout)["scalars"]["Loss/train"] == scalars["Loss/train"]


@pytest.mark.skipif(not SEED_LOG.is_dir(), reason="../shared/fixtures is absent")
def test_tbread_reads_the_seed_run():
    result = engine("tbread", str(SEED_LOG))
    assert result.returncode == 0, result.stderr
    scalars = json.loads(result.stdout)["scalars"]
    for tag, first, last in [("Loss/Train", 0.9463, 0.9371), ("Loss/Val", 0.9725, 0.9690)]:
        assert [s for s, _ in scalars[tag]] == list(range(17))
        assert scalars[tag][0][1] == pytest.approx(first, abs=1e-4)
        assert scalars[tag][-1][1] == pytest.approx(last, abs=1e-4)
    assert all(v == pytest.approx(1e-4) for _, v in scalars["LR"])


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_tbread_refuses_folders_without_event_files(tmp_path, make):
    result = engine("tbread", str(make(tmp_path)))
    assert result.returncode == 2 and str(make(tmp_path)) in result.stderr


def test_overlay_tints_reference_and_prediction_side_by_side():
    image = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    label = np.zeros((4, 4), np.uint8)
    label[1, 1] = 1
    pred = np.zeros((4, 4), np.uint8)
    pred[2, 2] = 1
    out = overlay(image, label, pred)
    assert out.shape == (3, 4, 8) and out.dtype == np.uint8
    left, right = out[:, :, :4], out[:, :, 4:]
    assert left[0, 1, 1] > left[2, 1, 1]  # red tint where the reference is
    assert right[0, 2, 2] > right[2, 2, 2] and right[0, 1, 1] == right[1, 1, 1] == right[2, 1, 1]  # grey elsewhere
    with pytest.raises(ValueError):
        overlay(image, label[:3], pred)


@pytest.mark.parametrize("fg_slices,expected", [([], 2), ([1], 1), ([0, 3, 3], 3)])
def test_best_slice_has_the_most_foreground(fg_slices, expected):
    label = np.zeros((5, 3, 3), np.uint8)
    for i, z in enumerate(fg_slices):
        label[z, i % 3, :] = 1
    assert best_slice(label) == expected
