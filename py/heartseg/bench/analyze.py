"""analyze: seconds for the front's `heartseg analyze DATA --json` (TypeScript) vs the engine's
`python -m heartseg analyze DATA --json`, whole processes with start-up, on la2018 (else a synthetic set).

`heartseg bench` measures this line itself in TypeScript (src/commands/bench.ts); this module is the same
measurement from Python, for `python -m heartseg bench` run on its own.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from heartseg.bench import datasets, results, runner

NAME, UNIT = "analyze", "s"
MODES = {"smoke": {"repeats": 1, "cases": 2}, "quick": {"repeats": 2, "cases": 4}, "full": {"repeats": 5, "cases": 20}}


def commands(data: str) -> dict[str, list[str]] | str:
    """The two command lines, or why the front's cannot run."""
    node = shutil.which("node")
    cli = datasets.REPO / "dist" / "cli.js"
    if node is None:
        return "node is not on PATH"
    if not cli.is_file():
        return f"{cli} is missing (npm run build)"
    return {"ours": [node, str(cli), "analyze", data, "--json"],
            "baseline": [sys.executable, "-m", "heartseg", "analyze", data, "--json"]}


def _cases(stdout: str) -> int | None:
    try:
        body = json.loads(stdout)
    except ValueError:
        return None
    cases = body.get("cases") if isinstance(body, dict) else None
    return len(cases) if isinstance(cases, list) else None


def measure(argv: list[str], repeats: int, timeout: float | None = None) -> dict[str, Any]:
    """Wall seconds of `repeats` runs after one untimed run (it warms the page cache for both sides alike)."""
    env = runner.engine_env()
    first = runner.run_process(argv, env=env, timeout=timeout)
    if first["code"] != 0:
        tail = (first["stderr"].strip().splitlines() or ["no output"])[-1]
        side = "the front's (TypeScript)" if any(a.endswith("cli.js") for a in argv) else "the engine's"
        return {"skipped": f"{side} analyze failed (exit {first['code']}): {tail[:200]}"}
    runs = [runner.run_process(argv, env=env, timeout=timeout) for _ in range(repeats)]
    bad = [r for r in runs if r["code"] != 0]
    if bad:
        tail = (bad[0]["stderr"].strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"analyze failed on a repeat (exit {bad[0]['code']}): {tail[:200]}"}
    peaks = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"] is not None]
    return {"values": [r["seconds"] for r in runs], "peak_rss_mb": max(peaks) if peaks else None,
            "cases": _cases(first["stdout"])}


def dataset_for(ctx: dict[str, Any]) -> tuple[Path, str]:
    """The dataset this line reads (the TypeScript side asks for it too, so both pick the same)."""
    if ctx["mode"] == "smoke":
        return datasets.synthetic(ctx, MODES["smoke"]["cases"], (24, 40, 40), (1.0, 1.0, 1.0)), "synthetic smoke set"
    return datasets.real_or_synthetic(ctx, MODES[ctx["mode"]]["cases"])


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    mode = MODES[ctx["mode"]]
    try:
        data, what = dataset_for(ctx)
    except Exception as e:  # noqa: BLE001
        return [results.skipped(NAME, UNIT, f"no dataset ({type(e).__name__}: {e})")]
    cmds = commands(str(data))
    if isinstance(cmds, str):
        return [results.skipped(NAME, UNIT, cmds)]
    ours = measure(cmds["ours"], mode["repeats"], ctx.get("timeout_s"))
    base = measure(cmds["baseline"], mode["repeats"], ctx.get("timeout_s"))
    return [record(ours, base, what)]


def record(ours: dict[str, Any], base: dict[str, Any], what: str) -> dict[str, Any]:
    """The results line from both sides' measurements (shared with the TypeScript side's format)."""
    skipped = [b["skipped"] for b in (ours, base) if b.get("skipped")]
    if skipped:
        return results.skipped(NAME, UNIT, "; ".join(skipped))
    note = f"{what}; whole processes (start-up included), median of {len(ours['values'])} after one warm-up run"
    if ours.get("cases") != base.get("cases"):
        note += f"; case counts DIFFER (TS {ours.get('cases')}, engine {base.get('cases')})"
    else:
        note += f"; both read {ours.get('cases')} cases"
    return results.result(NAME, runner.median(ours["values"]), runner.median(base["values"]), UNIT,
                          len(ours["values"]), ours.get("peak_rss_mb"), note,
                          baseline_peak_rss_mb=base.get("peak_rss_mb"))


if __name__ == "__main__":  # `python -m heartseg.bench.analyze CTX_JSON`: the dataset, for the TypeScript side
    folder, words = dataset_for(json.loads(sys.argv[1]))
    print(json.dumps({"path": str(folder), "what": words}))
