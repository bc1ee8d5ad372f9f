"""The typed config: defaults, partial loading, and errors that name the key, the value and what was expected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heartseg import config as C


def test_defaults_are_complete_and_json():
    d = C.defaults()
    assert set(d) == {"name", "data", "augment", "model", "optim", "train", "infer"}
    assert d["model"]["features"] == [32, 64, 128, 256]
    assert d["data"]["patch"] == [64, 128, 128]
    assert json.loads(json.dumps(d)) == d


def test_every_field_has_a_docstring():
    src = Path(C.__file__).read_text()
    import dataclasses

    for cls in (C.DataConfig, C.AugmentConfig, C.ModelConfig, C.OptimConfig, C.TrainConfig, C.InferConfig, C.Config):
        for f in dataclasses.fields(cls):
            # the line after the field definition is its one-line docstring
            idx = src.index(f"    {f.name}: ", src.index(f"class {cls.__name__}"))
            nxt = src[idx:].splitlines()[1].strip()
            assert nxt.startswith('"""'), f"{cls.__name__}.{f.name} has no docstring"


@pytest.mark.parametrize(
    "partial, path, expected",
    [
        ({"train": {"epochs": 3}}, ("train", "epochs"), 3),
        ({"optim": {"lr": 1}}, ("optim", "lr"), 1.0),
        ({"data": {"spacing": [1, 1.25, 1.25]}}, ("data", "spacing"), [1.0, 1.25, 1.25]),
        ({"data": {"spacing": None}}, ("data", "spacing"), None),
        ({"model": {"features": [4, 8]}}, ("model", "features"), [4, 8]),
        ({}, ("train", "epochs"), 100),
    ],
)
def test_partial_dicts_fill_defaults(partial, path, expected):
    cfg = C.to_dict(C.from_dict(partial))
    assert cfg[path[0]][path[1]] == expected


@pytest.mark.parametrize(
    "partial, fragment",
    [
        ({"train": {"epoch": 3}}, "unknown config key train.epoch"),
        ({"bogus": 1}, "unknown config key bogus"),
        ({"train": {"epochs": "ten"}}, 'train.epochs: got "ten", expected integer'),
        ({"train": {"epochs": 2.5}}, "train.epochs: got 2.5"),
        ({"train": {"amp": 1}}, "train.amp: got 1, expected true/false"),
        ({"data": {"patch": [64, 64]}}, "data.patch"),
        ({"data": {"patch": [4, 64, 64]}}, "three sizes >= 8"),
        ({"optim": {"optimizer": "adam"}}, 'optim.optimizer: got "adam", expected one of adamw, sgd'),
        ({"optim": {"lr": -1}}, "optim.lr: got -1.0, expected a positive number"),
        ({"infer": {"overlap": 1.0}}, "infer.overlap"),
        ({"data": {"spacing": [1, 0, 1]}}, "data.spacing"),
        ({"model": {"features": [8]}}, "model.features"),
        ({"data": "x"}, "data: got \"x\""),
    ],
)
def test_bad_values_name_key_value_and_expectation(partial, fragment):
    with pytest.raises(ValueError) as e:
        C.from_dict(partial)
    assert fragment in str(e.value)


def test_load_names_the_file(tmp_path):
    p = tmp_path / "cfg.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="cfg.json: not valid JSON"):
        C.load(p)
    with pytest.raises(ValueError, match="config file not found"):
        C.load(tmp_path / "missing.json")
    p.write_text(json.dumps({"train": {"epochz": 1}}))
    with pytest.raises(ValueError, match="cfg.json: unknown config key train.epochz"):
        C.load(p)


def test_merge_is_deep():
    assert C.merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}


def test_cli_defaults_and_check(tmp_path):
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "heartseg", "config", "--defaults"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout) == C.defaults()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": {"lr": 1}}))
    out = subprocess.run([sys.executable, "-m", "heartseg", "config", "--check", str(bad)], cwd=root, capture_output=True, text=True)
    assert out.returncode == 2
    assert "bad.json: unknown config key train.lr" in out.stderr
    assert "Traceback" not in out.stderr
