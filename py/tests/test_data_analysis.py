"""`heartseg analyze`: statistics read straight from the files, checked against hand-computed values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heartseg.data.analysis import analyze, intensity_stats, label_stats
from heartseg.errors import BadInput
from tests.conftest import LA2018, write_nifti

PY_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("values, expected", [
    (np.arange(60, dtype=np.float32), {"min": 0, "max": 59, "mean": 29.5, "p005": 0.295, "p995": 58.705, "nonFinite": 0}),
    (np.array([np.nan, 1, 3, np.inf], np.float32), {"min": 1, "max": 3, "mean": 2, "p005": 1.01, "p995": 2.99,
                                                     "nonFinite": 2}),
    (np.array([-4, -4], np.int16), {"min": -4, "max": -4, "mean": -4, "p005": -4, "p995": -4, "nonFinite": 0}),
])
def test_intensity_stats_by_hand(values, expected):
    assert intensity_stats(values) == pytest.approx(expected)


def test_intensity_stats_all_non_finite():
    assert intensity_stats(np.array([np.nan])) == {"min": None, "max": None, "mean": None, "p005": None,
                                                   "p995": None, "nonFinite": 1}


@pytest.mark.parametrize("voxels, centre", [
    ([(1, 1, 0), (1, 1, 1), (1, 1, 2)], [1, 1, 1]),
    ([(0, 0, 0), (1, 1, 1)], [1, 1, 1]),  # 0.5 rounds up, as JavaScript's Math.round
    ([], [2, 2, 1]),  # empty: the volume centre (2, 1.5, 1)
])
def test_label_stats_by_hand(voxels, centre):
    lab = np.zeros((5, 4, 3), np.uint8)
    for v in voxels:
        lab[v] = 1
    stats = label_stats(lab, (1.0, 2.0, 0.5))  # 1 mm^3 per voxel
    n = len(voxels)
    assert stats["labelVolumes"]["0"] == {"voxels": 60 - n, "ml": pytest.approx((60 - n) / 1000)}
    assert stats["labelVolumes"].get("1", {"voxels": 0})["voxels"] == n
    assert stats["foreground"] == {"voxels": n, "ml": pytest.approx(n / 1000), "fraction": pytest.approx(n / 60)}
    assert stats["centre"] == centre


def test_analyze_dataset(tmp_path):
    root = tmp_path / "d"
    image = np.arange(60, dtype=np.float32).reshape(5, 4, 3)
    label = np.zeros((5, 4, 3), np.uint8)
    label[1, 1, :] = 2
    write_nifti(root / "imagesTr" / "a.nii.gz", image, spacing=(1.0, 2.0, 0.5))
    write_nifti(root / "labelsTr" / "a.nii.gz", label, spacing=(1.0, 2.0, 0.5))
    result = analyze(root)
    case = result["cases"][0]
    assert (case["name"], case["image"], case["label"]) == ("a", "imagesTr/a.nii.gz", "labelsTr/a.nii.gz")
    assert case["shape"] == [5, 4, 3] and case["spacing"] == [1.0, 2.0, 0.5] and case["orientation"] == "RAS"
    assert case["datatype"] == "float32" and case["labelDatatype"] == "uint8"
    assert case["intensity"]["mean"] == pytest.approx(29.5)
    assert case["labelVolumes"]["2"] == {"voxels": 3, "ml": pytest.approx(0.003)}
    assert result["summary"]["cases"] == 1 and result["summary"]["medianSpacing"] == [1.0, 2.0, 0.5]


def test_analyze_reports_every_unreadable_file(tmp_path):
    root = tmp_path / "d"
    write_nifti(root / "imagesTr" / "a.nii.gz", np.zeros((3, 3, 3), np.float32))
    (root / "imagesTr" / "b.nii.gz").write_bytes(b"\x1f\x8b broken")
    (root / "labelsTr").mkdir()
    (root / "labelsTr" / "a.nii.gz").write_bytes(b"nonsense")
    with pytest.raises(BadInput) as info:
        analyze(root)
    assert sorted(Path(p.file).name for p in info.value.problems) == ["a.nii.gz", "b.nii.gz"]


def test_cli_json_on_la2018_matches_nibabel():
    if not (LA2018 / "dataset.json").exists():
        pytest.skip(f"la2018 not found at {LA2018} (../shared is absent)")
    import nibabel as nib

    env = {**os.environ, "PYTHONPATH": str(PY_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "heartseg", "analyze", str(LA2018), "--json"], capture_output=True,
                          text=True, env=env, cwd=str(PY_ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["cases"]) == 20
    first = result["cases"][0]
    img = nib.load(str(LA2018 / first["image"]))
    data = np.asanyarray(img.dataobj)
    assert first["shape"] == list(img.shape) and first["intensity"]["max"] == pytest.approx(float(data.max()))
    lab = np.asanyarray(nib.load(str(LA2018 / first["label"])).dataobj)
    assert first["labelVolumes"]["1"]["voxels"] == int((lab == 1).sum())


def test_cli_bad_folder_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "heartseg", "analyze", str(tmp_path / "none"), "--json"],
                          capture_output=True, text=True, env=env, cwd=str(PY_ROOT), timeout=60)
    assert proc.returncode == 2 and "dataset folder not found" in proc.stderr and "Traceback" not in proc.stderr
