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


@pytest.mark.parametrize("cls", [C.DataConfig, C.AugmentConfig, C.ModelConfig, C.OptimConfig, C.TrainConfig,
                                 C.InferConfig, C.Config], ids=lambda c: c.__name__)
def test_every_field_has_a_one_line_description(cls):
    for name, info in cls.model_fields.items():
        assert info.description and "\n" not in info.description, f"{cls.__name__}.{name} has no docstring line"


def test_every_leaf_of_the_schema_says_what_it_expects():
    for key in C.flatten(C.defaults()):
        spec = C.field_schema(key)
        assert spec is not None and spec.get("x-expected") and spec.get("description"), key


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
        ({"train": {"epochs": "ten"}}, 'train.epochs: got "ten", expected an integer >= 1'),
        ({"train": {"epochs": 2.5}}, "train.epochs: got 2.5"),
        ({"train": {"compile": 1}}, "train.compile: got 1, expected true/false"),
        ({"train": {"amp": 1}}, "unknown config key train.amp"),
        ({"data": {"patch": [8, 8, 8]}}, "data.patch: got [8, 8, 8], expected sizes >= 16 (2^4"),
        ({"data": {"folds": 1}}, "data.folds: got 1"),
        ({"data": {"folds": 5, "fold": 5}}, "data.fold: got 5, expected a fold number from 0 to 4"),
        ({"infer": {"tta": 3}}, "infer.tta: got 3, expected 1, 2, 4 or 8"),
        ({"infer": {"postprocess": ["smooth"]}}, "infer.postprocess: got [\"smooth\"]"),
        ({"train": {"device": "gpu"}}, "train.device: got \"gpu\", expected auto, cpu, cuda or cuda:N"),
        ({"train": {"epochs": "5"}}, "train.epochs: got \"5\", expected an integer >= 1"),
        ({"data": {"patch": [64, 64]}}, "data.patch"),
        ({"data": {"patch": [4, 64, 64]}}, "three sizes >= 8"),
        ({"optim": {"optimizer": "adam"}}, 'optim.optimizer: got "adam", expected one of adamw, sgd'),
        ({"optim": {"lr": -1}}, "optim.lr: got -1, expected a positive number"),
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


@pytest.mark.parametrize(
    "legacy, key, expected",
    [
        ({"train": {"amp": False}}, "train.precision", "fp32"),
        ({"train": {"amp": True}}, "train.precision", "auto"),
        ({"train": {"channels_last": True}}, "train.layout", "channels_last"),
        ({"infer": {"keep_largest": False}}, "infer.postprocess", []),
        ({"infer": {"tta": True}}, "infer.tta", 8),
        ({"infer": {"tta": False}}, "infer.tta", 1),
    ],
)
def test_configs_of_older_runs_still_load(legacy, key, expected):
    assert C.flatten(C.to_dict(C.from_dict(legacy)))[key] == expected


def test_resume_keys_come_from_the_fields():
    keys = C.resume_keys()
    assert "train.epochs" in keys and "data.root" in keys
    assert "data.patch" not in keys and "model.features" not in keys


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
