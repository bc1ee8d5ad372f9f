"""data_sampling: training patches per second from the engine's cache vs decoding the .nii.gz for every patch.

Ours: heartseg.data.prepare (cache filled beforehand, not timed) and PatchSampler.batch with batch 1 and
augmentation off, so both sides produce the same thing: a random 64x128x128 image+label crop as tensors.
The sampler with the default augmentation is timed too and reported as an extra. Baseline: the classic
homework's Dataset.__getitem__: nibabel-decode the case's image and label (get_fdata), crop at random, tensors.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from heartseg.bench import datasets, results, runner

NAME, UNIT = "data_sampling", "patches/s"
MODES = {  # patch (z, y, x), cases, repeats per round, patches per repeat (ours, baseline); rounds alternate sides
    "smoke": {"patch": [16, 32, 32], "cases": 2, "shape": [24, 40, 40], "repeats": 2, "ours_n": 4, "base_n": 1,
              "rounds": 1},
    "quick": {"patch": [64, 128, 128], "cases": 4, "repeats": 3, "ours_n": 100, "base_n": 4, "rounds": 2},
    "full": {"patch": [64, 128, 128], "cases": 20, "repeats": 5, "ours_n": 200, "base_n": 10, "rounds": 2},
}


def _data_cfg(s: dict[str, Any]):
    from heartseg.config import DataConfig

    return DataConfig(root=s["root"], cache_dir=s.get("cache_dir", ""), patch=list(s["patch"]), batch=1,
                      max_cases=int(s["cases"]))


def _timed_rate(draw, n: int, repeats: int) -> list[float]:
    draw(0)  # warm-up: opens the memory maps / the first file
    out = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            draw(1 + r * n + i)
        out.append(n / (time.perf_counter() - t0))
    return out


def ours(s: dict[str, Any]) -> dict[str, Any]:
    from heartseg.config import AugmentConfig
    from heartseg.data import PatchSampler, prepare

    cfg = _data_cfg(s)
    t0 = time.perf_counter()
    prepared = prepare(cfg)
    opened = time.perf_counter() - t0
    names = prepared.case_names
    off = AugmentConfig(flip=False, rotate=False, scale=False, intensity=False, gamma=False, noise=False)
    plain = PatchSampler(prepared, names, cfg, off, seed=0)
    values = _timed_rate(plain.batch, int(s["ours_n"]), int(s["repeats"]))
    augmented = PatchSampler(prepared, names, cfg, AugmentConfig(), seed=0)
    with_aug = _timed_rate(augmented.batch, max(2, int(s["ours_n"]) // 4), 1)[0]
    return {"values": values, "extra": {"prepare_seconds": round(opened, 3),
                                        "augmented_patches_per_s": round(with_aug, 3)}}


def baseline(s: dict[str, Any]) -> dict[str, Any]:
    import nibabel as nib
    import torch

    from heartseg.data import load_dataset

    dataset = load_dataset(s["root"])
    cases = sorted(dataset.cases, key=lambda c: c.name)[: int(s["cases"])]
    patch = np.array(s["patch"])
    rng = np.random.default_rng(0)

    def draw(_step: int):
        case = cases[int(rng.integers(len(cases)))]
        # as the classic homework's Dataset did: decode both files for every patch (get_fdata, float64), crop at random
        image = nib.load(str(case.images[0])).get_fdata().transpose(2, 1, 0)
        label = nib.load(str(case.label)).get_fdata().transpose(2, 1, 0)
        room = np.maximum(np.array(image.shape) - patch, 0)
        lo = [int(rng.integers(r + 1)) for r in room]
        sl = tuple(slice(a, a + p) for a, p in zip(lo, patch))
        img, lab = image[sl], label[sl]
        pads = [(0, int(p - n)) for p, n in zip(patch, img.shape)]
        img, lab = np.pad(img, pads), np.pad(lab, pads)
        return torch.from_numpy(np.ascontiguousarray(img)).float()[None], torch.from_numpy(lab).long()

    return {"values": _timed_rate(draw, int(s["base_n"]), int(s["repeats"]))}


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    mode = MODES[ctx["mode"]]
    s = {**ctx, **mode}
    try:
        if ctx["mode"] == "smoke":
            root, what = datasets.synthetic(ctx, mode["cases"], mode["shape"], (1.0, 1.0, 1.0)), "synthetic smoke set"
        else:
            root, what = datasets.real_or_synthetic(ctx, mode["cases"])
    except Exception as e:  # noqa: BLE001 - no data, no line; the others still run
        return [results.skipped(NAME, UNIT, f"no dataset ({type(e).__name__}: {e})")]
    s["root"] = str(root)
    # fill the cache first (untimed): the line measures sampling, not the one-time preprocessing
    warm = runner.run_side(NAME, "fill_cache", s, timeout=s.get("timeout_s"))
    if warm.get("skipped"):
        return [results.skipped(NAME, UNIT, warm["skipped"])]
    note = (f"{what}, {s['cases']} cases, patch {'x'.join(map(str, s['patch']))}, batch 1, augmentation off on both "
            "sides; cache filled before timing")
    record, _, _ = runner.pair(NAME, NAME, UNIT, s, note=note, timeout=s.get("timeout_s"), rounds=s["rounds"])
    return [record]


def fill_cache(s: dict[str, Any]) -> dict[str, Any]:
    from heartseg.data import prepare

    t0 = time.perf_counter()
    prepare(_data_cfg(s))
    return {"values": [time.perf_counter() - t0]}
