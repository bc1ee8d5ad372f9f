"""The event stream: one JSON object per line, to fd 3 when the front opened it, and always to RUN/events.jsonl.

The front opens fd 3 and sets HEARTSEG_EVENT_FD=3; without that variable no descriptor is written.

The schema is written once here (dataclasses) and once in `src/core/events.ts` (zod); both sides validate the
example lines in `schema/events/examples.jsonl`. Numbers that can be infinite (distances when a mask is empty)
are written as the string "inf": JSON has no infinity.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class RunStart:
    command: str
    """train, evaluate, predict, score, preprocess, bench."""
    run_dir: str | None = None
    config: dict[str, Any] | None = None
    pid: int = field(default_factory=os.getpid)
    torch: str | None = None
    device: str | None = None
    world_size: int = 1
    resumed_from_epoch: int | None = None


@dataclass
class Progress:
    stage: str
    """What is progressing: preprocess, evaluate, predict, score, synth."""
    done: int
    total: int
    item: str | None = None


@dataclass
class DataSummary:
    cases: int
    train_cases: int
    val_cases: int
    labels: dict[str, str]
    """Label value (as a string) to name, background included."""
    spacing: list[float]
    patch: list[int]
    cache_dir: str | None = None
    cache_hits: int = 0
    cache_misses: int = 0


@dataclass
class EpochStart:
    epoch: int
    """1-based."""
    epochs: int
    iters: int


@dataclass
class Step:
    epoch: int
    iter: int
    """1-based within the epoch."""
    iters: int
    loss: float
    lr: float
    voxels_per_s: float | None = None


@dataclass
class Memory:
    cpu_rss_mb: float
    gpu_allocated_mb: float | None = None
    gpu_reserved_mb: float | None = None


@dataclass
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    lr: float
    seconds: float
    memory: Memory
    val_loss: float | None = None
    val_dice: float | None = None
    """Mean foreground Dice over validation cases (null when not validated this epoch)."""
    val_dice_per_label: dict[str, float] | None = None
    best_dice: float | None = None
    is_best: bool = False
    eta_seconds: float | None = None
    voxels_per_s: float | None = None


@dataclass
class Checkpoint:
    path: str
    kind: str
    """last or best."""
    epoch: int
    metric: float | None = None


@dataclass
class CaseMetrics:
    case: str
    label: str
    """Label name."""
    metrics: dict[str, float | str | None]
    """dice, iou, precision, recall, hd95, assd, abs_vol_diff_ml, rel_vol_diff; "inf" for infinite distances."""
    index: int | None = None
    total: int | None = None


@dataclass
class EvalSummary:
    cases: int
    out_dir: str
    summary: dict[str, dict[str, dict[str, float | str | None]]]
    """label -> metric -> {mean, std, median, min, max}."""


@dataclass
class Warning:
    message: str
    file: str | None = None
    hint: str | None = None


@dataclass
class Error:
    message: str
    file: str | None = None
    hint: str | None = None
    kind: str = "internal"
    """bad_input, internal, out_of_memory, io."""


@dataclass
class RunEnd:
    status: str
    """completed, interrupted or failed."""
    reason: str
    exit_code: int
    best_dice: float | None = None
    epoch: int | None = None


EVENT_TYPES: dict[type, str] = {
    RunStart: "run_start",
    Progress: "progress",
    DataSummary: "data_summary",
    EpochStart: "epoch_start",
    Step: "step",
    EpochEnd: "epoch_end",
    Checkpoint: "checkpoint",
    CaseMetrics: "case_metrics",
    EvalSummary: "eval_summary",
    Warning: "warning",
    Error: "error",
    RunEnd: "run_end",
}
TYPE_CLASSES = {v: k for k, v in EVENT_TYPES.items()}


def jsonable(value: Any) -> Any:
    """Turn numpy scalars and infinities into JSON; NaN is refused loudly rather than written silently."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return None
    if float(f).is_integer() and hasattr(value, "dtype") and "int" in str(value.dtype):
        return int(f)
    return f


def to_record(event: Any) -> dict[str, Any]:
    kind = EVENT_TYPES[type(event)]
    return {"v": SCHEMA_VERSION, "type": kind, "time": round(time.time(), 3), **jsonable(event)}


ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("run_end", "status"): ("completed", "interrupted", "failed"),
    ("checkpoint", "kind"): ("last", "best"),
    ("error", "kind"): ("bad_input", "internal", "out_of_memory", "io"),
}


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_matches(v, typing.get_args(tp)[0]) for v in value)
    if origin is dict:
        vt = typing.get_args(tp)[1]
        return isinstance(value, dict) and all(_matches(v, vt) for v in value.values())
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict) and _check_fields(tp, value, tp.__name__) is None
    return False


def _check_fields(cls: type, body: dict[str, Any], kind: str) -> None:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(body) - set(fields)
    if unknown:
        raise ValueError(f"{kind}: unknown field {sorted(unknown)[0]}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in body:
            if required:
                raise ValueError(f"{kind}: missing field {name}")
            continue
        if not _matches(body[name], hints[name]):
            raise ValueError(f"{kind}.{name}: {json.dumps(body[name])} is not {hints[name]}")
        allowed = ENUMS.get((kind, name))
        if allowed and body[name] not in allowed:
            raise ValueError(f"{kind}.{name}: {body[name]!r} is not one of {', '.join(allowed)}")


def validate_record(record: dict[str, Any]) -> None:
    """Check one parsed event line against the schema; raises ValueError naming the field."""
    if record.get("v") != SCHEMA_VERSION:
        raise ValueError(f"event version {record.get('v')!r}, expected {SCHEMA_VERSION}")
    cls = TYPE_CLASSES.get(record.get("type"))
    if cls is None:
        raise ValueError(f"unknown event type {record.get('type')!r}")
    if not isinstance(record.get("time"), (int, float)) or isinstance(record.get("time"), bool):
        raise ValueError("event time must be a number")
    _check_fields(cls, {k: v for k, v in record.items() if k not in ("v", "type", "time")}, record["type"])


class EventWriter:
    """Writes events to RUN/events.jsonl (append, flushed per line) and to $HEARTSEG_EVENT_FD when set."""

    def __init__(self, run_dir: str | Path | None, fd: int | None = None, enabled: bool = True):
        self._lock = threading.Lock()
        self.enabled = enabled
        self._file = None
        if enabled and run_dir is not None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._file = open(Path(run_dir) / "events.jsonl", "a", encoding="utf-8")
        if fd is None and os.environ.get("HEARTSEG_EVENT_FD", "").isdigit():
            fd = int(os.environ["HEARTSEG_EVENT_FD"])  # the front says which fd it opened; never guess fd 3
        self._fd = fd if enabled and fd is not None and _fd_open(fd) else None

    def attach_run_dir(self, run_dir: str | Path) -> None:
        """Start appending to RUN/events.jsonl once the run folder exists (it is created only after input checks)."""
        if self.enabled and self._file is None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._file = open(Path(run_dir) / "events.jsonl", "a", encoding="utf-8")

    def emit(self, event: Any) -> dict[str, Any]:
        record = to_record(event)
        if not self.enabled:
            return record
        line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
            if self._fd is not None:
                try:
                    os.write(self._fd, line.encode("utf-8"))
                except OSError:
                    self._fd = None  # the front went away; the file still has everything
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


class NullWriter(EventWriter):
    """For library use and tests: drops events, remembers them."""

    def __init__(self) -> None:
        super().__init__(None, fd=None, enabled=False)
        self.records: list[dict[str, Any]] = []

    def emit(self, event: Any) -> dict[str, Any]:
        record = to_record(event)
        self.records.append(record)
        return record
