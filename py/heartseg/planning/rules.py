"""Planning rules: a dataset's fingerprint and a device in, a partial config with one reason per choice out.

The rules follow nnU-Net's reasoning, made general rather than fitted to one dataset: resample to the median
spacing (keeping more out-of-plane resolution when the data are anisotropic); make the patch cover as much of the
median case as the device allows, divisible by 2^depth; pool until the bottleneck is about 4 voxels across;
bound GPU memory with the U-Net's activation count (heartseg.cost) and CPU time with its FLOP count, and on
a CPU buy time with a coarser spacing before a thinner network. Pure: no files, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from heartseg import cost

ANISOTROPY = 3.0
"""Spacing ratio (coarsest / finest axis) above which a dataset is treated as anisotropic."""
MIN_BOTTLENECK = 4
"""Smallest bottleneck edge in voxels: pooling stops before a feature map gets smaller (nnU-Net uses 4)."""
DEPTH_RANGE = (2, 5)
MAX_WIDTH = 320
"""Channel cap per level (nnU-Net's), so deep levels do not dominate memory."""
MIN_ITERATIONS = 1000
"""Steps a U-Net needs to converge on a small dataset (shared/NOTES.md: 1,000-1,600 for Dice ~0.87); fewer is warned."""
CPU_ITERATIONS = 3000
"""Steps a CPU plan buys before it spends time on a finer grid: at 1,000 steps a finer grid lost to a coarser one
with as many steps on la2018 (BENCHMARKS.md, cross-validation), and Dice still rises past 1,000 steps."""
FEWER_ITERATIONS = (2000, 1500)
"""Step counts tried at STEP_COARSENING, in turn, before MIN_ITERATIONS: a smaller patch before fewer steps."""
STEP_COARSENING = 1.5
"""The most the spacing is coarsened to buy CPU_ITERATIONS steps; past it the boundary suffers (a la2018 label
resampled to 3.75 mm and back caps Dice at 0.936), so a slower device gets this spacing with fewer steps, and a
coarser one only where even MIN_ITERATIONS steps do not fit."""
MAX_ITERATIONS = 250_000
"""nnU-Net's whole schedule (1000 epochs of 250 steps); more budget than that is not spent."""
MIN_COVERAGE = 0.25
"""Smallest share of the target region (see CONTEXT) a CPU patch should cover before the planner coarsens the spacing."""
CONTEXT = 2.0
"""The target region: the largest foreground box (per axis, in mm) times this, so the patch sees the structure with
as much context again around it; capped by the case. On a cropped dataset it is the whole case; on a full-field scan
it keeps the spacing near native instead of coarsening until a patch covers a quarter of the field."""
TRAIN_SHARE = 0.8
"""Share of the time budget for training steps; the rest pays validation, checkpoints and start-up."""
VAL_SHARE = 0.15
"""Most of the budget validation may take."""
GPU_MFU = 0.25
"""Expected share of a GPU's peak a 3D U-Net step reaches (for the time estimate only)."""
VAL_HOST_SECONDS = (0.25, 0.35)
"""Validation work besides the network, per case: (seconds, seconds per million voxels) for reading the case,
stitching windows, thresholding, keeping the largest component and Dice (estimated on a CPU core; not FLOPs)."""
SPACING_FACTORS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
DEFAULT_BUDGET_MINUTES = {"cpu": 40.0, "cuda": 120.0}
"""Training time a plan is sized for when none is given, per device kind (on a CPU, 40 minutes: what one
cross-validation fold is given)."""


@dataclass
class Fingerprint:
    """What the planner needs to know about a dataset; all axes (z, y, x) after reorientation to RAS."""

    spacings: list[list[float]]
    shapes: list[list[int]]
    modality: str = "MRI"
    intensity: dict[str, float] = field(default_factory=dict)
    """Foreground intensity percentiles p0.5, p50, p99.5 (sampled)."""
    label_fractions: dict[int, float] = field(default_factory=dict)
    """Median share of a case's voxels per label value."""
    val_fraction: float = 0.2
    foreground_mm: list[float] | None = None
    """Largest foreground bounding box among the cases read, (z, y, x) mm after reorientation; None without labels."""


@dataclass
class Device:
    kind: str
    """'cpu' or 'cuda'."""
    name: str
    cores: int
    memory_gb: float
    """Free GPU memory (measured) on CUDA, else the machine's RAM."""
    flops: float
    """Sustained FLOP/s a training step is expected to reach."""


@dataclass
class Plan:
    config: dict[str, Any]
    reasons: dict[str, str]
    estimates: dict[str, float]


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def target_spacing(fp: Fingerprint) -> tuple[list[float], str]:
    """Median spacing; on anisotropic data the coarse axis takes its 10th percentile, as nnU-Net does."""
    med = [_median([s[i] for s in fp.spacings]) for i in range(3)]
    coarse = max(range(3), key=lambda i: med[i])
    if med[coarse] / min(med) > ANISOTROPY:
        out = list(med)
        out[coarse] = max(_percentile([s[coarse] for s in fp.spacings], 10), min(med))
        return out, (f"anisotropic (axis {'zyx'[coarse]} {med[coarse]:.3g} mm vs {min(med):.3g} mm): median in-plane, "
                     f"10th percentile along {'zyx'[coarse]} keeps the finer cases' resolution")
    return med, "median spacing of the dataset"


def coarsen(spacing: list[float], factor: float) -> list[float]:
    """Scale the fine axes by factor, never past the coarsest axis (an anisotropic axis stays as it is)."""
    top = max(spacing)
    aniso = top / min(spacing) > ANISOTROPY
    return [s if aniso and s == top else (min(s * factor, top) if aniso else s * factor) for s in spacing]


def median_shape(fp: Fingerprint, spacing: list[float]) -> list[float]:
    return [_median([sh[i] * sp[i] / spacing[i] for sh, sp in zip(fp.shapes, fp.spacings)]) for i in range(3)]


def target_region(fp: Fingerprint, spacing: list[float]) -> list[float]:
    """Voxels per axis the patch should cover: the median case, or less when the foreground (times CONTEXT) is
    smaller than the field of view."""
    shape = median_shape(fp, spacing)
    if not fp.foreground_mm:
        return shape
    return [min(s, max(CONTEXT * f / sp, 1.0)) for s, f, sp in zip(shape, fp.foreground_mm, spacing)]


def depth_for(patch: list[int]) -> int:
    lo, hi = DEPTH_RANGE
    return max(lo, min(hi, int(math.floor(math.log2(max(min(patch), 1) / MIN_BOTTLENECK)))))


def features_for(base: int, depth: int) -> list[int]:
    return [min(base * 2**i, MAX_WIDTH) for i in range(depth)]


def fit_patch(shape: list[float], fits) -> tuple[list[int], int] | None:
    """Largest patch, from the median shape down, that `fits(patch, depth)`; the axis that is largest relative to
    the median shape shrinks first, one 2^depth step at a time. None when even the smallest patch does not fit."""
    smallest = 2 ** DEPTH_RANGE[0] * MIN_BOTTLENECK
    # never larger than the median case (rounded down to 2^depth): a bigger patch only pads most cases
    patch = [max(int(math.floor(s)), smallest) for s in shape]
    while True:
        depth = depth_for(patch)
        step = 2**depth
        patch = [max(p // step * step, smallest) for p in patch]
        if fits(patch, depth):
            return patch, depth
        order = sorted(range(3), key=lambda i: (patch[i] / shape[i], patch[i]), reverse=True)
        shrinkable = [i for i in order if patch[i] - step >= smallest]
        if not shrinkable:
            return None
        patch[shrinkable[0]] -= step


def step_seconds(features: list[int], patch: list[int], batch: int, device: Device) -> float:
    return cost.TRAIN_FLOPS_FACTOR * cost.forward_flops(features, patch, batch=batch) / device.flops


def _windows(shape: list[float], patch: list[int]) -> int:
    return math.prod(max(1, math.ceil((s - p) / (p / 2.0)) + 1) for s, p in zip(shape, patch))


@dataclass
class _Geometry:
    base: int
    factor: float
    spacing: list[float]
    shape: list[float]
    patch: list[int]
    depth: int
    coverage: float
    region: list[float]
    iterations: int
    """The step count the patch was sized for."""


def _choose_geometry(fp: Fingerprint, device: Device, budget: float, batch: int) -> _Geometry:
    """The finest spacing and widest network whose patch covers MIN_COVERAGE of the target region within memory
    (and, on a CPU, CPU_ITERATIONS steps within the budget at no more than STEP_COARSENING, else
    FEWER_ITERATIONS at that coarsening, else MIN_ITERATIONS steps at that coarsening or more); else the
    candidate with the largest coverage."""
    gpu = device.kind == "cuda"
    memory_limit = device.memory_gb * 1024**3 * (0.85 if gpu else 0.5)
    base_spacing, _ = target_spacing(fp)

    def fits_with(base: int, per_step: float):
        def fits(patch: list[int], depth: int) -> bool:
            feats = features_for(base, depth)
            if cost.training_memory_bytes(feats, patch, batch, amp=gpu) > memory_limit:
                return False
            return gpu or step_seconds(feats, patch, batch, device) <= per_step
        return fits

    # a GPU is bound by memory only; a CPU buys CPU_ITERATIONS steps with up to STEP_COARSENING, and past that
    # coarsens only as far as MIN_ITERATIONS need (so a larger budget never gives a coarser grid)
    passes = [(MIN_ITERATIONS, SPACING_FACTORS)] if gpu else (
        [(CPU_ITERATIONS, tuple(f for f in SPACING_FACTORS if f <= STEP_COARSENING))]
        + [(n, (STEP_COARSENING,)) for n in FEWER_ITERATIONS]
        + [(MIN_ITERATIONS, tuple(f for f in SPACING_FACTORS if f >= STEP_COARSENING))])
    best = None
    for base in (32, 16) if gpu else (16, 8):  # a thinner network only when no spacing gives enough coverage
        for iterations, factors in passes:
            per_step = budget * TRAIN_SHARE / iterations
            for factor in factors:
                spacing = coarsen(base_spacing, factor)
                shape = median_shape(fp, spacing)
                found = fit_patch(shape, fits_with(base, per_step))
                if found is None:
                    continue
                region = target_region(fp, spacing)
                coverage = min(1.0, math.prod(min(1.0, p / s) for p, s in zip(found[0], region)))
                candidate = _Geometry(base, factor, spacing, shape, found[0], found[1], coverage, region, iterations)
                if coverage >= MIN_COVERAGE:
                    return candidate
                if best is None or coverage > best.coverage:
                    best = candidate
    if best is None:
        raise ValueError(f"no patch of at least 16 voxels per axis fits {device.memory_gb:.1f} GB on {device.name}")
    return best


def _gpu_batch(fp: Fingerprint, g: _Geometry, feats: list[int], memory_limit: float) -> int:
    """When the patch holds a whole median case, grow the batch while memory allows, up to 5 % of the data."""
    total = sum(math.prod(sh) * math.prod(sp) for sh, sp in zip(fp.shapes, fp.spacings)) / math.prod(g.spacing)
    by_data = int(0.05 * total / math.prod(g.patch))
    batch = 2
    while batch < min(16, by_data) and cost.training_memory_bytes(feats, g.patch, batch + 1, amp=True) <= memory_limit:
        batch += 1
    return batch


def make_plan(fp: Fingerprint, device: Device, budget_minutes: float | None = None) -> Plan:
    """The rules, on a fingerprint and a device description (pure: no files, no torch)."""
    if not fp.spacings or len(fp.spacings) != len(fp.shapes):
        raise ValueError("fingerprint needs one spacing and one shape per case")
    budget = float(budget_minutes or DEFAULT_BUDGET_MINUTES[device.kind]) * 60.0
    if budget <= 0:
        raise ValueError(f"budget must be positive, got {budget_minutes} minutes")
    gpu = device.kind == "cuda"
    g = _choose_geometry(fp, device, budget, batch=2)
    feats = features_for(g.base, g.depth)
    reasons: dict[str, str] = {}
    why = target_spacing(fp)[1]
    if g.factor > 1:
        why += (f"; coarsened x{g.factor:g} so that a patch covering {MIN_COVERAGE:.0%} of the target region fits "
                + ("in GPU memory" if gpu else f"{g.iterations} steps into {budget / 60:.0f} min on "
                   f"{device.cores} CPU core{'' if device.cores == 1 else 's'}"))
    reasons["data.spacing"] = why
    whole_case = math.prod(p / s for p, s in zip(g.patch, g.shape)) >= 1.0
    batch = _gpu_batch(fp, g, feats, device.memory_gb * 1024**3 * 0.85) if gpu and whole_case else 2
    est_step = step_seconds(feats, g.patch, batch, device)
    cropped = any(r < s - 0.5 for r, s in zip(g.region, g.shape))
    region = (f"the target region ({' x '.join(f'{s:.0f}' for s in g.region)} voxels: the largest foreground, "
              f"{' x '.join(f'{f:.0f}' for f in fp.foreground_mm or [])} mm, with x{CONTEXT:g} context, inside a "
              f"median case of {' x '.join(f'{s:.0f}' for s in g.shape)}; inference slides over the whole case)"
              if cropped else f"the median case ({' x '.join(f'{s:.0f}' for s in g.shape)} voxels)")
    reasons["data.patch"] = (f"covers {g.coverage:.0%} of {region}, divisible by 2^{g.depth}; " + ("largest that fits GPU memory" if gpu else
                             f"largest whose step (~{est_step:.1f} s) allows {g.iterations} steps in the budget"))
    reasons["data.batch"] = (f"{batch}: the patch holds a whole median case, so the batch grows while memory allows "
                             "and a step sees at most 5 % of the dataset's voxels" if batch > 2 else
                             "2: BatchNorm needs more than one sample; a larger patch helps more than a larger batch")
    memory = cost.training_memory_bytes(feats, g.patch, batch, amp=gpu)
    reasons["model.features"] = (f"{len(feats)} levels: pooling stops before the bottleneck is under "
                                 f"{MIN_BOTTLENECK} voxels (patch min {min(g.patch)}); width {g.base}"
                                 + (" (full width on a GPU)" if gpu else " (thinner nets on a CPU buy iterations)")
                                 + f"; ~{memory / 1024**3:.1f} GB per step")
    iterations = max(1, min(MAX_ITERATIONS, int(budget * TRAIN_SHARE / est_step)))
    iters_per_epoch = 250 if gpu else max(25, int(round(iterations / 20.0 / 5.0)) * 5)
    epochs = max(1, int(math.ceil(iterations / iters_per_epoch)))
    # on a CPU the budget ends the run (train.minutes): epochs is a cap with room for a faster step than estimated
    cap = max(epochs + 1, int(math.ceil(1.5 * epochs))) if not gpu else epochs
    val_cases = max(1, round(len(fp.shapes) * fp.val_fraction))
    host = VAL_HOST_SECONDS[0] + VAL_HOST_SECONDS[1] * math.prod(g.shape) / 1e6
    val_seconds = val_cases * (_windows(g.shape, g.patch) * cost.forward_flops(feats, g.patch) / device.flops + host)
    val_every = max(1, int(math.ceil(val_seconds * epochs / (VAL_SHARE * budget))))
    reasons["train.epochs"] = (f"{epochs} x {iters_per_epoch} = {epochs * iters_per_epoch} steps of ~{est_step:.2g} s: "
                               f"{TRAIN_SHARE:.0%} of a {budget / 60:.0f}-min budget"
                               + ("" if gpu else f"; the cap is {cap} epochs, train.minutes ends the run")
                               + ("" if iterations >= MIN_ITERATIONS else f" (under the {MIN_ITERATIONS} steps a U-Net "
                                  "usually needs; give a larger --budget-minutes)"))
    reasons["train.iters_per_epoch"] = ("250, nnU-Net's epoch" if gpu else
                                        f"{iters_per_epoch}: about 20 epochs, so validation follows the progress")
    reasons["train.val_every"] = (f"validation (~{val_seconds:.2g} s each, {val_cases} cases) every {val_every} "
                                  f"epoch(s) keeps it under {VAL_SHARE:.0%} of the budget")
    reasons["train.device"] = f"{device.kind}: {device.name}"
    reasons["train.precision"] = ("auto: measured when training starts (bf16 where native, else fp16; fp32 when that is "
                                  "not at least 1.2x faster)")
    if not gpu:
        config_minutes = round(budget / 60.0, 1)
        reasons["train.minutes"] = (f"{config_minutes:g}: the schedule runs on the clock and the run ends on time "
                                    "with lr 0, a final validation and the final weights")
    normalization = "percentile" if "CT" in fp.modality.upper().split() else "zscore"
    reasons["data.normalization"] = ("CT intensities are physical (HU): clip to the 0.5-99.5 percentiles, then z-score"
                                     if normalization == "percentile" else
                                     f"{fp.modality}: arbitrary intensity scale per scan, so z-score each case")
    fg = [v for k, v in fp.label_fractions.items() if k != 0]
    share = 0.5 if fg and min(fg) < 0.01 else 0.33
    reasons["data.foreground_share"] = (f"{share}: " + (f"the smallest label fills {min(fg):.2%} of a case, so half "
                                        "the patches are centred on foreground" if share == 0.5 else
                                        "labels are not rare; a third of patches centred on foreground (nnU-Net)"))
    config = {
        "data": {"spacing": [round(s, 4) for s in g.spacing], "patch": g.patch, "batch": batch,
                 "normalization": normalization, "foreground_share": share},
        "model": {"features": feats},
        "train": {"epochs": cap, "iters_per_epoch": iters_per_epoch, "val_every": val_every,
                  "device": device.kind, "precision": "auto"},
    }
    if not gpu:
        config["train"]["minutes"] = config_minutes
    else:  # augmentation runs in loader workers; one H100 step eats ~140-280 patches/s, a worker makes ~75
        config["data"]["workers"] = max(1, min(12, device.cores - 2))
        reasons["data.workers"] = (f"{config['data']['workers']}: patch sampling and augmentation overlap the GPU "
                                   f"step ({device.cores} cores, two left for the step and the system); "
                                   "scripts/gpu-check.sh measures patches/s against the demand")
    estimates = {"step_seconds": round(est_step, 3), "memory_gb": round(memory / 1024**3, 2),
                 "train_minutes": round(cost.run_minutes(config["train"]["epochs"] * iters_per_epoch, est_step,
                                                         config["train"].get("minutes", 0.0)), 1),
                 "validation_seconds": round(val_seconds, 1), "coverage": round(g.coverage, 3),
                 "forward_gflop_per_patch": round(cost.forward_flops(feats, g.patch) / 1e9, 2),
                 "parameters": cost.parameters(feats)}
    return Plan(config, reasons, estimates)
