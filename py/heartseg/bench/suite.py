"""Run benchmark lines in order, each failing soft, and write bench/results.json after every line."""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from heartseg import machine
from heartseg.bench import LINES, results

UNITS = {"data_sampling": "patches/s", "train_step": "voxels/s", "inference": "s", "analyze": "s",
         "time_to_dice": "s", "time_to_dice_la2018": "s"}


def run_line(name: str, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of one line; a line that raises becomes one 'skipped' record with the reason."""
    try:
        module = importlib.import_module(f"heartseg.bench.{name}")
        return list(module.run(ctx))
    except Exception as e:  # noqa: BLE001 - one broken line must not lose the others
        traceback.print_exc(file=sys.stderr)
        return [results.skipped(name, UNITS[name], f"{type(e).__name__}: {str(e)[:300]}")]


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One line measured in several runs: the run with the median ratio (the lower middle for an even count), so
    ours, baseline and ratio stay one consistent measurement, with every run's ratio and the spread added."""
    measured = [r for r in records if r.get("ratio") is not None]
    if len(records) == 1 or not measured:
        return records[-1]
    ordered = sorted(measured, key=lambda r: r["ratio"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    ratios = [r["ratio"] for r in measured]
    chosen["ratios"] = ratios
    chosen["note"] = (f"median of {len(ratios)} runs (ratios {min(ratios):.2f}-{max(ratios):.2f}x, in run order "
                      f"{', '.join(f'{x:.2f}' for x in ratios)}); " + str(chosen.get("note") or ""))
    return chosen


def run_suite(lines: list[str], ctx: dict[str, Any], out: str | Path | None,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
              repeat: int = 1) -> dict[str, Any]:
    """Measure `lines` (in LINES order) `repeat` times and write them to `out` merged with earlier results (each
    line the run with its median ratio, see median_record); returns the body."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    unknown = [n for n in lines if n not in LINES]
    if unknown:
        raise ValueError(f"unknown benchmark line {unknown[0]!r} (lines: {', '.join(LINES)})")
    ctx = dict(ctx)
    if out is not None:
        ctx.setdefault("previous", results.read(out))
    info = machine.describe(with_gpus=bool(ctx.get("gpu")))
    info.update({"mode": ctx["mode"], "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    ctx["cuda"] = bool(info["gpus"])
    runs: dict[str, list[dict[str, Any]]] = {}  # record name -> that record from each run, in run order
    body: dict[str, Any] = {"machine": info, "results": []}
    for k in range(repeat):
        for name in [n for n in LINES if n in lines]:
            log(f"bench: {name} ({ctx['mode']}{f', run {k + 1}/{repeat}' if repeat > 1 else ''}) ...")
            t0 = time.perf_counter()
            for r in run_line(name, ctx):
                r.setdefault("mode", ctx["mode"])
                r.setdefault("measured", info["measured"])
                runs.setdefault(r["name"], []).append(r)
            log(f"bench: {name} done in {time.perf_counter() - t0:.0f} s")
            done = [median_record(rs) for rs in runs.values()]
            body = {"machine": info, "results": done}
            if out is not None:
                body = results.write(out, info, done)
    return body
