"""Presets are valid partial configs that fit their data; the demo preset fits the synthetic dataset."""

from __future__ import annotations

import pytest

from heartseg import config as cfgmod
from heartseg import presets
from heartseg.synth import DEFAULT_SHAPE


@pytest.mark.parametrize("name", ["demo", "cpu", "gpu"])
def test_preset_is_a_valid_partial_config(name):
    data = presets.load(name)
    cfg = cfgmod.from_dict(data)
    assert "root" not in data.get("data", {})  # the dataset always comes from the caller
    assert cfg.train.epochs * cfg.train.iters_per_epoch > 0


def test_demo_patch_fits_the_synthetic_volumes():
    cfg = cfgmod.from_dict(presets.load("demo"))
    assert all(p <= s for p, s in zip(cfg.data.patch, DEFAULT_SHAPE))
    # every level halves the patch: it must stay divisible so no voxel is lost in pooling
    assert all(p % 2 ** len(cfg.model.features) == 0 for p in cfg.data.patch)


def test_gpu_preset_uses_the_seed_compatible_model():
    assert cfgmod.from_dict(presets.load("gpu")).model.features == [32, 64, 128, 256]


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="demo"):
        presets.load("nope")


def test_gpu_preset_uses_channels_last_and_native_mixed_precision():
    cfg = cfgmod.from_dict(presets.load("gpu"))
    assert cfg.train.layout == "channels_last" and cfg.train.precision == "auto"
