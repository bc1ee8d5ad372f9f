"""`train --init CKPT`: fine-tuning takes the checkpoint's network and preprocessing; a different network is refused.

seed_tiny_trained_state_dict.pth is a bare state_dict of UNet3D(1, 1, [4, 8, 16, 32]) whose weights differ from any
fresh initialisation, so a first-step loss that differs from the same run without --init shows the weights were used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from test_train_helpers import engine, read_events, write_config

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
LA2018 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "la2018"
TRAINED = FIXTURES / "seed_tiny_trained_state_dict.pth"
pytestmark = pytest.mark.skipif(not (TRAINED.is_file() and (LA2018 / "dataset.json").is_file()),
                                reason="../shared fixtures or la2018 absent")


def config(tmp_path: Path, **model) -> Path:
    """No model.features and no preprocessing keys: those are the checkpoint's to give."""
    data = {"data": {"root": str(LA2018), "cache_dir": str(tmp_path / "cache"), "patch": [16, 32, 32], "batch": 2,
                     "max_cases": 3, "val_fraction": 0.34},
            "optim": {"lr": 1e-9, "grad_clip": 0.0},
            "train": {"epochs": 1, "iters_per_epoch": 1, "device": "cpu", "threads": 1, "deterministic": True,
                      "step_event_seconds": 0.0, "seed": 0},
            "infer": {"sw_batch": 4, "overlap": 0.0}}
    if model:
        data["model"] = model
    return write_config(tmp_path / ("cfg-model.json" if model else "cfg.json"), data)


def first_loss(run: Path) -> float:
    return next(r["loss"] for r in read_events(run) if r["type"] == "step")


def test_init_takes_the_network_and_preprocessing_from_the_weights(tmp_path):
    run = tmp_path / "runs" / "ft"
    r = engine("train", "--config", str(config(tmp_path)), "--run", str(run), "--init", str(TRAINED), timeout=900)
    assert r.returncode == 0, r.stderr
    assert "all keys matched" in r.stdout
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["features"] == [4, 8, 16, 32] and cfg["model"]["out_channels"] == 1
    # a bare state_dict: fine-tuned with the pipeline it was trained with (the classic script's)
    assert cfg["data"]["normalization"] == "minmax" and cfg["data"]["spacing"] == "native"
    assert cfg["infer"]["postprocess"] == [] and cfg["infer"]["threshold"] == 0.5
    # every parameter was loaded: one step at lr 1e-9 leaves them where the checkpoint had them
    trained = torch.load(str(TRAINED), weights_only=True)
    last = torch.load(str(run / "checkpoints" / "last.pt"), weights_only=True)["model"]
    assert set(last) == set(trained)
    for key, value in trained.items():
        if "running_" not in key and "num_batches" not in key:  # BatchNorm statistics move in a training step
            assert torch.allclose(last[key], value, atol=1e-6), key
    warnings = [e["message"] for e in read_events(run) if e["type"] == "warning"]
    assert any("comes from the checkpoint's weights" in w for w in warnings)
    # the same run from a fresh initialisation (same seed, same patches) starts from another loss
    fresh = tmp_path / "runs" / "fresh"
    write_config(tmp_path / "fresh.json", {**json.loads((tmp_path / "cfg.json").read_text()),
                                            "model": {"features": [4, 8, 16, 32]},
                                            "data": {**json.loads((tmp_path / "cfg.json").read_text())["data"],
                                                     "normalization": "minmax", "spacing": "native"}})
    r = engine("train", "--config", str(tmp_path / "fresh.json"), "--run", str(fresh), timeout=900)
    assert r.returncode == 0, r.stderr
    assert abs(first_loss(run) - first_loss(fresh)) > 1e-4, (first_loss(run), first_loss(fresh))


def test_init_with_other_features_is_refused_naming_tensors(tmp_path):
    run = tmp_path / "runs" / "ft"
    r = engine("train", "--config", str(config(tmp_path, features=[8, 16])), "--run", str(run), "--init",
               str(TRAINED), timeout=600)
    assert r.returncode == 2, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("heartseg:")]
    assert len(line) == 1 and "features=[4, 8, 16, 32]" in line[0] and "encoder_layers.0.double_conv.0.weight" in line[0]
    assert not run.exists()


def test_apply_init_unit():
    """The rules without a training run: what is taken, what is kept, what the user's keys change."""
    from heartseg import config as cfgmod
    from heartseg.checkpoint import load_checkpoint
    from heartseg.train.setup import apply_init

    init = load_checkpoint(TRAINED)
    cfg = cfgmod.from_dict({"data": {"patch": [16, 32, 32], "normalization": "zscore"}})
    notes = apply_init(cfg, {"data": {"patch": [16, 32, 32], "normalization": "zscore"}}, init)
    assert cfg.model.features == [4, 8, 16, 32] and cfg.data.normalization == "zscore"  # the user's key wins
    assert cfg.data.spacing == "native" and "overridden" in notes[0] and "assumed" in notes[0]
    with pytest.raises(Exception, match="patch"):
        apply_init(cfgmod.from_dict({"data": {"patch": [8, 32, 32]}, "model": {"features": [4, 8]}}),
                   {"data": {"patch": [8, 32, 32]}}, init)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_plan_with_init_plans_only_what_the_checkpoint_leaves_free(device):
    from heartseg import planning as P
    from heartseg.checkpoint import LoadedCheckpoint, application
    from heartseg.planning.fixed import fit_to_checkpoint

    dev = (P.Device("cpu", "2-core test CPU", 2, 16.0, 2 * 25e9) if device == "cpu"
           else P.Device("cuda", "4 GB test GPU", 8, 4.0, 20e12))
    fp = P.Fingerprint([[0.625] * 3] * 20, [[88, 140, 190]] * 20, label_fractions={1: 0.08})
    own = P.make_plan(fp, dev)
    arch = {"in_channels": 1, "out_channels": 1, "features": [32, 64, 128, 256, 320]}
    ckpt = LoadedCheckpoint(state_dict={}, architecture=arch, kind="raw")
    plan = fit_to_checkpoint(own, dev, arch, application(ckpt))
    assert plan.config["model"]["features"] == arch["features"]
    assert plan.config["data"]["normalization"] == "minmax" and plan.config["data"]["spacing"] == "native"
    assert all(p % 32 == 0 and p >= 32 for p in plan.config["data"]["patch"])  # 5 levels
    assert "not planned" in plan.reasons["model.features"] and "kept from the checkpoint" in plan.reasons["data.spacing"]
    assert plan.reasons["data.patch"].startswith("planned for the checkpoint's network")
    # estimates are those of the checkpoint's network on the chosen patch, not of the plan's own network
    from heartseg import cost
    from heartseg.planning.rules import step_seconds

    assert plan.estimates["parameters"] == cost.parameters(arch["features"]) != own.estimates["parameters"]
    assert plan.estimates["step_seconds"] == round(step_seconds(arch["features"], plan.config["data"]["patch"],
                                                                plan.config["data"]["batch"], dev), 3)
    assert plan.estimates["memory_gb"] <= dev.memory_gb * (0.85 if device == "cuda" else 0.5)


def test_a_preset_does_not_change_the_network_and_its_preprocessing_changes_are_named():
    from heartseg import config as cfgmod
    from heartseg import presets
    from heartseg.checkpoint import load_checkpoint
    from heartseg.train.setup import apply_init

    preset = presets.load("cpu")
    cfg = cfgmod.from_dict(preset)
    notes = apply_init(cfg, preset, load_checkpoint(TRAINED), preset, "cpu")
    assert cfg.model.features == [4, 8, 16, 32]  # not the preset's 16-32-64-128: no refusal, no partial load
    assert cfg.data.spacing == [1.25, 1.25, 1.25] and cfg.data.normalization == "minmax"
    assert any("preset cpu sets model.features" in n for n in notes)
    assert any('preset cpu changes data.spacing from "native"' in n for n in notes)
