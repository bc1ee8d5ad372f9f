"""time_to_dice_la2018: wall seconds from launch until validation Dice reaches 0.89 on la2018 (issue 16's target:
within 20 minutes on 2 cores).

Ours: the default plan for a 20-minute budget (`planning.measured_plan`, as `heartseg train DATA --minutes 20` makes
it), trained by the engine and stopped at the first validation at or above the target. Baseline: the same network
(widths, patch in voxels, batch, steps per epoch) in time_to_dice's classic loop at the scans' own spacing, validated
on the same cases. Each side is capped at the budget (then its time is a lower bound). Trains for up to 40 minutes,
so it runs only when named (`--lines time_to_dice_la2018`); --quick carries the last full measurement forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heartseg.bench import datasets, results, time_to_dice
from heartseg.bench.time_to_dice import watch_training

baseline = time_to_dice.baseline
"""The classic loop, run by the child process (heartseg.bench.child looks the side up by name)."""

NAME, UNIT = "time_to_dice_la2018", "s"
MODES = {
    # smoke: a tiny synthetic set, a one-minute plan cut to two steps and a target of 0: the machinery, end to end
    "smoke": {"target": 0.0, "minutes": 1.0, "cap_s": 240, "synthetic": {"cases": 4, "shape": [24, 40, 40]},
              # the dataset's own spacing: the plan's spacing follows the measured rate, and could leave a case
              # smaller than the fixed patch
              "override": {"data": {"patch": [16, 32, 32], "spacing": None}, "model": {"features": [4, 8]},
                           "train": {"epochs": 1, "iters_per_epoch": 2, "minutes": 0.0}}},
    "full": {"target": 0.89, "minutes": 20.0, "cap_s": 1200, "synthetic": None, "override": {}},
}


def _dataset(ctx: dict[str, Any], mode: dict[str, Any]) -> Path | None:
    if mode["synthetic"]:
        from heartseg.synth import DEFAULT_SPACING

        return datasets.synthetic(ctx, mode["synthetic"]["cases"], mode["synthetic"]["shape"], DEFAULT_SPACING)
    if ctx.get("data"):
        return Path(ctx["data"])
    return datasets.la2018()


def planned_config(root: Path, mode: dict[str, Any], cache_dir: str | None = None) -> dict[str, Any]:
    """The config `train DATA --minutes M` would run: defaults < the measured plan < the mode's overrides."""
    from heartseg import config as cfgmod
    from heartseg import planning

    plan = planning.measured_plan(planning.read_fingerprint(root, cache_dir), planning.detect_device("cpu"),
                                  mode["minutes"])
    cfg = cfgmod.merge(cfgmod.merge(cfgmod.defaults(), plan.config), mode["override"])
    cfg = cfgmod.merge(cfg, {"data": {"root": str(root)}, "train": {"device": "cpu"}})
    cfgmod.from_dict(cfg)  # fail here, not in the child
    return cfg


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx["mode"] == "quick":
        return [_reuse(ctx)]
    mode = MODES[ctx["mode"]]
    root = _dataset(ctx, mode)
    if root is None:
        return [results.skipped(NAME, UNIT, "la2018 not found (../shared/data/la2018); give it with --data DIR")]
    try:
        cfg = planned_config(root, mode, ctx.get("cache_dir") or None)
    except Exception as e:  # noqa: BLE001
        return [results.skipped(NAME, UNIT, f"cannot plan {root} ({type(e).__name__}: {e})")]
    work = datasets.work_dir(ctx) / "scratch"
    work.mkdir(parents=True, exist_ok=True)
    mine = watch_training(cfg, mode["target"], mode["cap_s"], work)
    d, m, t = cfg["data"], cfg["model"], cfg["train"]
    spacing = "the median spacing" if d["spacing"] is None else f"{'x'.join(f'{v:g}' for v in d['spacing'])} mm"
    return [time_to_dice.race(ctx, NAME, mine, cfg, root, mode, timeout=mode["cap_s"] + 300, note=lambda base_best: (
        f"{root.name}, target validation Dice {mode['target']}, each side capped at {mode['cap_s']} s; ours: the "
        f"plan for {mode['minutes']:g} min ({spacing}, patch {'x'.join(map(str, d['patch']))}, "
        f"{'-'.join(map(str, m['features']))}, {t.get('precision')}, best {mine.get('best')}); baseline: the same "
        f"network in the classic loop at the scans' spacing (decode per sample, random crops, BCE, Adam 1e-4; best "
        f"{base_best}); one run each"))]


def _reuse(ctx: dict[str, Any]) -> dict[str, Any]:
    return time_to_dice.reuse_full(ctx, NAME, "trains for up to 40 minutes")
