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
         "time_to_dice": "s"}


def run_line(name: str, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of one line; a line that raises becomes one 'skipped' record with the reason."""
    try:
        module = importlib.import_module(f"heartseg.bench.{name}")
        return list(module.run(ctx))
    except Exception as e:  # noqa: BLE001 - one broken line must not lose the others
        traceback.print_exc(file=sys.stderr)
        return [results.skipped(name, UNITS[name], f"{type(e).__name__}: {str(e)[:300]}")]


def run_suite(lines: list[str], ctx: dict[str, Any], out: str | Path | None,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> dict[str, Any]:
    """Measure `lines` (in LINES order) and write them to `out` merged with earlier results; returns the body."""
    unknown = [n for n in lines if n not in LINES]
    if unknown:
        raise ValueError(f"unknown benchmark line {unknown[0]!r} (lines: {', '.join(LINES)})")
    ctx = dict(ctx)
    if out is not None:
        ctx.setdefault("previous", results.read(out))
    info = machine.describe(with_gpus=bool(ctx.get("gpu")))
    info.update({"mode": ctx["mode"], "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    ctx["cuda"] = bool(info["gpus"])
    done: list[dict[str, Any]] = []
    body: dict[str, Any] = {"machine": info, "results": done}
    for name in [n for n in LINES if n in lines]:
        log(f"bench: {name} ({ctx['mode']}) ...")
        t0 = time.perf_counter()
        records = run_line(name, ctx)
        for r in records:
            r.setdefault("mode", ctx["mode"])
            r.setdefault("measured", info["measured"])
        done.extend(records)
        log(f"bench: {name} done in {time.perf_counter() - t0:.0f} s")
        if out is not None:
            body = results.write(out, info, done)
    return body
