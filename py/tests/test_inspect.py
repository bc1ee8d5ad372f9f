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


@needs_shared
def test_inspect_says_what_a_bare_state_dict_will_be_applied_with():
    result = engine("inspect", str(FIXTURES / "seed_tiny_trained_state_dict.pth"), "--normalization", "zscore")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.stdout.splitlines()
            if line.startswith("  data.") or line.startswith("  infer.")}
    assert rows == {"data.spacing": ['"native"', "assumed (bare state_dict)"],
                    "data.normalization": ['"zscore"', "overridden"],
                    "infer.threshold": ["0.5", "assumed (bare state_dict)"],
                    "infer.postprocess": ["[]", "assumed (bare state_dict)"]}
    assert "sigmoid > 0.5" in result.stdout


def test_inspect_a_heartseg_checkpoint_shows_the_recorded_preprocessing(tmp_path):
    model = build_model(1, 1, [2, 4])
    path = tmp_path / "full.pt"
    torch.save({"format": "heartseg", "model": model.state_dict(), "epoch": 5, "spacing": [2.0, 1.0, 1.0],
                "labels": {"0": "background", "1": "left atrium"},
                "config": {"data": {"normalization": "percentile", "spacing": None},
                           "infer": {"postprocess": ["largest"], "threshold": 0.4}}}, path)
    info = json.loads(engine("inspect", str(path), "--json").stdout)["applies"]
    assert info["values"] == {"data.spacing": [2.0, 1.0, 1.0], "data.normalization": "percentile",
                              "infer.threshold": 0.4, "infer.postprocess": ["largest"]}
    assert set(info["sources"].values()) == {"recorded"} and info["labels"]["1"] == "left atrium"
    assert info["normalization_parameters"]["clip_percentiles"] == [0.5, 99.5] and not info["notes"]


@pytest.mark.parametrize("content, expected", [
    ({"encoder_layers.0.double_conv.0.weight": "a string"}, "not a model checkpoint"),
    ([1, 2, 3], "not a model checkpoint"),
    ({"model": {"w": [torch.zeros(2)]}}, "not a model checkpoint"),
])
def test_checkpoints_holding_non_tensor_objects_are_refused_in_one_line(tmp_path, content, expected):
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    result = engine("inspect", str(path))
    assert result.returncode == 2 and expected in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _rewrite_zip(src: Path, dst: Path, edit) -> None:
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data, compress = edit(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data, compress_type=compress)


def _declare_huge(data: bytes, which: str) -> bytes:
    """data.pkl with the first storage's element count (or the first tensor's first size) set to 10**11."""
    import pickletools

    ops = list(pickletools.genops(data))
    at = next(i for i, (_, arg, _) in enumerate(ops) if arg == "cpu") + 1  # ('storage', type, key, 'cpu', NUMEL)
    if which == "shape beyond storage":  # after BINPERSID: storage offset, then the size tuple
        persid = next(i for i in range(at, len(ops)) if ops[i][0].name == "BINPERSID")
        at = [i for i in range(persid + 1, len(ops)) if ops[i][0].name.startswith("BININT")][1]
    start, end = ops[at][2], ops[at + 1][2]
    return data[:start] + b"\x8a\x05" + (10**11).to_bytes(5, "little") + data[end:]


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # far below the 400 GB the files declare


@pytest.mark.parametrize("attack", ["declared size", "shape beyond storage", "zip bomb"])
def test_checkpoints_declaring_absurd_sizes_are_refused_with_bounded_memory(tmp_path, attack):
    import zipfile

    ok, bad = tmp_path / "ok.pth", tmp_path / "bad.pth"
    torch.save(build_model(1, 1, [2, 4]).state_dict(), ok)

    def edit(name, data):
        if attack == "zip bomb":
            if not name.endswith("/data/0"):
                return data, zipfile.ZIP_STORED
            return data + b"\0" * (64 << 20), zipfile.ZIP_DEFLATED  # 64 MB that unpack from ~64 kB
        return (_declare_huge(data, attack) if name.endswith("data.pkl") else data), zipfile.ZIP_STORED

    _rewrite_zip(ok, bad, edit)
    result = engine("inspect", str(bad), preexec_fn=_limit_memory)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(bad) in result.stderr
