"""Validation: each kind of bad file gives one problem naming that file; all problems come together."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from heartseg.data import load_dataset
from heartseg.data.io import decode, read_volume
from heartseg.data.validate import label_values
from heartseg.errors import BadInput
from tests.conftest import make_dataset, write_nifti

IMG = "imagesTr/case_001.nii.gz"
LAB = "labelsTr/case_001.nii.gz"


def _rewrite(root, rel, fn):
    """Replace a file's array (stored order) by fn(array), keeping its affine."""
    img = nib.load(str(root / rel))
    out = fn(np.asanyarray(img.dataobj).copy())
    write_nifti(root / rel, out, img.affine)


def _affine(root, rel, fn):
    img = nib.load(str(root / rel))
    write_nifti(root / rel, np.asanyarray(img.dataobj), fn(img.affine.copy()))


def _truncate(root, rel):
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])


def _set(a, index, value):
    a[index] = value
    return a


DAMAGES = [
    ("truncated gzip", lambda r: _truncate(r, IMG), IMG, "truncated gzip"),
    ("plain bytes named .gz", lambda r: (r / IMG).write_bytes(gzip.decompress((r / IMG).read_bytes())), IMG,
     "not a gzip file"),
    ("not NIfTI", lambda r: (r / IMG).write_bytes(gzip.compress(b"hello" * 100)), IMG, "not a NIfTI file"),
    ("2-D image", lambda r: _rewrite(r, IMG, lambda a: a[:, :, 0]), IMG, "not a 3-D volume: shape (12, 10)"),
    ("4-D image", lambda r: _rewrite(r, IMG, lambda a: np.stack([a, a], -1)), IMG, "not a 3-D volume: shape (12, 10, 8, 2)"),
    ("label of another shape", lambda r: _rewrite(r, LAB, lambda a: a[:-2]), LAB,
     "image and label shapes differ: (12, 10, 8) vs (10, 10, 8)"),
    ("label spacing", lambda r: _affine(r, LAB, lambda m: m @ np.diag([1, 1, 2.0, 1])), LAB, "voxel spacings differ"),
    ("label origin", lambda r: _affine(r, LAB, lambda m: _set(m, (0, 3), 2.0)), LAB, "origins differ by 2 mm"),
    ("label direction", lambda r: _affine(r, LAB, lambda m: m @ np.diag([-1.0, 1, 1, 1])), LAB, "axis directions differ"),
    ("NaN voxels", lambda r: _rewrite(r, IMG, lambda a: _set(a, (slice(0, 2), 0, 0), np.nan)), IMG,
     "image has 2 non-finite voxels (NaN)"),
    ("infinite voxel", lambda r: _rewrite(r, IMG, lambda a: _set(a, (0, 0, 0), np.inf)), IMG,
     "image has 1 non-finite voxels (infinite)"),
    ("label value 3", lambda r: _rewrite(r, LAB, lambda a: _set(a, (0, 0, 0), 3)), LAB,
     "label value 3 not declared in dataset.json (declared: 0, 1)"),
    ("fractional label", lambda r: _rewrite(r, LAB, lambda a: _set(a.astype(np.float32), (0, 0, 0), 0.5)), LAB,
     "non-integer values (e.g. 0.5)"),
    ("NaN label", lambda r: _rewrite(r, LAB, lambda a: _set(a.astype(np.float32), (0, 0, 0), np.nan)), LAB,
     "label has non-finite voxels"),
    ("missing file", lambda r: (r / LAB).unlink(), LAB, "file not found"),
]


@pytest.mark.parametrize("what, damage, rel, fragment", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_each_damage_names_file_and_problem(tmp_path, what, damage, rel, fragment):
    root = make_dataset(tmp_path / "d", cases=3)
    damage(root)
    with pytest.raises(BadInput) as info:
        load_dataset(root)
    problems = info.value.problems
    assert len(problems) == 1, problems
    assert problems[0].file == str(root / rel)
    assert fragment in problems[0].message


def test_all_problems_are_collected(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3)
    _truncate(root, "imagesTr/case_000.nii.gz")
    _rewrite(root, "labelsTr/case_002.nii.gz", lambda a: _set(a, (0, 0, 0), 7))
    _rewrite(root, "imagesTr/case_002.nii.gz", lambda a: _set(a, (1, 1, 1), np.nan))
    with pytest.raises(BadInput) as info:
        load_dataset(root)
    found = sorted((p.file.split("/d/")[1], p.message.split(" (")[0]) for p in info.value.problems)
    assert found == [("imagesTr/case_000.nii.gz", "truncated gzip file"),
                     ("imagesTr/case_002.nii.gz", "image has 1 non-finite voxels"),
                     ("labelsTr/case_002.nii.gz", "label value 7 not declared in dataset.json")]
    assert info.value.summary().startswith("3 problems:")


def test_empty_label_is_a_warning(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2)
    _rewrite(root, LAB, np.zeros_like)
    ds = load_dataset(root)
    assert [(w.file, w.message) for w in ds.warnings] == [(str(root / LAB), "label is empty (only background)")]


def test_geometry_within_tolerance_passes(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2)
    _affine(root, LAB, lambda m: m + 1e-5)  # float rounding in another tool's header
    assert len(load_dataset(root).cases) == 2


def test_labels_inferred_without_dataset_json(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2, dataset_json=False, labels={0: "bg", 1: "a", 4: "b"})
    assert load_dataset(root).labels == {0: "background", 1: "label 1", 4: "label 4"}


def test_multilabel_dataset_loads(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2, labels={0: "background", 1: "la", 2: "lv", 3: "rv"})
    assert load_dataset(root).labels == {0: "background", 1: "la", 2: "lv", 3: "rv"}


@pytest.mark.parametrize("dtype, values, expected", [
    (np.uint8, [0, 1, 1, 5], [0, 1, 5]),
    (np.int8, [-2, 0, 3], [-2, 0, 3]),
    (np.int16, [0, 300], [0, 300]),
    (np.float32, [0.0, 2.0, 2.0], [0, 2]),
])
def test_label_values(tmp_path, dtype, values, expected):
    path = write_nifti(tmp_path / "l.nii.gz", np.array(values, dtype=dtype).reshape(-1, 1, 1))
    vol, problem = read_volume(path)
    assert problem is None
    found, problems = label_values(vol)
    assert problems == [] and found.tolist() == expected


def test_trailing_singleton_axis_is_3d(tmp_path):
    path = write_nifti(tmp_path / "x.nii", np.zeros((3, 4, 5, 1), np.float32))
    vol, problem = read_volume(path)
    assert problem is None and vol.shape == (3, 4, 5)


@pytest.mark.parametrize("raw, fragment", [
    (b"", "file is empty"),
    (b"\x1f\x8b\x08\x00garbage", "gzip"),
    (b"x" * 400, "not a NIfTI file"),
])
def test_decode_bad_bytes(tmp_path, raw, fragment):
    vol, problem = decode(tmp_path / "x.nii", raw)
    assert vol is None and fragment in problem.message and problem.file == str(tmp_path / "x.nii")


def test_singular_affine_refused(tmp_path):
    img = nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), None)
    img.set_sform(np.diag([1.0, 1.0, 0.0, 1.0]), code=1)  # a header another tool wrote with a zero voxel size
    path = tmp_path / "x.nii"
    nib.save(img, str(path))
    vol, problem = read_volume(path)
    assert vol is None and "no usable orientation" in problem.message
