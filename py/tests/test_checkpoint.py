"""Checkpoint loading (safe, every supported layout), refusals with clear messages, atomic saving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from heartseg.checkpoint import load_checkpoint, load_into, model_from_checkpoint, save_atomic
from heartseg.errors import BadInput
from heartseg.model import build_model

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")


@needs_shared
def test_untrusted_pickle_is_refused_and_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the payload would create HEARTSEG_PICKLE_EXECUTED in the working directory
    path = FIXTURES / "untrusted_code_checkpoint.pth"
    with pytest.raises(BadInput) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert str(path) in text and "arbitrary code" in text and "refused" in text
    assert not (tmp_path / "HEARTSEG_PICKLE_EXECUTED").exists()
    assert list(tmp_path.iterdir()) == []


@needs_shared
@pytest.mark.parametrize("name", ["seed_tiny_state_dict.pth", "seed_tiny_dataparallel_state_dict.pth"])
def test_seed_checkpoints_load_as_raw(name):
    model, ckpt = model_from_checkpoint(FIXTURES / name)
    assert ckpt.kind == "raw" and ckpt.full is None and ckpt.epoch is None
    assert ckpt.architecture["features"] == [4, 8, 16, 32]
    assert not any(k.startswith("module.") for k in ckpt.state_dict)
    assert not model.training


def _write(tmp_path: Path, name: str, obj) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_wrapped_and_prefixed_state_dicts_load(tmp_path):
    model = build_model(1, 2, [2, 4])
    sd = model.state_dict()
    for i, obj in enumerate([sd, {"state_dict": sd}, {"model_state_dict": {f"module.{k}": v for k, v in sd.items()}}]):
        ckpt = load_checkpoint(_write(tmp_path, f"c{i}.pt", obj))
        assert ckpt.kind == "raw"
        assert ckpt.architecture == {"in_channels": 1, "out_channels": 2, "features": [2, 4]}
        assert set(ckpt.state_dict) == set(sd)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"this is not a checkpoint", "not a PyTorch checkpoint"),
    (b"PK\x03\x04broken zip", "not a"),
    (b'{"json": true}', "not a PyTorch checkpoint"),
])
def test_corrupt_files_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("obj,message", [
    ({"epoch": 3, "lr": 0.1}, "no state_dict of tensors"),
    ([1, 2, 3], "no state_dict of tensors"),
    ({"weight": torch.zeros(3)}, "not a UNet3D state_dict"),
])
def test_non_unet_checkpoints_are_refused(tmp_path, obj, message):
    path = _write(tmp_path, "other.pt", obj)
    with pytest.raises(BadInput, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(BadInput, match="not a file"):
        load_checkpoint(tmp_path)


def test_heartseg_checkpoint_carries_its_training_state(tmp_path):
    model = build_model(1, 1, [2, 4])
    full = {"format": "heartseg", "format_version": 1, "model": model.state_dict(), "epoch": 7,
            "config": {"train": {"epochs": 9}}, "metrics": {"best_dice": 0.9}, "optimizer": {"state": {}}}
    ckpt = load_checkpoint(_write(tmp_path, "full.pt", full))
    assert (ckpt.kind, ckpt.epoch, ckpt.metrics, ckpt.config) == ("heartseg", 7, {"best_dice": 0.9},
                                                                    {"train": {"epochs": 9}})
    assert ckpt.full["optimizer"] == {"state": {}}


def test_strict_load_reports_mismatches_and_loose_load_skips_them(tmp_path):
    src = build_model(1, 3, [2, 4])
    dst = build_model(1, 1, [2, 4])
    with pytest.raises(BadInput, match="final_conv"):
        load_into(dst, src.state_dict(), strict=True, file="x.pt")
    report = load_into(dst, src.state_dict(), strict=False)
    assert sorted(s.split(":")[0] for s in report["shape"]) == ["final_conv.bias", "final_conv.weight"]
    assert report["missing"] == [] and report["unexpected"] == []
    key = "encoder_layers.0.double_conv.0.weight"
    assert torch.equal(dst.state_dict()[key], src.state_dict()[key])


def test_model_from_checkpoint_refuses_a_state_dict_with_extra_keys(tmp_path):
    sd = dict(build_model(1, 1, [2, 4]).state_dict())
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(BadInput, match="unexpected"):
        model_from_checkpoint(_write(tmp_path, "extra.pt", sd))


def test_save_atomic_replaces_whole_files_only(tmp_path):
    path = tmp_path / "sub" / "last.pt"
    save_atomic({"a": torch.ones(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    with pytest.raises(Exception):
        save_atomic({"bad": lambda: None}, path)  # cannot be pickled: the old file must survive untouched
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert sorted(os.listdir(path.parent)) == ["last.pt"]
