"""One dataset holding every kind of broken case at once, through `plan`, `train` and `evaluate RUN` (issue 13): each
exits 2, names every bad file, prints no traceback, writes no run folder, and leaves the evaluated run byte-identical.
dataset.json-level breakage (malformed, oversized, too deep, bad labels) is checked on its own dataset per kind.

The count of distinct bad inputs stated in README "Reliability" comes from CORRUPT + the JSON table below.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import write_nifti
from reliability_engine import digest
from test_train_helpers import engine, tiny_config_dict, tiny_dataset

SHAPE = (24, 24, 16)  # stored x, y, z of tiny_dataset's cases


def _raw(path: Path) -> bytearray:
    return bytearray(gzip.decompress(path.read_bytes()))


def _edit(src: Path, **fields) -> bytes:
    b = _raw(src)
    if "dims" in fields:
        dims = fields["dims"]
        struct.pack_into("<8h", b, 40, len(dims), *dims, *([1] * (7 - len(dims))))
    if "datatype" in fields:
        struct.pack_into("<h", b, 70, fields["datatype"])
    if "magic" in fields:
        b[344:348] = fields["magic"]
    return gzip.compress(bytes(b))


def _image(kind: str, good: Path, dst: Path) -> None:
    """Write the broken image `kind` to dst (a name ending .nii.gz), from the good image `good`."""
    gz = good.read_bytes()
    if kind == "zero_byte":
        dst.write_bytes(b"")
    elif kind == "truncated_gz":
        dst.write_bytes(gz[: len(gz) * 6 // 10])
    elif kind == "corrupt_gz":
        b = bytearray(gz)
        for i in range(len(b) // 3, len(b) // 3 + 32):
            b[i] ^= 0xA5
        dst.write_bytes(bytes(b))
    elif kind == "not_gzip":
        dst.write_bytes(bytes(_raw(good)))
    elif kind == "wrong_magic":
        dst.write_bytes(_edit(good, magic=b"xq9\x00"))
    elif kind == "terabytes":
        dst.write_bytes(_edit(good, dims=[3, 32000, 32000, 32000]))
    elif kind == "negative_dim":
        dst.write_bytes(_edit(good, dims=[3, SHAPE[0], -SHAPE[1], SHAPE[2]]))
    elif kind == "zero_dim":
        dst.write_bytes(_edit(good, dims=[3, SHAPE[0], SHAPE[1], 0]))
    elif kind == "datatype_999":
        dst.write_bytes(_edit(good, datatype=999))
    elif kind in ("nan_voxels", "inf_voxels"):
        data = np.zeros(SHAPE, np.float32)
        data[1, 2, 3] = np.nan if kind == "nan_voxels" else np.inf
        write_nifti(dst, data, spacing=(1.25, 1.25, 2.0))
    elif kind == "two_d":
        write_nifti(dst, np.zeros(SHAPE[:2], np.float32), spacing=(1.25, 1.25, 2.0))
    elif kind == "four_d":
        write_nifti(dst, np.zeros((*SHAPE, 2), np.float32), spacing=(1.25, 1.25, 2.0))
    elif kind == "five_d":
        write_nifti(dst, np.zeros((*SHAPE, 1, 2), np.float32), spacing=(1.25, 1.25, 2.0))
    elif kind == "huge_extension":
        b = _raw(good)
        struct.pack_into("<f", b, 108, float(352 + 256 * 1024**2))
        b[348] = 1
        dst.write_bytes(gzip.compress(bytes(b[:352]) + bytes(256 * 1024**2) + bytes(b[352:]), compresslevel=1))
    elif kind == "folder":
        dst.mkdir()
    elif kind == "fifo":
        os.mkfifo(dst)
    else:
        raise AssertionError(kind)


def _label(kind: str, good: Path, dst: Path) -> None:
    lab = np.zeros(SHAPE, np.uint8)
    lab[4:8, 4:8, 4:8] = 1
    if kind == "shape_mismatch":
        write_nifti(dst, lab[:, :, :-2], spacing=(1.25, 1.25, 2.0))
    elif kind == "spacing_mismatch":
        write_nifti(dst, lab, spacing=(1.0, 1.25, 2.0))
    elif kind == "affine_mismatch":
        affine = np.diag([1.25, 1.25, 2.0, 1.0])
        affine[:3, 3] = 10.0
        write_nifti(dst, lab, affine=affine)
    elif kind == "undeclared_label":
        lab[0, 0, 0] = 7
        write_nifti(dst, lab, spacing=(1.25, 1.25, 2.0))
    elif kind == "fractional_label":
        write_nifti(dst, lab.astype(np.float32) * 0.5, spacing=(1.25, 1.25, 2.0))
    elif kind == "nan_label":
        f = lab.astype(np.float32)
        f[0, 0, 0] = np.nan
        write_nifti(dst, f, spacing=(1.25, 1.25, 2.0))
    else:
        raise AssertionError(kind)


IMAGE_KINDS = ["zero_byte", "truncated_gz", "corrupt_gz", "not_gzip", "wrong_magic", "terabytes", "negative_dim",
               "zero_dim", "datatype_999", "nan_voxels", "inf_voxels", "two_d", "four_d", "five_d", "huge_extension",
               "folder", "fifo"]
LABEL_KINDS = ["shape_mismatch", "spacing_mismatch", "affine_mismatch", "undeclared_label", "fractional_label",
               "nan_label"]
ENTRY_KINDS = {"missing_label": None, "parent_path": "../elsewhere/x.nii.gz", "absolute_path": "/elsewhere/x.nii.gz",
               "newline_name": "./imagesTr/bad\nline.nii.gz"}
CORRUPT = IMAGE_KINDS + LABEL_KINDS + list(ENTRY_KINDS)


def _corrupt_dataset(home: Path) -> tuple[Path, dict[str, str]]:
    """tiny_dataset plus one case per kind in CORRUPT; returns (root, kind -> the path its problem must name)."""
    root = tiny_dataset(home / "data")
    (home / "elsewhere").mkdir()
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    good_img, good_lab = root / "imagesTr" / "synth_000.nii.gz", root / "labelsTr" / "synth_000.nii.gz"
    shutil.copy(good_img, home / "elsewhere" / "x.nii.gz")
    named = {}
    for kind in CORRUPT:
        img, lab = root / "imagesTr" / f"bad_{kind}.nii.gz", root / "labelsTr" / f"bad_{kind}.nii.gz"
        entry = {"image": f"./imagesTr/bad_{kind}.nii.gz", "label": f"./labelsTr/bad_{kind}.nii.gz"}
        if kind in IMAGE_KINDS:
            _image(kind, good_img, img)
            shutil.copy(good_lab, lab)
            named[kind] = str(img)
        elif kind in LABEL_KINDS:
            shutil.copy(good_img, img)
            _label(kind, good_lab, lab)
            named[kind] = str(lab)
        elif kind == "missing_label":
            shutil.copy(good_img, img)
            named[kind] = str(lab)
        elif kind == "newline_name":
            shutil.copy(good_img, root / "imagesTr" / "bad\nline.nii.gz")
            entry["image"] = ENTRY_KINDS[kind]
            shutil.copy(good_lab, lab)
            named[kind] = "bad\\nline"  # escaped: the message stays one line
        else:
            entry["image"] = ENTRY_KINDS[kind] if kind != "absolute_path" else str(home / "elsewhere" / "x.nii.gz")
            named[kind] = json.dumps(entry["image"])
            shutil.copy(good_lab, lab)
        meta["training"].append(entry)
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return root, named


def _assert_names_every_problem(r, named: dict[str, str], what: str) -> None:
    assert r.returncode == 2, (what, r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (what, r.stderr[-2000:])
    missing = [kind for kind, text in named.items() if text not in r.stderr]
    assert missing == [], (what, missing, r.stderr[-3000:])


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    home = tmp_path_factory.mktemp("corpus")
    root, named = _corrupt_dataset(home)
    return home, root, named


def test_plan_and_train_name_every_broken_case_at_once_and_write_nothing(corrupt, tmp_path):
    home, root, named = corrupt
    assert len(named) == len(CORRUPT) >= 27
    plan = engine("plan", str(root), "--device", "cpu", timeout=900)
    _assert_names_every_problem(plan, named, "plan")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(root, tmp_path / "cache", epochs=1)), encoding="utf-8")
    run = tmp_path / "runs" / "x"
    train = engine("train", "--config", str(cfg), "--run", str(run), timeout=900)
    _assert_names_every_problem(train, named, "train")
    assert not run.parent.exists()
    assert not list((tmp_path / "cache").glob("cases/*"))  # a refused dataset caches nothing


def test_evaluate_of_a_run_on_the_broken_dataset_refuses_and_leaves_the_run_byte_identical(corrupt, tmp_path):
    home, root, named = corrupt
    good = tiny_dataset(tmp_path / "good")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(good, tmp_path / "cache", epochs=1, iters_per_epoch=1)), encoding="utf-8")
    run = tmp_path / "run"
    r = engine("train", "--config", str(cfg), "--run", str(run))
    assert r.returncode == 0, r.stderr
    before = {str(p.relative_to(run)): digest(p) for p in run.rglob("*") if p.is_file()}
    r = engine("evaluate", "--run", str(run), "--data", str(root), "--split", "all", timeout=900)
    _assert_names_every_problem(r, named, "evaluate")
    after = {str(p.relative_to(run)): digest(p) for p in run.rglob("*") if p.is_file()}
    assert after == before


JSON_KINDS = {
    "malformed": ('{"training": [', "cannot read dataset.json"),
    "not_an_object": ("[1, 2, 3]", "must hold a JSON object"),
    "deeply_nested": ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    "bad_labels": ('{"labels": ["background"], "training": []}', "'labels' must be a non-empty object"),
    "label_out_of_range": ('{"labels": {"0": "background", "300": "x"}}', "label value 300 is outside 0..255"),
    "oversized": (None, "more than the 16 MiB"),
}


@pytest.mark.parametrize("kind", sorted(JSON_KINDS))
def test_a_broken_dataset_json_is_one_line_from_plan_and_train(tmp_path, kind):
    root = tiny_dataset(tmp_path / "data")
    text, message = JSON_KINDS[kind]
    if text is None:
        with open(root / "dataset.json", "r+b") as f:
            f.truncate(300 * 1024**2)  # sparse
    else:
        (root / "dataset.json").write_text(text, encoding="utf-8")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(root, tmp_path / "cache", epochs=1)), encoding="utf-8")
    for args in (["plan", str(root), "--device", "cpu"], ["train", "--config", str(cfg), "--run", str(tmp_path / "r")]):
        r = engine(*args)
        assert r.returncode == 2, (args[0], r.stderr)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and message in lines[0], (args[0], r.stderr)
    assert not (tmp_path / "r").exists()
