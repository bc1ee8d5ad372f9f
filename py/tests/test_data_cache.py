"""prepare() and the cache: hits and misses, content keys, nothing written for bad data, splits, memory maps."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from heartseg.config import DataConfig
from heartseg.data import Prepared, prepare, restore
from heartseg.data.cache import cache_root
from heartseg.data.prepared import seeded_split
from heartseg.errors import BadInput
from heartseg.event_writer import NullWriter
from heartseg.events import validate_record
from tests.conftest import make_dataset, write_nifti


def _cfg(root, tmp_path, **kw) -> DataConfig:
    return DataConfig(root=str(root), cache_dir=str(tmp_path / "cache"), **kw)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_first_run_misses_second_hits(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3)
    events = NullWriter()
    first = prepare(_cfg(root, tmp_path), events)
    assert (first.cache_hits, first.cache_misses) == (0, 3)
    progress = [r for r in events.records if r["type"] == "progress"]
    assert [(r["stage"], r["done"], r["total"]) for r in progress] == [("preprocess", i, 3) for i in (1, 2, 3)]
    for r in events.records:
        validate_record(r)
    second = prepare(_cfg(root, tmp_path))
    assert (second.cache_hits, second.cache_misses) == (3, 0)
    assert second.case_names == ["case_000", "case_001", "case_002"]
    assert second.labels == {0: "background", 1: "left atrium"} and second.spacing == [1.0, 1.0, 1.0]
    assert second.cache_dir == tmp_path / "cache" / "cases"


def test_changed_file_rebuilds_only_that_case(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3)
    prepare(_cfg(root, tmp_path))
    path = root / "imagesTr" / "case_001.nii.gz"
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0] += 1  # same size; mtime restored: only the content tells
    stat = path.stat()
    write_nifti(path, data, img.affine)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = prepare(_cfg(root, tmp_path))
    assert (again.cache_hits, again.cache_misses) == (2, 1)
    assert again.load("case_001").image[0].max() >= 0  # the new entry loads


@pytest.mark.parametrize("change", [{"normalization": "percentile"}, {"spacing": [2.0, 1.0, 1.0]}])
def test_changed_setting_rebuilds(tmp_path, change):
    root = make_dataset(tmp_path / "d", cases=2)
    prepare(_cfg(root, tmp_path))
    again = prepare(_cfg(root, tmp_path, **change))
    assert (again.cache_hits, again.cache_misses) == (0, 2)


def test_bad_dataset_writes_nothing(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3)
    bad = root / "labelsTr" / "case_002.nii.gz"
    write_nifti(bad, np.full((12, 10, 8), 3, np.uint8))
    before = _files(root)
    with pytest.raises(BadInput) as info:
        prepare(_cfg(root, tmp_path))
    assert [p.file for p in info.value.problems] == [str(bad)]
    assert _files(tmp_path / "cache" / "cases") == []  # the staging folder is gone too
    assert _files(root) == before


def test_cache_inside_dataset_refused(tmp_path):
    root = make_dataset(tmp_path / "d", cases=1)
    with pytest.raises(BadInput, match="inside the dataset folder"):
        prepare(DataConfig(root=str(root), cache_dir=str(root / "cache")))
    assert not (root / "cache").exists()


def test_empty_root_refused():
    with pytest.raises(BadInput, match="data.root is empty"):
        prepare(DataConfig())


def test_warnings_become_events(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2)
    write_nifti(root / "labelsTr" / "case_001.nii.gz", np.zeros((12, 10, 8), np.uint8))
    for run in range(2):  # a cache hit remembers the warning too
        events = NullWriter()
        prepared = prepare(_cfg(root, tmp_path), events)
        warnings = [r for r in events.records if r["type"] == "warning"]
        assert [(w["message"], w["file"]) for w in warnings] == [
            ("label is empty (only background)", str(root / "labelsTr" / "case_001.nii.gz"))]
        assert prepared.cache_hits == 2 * run


def test_undeclared_label_caught_on_cache_hit(tmp_path):
    """dataset.json changed after caching: the cached meta's label values are checked again."""
    root = make_dataset(tmp_path / "d", cases=2, labels={0: "background", 1: "a", 2: "b"})
    prepare(_cfg(root, tmp_path))
    text = (root / "dataset.json").read_text().replace('"2": "b"', '"3": "c"')
    (root / "dataset.json").write_text(text)
    with pytest.raises(BadInput) as info:
        prepare(_cfg(root, tmp_path))
    assert len(info.value.problems) == 2 and all("label values 2 not declared" in p.message for p in info.value.problems)


def test_median_spacing_and_resampling(tmp_path):
    a = make_dataset(tmp_path / "d", cases=3, spacing=(1.0, 1.0, 2.0))
    write_nifti(a / "imagesTr" / "case_002.nii.gz", np.ones((12, 10, 8), np.float32), spacing=(1.0, 1.0, 4.0))
    write_nifti(a / "labelsTr" / "case_002.nii.gz", np.ones((12, 10, 8), np.uint8), spacing=(1.0, 1.0, 4.0))
    prepared = prepare(_cfg(a, tmp_path))
    assert prepared.spacing == [2.0, 1.0, 1.0]  # (z, y, x) median of z spacings 2, 2, 4
    assert prepared.meta("case_000").resampled_shape == [8, 10, 12]
    assert prepared.meta("case_002").resampled_shape == [16, 10, 12]


def test_load_is_memory_mapped_and_restores(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2, affine=np.diag([-1.0, 1.0, 2.0, 1.0]))
    prepared = prepare(_cfg(root, tmp_path))
    case = prepared.load("case_000")
    assert isinstance(case.image, np.memmap) and isinstance(case.label, np.memmap)
    assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
    assert case.image.shape == (1, 8, 10, 12) and case.label.shape == (8, 10, 12)
    original = np.asanyarray(nib.load(str(root / "labelsTr" / "case_000.nii.gz")).dataobj)
    np.testing.assert_array_equal(restore(np.asarray(case.label), case.meta, is_label=True), original)
    fg = prepared.foreground("case_000")
    assert list(fg) == [1] and all(case.label[tuple(c)] == 1 for c in fg[1])


def test_max_cases(tmp_path):
    root = make_dataset(tmp_path / "d", cases=4)
    assert prepare(_cfg(root, tmp_path, max_cases=2)).case_names == ["case_000", "case_001"]


def test_parallel_workers_match_serial(tmp_path):
    root = make_dataset(tmp_path / "d", cases=2)
    serial = prepare(_cfg(root, tmp_path / "a"), workers=1)
    parallel = prepare(_cfg(root, tmp_path / "b"), workers=2)
    for name in serial.case_names:
        np.testing.assert_array_equal(serial.load(name).image, parallel.load(name).image)


@pytest.mark.parametrize("names, fraction, seed, n_val", [
    (["a", "b", "c", "d", "e"], 0.2, 0, 1),
    (["a", "b", "c", "d", "e"], 0.4, 3, 2),
    (["a", "b"], 0.01, 0, 1),  # at least one validation case
    (["a", "b"], 0.9, 0, 1),  # at least one training case
    (["a"], 0.5, 0, 0),
    (["a", "b", "c"], 0.0, 0, 0),
])
def test_seeded_split(names, fraction, seed, n_val):
    train, val = seeded_split(names, fraction, seed)
    assert len(val) == n_val and sorted(train + val) == sorted(names) and not set(train) & set(val)
    assert (train, val) == seeded_split(list(reversed(names)), fraction, seed)  # input order does not matter


def test_split_uses_val_cases_and_refuses_unknown(tmp_path):
    root = make_dataset(tmp_path / "d", cases=3)
    prepared = prepare(_cfg(root, tmp_path, val_cases=["case_002"]))
    assert prepared.split() == (["case_000", "case_001"], ["case_002"])
    wrong = Prepared(prepared.dataset, prepared.spacing, {n: prepared.entry(n) for n in prepared.case_names},
                     {n: prepared.meta(n) for n in prepared.case_names}, prepared.cache_dir, 0, 0,
                     _cfg(root, tmp_path, val_cases=["nope"]))
    with pytest.raises(BadInput, match="no case named 'nope'"):
        wrong.split()


@pytest.mark.parametrize("cache_dir, env, xdg, expected", [
    ("/c/one", "/c/env", None, "/c/one"),
    ("", "/c/env", "/c/xdg", "/c/env"),
    ("", None, "/c/xdg", "/c/xdg/heartseg"),
])
def test_cache_root_order(monkeypatch, cache_dir, env, xdg, expected):
    for key, value in (("HEARTSEG_CACHE", env), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    assert cache_root(cache_dir) == Path(expected)


def test_preprocess_command_writes_events_and_summary(tmp_path):
    import json
    import subprocess
    import sys

    from heartseg.config import defaults

    root = make_dataset(tmp_path / "d", cases=3)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"data": {"root": str(root), "cache_dir": str(tmp_path / "cache")}}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "heartseg", "preprocess", "--config", str(cfg), "--run", str(tmp_path / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["cases"], summary["cache_misses"], summary["val_cases"]) == (3, 3, 1)
    records = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    for r in records:
        validate_record(r)
    assert [r["type"] for r in records] == ["run_start", "progress", "progress", "progress", "data_summary", "run_end"]
    assert records[0]["config"]["data"]["root"] == str(root) and set(records[0]["config"]) == set(defaults())
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert json.loads(again.stdout.strip().splitlines()[-1])["cache_hits"] == 3
    bad_cfg = tmp_path / "bad.json"
    bad_cfg.write_text('{"data": {"rooot": 1}}')
    bad = subprocess.run([*cmd[:5], str(bad_cfg)], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "unknown config key data.rooot" in bad.stderr and str(bad_cfg) in bad.stderr


def test_copied_dataset_hits_but_points_at_its_own_files(tmp_path):
    import shutil

    root = make_dataset(tmp_path / "d", cases=2)
    prepare(_cfg(root, tmp_path))
    copy = Path(shutil.copytree(root, tmp_path / "copy"))
    shutil.rmtree(root)
    prepared = prepare(_cfg(copy, tmp_path))
    assert prepared.cache_hits == 2
    meta = prepared.meta("case_001")
    assert meta.label == str(copy / "labelsTr" / "case_001.nii.gz")
    assert meta.images == [str(copy / "imagesTr" / "case_001.nii.gz")] and set(meta.digests) == {*meta.images, meta.label}
