"""Containment and untrusted inputs (issue 13, security): whatever dataset.json or the input file names say, the engine
writes only into the run folder, --out and the cache; an oversized or deeply nested dataset.json and a NIfTI with a
huge header extension are refused in one line with bounded memory; two resumes of one run cannot both write it.

The write check runs the real engine (train, evaluate, predict) in a sandbox whose HOME, TMPDIR and working folder
are inside it, and compares every file of the sandbox before and after.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest

from heartseg.data import io as hio
from heartseg.data.discover import MAX_DATASET_JSON, discover
from reliability_engine import PY_ROOT, Engine, digest, events, interrupt_at, run_engine
from test_train_helpers import tiny_config_dict, tiny_dataset

MiB = 1024**2


def engine_in(sandbox: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1", HOME=str(sandbox / "home"),
               TMPDIR=str(sandbox / "tmp"), HEARTSEG_CACHE=str(sandbox / "cache"))
    for key in ("HEARTSEG_EVENT_FD", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "heartseg", *args], cwd=sandbox / "cwd", env=env,
                          capture_output=True, text=True, timeout=600)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def written(before: dict, after: dict) -> list[str]:
    return sorted(p for p, v in after.items() if before.get(p) != v) + sorted(f"removed {p}" for p in before if p not in after)


def one_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def sandbox(tmp_path) -> Path:
    for sub in ("home", "tmp", "cwd", "cache", "runs", "elsewhere"):
        (tmp_path / sub).mkdir()
    return tmp_path


# --- writes stay where they belong -----------------------------------------------------------------------------------

def test_train_evaluate_and_predict_write_only_the_run_folder_out_and_the_cache(sandbox):
    data = tiny_dataset(sandbox / "data")
    # exotic but legal names, and an image that is a symlink to a file outside the dataset
    meta = json.loads((data / "dataset.json").read_text(encoding="utf-8"))
    odd = "case é 1 (copy)"
    for sub in ("imagesTr", "labelsTr"):
        (data / sub / "synth_001.nii.gz").rename(data / sub / f"{odd}.nii.gz")
    (data / "imagesTr" / "synth_002.nii.gz").rename(sandbox / "elsewhere" / "real.nii.gz")
    (data / "imagesTr" / "synth_002.nii.gz").symlink_to(sandbox / "elsewhere" / "real.nii.gz")
    meta["training"][1] = {"image": f"./imagesTr/{odd}.nii.gz", "label": f"./labelsTr/{odd}.nii.gz"}
    (data / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    cfg = sandbox / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(data, "", epochs=1, iters_per_epoch=1)), encoding="utf-8")
    run, out = sandbox / "runs" / "r", sandbox / "out"

    before = snapshot(sandbox)
    r = engine_in(sandbox, "train", "--config", str(cfg), "--run", str(run))
    assert r.returncode == 0, r.stderr
    r = engine_in(sandbox, "evaluate", "--run", str(run), "--data", str(data), "--split", "all")
    assert r.returncode == 0, r.stderr
    r = engine_in(sandbox, "predict", "--run", str(run), "--input", str(data / "imagesTr"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    changed = written(before, snapshot(sandbox))
    outside = [p for p in changed if not p.startswith(("runs/r/", "out/", "cache/"))]
    assert outside == [], outside
    assert any(p.startswith("runs/r/eval/predictions/") and odd in p for p in changed)
    assert (out / f"{odd}.nii.gz").is_file() or any(odd in p for p in changed if p.startswith("out/"))


@pytest.mark.parametrize("entry,what", [
    ("../elsewhere/x.nii.gz", "outside the dataset folder"),
    ("/etc/passwd.nii.gz", "outside the dataset folder"),
    ("./imagesTr/../../elsewhere/x.nii.gz", "outside the dataset folder"),
    ("./imagesTr/bad\nname.nii.gz", "has a control character"),
    ("./imagesTr/fifo.nii.gz", "not a regular file"),
])
def test_hostile_dataset_json_entries_are_refused_in_one_line_and_write_nothing(sandbox, entry, what):
    data = tiny_dataset(sandbox / "data")
    shutil.copy(data / "imagesTr" / "synth_000.nii.gz", sandbox / "elsewhere" / "x.nii.gz")
    if "\n" in entry:
        shutil.copy(data / "imagesTr" / "synth_000.nii.gz", data / "imagesTr" / "bad\nname.nii.gz")
    if "fifo" in entry:
        os.mkfifo(data / "imagesTr" / "fifo.nii.gz")  # a read would block forever
    meta = json.loads((data / "dataset.json").read_text(encoding="utf-8"))
    meta["training"][0]["image"] = entry
    (data / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    cfg = sandbox / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(data, "", epochs=1, iters_per_epoch=1)), encoding="utf-8")
    before = snapshot(sandbox)
    for args in (["plan", str(data), "--device", "cpu"], ["train", "--config", str(cfg), "--run", str(sandbox / "runs" / "r")]):
        r = engine_in(sandbox, *args)
        assert r.returncode == 2, (args[0], r.stderr)
        assert what in one_line(r.stderr), r.stderr
    assert written(before, snapshot(sandbox)) == []


# --- bounded memory for hostile sizes --------------------------------------------------------------------------------

def peak_of(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_dataset_json_of_hundreds_of_mb_is_refused_unread(tmp_path):
    data = tiny_dataset(tmp_path / "data")
    with open(data / "dataset.json", "r+b") as f:
        f.truncate(500 * MiB)  # sparse: costs no disk, but a reader would hold 500 MB (and a parser far more)
    (dataset, problems), peak = peak_of(lambda: discover(data))
    assert dataset is None and len(problems) == 1
    assert f"dataset.json is 500 MiB, more than the {MAX_DATASET_JSON // MiB} MiB" in problems[0].message
    assert peak < 1 * MiB
    r = run_engine(["plan", str(data), "--device", "cpu"], tmp_path / "m")
    assert r[0] == 2 and "dataset.json is 500 MiB" in one_line(r[2])


def test_a_deeply_nested_dataset_json_is_one_line(tmp_path):
    data = tiny_dataset(tmp_path / "data")
    (data / "dataset.json").write_text('{"training": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    dataset, problems = discover(data)
    assert dataset is None and "nested too deeply" in problems[0].message
    r = run_engine(["plan", str(data), "--device", "cpu"], tmp_path / "m")
    assert r[0] == 2 and "nested too deeply" in one_line(r[2])


def nifti_with_extension(extension: int, gz: bool, path: Path) -> Path:
    """A valid 4x4x4 uint8 NIfTI-1 whose header says `extension` bytes of extension come before the voxels."""
    import nibabel as nib
    import numpy as np

    img = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4))
    header = bytearray(img.header.binaryblock)
    struct.pack_into("<f", header, 108, float(352 + extension))  # vox_offset
    parts = [bytes(header), b"\x01\x00\x00\x00"]
    if not gz:
        with open(path, "wb") as f:
            f.write(b"".join(parts))
            f.truncate(352 + extension + 64)  # sparse extension, then the voxels (zeros)
        return path
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 * MiB)
    with open(path, "wb") as f:
        f.write(comp.compress(b"".join(parts)))
        for _ in range(extension // len(zeros)):
            f.write(comp.compress(zeros))
        f.write(comp.compress(bytes(extension % len(zeros) + 64)))
        f.write(comp.flush())
    return path


@pytest.mark.parametrize("gz,extension", [(True, 256 * MiB), (False, 256 * MiB)])
def test_a_nifti_with_a_huge_extension_is_refused_with_bounded_memory(tmp_path, gz, extension):
    path = nifti_with_extension(extension, gz, tmp_path / ("big.nii.gz" if gz else "big.nii"))
    assert path.stat().st_size < 2 * MiB or not gz
    (vol, problem), peak = peak_of(lambda: hio.read_volume(path))
    assert vol is None
    assert "header extension of" in problem.message or "more than the" in problem.message, problem.message
    assert peak < 16 * MiB, peak  # the compressed bytes and a header, not the extension
    header, problem = hio.read_header(path)
    assert header is None and problem is not None


def test_a_gzip_bomb_behind_a_small_header_inflates_only_what_the_header_declares(tmp_path):
    import nibabel as nib
    import numpy as np

    raw = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4)).to_bytes()
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    path = tmp_path / "bomb.nii.gz"
    with open(path, "wb") as f:  # the voxels, then 256 MiB of trailing zeros nobody asked for
        f.write(comp.compress(raw))
        for _ in range(16):
            f.write(comp.compress(bytes(16 * MiB)))
        f.write(comp.flush())
    (vol, problem), peak = peak_of(lambda: hio.read_volume(path))
    assert problem is None and vol.shape == (4, 4, 4)
    assert peak < 16 * MiB, peak


def test_the_bounded_gunzip_still_reads_every_member_and_names_truncation(tmp_path):
    payload = bytes(range(256)) * 10
    two = gzip.compress(payload[:1000]) + gzip.compress(payload[1000:])
    assert hio.gunzip_bounded(two, 10**6) == payload
    assert hio.gunzip_bounded(two, 100) == payload[:100]
    with pytest.raises(EOFError):
        hio.gunzip_bounded(gzip.compress(payload)[:-20], 10**6)


# --- two writers -------------------------------------------------------------------------------------------------------

def test_a_second_resume_of_a_run_is_refused_in_one_line_and_changes_nothing(tmp_path):
    data = tiny_dataset(tmp_path / "data")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(data, tmp_path / "cache", epochs=2, iters_per_epoch=2)), encoding="utf-8")
    run = tmp_path / "run"
    rc, _, err = interrupt_at(["train", "--config", str(cfg), "--run", str(run)], tmp_path / "m0", "step:1",
                              signal.SIGINT)
    assert rc == 130, err
    first = Engine(["train", "--run", str(run), "--resume"], tmp_path / "m1", pause="step:1")
    first.wait_paused("step")
    kept = {name: digest(run / name) for name in ("config.json", "events.jsonl", "checkpoints/last.pt")}
    rc2, _, err2 = run_engine(["train", "--run", str(run), "--resume"], tmp_path / "m2")
    assert rc2 == 2
    assert f"run folder is in use by process {first.proc.pid}" in one_line(err2) and str(run) in err2
    assert {name: digest(run / name) for name in kept} == kept
    first.release()
    rc1, _, err1 = first.finish()
    assert rc1 == 0, err1
    assert [e["status"] for e in events(run) if e["type"] == "run_end"] == ["interrupted", "completed"]
