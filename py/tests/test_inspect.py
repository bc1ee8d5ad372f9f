"""`inspect` and `doctor`: checkpoint descriptions (fixtures, refusals) and the environment report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from heartseg import requirements
from heartseg.commands.inspect import block_summary, parse_patch
from heartseg.errors import BadInput
from heartseg.model import build_model
from test_train_helpers import engine

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")


@needs_shared
def test_inspect_the_tiny_seed_checkpoint_as_json():
    result = engine("inspect", str(FIXTURES / "seed_tiny_state_dict.pth"), "--json", "--patch", "20,24,28")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"]["features"] == [4, 8, 16, 32]
    assert info["parameters"] == 353_949 and info["compatible"] and info["kind"] == "raw"
    blocks = {b["name"]: b for b in info["blocks"]}
    assert blocks["bottleneck"]["output_shape"] == [1, 64, 1, 1, 1]
    assert blocks["final_conv"]["output_shape"] == [1, 1, 20, 24, 28]
    assert sum(b["parameters"] for b in info["blocks"]) == info["parameters"]


@needs_shared
def test_inspect_refuses_the_untrusted_checkpoint_and_runs_no_code(tmp_path):
    result = engine("inspect", str(FIXTURES / "untrusted_code_checkpoint.pth"), "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert "arbitrary code" in result.stderr and "untrusted_code_checkpoint.pth" in result.stderr
    assert result.stdout == "" and not (tmp_path / "HEARTSEG_PICKLE_EXECUTED").exists()


def test_inspect_a_heartseg_checkpoint_shows_epoch_and_metrics(tmp_path):
    model = build_model(1, 2, [2, 4])
    path = tmp_path / "full.pt"
    torch.save({"format": "heartseg", "model": model.state_dict(), "epoch": 5, "global_step": 50,
                "metrics": {"best_dice": 0.75}, "config": {"data": {"patch": [8, 16, 16]}}}, path)
    result = engine("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "epoch: 5" in result.stdout and "best_dice=0.7500" in result.stdout and "1x2x8x16x16" in result.stdout


@pytest.mark.parametrize("features,patch", [([4, 8, 16, 32], [64, 128, 128]), ([2, 4], [9, 17, 13])])
def test_block_shapes_on_the_meta_device_match_a_real_forward(features, patch):
    arch = {"in_channels": 1, "out_channels": 1, "features": features}
    blocks = block_summary(arch, patch)
    assert blocks[-1]["output_shape"] == [1, 1, *patch]
    enc = [b for b in blocks if b["name"].startswith("encoder")]
    assert [b["output_shape"][1] for b in enc] == features
    if patch[0] < 20:  # a real forward is cheap only for small inputs
        with torch.no_grad():
            assert list(build_model(**arch).eval()(torch.zeros(1, 1, *patch)).shape) == blocks[-1]["output_shape"]


@pytest.mark.parametrize("text,expected", [("32,64,64", [32, 64, 64]), ("8x16x16", [8, 16, 16])])
def test_parse_patch(text, expected):
    assert parse_patch(text) == expected


@pytest.mark.parametrize("text", ["32,64", "a,b,c", "0,8,8", "1,2,3,4"])
def test_parse_patch_refuses_bad_sizes(text):
    with pytest.raises(BadInput, match="--patch"):
        parse_patch(text)


def test_doctor_prints_one_json_line():
    result = engine("doctor")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert info["python"]["executable"] == sys.executable
    assert info["torch"] == str(torch.__version__) and info["cuda_available"] == torch.cuda.is_available()
    assert info["packages"]["numpy"] is not None
    assert set(info["packages"]) == set(requirements.required())  # requirements.txt is the one list
    assert len(info["devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
