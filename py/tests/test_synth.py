"""`heartseg synth`: deterministic, Decathlon layout, plausible anatomy, refuses to overwrite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from heartseg.data import load_dataset
from heartseg.data.preprocess import to_ras_zyx
from heartseg.synth import make_case, to_nifti, write_dataset

PY_ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=PY_ROOT):
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "heartseg", "synth", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=str(cwd), timeout=120)


def test_same_seed_same_volumes_other_seed_differs():
    a = make_case(np.random.default_rng([1, 0]), (16, 32, 32))
    b = make_case(np.random.default_rng([1, 0]), (16, 32, 32))
    c = make_case(np.random.default_rng([2, 0]), (16, 32, 32))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("shape, spacing", [((16, 32, 32), (2.0, 1.5, 1.5)), ((24, 24, 40), (1.0, 1.0, 1.0))])
def test_case_anatomy(shape, spacing):
    image, label = make_case(np.random.default_rng(3), shape, spacing)
    assert image.shape == shape and label.shape == shape and label.dtype == np.uint8
    assert set(np.unique(label)) == {0, 1}
    share = label.mean()
    assert 0.005 < share < 0.15, share  # a structure to find, not the whole volume
    _, parts = ndimage.label(label)
    assert parts <= 3  # one atrium with its veins (a vein may leave the field of view and come back)
    atrium = np.median(image[ndimage.binary_erosion(label)])
    air = np.median(image[0, :2, :2])  # a corner outside the body
    assert atrium > 5 * max(air, 1.0)
    bright = image > 0.8 * atrium
    assert (bright & (label == 0)).sum() > 0.5 * label.sum()  # other blood pools as bright: position matters


def test_write_dataset_layout_and_determinism(tmp_path):
    out = write_dataset(tmp_path / "a", cases=2, seed=7, shape=(12, 20, 20))
    again = write_dataset(tmp_path / "b", cases=2, seed=7, shape=(12, 20, 20))
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["labels"] == {"0": "background", "1": "left atrium"} and meta["numTraining"] == 2
    assert [e["image"] for e in meta["training"]] == ["./imagesTr/synth_000.nii.gz", "./imagesTr/synth_001.nii.gz"]
    for rel in ("imagesTr/synth_001.nii.gz", "labelsTr/synth_001.nii.gz"):
        assert (out / rel).read_bytes() == (again / rel).read_bytes()
    img = nib.load(str(out / "imagesTr" / "synth_000.nii.gz"))
    assert img.shape == (20, 20, 12) and nib.aff2axcodes(img.affine) == ("L", "P", "S")
    assert img.get_data_dtype() == np.int16
    ds = load_dataset(out)
    assert [c.name for c in ds.cases] == ["synth_000", "synth_001"] and ds.warnings == []
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary folder left


def test_nifti_storage_round_trips_to_ras():
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    img = to_nifti(arr, (2.0, 1.0, 0.5), np.int16)
    back = to_ras_zyx(np.asanyarray(img.dataobj), nib.orientations.io_orientation(img.affine))
    np.testing.assert_array_equal(back, arr)
    assert nib.affines.voxel_sizes(img.affine).tolist() == [0.5, 1.0, 2.0]
    centre = img.affine @ [(4 - 1) / 2, (3 - 1) / 2, (2 - 1) / 2, 1]
    np.testing.assert_allclose(centre[:3], 0, atol=1e-9)  # the volume is centred on the origin


@pytest.mark.parametrize("kwargs, message", [
    ({"cases": 0}, "cases: got 0"),
    ({"shape": (4, 32, 32)}, "shape: got"),
    ({"spacing": (1.0, 0.0, 1.0)}, "spacing: got"),
])
def test_write_dataset_bad_arguments(tmp_path, kwargs, message):
    args = {"cases": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


def test_cli_writes_and_refuses_non_empty(tmp_path):
    out = tmp_path / "ds"
    proc = _run(out, "--cases", 2, "--seed", 1, "--shape", 10, 16, 16, "--spacing", 2.5, 1.25, 1.25)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("synth: synth_") == 2  # a line per case
    assert nib.load(str(out / "imagesTr" / "synth_001.nii.gz")).header.get_zooms() == (1.25, 1.25, 2.5)
    again = _run(out, "--cases", 1)
    assert again.returncode == 2 and "not an empty folder" in again.stderr and "Traceback" not in again.stderr
    assert len(list((out / "imagesTr").iterdir())) == 2  # untouched


def test_cli_into_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert _run(tmp_path / "empty", "--cases", 1, "--shape", 8, 16, 16).returncode == 0
    assert (tmp_path / "empty" / "dataset.json").exists()


# --- anatomical size on large fields of view (issue 15, item 6) -----------------------------------------------------

def _atrium_ml(shape, spacing, seed=0):
    _, label = make_case(np.random.default_rng([seed, 0]), shape, spacing)
    return float(label.sum()) * float(np.prod(spacing)) / 1000.0, label


@pytest.mark.parametrize("spacing", [
    (3.0, 4.0, 4.0),   # a 400 mm full field of view, like Task02's 320 x 1.25 mm, coarsely sampled
    (3.0, 2.4, 2.4),   # 240 mm
    (3.0, 2.0, 2.2),   # 200 mm (the smaller in-plane extent decides), anisotropic
])
def test_large_fields_of_view_keep_an_anatomical_atrium(spacing):
    # the atrium used to scale with the field of view: about 1 L at 400 mm; real atria hold 30-130 mL
    ml, label = _atrium_ml((40, 100, 100), spacing)
    assert 30 <= ml <= 130, ml
    assert label[0].sum() == 0 and label[-1].sum() == 0  # inside the slab, not cut by it
    ml_400, _ = _atrium_ml((40, 100, 100), (3.0, 4.0, 4.0))  # the same seed and shape draw the same heart
    assert abs(ml - ml_400) / ml_400 < 0.1  # whatever the field of view beyond 160 mm


def test_small_fields_of_view_are_unchanged():
    # up to 160 mm across the whole chest scales with the field of view, as the demo and the tests expect
    small, _ = _atrium_ml((16, 32, 32), (2.0, 2.5, 2.5))  # 80 mm
    double, _ = _atrium_ml((16, 32, 32), (4.0, 5.0, 5.0))  # 160 mm: every length doubles
    assert double == pytest.approx(8 * small, rel=0.1)
