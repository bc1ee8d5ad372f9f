"""`heartseg score PRED REF --out DIR`: matching, spacing from the header, files written, bad input refused."""

from __future__ import annotations

import json
import math
import os

import nibabel as nib
import numpy as np
import pytest

from heartseg import events as ev
from heartseg.cli import main
from heartseg.evaluation import read_metrics_csv

AFFINE = np.diag([0.5, 0.8, 2.0, 1.0])  # stored axes (i, j, k) = 0.5, 0.8 and 2.0 mm


def cube(shift=0, axis=2, shape=(12, 10, 8), value=1):
    data = np.zeros(shape, np.uint8)
    lo = [3, 3, 2]
    lo[axis] += shift
    data[lo[0]:lo[0] + 4, lo[1]:lo[1] + 4, lo[2]:lo[2] + 3] = value
    return data


def save(path, data, affine=AFFINE):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.fixture
def folders(tmp_path):
    ref, pred = tmp_path / "ds" / "labelsTr", tmp_path / "pred"
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "atrium"}}))
    save(ref / "a.nii.gz", cube())
    save(pred / "a_0000.nii.gz", cube())  # the channel suffix is stripped for matching
    save(ref / "b.nii.gz", cube())
    save(pred / "b.nii.gz", cube(shift=1, axis=2))  # one 2 mm voxel further along k
    save(ref / "c.nii", cube())
    save(pred / "c.nii.gz", np.zeros((12, 10, 8), np.uint8))  # nothing predicted
    return pred, ref


def score(*argv, capsys=None):
    code = main(["score", *map(str, argv)])
    err = capsys.readouterr().err if capsys else ""
    return code, err


def test_scores_folders(folders, tmp_path, capsys, monkeypatch):
    read_fd, write_fd = os.pipe()
    monkeypatch.setenv("HEARTSEG_EVENT_FD", str(write_fd))
    code, err = score(*folders, "--out", tmp_path / "out", capsys=capsys)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        records = [json.loads(line) for line in f]
    assert code == 0, err
    rows = {r["case"]: r for r in read_metrics_csv(tmp_path / "out" / "metrics.csv")}
    assert list(rows) == ["a", "b", "c"] and {r["label"] for r in rows.values()} == {"atrium"}
    assert rows["a"]["dice"] == 1.0 and rows["a"]["hd95"] == 0.0
    # a 4x4x3 cube shifted one voxel along k: 32 of 48 shared; the distance is the 2 mm voxel size along k
    assert rows["b"]["dice"] == pytest.approx(2 * 32 / 96)
    assert rows["b"]["hd95"] == pytest.approx(2.0)
    # nothing predicted: distances are the image box's diagonal, sqrt(6^2 + 8^2 + 16^2) mm (metrics.py), not inf
    diagonal = math.sqrt(356)
    assert rows["c"]["dice"] == 0.0 and rows["c"]["hd95"] == pytest.approx(diagonal)
    assert rows["c"]["assd"] == pytest.approx(diagonal) and rows["c"]["hd95_pooled"] == pytest.approx(diagonal)
    assert rows["c"]["abs_vol_diff_ml"] == pytest.approx(48 * 0.5 * 0.8 * 2.0 / 1000)
    assert "inf" not in (tmp_path / "out" / "metrics.csv").read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    hd95 = summary["summary"]["atrium"]["hd95"]
    assert summary["cases"] == 3
    assert hd95["mean"] == pytest.approx((2.0 + diagonal) / 3) and hd95["n_inf"] == 0 and hd95["max"] == pytest.approx(diagonal)
    assert hd95["median"] == pytest.approx(2.0) and hd95["min"] == 0.0
    assert summary["summary"]["atrium"]["dice"]["mean"] == pytest.approx((1 + 2 / 3) / 3)
    for r in records:
        ev.validate_record(r)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and records[-1]["status"] == "completed"
    assert kinds.count("case_metrics") == 3 and kinds.count("progress") == 3 and "eval_summary" in kinds
    assert next(r for r in records if r["type"] == "case_metrics" and r["case"] == "c")["metrics"]["hd95"] == \
        pytest.approx(diagonal)


def test_scores_two_files_and_names_unlisted_labels(tmp_path, capsys):
    ref = cube()
    ref[0:2, 0:2, 0:2] = 3  # a second label the prediction misses
    save(tmp_path / "r" / "x.nii.gz", ref)
    save(tmp_path / "p" / "x.nii.gz", cube())
    code, err = score(tmp_path / "p" / "x.nii.gz", tmp_path / "r" / "x.nii.gz", "--out", tmp_path / "o",
                      capsys=capsys)
    assert code == 0, err
    rows = {r["label"]: r for r in read_metrics_csv(tmp_path / "o" / "metrics.csv")}
    assert set(rows) == {"label 1", "label 3"}
    assert rows["label 1"]["dice"] == 1.0 and rows["label 3"]["dice"] == 0.0


def test_label_absent_from_a_case_gets_the_both_empty_values(tmp_path, capsys):
    two = cube()
    two[0:2, 0:2, 0:2] = 2
    for folder in ("p", "r"):
        save(tmp_path / folder / "one.nii.gz", cube())
        save(tmp_path / folder / "two.nii.gz", two)
    code, err = score(tmp_path / "p", tmp_path / "r", "--out", tmp_path / "o", "--labels", '{"1": "a", "2": "b"}',
                      capsys=capsys)
    assert code == 0, err
    rows = read_metrics_csv(tmp_path / "o" / "metrics.csv")
    assert [(r["case"], r["label"]) for r in rows] == [("one", "a"), ("one", "b"), ("two", "a"), ("two", "b")]
    assert all(r["dice"] == 1.0 and r["hd95"] == 0.0 for r in rows)


@pytest.mark.parametrize("setup,expected", [
    ("unmatched", ["prediction of case extra has no reference", "reference of case a has no prediction"]),
    ("geometry", ["shape (12, 10, 9) differs", "affine differs"]),
    ("mixed", ["both be files or both be folders"]),
    ("fractional", ["non-integer values"]),
    ("undeclared", ["label values [2] are not declared"]),
])
def test_bad_input_lists_every_problem_and_writes_nothing(tmp_path, capsys, setup, expected):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    save(ref / "b.nii.gz", cube())
    if setup == "unmatched":
        save(ref / "a.nii.gz", cube())
        save(pred / "b.nii.gz", cube())
        save(pred / "extra.nii.gz", cube())
    elif setup == "geometry":
        save(ref / "a.nii.gz", cube())
        save(pred / "a.nii.gz", cube(shape=(12, 10, 9)))
        save(pred / "b.nii.gz", cube(), affine=np.diag([0.5, 0.8, 2.5, 1.0]))
    elif setup == "mixed":
        save(pred / "b.nii.gz", cube())
        pred = pred / "b.nii.gz"
    elif setup == "fractional":
        save(pred / "b.nii.gz", cube().astype(np.float32) * 0.5)
    else:
        (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "atrium"}}))
        save(pred / "b.nii.gz", cube(value=2))
    code, err = score(pred, ref, "--out", tmp_path / "out", capsys=capsys)
    assert code == 2
    for text in expected:
        assert text in err
    assert not (tmp_path / "out").exists()


def test_missing_paths(tmp_path, capsys):
    code, err = score(tmp_path / "nope", tmp_path / "nada", "--out", tmp_path / "o", capsys=capsys)
    assert code == 2 and "nope: not found" in err and "nada: not found" in err
