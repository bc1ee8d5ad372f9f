"""Automatic planning: rule tables on hand-made fingerprints and devices, the U-Net cost model, and the command."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from heartseg import config as cfgmod
from heartseg import planning
from heartseg.planning import rules as P
from heartseg import cost

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PY_ROOT = Path(__file__).resolve().parents[1]

CPU2 = P.Device("cpu", "2-core test CPU", 2, 16.0, 2 * 25e9)
CPU16 = P.Device("cpu", "16-core test CPU", 16, 64.0, 16 * 25e9)
GPU80 = P.Device("cuda", "80 GB test GPU", 16, 78.0, 250e12)
GPU4 = P.Device("cuda", "4 GB test GPU", 8, 4.0, 20e12)

FINGERPRINTS = {
    "isotropic_la_like": P.Fingerprint([[0.625] * 3] * 20, [[88, 140, 190]] * 20, label_fractions={1: 0.08}),
    "anisotropic_prostate_like": P.Fingerprint([[3.6, 0.62, 0.62]] * 10 + [[3.0, 0.6, 0.6]] * 10,
                                               [[20, 320, 320]] * 20, label_fractions={1: 0.02, 2: 0.004}),
    "large_ct": P.Fingerprint([[1.0, 0.8, 0.8]] * 30, [[400, 512, 512]] * 30, modality="CT"),
    "tiny": P.Fingerprint([[1.0, 1.0, 1.0]] * 4, [[24, 30, 30]] * 4, label_fractions={1: 0.2}),
}
DEVICES = {"cpu2": CPU2, "cpu16": CPU16, "gpu80": GPU80, "gpu4": GPU4}


@pytest.mark.parametrize("fp_name", sorted(FINGERPRINTS))
@pytest.mark.parametrize("dev_name", sorted(DEVICES))
def test_plan_properties(fp_name, dev_name):
    fp, dev = FINGERPRINTS[fp_name], DEVICES[dev_name]
    plan = P.make_plan(fp, dev)
    data, model, train = plan.config["data"], plan.config["model"], plan.config["train"]
    depth = len(model["features"])
    assert P.DEPTH_RANGE[0] <= depth <= P.DEPTH_RANGE[1]
    assert all(p % 2**depth == 0 for p in data["patch"]), "patch must be divisible by 2^depth"
    assert min(data["patch"]) // 2**depth >= P.MIN_BOTTLENECK
    assert max(model["features"]) <= P.MAX_WIDTH
    shape = P.median_shape(fp, data["spacing"])
    # never bigger than the median case (a bigger patch only pads): issue 16 found 96x144x192 for 88x143x192
    assert all(p <= max(s, 2 ** P.DEPTH_RANGE[0] * P.MIN_BOTTLENECK) for p, s in zip(data["patch"], shape))
    if dev.kind == "cuda":
        assert data["workers"] >= 1 and plan.reasons["data.workers"]
        assert plan.estimates["validation_seconds"] >= P.VAL_HOST_SECONDS[0]  # not the forward FLOPs alone
    limit = dev.memory_gb * 1024**3 * (0.85 if dev.kind == "cuda" else 0.5)
    amp = dev.kind == "cuda"  # 'auto': mixed precision is measured at start; memory is planned for it on a GPU only
    assert cost.training_memory_bytes(model["features"], data["patch"], data["batch"], amp=amp) <= limit
    assert train["precision"] == "auto"
    # every chosen key carries a reason, and the partial config is a valid config
    for section, values in plan.config.items():
        for key in values:
            assert plan.reasons.get(f"{section}.{key}"), f"{section}.{key} has no reason"
    cfgmod.from_dict(cfgmod.merge(cfgmod.defaults(), plan.config))
    if dev.kind == "cpu":
        budget = P.DEFAULT_BUDGET_MINUTES["cpu"] * 60
        # the budget ends a CPU run (train.minutes); the planned steps fit it and epochs is a cap above them
        assert train["minutes"] * 60 == budget
        assert plan.estimates["train_minutes"] * 60 <= budget < train["epochs"] * train["iters_per_epoch"] * \
            plan.estimates["step_seconds"] * 1.5
    assert data["normalization"] == ("percentile" if fp.modality == "CT" else "zscore")


def test_cpu_buys_time_with_coarser_spacing_before_thinner_width():
    plan = P.make_plan(FINGERPRINTS["isotropic_la_like"], CPU2, 45)
    assert plan.config["data"]["spacing"][0] > 0.625  # coarsened
    assert plan.config["model"]["features"][0] == 16
    assert plan.estimates["coverage"] >= P.MIN_COVERAGE
    gpu = P.make_plan(FINGERPRINTS["isotropic_la_like"], GPU80)
    assert gpu.config["data"]["spacing"] == [0.625] * 3 and gpu.config["model"]["features"][0] == 32
    assert 0.7 <= gpu.estimates["coverage"] <= 1.0  # the whole median case, rounded down to 2^depth


def test_larger_budget_never_gives_coarser_spacing_or_smaller_patch():
    fp = FINGERPRINTS["isotropic_la_like"]
    small, large = P.make_plan(fp, CPU2, 15), P.make_plan(fp, CPU2, 240)
    assert large.config["data"]["spacing"][0] <= small.config["data"]["spacing"][0]
    assert large.estimates["coverage"] >= P.MIN_COVERAGE


def test_anisotropic_axis_is_not_coarsened_and_uses_its_10th_percentile():
    fp = FINGERPRINTS["anisotropic_prostate_like"]
    spacing, reason = P.target_spacing(fp)
    # 10 cases at 3.0 and 10 at 3.6 along z: the 10th percentile is 3.0; in-plane median (0.6 + 0.62) / 2
    assert spacing == pytest.approx([3.0, 0.61, 0.61])
    assert "anisotropic" in reason
    for dev in (CPU2, GPU4):
        planned = P.make_plan(fp, dev).config["data"]["spacing"]
        assert planned[0] == pytest.approx(3.0)
        assert planned[1] <= planned[0] and planned[2] <= planned[0]


@pytest.mark.parametrize("spacing,factor,expected", [
    ([1.0, 1.0, 1.0], 2.0, [2.0, 2.0, 2.0]),
    ([5.0, 1.0, 1.0], 2.0, [5.0, 2.0, 2.0]),
    ([5.0, 1.0, 1.0], 8.0, [5.0, 5.0, 5.0]),   # in-plane never coarser than the coarse axis
    ([2.0, 1.0, 1.0], 2.0, [4.0, 2.0, 2.0]),   # ratio 2 is not anisotropic: all axes scale
])
def test_coarsen(spacing, factor, expected):
    assert P.coarsen(spacing, factor) == pytest.approx(expected)


@pytest.mark.parametrize("patch,depth", [
    ([64, 128, 128], 4), ([32, 64, 64], 3), ([16, 64, 64], 2), ([8, 8, 8], 2), ([256, 256, 256], 5),
    ([128, 128, 128], 5), ([96, 144, 192], 4),
])
def test_depth_for(patch, depth):
    assert P.depth_for(patch) == depth


def test_fit_patch_shrinks_the_axis_largest_relative_to_the_median_shape():
    # nothing over 64*64*64 voxels fits; the median shape is (64, 128, 128)
    patch, depth = P.fit_patch([64, 128, 128], lambda p, d: math.prod(p) <= 64**3)
    assert math.prod(patch) <= 64**3 and all(p % 2**depth == 0 for p in patch)
    ratios = [p / s for p, s in zip(patch, [64, 128, 128])]
    assert max(ratios) - min(ratios) <= 16 / 64  # shrunk in proportion, as nnU-Net does, within one step
    assert math.prod(patch) > 64**3 / 2  # and not further than needed
    assert P.fit_patch([64, 64, 64], lambda p, d: False) is None


@pytest.mark.parametrize("values,expected", [([1.0, 2.0, 3.0], 2.0), ([1.0, 2.0, 3.0, 4.0], 2.5), ([7.0], 7.0)])
def test_median(values, expected):
    assert P._median(values) == expected


@pytest.mark.parametrize("bad", [P.Fingerprint([], []), P.Fingerprint([[1, 1, 1]], [])])
def test_bad_fingerprint(bad):
    with pytest.raises(ValueError, match="one spacing and one shape"):
        P.make_plan(bad, CPU2)


def test_bad_budget():
    with pytest.raises(ValueError, match="budget"):
        P.make_plan(FINGERPRINTS["tiny"], CPU2, -5)


# ---- the cost model behind the memory and time estimates ----

def test_cost_matches_the_default_model():
    keys = SHARED / "fixtures" / "seed_unet3d_keys.json"
    expected = json.loads(keys.read_text())["trainable_parameters"] if keys.exists() else 22_581_217
    assert cost.parameters([32, 64, 128, 256]) == expected
    assert cost.forward_flops([32, 64, 128, 256], [64, 128, 128]) / 1e9 == pytest.approx(475.6, abs=0.05)
    assert cost.forward_flops([8, 16], [16, 16, 16], batch=3) == 3 * cost.forward_flops([8, 16], [16, 16, 16])


@pytest.mark.parametrize("features,out_channels", [([4, 8, 16], 1), ([2, 4], 3)])
def test_cost_matches_built_models(features, out_channels):
    torch = pytest.importorskip("torch")
    from heartseg.model import UNet3D, count_parameters

    model = UNet3D(1, out_channels, features)
    assert cost.parameters(features, 1, out_channels) == count_parameters(model)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    patch = (16, 16, 16)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(1, 1, *patch))
    measured = sum(saved.values()) / 4 / math.prod(patch)
    assert measured == pytest.approx(cost.saved_floats_per_voxel(features, 1), rel=0.05)


# ---- reading a dataset ----

def _write_dataset(root: Path, affine: np.ndarray, shape=(10, 12, 14), cases=3) -> None:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for i in range(cases):
        img = rng.normal(100, 10, shape).astype(np.float32)
        lab = np.zeros(shape, np.uint8)
        lab[2:6, 3:7, 4:8] = 1  # 64 voxels
        nib.save(nib.Nifti1Image(img, affine), root / "imagesTr" / f"c{i}.nii.gz")
        nib.save(nib.Nifti1Image(lab, affine), root / "labelsTr" / f"c{i}.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"name": "t", "modality": {"0": "MRI"},
                                                   "labels": {"0": "background", "1": "thing"}}))


def test_read_fingerprint_reorients_to_ras_zyx(tmp_path):
    # stored axes (x, y, z) with voxel sizes 1, 2, 3, but the first stored axis runs along z (S) and the third
    # along x (L): in RAS (z, y, x) the shape is (10, 12, 14) and the spacing (1, 2, 3)
    affine = np.array([[0, 0, -3, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
    _write_dataset(tmp_path / "d", affine)
    fp = planning.read_fingerprint(tmp_path / "d", cache_dir=str(tmp_path / "cache"))
    assert fp.shapes == [[10, 12, 14]] * 3
    assert fp.spacings == [pytest.approx([1.0, 2.0, 3.0])] * 3
    assert fp.label_fractions[1] == pytest.approx(64 / (10 * 12 * 14))
    assert 80 < fp.intensity["p50"] < 120 and fp.intensity["p0.5"] < fp.intensity["p99.5"]


def test_fingerprint_uses_the_cache_metadata_of_unchanged_files_only(tmp_path):
    from heartseg.config import DataConfig
    from heartseg.data import prepare
    from heartseg.data.discover import discover
    from heartseg.planning import fingerprint

    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    _write_dataset(tmp_path / "d", affine)
    prepare(DataConfig(root=str(tmp_path / "d"), cache_dir=str(tmp_path / "cache")))
    cases = discover(tmp_path / "d")[0].cases
    metas = fingerprint._cached_metas(cases, str(tmp_path / "cache"))
    assert sorted(metas) == ["c0", "c1", "c2"]
    assert metas["c0"].label_volumes["1"]["voxels"] == 64
    fp = planning.read_fingerprint(tmp_path / "d", cache_dir=str(tmp_path / "cache"))
    assert fp.label_fractions[1] == pytest.approx(64 / (10 * 12 * 14))
    # a file rewritten after caching no longer matches its entry
    lab = np.zeros((10, 12, 14), np.uint8)
    nib.save(nib.Nifti1Image(lab, affine), tmp_path / "d" / "labelsTr" / "c1.nii.gz")
    assert sorted(fingerprint._cached_metas(cases, str(tmp_path / "cache"))) == ["c0", "c2"]


def test_plan_command_json_and_bad_input(tmp_path):
    _write_dataset(tmp_path / "d", np.diag([1.0, 1.0, 2.0, 1.0]), shape=(24, 24, 12))
    env = {"PYTHONPATH": str(PY_ROOT), "OMP_NUM_THREADS": "1", "HEARTSEG_CACHE": str(tmp_path / "cache"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "heartseg", "plan", str(tmp_path / "d"), "--device", "cpu",
                           "--json", "--budget-minutes", "5"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["fingerprint"]["cases"] == 3 and body["device"]["kind"] == "cpu"
    assert body["config"]["data"]["spacing"][0] >= 2.0 - 1e-9  # the z axis (2 mm) is never made finer
    cfgmod.from_dict(cfgmod.merge(cfgmod.defaults(), body["config"]))
    missing = subprocess.run([sys.executable, "-m", "heartseg", "plan", str(tmp_path / "nope")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "not found" in missing.stderr and str(tmp_path / "nope") in missing.stderr


@pytest.mark.skipif(not (SHARED / "data" / "la2018").is_dir(), reason="../shared/data/la2018 is absent")
def test_la2018_fingerprint():
    fp = planning.read_fingerprint(SHARED / "data" / "la2018")
    assert len(fp.shapes) == 20 and all(s[0] == 88 for s in fp.shapes)
    assert P.target_spacing(fp)[0] == pytest.approx([0.625] * 3)
    assert 0.04 < fp.label_fractions[1] < 0.19


# Task02-like full-field scans (320 x 320 x 130 at 1.37 x 1.25 x 1.25 mm) with an atrium of at most 60 x 75 x 80 mm,
# and the same atrium cropped as la2018 is (55 x 90 x 120 mm of field)
FULL_FIELD = P.Fingerprint([[1.37, 1.25, 1.25]] * 20, [[130, 320, 320]] * 20, label_fractions={1: 0.005},
                           foreground_mm=[60.0, 75.0, 80.0])
CROPPED = P.Fingerprint([[0.625] * 3] * 20, [[88, 144, 192]] * 20, label_fractions={1: 0.08},
                        foreground_mm=[45.0, 60.0, 65.0])


@pytest.mark.parametrize("dev", [CPU2, CPU16], ids=["cpu2", "cpu16"])
def test_full_field_scans_keep_near_native_spacing(dev):
    # the patch is planned around the target, not a quarter of a 178 x 400 x 400 mm field (which coarsened x3)
    plan = P.make_plan(FULL_FIELD, dev)
    assert max(p / n for p, n in zip(plan.config["data"]["spacing"], [1.37, 1.25, 1.25])) <= 1.5
    region = P.target_region(FULL_FIELD, plan.config["data"]["spacing"])
    assert region[1] < P.median_shape(FULL_FIELD, plan.config["data"]["spacing"])[1]
    assert "target region" in plan.reasons["data.patch"] and plan.estimates["coverage"] >= P.MIN_COVERAGE
    # without the foreground's size the same scans are planned on the whole case, as before
    blind = P.make_plan(dataclasses.replace(FULL_FIELD, foreground_mm=None), CPU2)
    assert blind.config["data"]["spacing"][1] > 1.5 * 1.25


@pytest.mark.parametrize("fp_base, fg, expected", [
    # region = min(case, 2 x foreground / spacing) per axis, in voxels at the given spacing
    ([[1.0, 1.0, 1.0]], [10.0, 20.0, 100.0], [20.0, 40.0, 64.0]),
    ([[2.0, 1.0, 1.0]], [10.0, 20.0, 100.0], [10.0, 40.0, 64.0]),
])
def test_target_region(fp_base, fg, expected):
    fp = P.Fingerprint(fp_base, [[64, 64, 64]], foreground_mm=fg)
    assert P.target_region(fp, fp_base[0]) == pytest.approx(expected)


def test_cropped_data_plans_on_the_whole_case():
    # la2018-like: twice the atrium is more than the field, so the region is the case and the plan is unchanged
    fp = CROPPED
    assert P.target_region(fp, [0.625] * 3) == P.median_shape(fp, [0.625] * 3)
    same = P.make_plan(dataclasses.replace(fp, foreground_mm=None), CPU2)
    assert P.make_plan(fp, CPU2).config == same.config


def test_read_fingerprint_foreground_extent_in_ras_mm(tmp_path):
    # the label box is 4 x 4 x 4 stored voxels of 1 x 2 x 3 mm; stored axis 0 runs along z, axis 2 along x
    affine = np.array([[0, 0, -3, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
    _write_dataset(tmp_path / "d", affine)
    fp = planning.read_fingerprint(tmp_path / "d", cache_dir=str(tmp_path / "cache"))
    assert fp.foreground_mm == pytest.approx([4 * 1.0, 4 * 2.0, 4 * 3.0])


def test_measured_plan_calibrates_on_the_planned_patch():
    # a fake machine: small patches run at 1 TFLOP/s, full ones at a third of that (caches, memory bandwidth);
    # the plan made from the small patch's rate alone would be 3x too optimistic
    calls = []

    def timer(features, cin, cout, patch, batch, device, variants, steps=2, **k):
        calls.append(list(patch))
        small = math.prod(patch) * batch <= 2 * 32 * 64 * 64
        rate = 1e12 if small else 1e12 / 3
        return {v: P.step_seconds(features, patch, batch, dataclasses.replace(CPU2, flops=rate)) for v in variants}

    fp = FINGERPRINTS["isotropic_la_like"]
    plan = planning.measured_plan(fp, CPU2, 45, measure=timer)
    feats, patch = plan.config["model"]["features"], plan.config["data"]["patch"]
    truth = P.step_seconds(feats, patch, 2, dataclasses.replace(CPU2, flops=1e12 / 3))
    # the planned step is what the full patch really costs, within the tolerance, and it was timed
    assert plan.estimates["step_seconds"] == pytest.approx(truth, rel=planning.CALIBRATE_TOLERANCE - 1)
    assert len(calls) >= 2 and math.prod(calls[1]) * 2 > 2 * 32 * 64 * 64  # a full-size patch was timed
    assert "one step of the planned patch took" in plan.reasons["train.layout"]
    assert f"batch 2 x {'x'.join(map(str, calls[0]))})" in plan.reasons["train.layout"]  # where the variants ran
    uncalibrated = P.make_plan(fp, dataclasses.replace(CPU2, flops=1e12))
    assert math.prod(patch) < math.prod(uncalibrated.config["data"]["patch"]) or \
        plan.config["data"]["spacing"][0] > uncalibrated.config["data"]["spacing"][0]


@pytest.mark.parametrize("budget,iterations,coarsening", [
    (240, P.CPU_ITERATIONS, (1.0, P.STEP_COARSENING)),  # enough budget: CPU_ITERATIONS steps, a little coarser
    (90, P.FEWER_ITERATIONS[-1], (P.STEP_COARSENING, P.STEP_COARSENING)),  # less: a smaller patch, fewer steps
    (6, P.MIN_ITERATIONS, (P.STEP_COARSENING, 4.0)),  # little: MIN_ITERATIONS, coarser as far as they need
])
def test_cpu_plan_buys_steps_before_resolution(budget, iterations, coarsening):
    plan = P.make_plan(FINGERPRINTS["isotropic_la_like"], CPU2, budget)
    ratio = plan.config["data"]["spacing"][0] / 0.625
    assert budget * 60 * P.TRAIN_SHARE / plan.estimates["step_seconds"] >= iterations
    assert f"fits {iterations} steps into" in plan.reasons["data.spacing"]
    assert coarsening[0] < ratio <= coarsening[1] if coarsening[0] == 1.0 else coarsening[0] <= ratio <= coarsening[1]
    assert plan.estimates["coverage"] >= P.MIN_COVERAGE


def test_cpu_budget_monotone_in_spacing():
    fp = FINGERPRINTS["isotropic_la_like"]
    spacings = [P.make_plan(fp, CPU2, m).config["data"]["spacing"][0] for m in (3, 6, 10, 20, 30, 45, 90, 240)]
    assert spacings == sorted(spacings, reverse=True)
