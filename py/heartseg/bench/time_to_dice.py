"""time_to_dice: wall seconds from launch until validation Dice reaches 0.85 on the synthetic demo set.

Ours: `python -m heartseg train --preset demo` as the demo runs it, watched through RUN/events.jsonl and stopped
(SIGINT, a clean stop) at the first epoch_end at or above the target. Baseline: the same model trained the way
the classic homework did, in a plain loop: every sample decoded from .nii.gz, random crops, BCE, Adam at
lr 1e-4 (the homework run's TensorBoard log shows 1e-4 throughout), no foreground oversampling, validated on
the same cases with the same cadence; capped at a time limit (then the ratio is a lower bound).
Both clocks start when the process is launched, so both include start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from heartseg.bench import datasets, results, runner

NAME, UNIT = "time_to_dice", "s"
TARGET = 0.85
DEMO = {"cases": 20, "seed": 0}
MODES = {
    # smoke: tiny and a target of 0, so the machinery runs end to end in seconds
    "smoke": {"target": 0.0, "cases": 4, "shape": [16, 32, 32], "cap_s": 180,
              "override": {"data": {"patch": [16, 32, 32]}, "model": {"features": [4, 8]},
                           "train": {"epochs": 1, "iters_per_epoch": 2}}},
    "full": {"target": TARGET, "cases": DEMO["cases"], "shape": None, "cap_s": 900, "override": {}},
}


def _dataset(ctx: dict[str, Any], mode: dict[str, Any]) -> Path:
    from heartseg.synth import DEFAULT_SHAPE, DEFAULT_SPACING

    shape = mode["shape"] or DEFAULT_SHAPE
    return datasets.synthetic(ctx, mode["cases"], shape, DEFAULT_SPACING, seed=DEMO["seed"])


def _demo_config(root: Path, mode: dict[str, Any]) -> dict[str, Any]:
    from heartseg import config as cfgmod
    from heartseg import presets

    cfg = cfgmod.merge(presets.load("demo"), mode["override"])
    cfg = cfgmod.merge(cfg, {"data": {"root": str(root)}, "train": {"device": "cpu"}})
    cfgmod.from_dict(cfg)  # fail here, not in the child, when the preset and config disagree
    return cfg


def _train_ours(mode: dict[str, Any], root: Path, work: Path) -> dict[str, Any]:
    return watch_training(_demo_config(root, mode), mode["target"], mode["cap_s"], work)


def watch_training(cfg: dict[str, Any], target: float, cap_s: float, work: Path) -> dict[str, Any]:
    """Launch the engine's train on `cfg` and watch its events until a validation Dice >= target (then stop it
    cleanly) or cap_s; {'values': [seconds from launch]} or why it did not get there."""
    run_dir = work / f"ttd-run-{os.getpid()}-{int(time.time())}"
    cfg_path = work / f"{run_dir.name}.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    argv = [sys.executable, "-m", "heartseg", "train", "--config", str(cfg_path), "--run", str(run_dir)]
    log_path = work / f"{run_dir.name}.log"
    launched = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, env=runner.engine_env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        best, reached, status, seen, peak = None, None, None, 0, None
        events = run_dir / "events.jsonl"
        while True:
            sample = runner.process_hwm_mb(proc.pid)
            peak = max(peak or 0.0, sample) if sample is not None else peak
            exited = proc.poll() is not None
            # the last piece is empty or a line still being written: read it next time
            lines = (events.read_text(encoding="utf-8") if events.is_file() else "").split("\n")[:-1]
            for line in lines[seen:]:
                e = json.loads(line)
                if e.get("type") == "epoch_end" and e.get("val_dice") is not None:
                    best = max(best or 0.0, float(e["val_dice"]))
                    if reached is None and float(e["val_dice"]) >= target:
                        reached = float(e["time"]) - launched
                elif e.get("type") == "run_end":
                    status = e.get("status")
            seen = len(lines)
            if reached is not None or exited or time.time() - launched > cap_s:
                break
            time.sleep(0.2)
        if not exited:
            proc.send_signal(signal.SIGINT)  # the engine finishes the step, checkpoints and exits 130
            _, last_peak, _ = runner.wait_exit(proc, timeout=120)
            peak = max(peak or 0.0, last_peak or 0.0) or None
    tail = (log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines() or ["no output"])[-1]
    for p in (cfg_path, log_path):
        p.unlink(missing_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    if reached is None:
        why = (f"did not reach Dice {target} in {cap_s} s (best {best})" if best is not None else
               f"train ended ({status or 'exit ' + str(proc.returncode)}) without a validation: {tail[:200]}")
        return {"skipped": why, "best": best, "peak_rss_mb": peak}
    return {"values": [reached], "best": best, "peak_rss_mb": peak}


def baseline(s: dict[str, Any]) -> dict[str, Any]:
    """The plain loop (runs in its own process): decode per sample, random crop, BCE, Adam 1e-4."""
    import nibabel as nib
    import torch
    import torch.nn.functional as F

    from heartseg.data import load_dataset
    from heartseg.data.prepared import seeded_split
    from heartseg.model import UNet3D

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cases = {c.name: c for c in load_dataset(s["root"]).cases}
    train_names, val_names = seeded_split(sorted(cases), 0.2, 0)  # the engine's default split
    patch = np.array(s["patch"])

    def load(name):
        def read(p):
            return nib.load(str(p)).get_fdata().astype(np.float32)
        image, label = read(cases[name].images[0]), read(cases[name].label)
        return (image - image.mean()) / (image.std() + 1e-8), (label > 0).astype(np.float32)

    def crop(image, label):
        pads = [(0, max(0, int(p - n))) for p, n in zip(patch, image.shape)]
        image, label = np.pad(image, pads), np.pad(label, pads)
        lo = [int(rng.integers(n - p + 1)) for n, p in zip(image.shape, patch)]
        sl = tuple(slice(a, a + p) for a, p in zip(lo, patch))
        return image[sl], label[sl]

    model = UNet3D(1, 1, s["features"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    best, step = 0.0, 0
    while time.time() - s["launched"] < s["cap_s"]:
        model.train()
        for _ in range(s["iters_per_epoch"]):
            pairs = [crop(*load(train_names[int(rng.integers(len(train_names)))])) for _ in range(s["batch"])]
            x = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
            y = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
        model.eval()
        dices = []
        with torch.no_grad():
            for name in val_names:
                image, label = load(name)
                pads = [(0, (-n) % 16) for n in image.shape]  # whole volume, padded to the pooling factor
                logits = model(torch.from_numpy(np.pad(image, pads))[None, None])[0, 0]
                pred = (logits[tuple(slice(0, n) for n in image.shape)] > 0).numpy()
                inter = float((pred * label).sum())
                dices.append(2 * inter / (float(pred.sum() + label.sum()) + 1e-8))
        best = max(best, float(np.mean(dices)))
        if best >= s["target"]:
            return {"values": [time.time() - s["launched"]], "extra": {"steps": step, "best_dice": round(best, 4)}}
    return {"values": [float(s["cap_s"])], "extra": {"steps": step, "best_dice": round(best, 4), "capped": True}}


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx["mode"] == "quick":
        return [_reuse(ctx)]
    mode = MODES[ctx["mode"]]
    try:
        root = _dataset(ctx, mode)
        cfg = _demo_config(root, mode)
    except Exception as e:  # noqa: BLE001
        return [results.skipped(NAME, UNIT, f"cannot set up the demo ({type(e).__name__}: {e})")]
    work = datasets.work_dir(ctx) / "scratch"
    work.mkdir(parents=True, exist_ok=True)
    mine = _train_ours(mode, root, work)
    return [race(ctx, NAME, mine, cfg, root, mode, timeout=mode["cap_s"] + 120, note=lambda base_best: (
        f"synthetic demo set ({mode['cases']} cases), target validation Dice {mode['target']}; "
        f"ours: demo preset (best {mine.get('best')}); baseline: plain loop (decode per sample, random crops, "
        f"BCE, Adam 1e-4, no oversampling; best {base_best}); one run each"))]


def race(ctx: dict[str, Any], name: str, mine: dict[str, Any], cfg: dict[str, Any], root: Path,
         mode: dict[str, Any], timeout: float, note: Callable[[Any], str]) -> dict[str, Any]:
    """After ours (`mine`, from watch_training): the classic loop on the same network, patch, batch and cadence,
    launched now and capped as ours was; one result line with both sides (a side that did not run is named)."""
    d, m, t = cfg["data"], cfg["model"], cfg["train"]
    s = {**ctx, "root": str(root), "target": mode["target"], "cap_s": mode["cap_s"], "patch": d["patch"],
         "batch": d["batch"], "features": m["features"], "iters_per_epoch": t["iters_per_epoch"],
         "launched": time.time()}
    base = runner.run_side(name, "baseline", s, timeout=timeout)
    text = note((base.get("extra") or {}).get("best_dice"))
    if (base.get("extra") or {}).get("capped"):
        text += f"; the baseline stopped at the {mode['cap_s']} s cap: the ratio is a lower bound"
    ours = mine["values"][0] if mine.get("values") else None
    theirs = base["values"][0] if base.get("values") else None
    if ours is None:
        text = f"ours {mine.get('skipped')}; {text}"
    if theirs is None and base.get("skipped"):
        text = f"baseline {base['skipped']}; {text}"
    return results.result(name, ours, theirs, UNIT, 1, mine.get("peak_rss_mb"), text,
                          baseline_peak_rss_mb=base.get("peak_rss_mb"))


def _reuse(ctx: dict[str, Any]) -> dict[str, Any]:
    return reuse_full(ctx, NAME, "trains for minutes")


def reuse_full(ctx: dict[str, Any], name: str, why: str) -> dict[str, Any]:
    """--quick does not train: it carries line `name`'s last full measurement forward, saying so, or skips."""
    previous = ctx.get("previous") or {}
    for r in previous.get("results", []):
        if r.get("name") == name and r.get("mode") == "full" and r.get("ours") is not None:
            kept = dict(r)
            if not str(kept.get("note", "")).startswith("from the full run"):
                kept["note"] = f"from the full run of {r.get('measured', '?')}: {r.get('note', '')}"
            return kept
    return results.skipped(name, UNIT, f"{why}, so --quick leaves it out and no full measurement is stored yet "
                                       f"(run `heartseg bench --lines {name}`)")
