"""bench/results.json: one record per line, the speed ratio, merging runs, and the printed table.

ratio is how many times faster ours is than the baseline (above 1 means faster): ours / baseline for rates
(units ending in '/s'), baseline / ours for durations (unit 's').
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from heartseg.fsutil import atomic_write_json

FIELDS = ("name", "ours", "baseline", "ratio", "unit", "repeats", "peak_rss_mb", "note")


def higher_is_better(unit: str) -> bool:
    if unit.endswith("/s"):
        return True
    if unit == "s":
        return False
    raise ValueError(f"unit must be a rate ending in '/s' or seconds 's', got {unit!r}")


def speed_ratio(ours: float | None, baseline: float | None, unit: str) -> float | None:
    """How many times faster ours is; None when either side is missing or zero."""
    rate = higher_is_better(unit)
    if ours is None or baseline is None or not (math.isfinite(ours) and math.isfinite(baseline)):
        return None
    if ours <= 0 or baseline <= 0:
        return None
    return ours / baseline if rate else baseline / ours


def result(name: str, ours: float | None, baseline: float | None, unit: str, repeats: int,
           peak_rss_mb: float | None = None, note: str = "", **extra: Any) -> dict[str, Any]:
    ratio = speed_ratio(ours, baseline, unit)
    record = {"name": name, "ours": _round(ours), "baseline": _round(baseline),
              "ratio": None if ratio is None else round(ratio, 3), "unit": unit, "repeats": int(repeats),
              "peak_rss_mb": peak_rss_mb, "note": note}
    record.update(extra)
    return record


def skipped(name: str, unit: str, reason: str, **extra: Any) -> dict[str, Any]:
    return result(name, None, None, unit, 0, None, f"skipped: {reason}", skipped=reason, **extra)


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return float(f"{x:.4g}")


def check(record: dict[str, Any]) -> list[str]:
    """What is wrong with a record (empty when it is well formed); the tests and the TS side rely on this shape."""
    problems = [f"missing {k}" for k in FIELDS if k not in record]
    if problems:
        return problems
    for key in ("ours", "baseline", "ratio", "peak_rss_mb"):
        v = record[key]
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0):
            problems.append(f"{key} must be null or a non-negative number, got {v!r}")
    if not isinstance(record["repeats"], int) or record["repeats"] < 0:
        problems.append(f"repeats must be an integer >= 0, got {record['repeats']!r}")
    if record.get("skipped") is None and (record["ours"] is None or record["baseline"] is None) \
            and not str(record["note"]):
        problems.append("a line without numbers needs a note saying why")
    try:
        expected = speed_ratio(record["ours"], record["baseline"], record["unit"])
    except ValueError as e:
        return problems + [str(e)]
    if record["ratio"] is not None and expected is not None and abs(record["ratio"] - expected) > 0.01 * expected + 1e-3:
        problems.append(f"ratio {record['ratio']} does not match ours/baseline ({expected:.3f})")
    return problems


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines measured now replace the same names; others are kept (in their old order, new names appended)."""
    fresh = {r["name"]: r for r in new}
    out = [fresh.pop(r["name"], r) for r in old]
    return out + [r for r in new if r["name"] in fresh]


def read(path: str | Path) -> dict[str, Any] | None:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get("results"), list) else None


def write(path: str | Path, machine: dict[str, Any], results: list[dict[str, Any]], *, keep_old: bool = True) -> dict:
    """Write results.json atomically, merged with the lines of an earlier run that were not measured now."""
    path = Path(path)
    old = read(path) if keep_old else None
    body = {"machine": machine, "results": merge(old["results"], results) if old else list(results)}
    atomic_write_json(path, body)
    return body


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def table(results: list[dict[str, Any]]) -> str:
    """A plain-text table: line, ours, baseline, unit, ratio, repeats, peak RSS, note."""
    head = ("line", "ours", "baseline", "unit", "ratio", "n", "peak MB", "note")
    rows = [head] + [(r["name"], _fmt(r["ours"]), _fmt(r["baseline"]), r["unit"],
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", str(r["repeats"]),
                      _fmt(r.get("peak_rss_mb")), str(r.get("note") or "")) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)
