"""Reusing a checkpoint someone else trained: a bare state_dict is applied with the classic script's pipeline.

The model here is built so that its correct output is known exactly: every convolution passes channel 0 through
(centre tap 1, BatchNorm the identity) and the head is logit = S * (x - T), so on the native grid with min-max
intensities the author's mask is `minmax(image) > T`, computed below with numpy on real la2018 images.
"""

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
import torch

from heartseg.model import build_model

REPO = Path(__file__).resolve().parents[2]
T, S = 0.55, 10.0
CASES = ("la2018_000", "la2018_001")


def identity_state_dict(features=(2, 4)) -> dict[str, torch.Tensor]:
    """A UNet3D whose logit is S * (x - T) for input x >= 0 (channel 0 carried through every level's skip)."""
    model = build_model(1, 1, list(features))
    sd = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    for key, value in sd.items():
        if key.endswith("num_batches_tracked"):
            continue
        if ".double_conv." in key and key.endswith(("0.weight", "3.weight")):
            value[0, 0, 1, 1, 1] = 1.0  # centre tap: channel 0 -> channel 0 (a decoder's input 0 is the skip)
        elif ".double_conv." in key and key.endswith(("1.weight",)) or key.endswith("4.weight"):
            value.fill_(1.0)  # BatchNorm gamma
        elif key.endswith("running_var"):
            value.fill_(1.0 - 1e-5)  # (x - 0) / sqrt(var + eps) == x
    sd["final_conv.weight"][0, 0] = S
    sd["final_conv.bias"][0] = -S * T
    model.load_state_dict(sd, strict=True)
    return sd


def minmax(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min() + np.float32(1e-8))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def engine(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "py"), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    env.pop("HEARTSEG_EVENT_FD", None)
    return subprocess.run([sys.executable, "-m", "heartseg", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def author(tmp_path_factory):
    """la2018 images with the masks the author's own pipeline gives, as a Decathlon dataset, and the checkpoint."""
    from conftest import LA2018

    if not (LA2018 / "dataset.json").exists():
        pytest.skip(f"la2018 not found at {LA2018} (../shared is absent)")
    root = tmp_path_factory.mktemp("reuse")
    data = root / "data"
    (data / "imagesTr").mkdir(parents=True)
    (data / "labelsTr").mkdir()
    masks = {}
    for case in CASES:
        src = LA2018 / "imagesTr" / f"{case}.nii.gz"
        shutil.copy(src, data / "imagesTr" / src.name)
        img = nib.load(str(src))
        x = np.asarray(img.dataobj, dtype=np.float32)
        masks[case] = (minmax(x) > T).astype(np.uint8)
        nib.save(nib.Nifti1Image(masks[case], img.affine), str(data / "labelsTr" / src.name))
    (data / "dataset.json").write_text(json.dumps({
        "name": "author", "labels": {"0": "background", "1": "left atrium"}, "modality": {"0": "MRI"},
        "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in CASES]}))
    ckpt = root / "best_model.pth"
    torch.save(identity_state_dict(), ckpt)
    return {"root": root, "data": data, "ckpt": ckpt, "masks": masks, "cache": root / "cache"}


def _eval_dice(run: Path) -> dict[str, float]:
    rows = [r for r in (run / "eval" / "metrics.csv").read_text().splitlines()[1:]]
    header = (run / "eval" / "metrics.csv").read_text().splitlines()[0].split(",")
    return {r.split(",")[0]: float(r.split(",")[header.index("dice")]) for r in rows}


def test_identity_model_reproduces_the_authors_masks_in_torch(author):
    """The construction itself: the model's output on the min-max image is exactly the reference."""
    from heartseg.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(author["ckpt"])
    x = np.asarray(nib.load(str(author["data"] / "imagesTr" / f"{CASES[0]}.nii.gz")).dataobj, dtype=np.float32)
    with torch.no_grad():
        logit = model(torch.from_numpy(minmax(x)[None, None, :64, :64, :32].copy()))[0, 0].numpy()
    assert dice((logit > 0).astype(np.uint8), author["masks"][CASES[0]][:64, :64, :32]) >= 0.999


def test_evaluate_bare_state_dict_without_flags_applies_the_classic_pipeline(author):
    run = author["root"] / "runs" / "eval-bare"
    r = engine("evaluate", "--checkpoint", str(author["ckpt"]), "--run", str(run), "--data", str(author["data"]),
               "--split", "all", "--no-figures", env_extra={"HEARTSEG_CACHE": str(author["cache"])})
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stdout.splitlines() if "bare state_dict" in line]
    assert len(notes) == 1 and "min-max" in notes[0]  # said once
    scores = _eval_dice(run)
    assert set(scores) == set(CASES) and min(scores.values()) >= 0.99, scores
    for case in CASES:  # the saved predictions are the author's masks
        pred = np.asarray(nib.load(str(run / "eval" / "predictions" / f"{case}.nii.gz")).dataobj)
        assert dice(pred, author["masks"][case]) >= 0.99
    summary = json.loads((run / "eval" / "summary.json").read_text())
    pre = summary["preprocessing"]
    assert pre["values"] == {"data.spacing": "native", "data.normalization": "minmax", "infer.threshold": 0.5,
                             "infer.postprocess": []}
    assert set(pre["sources"].values()) == {"assumed (bare state_dict)"}
    # the evaluation's own record: a run_start with the config and the checkpoint it applied
    records = [json.loads(x) for x in (run / "eval" / "events.jsonl").read_text().splitlines()]
    start = next(x for x in records if x["type"] == "run_start")
    assert start["checkpoint"] == str(author["ckpt"].resolve())
    assert start["config"]["data"]["normalization"] == "minmax" and start["config"]["data"]["spacing"] == "native"
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "completed"
    assert not (run / "events.jsonl").exists()  # nothing but eval/ in the new folder


def test_evaluate_with_zscore_override_changes_the_masks(author):
    run = author["root"] / "runs" / "eval-zscore"
    r = engine("evaluate", "--checkpoint", str(author["ckpt"]), "--run", str(run), "--data", str(author["data"]),
               "--split", "all", "--no-figures", "--normalization", "zscore",
               env_extra={"HEARTSEG_CACHE": str(author["cache"])})
    assert r.returncode == 0, r.stderr
    scores = _eval_dice(run)
    assert max(scores.values()) < 0.95, scores
    sources = json.loads((run / "eval" / "summary.json").read_text())["preprocessing"]["sources"]
    assert sources["data.normalization"] == "overridden" and sources["data.spacing"] == "assumed (bare state_dict)"


def test_predict_bare_state_dict_without_flags_writes_the_authors_masks(author, tmp_path):
    src = author["data"] / "imagesTr" / f"{CASES[0]}.nii.gz"
    plain = tmp_path / "in" / "anatomical.nii"  # an uncompressed input keeps its name and extension
    plain.parent.mkdir()
    nib.save(nib.load(str(src)), str(plain))
    out = tmp_path / "out"
    r = engine("predict", "--checkpoint", str(author["ckpt"]), "--input", str(src), str(plain), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout.splitlines()[-1]  # the last line names where it wrote
    for path in (out / src.name, out / "anatomical.nii"):
        pred = np.asarray(nib.load(str(path)).dataobj)
        assert dice(pred, author["masks"][CASES[0]]) >= 0.99
    assert not (out / "anatomical.nii.gz").exists()
    manifest = json.loads((out / "heartseg-predict.json").read_text())
    assert {c["output"] for c in manifest["cases"]} == {str(out / src.name), str(out / "anatomical.nii")}
    assert manifest["preprocessing"]["values"]["data.normalization"] == "minmax"
    z = tmp_path / "z"
    r = engine("predict", "--checkpoint", str(author["ckpt"]), "--input", str(src), "--out", str(z),
               "--normalization", "zscore")
    assert r.returncode == 0, r.stderr
    assert dice(np.asarray(nib.load(str(z / src.name)).dataobj), author["masks"][CASES[0]]) < 0.95


@pytest.mark.parametrize("flags, key, value", [
    (["--threshold", "0.9"], "infer.threshold", 0.9),
    (["--postprocess", "largest"], "infer.postprocess", ["largest"]),
    (["--postprocess", "none"], "infer.postprocess", []),
    (["--spacing", "1,1,2"], "data.spacing", [1.0, 1.0, 2.0]),
    (["--spacing", "native"], "data.spacing", "native"),
    (["--normalization", "percentile"], "data.normalization", "percentile"),
])
def test_flags_override_what_is_applied(flags, key, value):
    import argparse

    from heartseg.checkpoint import LoadedCheckpoint, application
    from heartseg.commands.predict import add_model_arguments
    from heartseg.model_setup import user_overrides

    p = argparse.ArgumentParser()
    add_model_arguments(p)
    overrides, _ = user_overrides(p.parse_args(flags))
    assert overrides == {key: value}
    ckpt = LoadedCheckpoint(state_dict={}, architecture={"in_channels": 1, "out_channels": 1, "features": [2, 4]},
                            kind="raw")
    applied = application(ckpt, overrides)
    assert applied.values[key] == value and applied.sources[key] == "overridden"
    assert all(s == "assumed (bare state_dict)" for k, s in applied.sources.items() if k != key)


@pytest.mark.parametrize("flags, message", [
    (["--normalization", "robust"], "data.normalization"),
    (["--threshold", "1.5"], "infer.threshold"),
    (["--postprocess", "smooth"], "infer.postprocess"),
    (["--spacing", "1,1"], "data.spacing"),
])
def test_bad_override_values_are_refused_naming_the_key(flags, message):
    import argparse

    from heartseg.commands.predict import add_model_arguments
    from heartseg.errors import BadInput
    from heartseg.model_setup import user_overrides

    p = argparse.ArgumentParser()
    add_model_arguments(p)
    with pytest.raises(BadInput, match=message):
        user_overrides(p.parse_args(flags))


def test_heartseg_checkpoint_applies_what_it_recorded():
    from heartseg import config as cfgmod
    from heartseg.checkpoint import LoadedCheckpoint, application

    cfg = cfgmod.Config()
    cfg.data.normalization, cfg.data.spacing, cfg.infer.postprocess = "percentile", [2.0, 1.0, 1.0], ["largest"]
    ckpt = LoadedCheckpoint(state_dict={}, architecture={"in_channels": 1, "out_channels": 1, "features": [2, 4]},
                            kind="heartseg", config=cfgmod.to_dict(cfg), full={"labels": {"0": "bg", "1": "LA"}})
    applied = application(ckpt, {"infer.threshold": 0.7})
    assert applied.values == {"data.spacing": [2.0, 1.0, 1.0], "data.normalization": "percentile",
                              "infer.threshold": 0.7, "infer.postprocess": ["largest"]}
    assert applied.sources == {"data.spacing": "recorded", "data.normalization": "recorded",
                               "infer.threshold": "overridden", "infer.postprocess": "recorded"}
    assert applied.labels == {"0": "bg", "1": "LA"} and applied.output == "sigmoid > 0.7" and not applied.notes
