"""Discovery: dataset.json entries, folder pairing, channel suffixes, label tables; problems name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heartseg.data.discover import _parse_labels, discover
from tests.conftest import make_dataset, write_nifti


@pytest.mark.parametrize("raw, expected", [
    ({"0": "background", "1": "left atrium"}, {0: "background", 1: "left atrium"}),
    ({"background": 0, "left atrium": 1}, {0: "background", 1: "left atrium"}),  # nnU-Net v2 style
    ({"2": "b", "1": "a"}, {0: "background", 1: "a", 2: "b"}),  # background added, sorted
])
def test_parse_labels(raw, expected):
    labels, problems = _parse_labels(raw, "dataset.json")
    assert problems == [] and labels == expected


@pytest.mark.parametrize("raw, fragment", [
    ({}, "non-empty"),
    ([1, 2], "non-empty"),
    ({"x": "y"}, "neither"),
    ({"300": "too big"}, "outside 0..255"),
])
def test_parse_labels_bad(raw, fragment):
    labels, problems = _parse_labels(raw, "dataset.json")
    assert labels == {} and len(problems) == 1 and fragment in problems[0].message
    assert problems[0].file == "dataset.json"


def test_dataset_json_entries(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3, labels={0: "background", 1: "la", 2: "lv"})
    ds, problems = discover(root)
    assert problems == []
    assert [c.name for c in ds.cases] == ["case_000", "case_001", "case_002"]
    assert ds.cases[1].images == [root / "imagesTr" / "case_001.nii.gz"]
    assert ds.cases[1].label == root / "labelsTr" / "case_001.nii.gz"
    assert ds.labels == {0: "background", 1: "la", 2: "lv"} and ds.name == "tiny" and ds.labels_declared


def test_pairing_without_dataset_json(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2, dataset_json=False)
    (root / "imagesTr" / "._case_000.nii.gz").write_bytes(b"macOS resource fork")
    (root / "imagesTr" / "notes.txt").write_text("not a volume")
    ds, problems = discover(root)
    assert problems == []
    assert [(c.name, c.images[0].name, c.label.name) for c in ds.cases] == [
        ("case_000", "case_000.nii.gz", "case_000.nii.gz"), ("case_001", "case_001.nii.gz", "case_001.nii.gz")]
    assert not ds.labels_declared and ds.name == "d"


def test_channel_suffix_pairs_and_orders_channels(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2, channels=2, dataset_json=False)
    ds, problems = discover(root)
    assert problems == []
    assert [p.name for p in ds.cases[0].images] == ["case_000_0000.nii.gz", "case_000_0001.nii.gz"]
    assert ds.cases[0].label.name == "case_000.nii.gz"


def test_dataset_json_expands_channel_files(tmp_path):
    """Decathlon lists imagesTr/x.nii.gz while the files are x_0000.nii.gz, x_0001.nii.gz."""
    root = make_dataset(tmp_path / "d", cases=1, channels=2)
    ds, problems = discover(root)
    assert problems == [] and [p.name for p in ds.cases[0].images] == ["case_000_0000.nii.gz", "case_000_0001.nii.gz"]


def test_single_channel_0000_suffix_named_by_case(tmp_path):
    root = tmp_path / "d"
    write_nifti(root / "imagesTr" / "heart_7_0000.nii", np.zeros((4, 4, 4), np.float32))
    write_nifti(root / "labelsTr" / "heart_7.nii", np.zeros((4, 4, 4), np.uint8))
    ds, problems = discover(root)
    assert problems == [] and ds.cases[0].name == "heart_7" and ds.cases[0].label.name == "heart_7.nii"


@pytest.mark.parametrize("damage, fragment, file_part", [
    ("label_missing", "no label for case case_001", "imagesTr/case_001.nii.gz"),
    ("orphan_label", "label without an image", "labelsTr/extra.nii.gz"),
    ("channel_gap", "expected 0..1 without gaps", "imagesTr/case_000_0000.nii.gz"),
])
def test_pairing_problems(tmp_path, damage, fragment, file_part):
    root = make_dataset(tmp_path / "d", cases=2, dataset_json=False, channels=2 if damage == "channel_gap" else 1)
    if damage == "label_missing":
        (root / "labelsTr" / "case_001.nii.gz").unlink()
    elif damage == "orphan_label":
        write_nifti(root / "labelsTr" / "extra.nii.gz", np.zeros((4, 4, 4), np.uint8))
    else:
        (root / "imagesTr" / "case_000_0001.nii.gz").rename(root / "imagesTr" / "case_000_0002.nii.gz")
    _, problems = discover(root)
    assert len(problems) == 1 and fragment in problems[0].message
    assert problems[0].file.endswith(file_part)


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "cannot read dataset.json"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_bad_dataset_json(tmp_path, content, fragment):
    root = make_dataset(tmp_path / "d", cases=1)
    (root / "dataset.json").write_text(content)
    ds, problems = discover(root)
    assert ds is None and fragment in problems[0].message and problems[0].file.endswith("dataset.json")


def test_bad_training_entries_are_all_reported(tmp_path):
    root = make_dataset(tmp_path / "d", cases=1)
    meta = json.loads((root / "dataset.json").read_text())
    meta["training"] += [{"label": "./labelsTr/x.nii.gz"}, {"image": "./imagesTr/x.txt", "label": "./l.nii.gz"}]
    (root / "dataset.json").write_text(json.dumps(meta))
    _, problems = discover(root)
    assert [p.message for p in problems] == ["'training' entry 1 has no \"image\"",
                                             "'training' entry 2: ./imagesTr/x.txt is not a .nii or .nii.gz file"]


@pytest.mark.parametrize("make, fragment", [
    (lambda p: None, "dataset folder not found"),
    (lambda p: p.write_text("x"), "not a folder"),
    (lambda p: p.mkdir(), "no dataset.json and no imagesTr/"),
    (lambda p: (p / "imagesTr").mkdir(parents=True), "no cases found"),
])
def test_not_a_dataset(tmp_path, make, fragment):
    root = tmp_path / "d"
    make(root)
    _, problems = discover(root)
    assert len(problems) == 1 and fragment in problems[0].message


def test_labels_optional_for_prediction_sets(tmp_path):
    root = make_dataset(tmp_path / "d", cases=1, dataset_json=False)
    (root / "labelsTr" / "case_000.nii.gz").unlink()
    ds, problems = discover(root, require_labels=False)
    assert problems == [] and ds.cases[0].label is None
