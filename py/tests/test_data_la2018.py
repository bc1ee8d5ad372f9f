"""la2018 (skipped when ../shared is absent): all cases through the cache and back; damaged copies refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from heartseg.config import DataConfig
from heartseg.data import prepare, restore
from heartseg.errors import BadInput
from tests.conftest import LA2018, write_nifti

PY_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared_twice(tmp_path_factory):
    if not (LA2018 / "dataset.json").exists():
        pytest.skip(f"la2018 not found at {LA2018} (../shared is absent)")
    cfg = DataConfig(root=str(LA2018), cache_dir=str(tmp_path_factory.mktemp("la-cache")))
    return prepare(cfg, workers=1), prepare(cfg, workers=1)


def test_all_cases_preprocess_then_come_from_the_cache(prepared_twice):
    first, second = prepared_twice
    assert len(first.case_names) == 20 and (first.cache_hits, first.cache_misses) == (0, 20)
    assert (second.cache_hits, second.cache_misses) == (20, 0)
    assert second.spacing == [0.625, 0.625, 0.625] and second.labels == {0: "background", 1: "left atrium"}
    train, val = second.split()
    assert (len(train), len(val)) == (16, 4)


def test_label_volumes_after_round_trip_equal_nibabel(prepared_twice):
    _, prepared = prepared_twice
    for name in prepared.case_names:
        case = prepared.load(name)
        img = nib.load(case.meta.label)
        reference = np.asanyarray(img.dataobj)
        back = restore(np.asarray(case.label), case.meta, is_label=True)
        np.testing.assert_array_equal(back, reference)
        voxels = int((reference == 1).sum())
        ml = voxels * float(np.prod(img.header.get_zooms()[:3])) / 1000
        assert case.meta.label_volumes["1"]["voxels"] == voxels
        assert case.meta.label_volumes["1"]["ml"] == pytest.approx(ml)


def _copy_cases(dst: Path, names: list[str]) -> Path:
    for sub in ("imagesTr", "labelsTr"):
        (dst / sub).mkdir(parents=True)
        for n in names:
            shutil.copy(LA2018 / sub / f"{n}.nii.gz", dst / sub / f"{n}.nii.gz")
    meta = json.loads((LA2018 / "dataset.json").read_text())
    meta["training"] = [e for e in meta["training"] if Path(e["image"]).name[:-7] in names]
    (dst / "dataset.json").write_text(json.dumps(meta))
    return dst


def _edit(path: Path, fn) -> None:
    img = nib.load(str(path))
    write_nifti(path, fn(np.asanyarray(img.dataobj).copy()), img.affine)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300_000])


def _nan(a):
    a[10:12, 20, 30] = np.nan
    return a


def _three(a):
    a[a.shape[0] // 2, a.shape[1] // 2, 40] = 3
    return a


DAMAGES = [
    ("truncated", "imagesTr", _truncate, "truncated gzip file"),
    ("label shape", "labelsTr", lambda p: _edit(p, lambda a: a[:-5]), "image and label shapes differ"),
    ("NaN voxels", "imagesTr", lambda p: _edit(p, _nan), "image has 2 non-finite voxels (NaN)"),
    ("label value 3", "labelsTr", lambda p: _edit(p, _three), "label value 3 not declared in dataset.json"),
    ("2-D image", "imagesTr", lambda p: _edit(p, lambda a: a[:, :, 40]), "not a 3-D volume"),
]


@pytest.fixture
def damaged(tmp_path, request):
    if not (LA2018 / "dataset.json").exists():
        pytest.skip(f"la2018 not found at {LA2018} (../shared is absent)")
    _, folder, damage, fragment = request.param
    root = _copy_cases(tmp_path / "data", ["la2018_000", "la2018_001"])
    bad = root / folder / "la2018_001.nii.gz"
    damage(bad)
    return root, bad, fragment


@pytest.mark.parametrize("damaged", DAMAGES, ids=[d[0] for d in DAMAGES], indirect=True)
def test_damaged_copy_is_refused(damaged, tmp_path):
    root, bad, fragment = damaged
    cache = tmp_path / "cache"
    with pytest.raises(BadInput) as info:
        prepare(DataConfig(root=str(root), cache_dir=str(cache)), workers=1)
    assert [(p.file, fragment in p.message) for p in info.value.problems] == [(str(bad), True)]
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("HEARTSEG_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "heartseg", "preprocess", "--data", str(root), "--cache-dir",
                           str(cache), "--run", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                          cwd=str(PY_ROOT), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and str(bad) in proc.stderr and fragment in proc.stderr
    assert not cache.exists() or not any(cache.rglob("*.npy"))  # nothing written for a failing dataset
    assert not (tmp_path / "run").exists()

