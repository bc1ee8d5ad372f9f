"""What evaluate and score share: per-case metric rows, metrics.csv, summary.json, and the event bookkeeping.
(The model an evaluate/predict/inspect/export runs, its checkpoint, config and labels: heartseg.model_setup.)

metrics.csv has one row per case and label: case, label, then METRIC_NAMES; infinite values are written `inf`.
summary.json holds, per label and metric, mean, std (sample, ddof=1; 0 for one case), median, min, max over
cases plus n and n_inf. Infinities
are explicit: with any infinite value the mean (and max) is "inf" and std is null; the median, min and max are
order statistics and stay meaningful. JSON writes infinity as the string "inf".
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from heartseg import events as ev
from heartseg.event_writer import EventWriter
from heartseg.fsutil import atomic_write_text
from heartseg.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, BadInput
from heartseg.metrics import METRIC_NAMES

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_CHANNEL = re.compile(r"_\d{4}$")


def case_name(path: str | Path) -> str:
    """File name without .nii/.nii.gz and without a trailing `_0000`-style channel suffix."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _CHANNEL.sub("", name)


def is_nifti(path: str | Path) -> bool:
    return Path(path).name.endswith(NIFTI_SUFFIXES) and not Path(path).name.startswith(".")


def nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_nifti(p))


def rows_for_case(case: str, metrics: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Flatten case_metrics() output into metrics.csv rows."""
    return [{"case": case, "label": label, **{m: float(vals[m]) for m in METRIC_NAMES}}
            for label, vals in metrics.items()]


def _stat(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """label -> metric -> {mean, std, median, min, max, n, n_inf}; see the module docstring for infinities."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for label in dict.fromkeys(str(r["label"]) for r in rows):
        per_metric = {}
        for metric in METRIC_NAMES:
            vals = np.array([float(r[metric]) for r in rows if str(r["label"]) == label], dtype=np.float64)
            if np.isnan(vals).any():
                raise ValueError(f"{metric} of {label} has NaN values; metrics never produce NaN")
            n_inf = int(np.isinf(vals).sum())
            per_metric[metric] = {
                "mean": float("inf") if n_inf else float(vals.mean()),
                "std": None if n_inf else (float(vals.std(ddof=1)) if len(vals) > 1 else 0.0),
                "median": _stat(float(np.median(vals))),
                "min": float(vals.min()),
                "max": float(vals.max()),
                "n": float(len(vals)),
                "n_inf": float(n_inf),
            }
        out[label] = per_metric
    return out


def metrics_csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["case", "label", *METRIC_NAMES])
    for r in rows:
        writer.writerow([r["case"], r["label"], *(repr(float(r[m])) for m in METRIC_NAMES)])
    return buf.getvalue()


def read_metrics_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.csv with metric columns as floats (inf included)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, **{m: float(r[m]) for m in METRIC_NAMES}} for r in csv.DictReader(f)]


def write_results(out_dir: Path, rows: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None = None
                  ) -> dict[str, dict[str, dict[str, float | None]]]:
    """Write out_dir/metrics.csv and out_dir/summary.json (each atomically); returns the summary."""
    summary = summarize(rows)
    cases = len({r["case"] for r in rows})
    doc = {"cases": cases, "labels": list(summary), "metrics": list(METRIC_NAMES), **(extra or {}),
           "summary": summary}
    atomic_write_text(out_dir / "metrics.csv", metrics_csv_text(rows))
    atomic_write_text(out_dir / "summary.json",
                       json.dumps(ev.jsonable(doc), indent=2, allow_nan=False) + "\n")
    return summary


def emit_case(events: EventWriter, case: str, metrics: Mapping[str, Mapping[str, float]], index: int,
              total: int) -> None:
    for label, vals in metrics.items():
        events.emit(ev.CaseMetrics(case=case, label=label, metrics={m: float(vals[m]) for m in METRIC_NAMES},
                                   index=index, total=total))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


@contextmanager
def command_events(events: EventWriter, command: str) -> Iterator[dict[str, Any]]:
    """Turn a command body into run_end events: completed, bad input (error events, exit 2) or interrupted.

    SIGTERM (cluster preemption) stops like Ctrl-C. The body may put "reason" into the yielded dict.
    Exceptions propagate so cli.py prints them and sets the exit code.
    """
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    state: dict[str, Any] = {"reason": f"{command} done"}
    try:
        yield state
    except BadInput as e:
        for p in e.problems:
            events.emit(ev.Error(message=p.message, file=p.file, hint=p.hint, kind="bad_input"))
        events.emit(ev.RunEnd(status="failed", reason="bad input", exit_code=EXIT_BAD_INPUT))
        raise
    except KeyboardInterrupt as e:
        events.emit(ev.RunEnd(status="interrupted", reason=str(e) or "SIGINT", exit_code=EXIT_INTERRUPTED))
        raise
    except Exception as e:
        events.emit(ev.Error(message=f"{type(e).__name__}: {e}", kind="internal"))
        events.emit(ev.RunEnd(status="failed", reason=type(e).__name__, exit_code=1))
        raise
    else:
        events.emit(ev.RunEnd(status="completed", reason=state["reason"], exit_code=EXIT_OK))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        events.close()
