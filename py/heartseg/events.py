"""The event stream: one JSON object per line, to fd 3 when the front opened it, and always to the job's own file.

This module is the one definition of the events. `python -m heartseg schema` writes their JSON Schema to
`schema/events.schema.json`; the front validates every line against it and takes its TypeScript types from it.

The contract: every line carries `v` (SCHEMA_VERSION), `type` and `time`. A reader refuses a line of another
version, and, within a version, a line with a field the schema does not know (both sides: additionalProperties
false). Fields are only ever added as optional within a version; removing or changing one bumps the version.
Numbers that can be infinite (distances when a mask is empty) travel as the string "inf": JSON has no infinity.
Writing them: heartseg.event_writer.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SCHEMA_VERSION = 1
MetricValue = Union[float, Literal["inf", "-inf"], None]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Memory(_Body):
    cpu_rss_mb: float
    """Resident memory of the engine process, MB."""
    gpu_allocated_mb: float | None = None
    """CUDA memory held by tensors, MB (null on a CPU)."""
    gpu_reserved_mb: float | None = None
    """CUDA memory reserved by the caching allocator, MB (null on a CPU)."""


class Event(_Body):
    """Fields every event line has; `type` is set by each subclass."""

    v: Literal[1] = SCHEMA_VERSION
    """Contract version of the event stream."""
    time: float = Field(default_factory=lambda: round(time.time(), 3))
    """Unix time in seconds when the event was written."""


class RunStart(Event):
    type: Literal["run_start"] = "run_start"
    command: str
    """train, evaluate, predict, score, preprocess, bench."""
    run_dir: str | None = None
    """The folder this job writes (a run, its eval/ or a prediction folder)."""
    config: dict[str, Any] | None = None
    """The complete config the job runs with."""
    pid: int = Field(default_factory=os.getpid)
    """The engine's process id."""
    torch: str | None = None
    """torch.__version__."""
    device: str | None = None
    """The device the job runs on."""
    world_size: int = 1
    """Processes taking part (torchrun ranks)."""
    resumed_from_epoch: int | None = None
    """The epoch a resumed training continues after."""
    precision: str | None = None
    """The precision the job computes in (fp32, bf16, fp16)."""
    layout: str | None = None
    """The activations' memory format (contiguous, channels_last)."""
    checkpoint: str | None = None
    """The checkpoint an evaluation or prediction applies."""


class Progress(Event):
    type: Literal["progress"] = "progress"
    stage: str
    """What is progressing: preprocess, evaluate, predict, score, synth."""
    done: int
    """Items finished."""
    total: int
    """Items in all."""
    item: str | None = None
    """The item just finished."""


class DataSummary(Event):
    type: Literal["data_summary"] = "data_summary"
    cases: int
    """Cases in the dataset (after data.max_cases)."""
    train_cases: int
    """Cases trained on."""
    val_cases: int
    """Cases validated on."""
    labels: dict[str, str]
    """Label value (as a string) to name, background included."""
    spacing: list[float]
    """Voxel spacing of the training grid (z, y, x), mm."""
    patch: list[int]
    """Training patch (z, y, x), voxels."""
    cache_dir: str | None = None
    """Where preprocessed cases are kept."""
    cache_hits: int = 0
    """Cases found in the cache."""
    cache_misses: int = 0
    """Cases preprocessed now."""


class EpochStart(Event):
    type: Literal["epoch_start"] = "epoch_start"
    epoch: int
    """1-based."""
    epochs: int
    """Epochs planned (with a time budget: the most)."""
    iters: int
    """Steps in this epoch."""


class Step(Event):
    type: Literal["step"] = "step"
    epoch: int
    """1-based."""
    iter: int
    """1-based within the epoch."""
    iters: int
    """Steps in this epoch."""
    loss: float
    """Training loss of the latest step."""
    lr: float
    """Learning rate of the latest step."""
    voxels_per_s: float | None = None
    """Training throughput, voxels per second."""
    elapsed_seconds: float | None = None
    """Training time so far (with a time budget, what the schedule runs on)."""


class EpochEnd(Event):
    type: Literal["epoch_end"] = "epoch_end"
    epoch: int
    """1-based."""
    epochs: int
    """Epochs planned (with a time budget: the most)."""
    train_loss: float
    """Mean training loss of the epoch."""
    lr: float
    """Learning rate at the end of the epoch."""
    seconds: float
    """Wall time of the epoch, validation included."""
    memory: Memory
    """Memory in use at the end of the epoch."""
    val_loss: float | None = None
    """Validation loss (null when not validated this epoch)."""
    val_dice: float | None = None
    """Mean foreground Dice over validation cases (null when not validated this epoch)."""
    val_dice_per_label: dict[str, float] | None = None
    """Validation Dice per label name."""
    best_dice: float | None = None
    """Best validation Dice so far."""
    is_best: bool = False
    """This epoch set a new best validation Dice."""
    eta_seconds: float | None = None
    """Estimated seconds until the run ends."""
    voxels_per_s: float | None = None
    """Training throughput, voxels per second."""
    elapsed_seconds: float | None = None
    """Training time so far."""
    budget_seconds: float | None = None
    """The run's time budget (train.minutes), when it has one."""


class Checkpoint(Event):
    type: Literal["checkpoint"] = "checkpoint"
    path: str
    """The file written."""
    kind: Literal["last", "best", "final"]
    """last (to resume), best (best validation Dice) or final (the model at the end of training)."""
    epoch: int
    """Epochs completed when it was written."""
    metric: float | None = None
    """Its validation Dice, when known."""


class CaseMetrics(Event):
    type: Literal["case_metrics"] = "case_metrics"
    case: str
    """Case name."""
    label: str
    """Label name."""
    metrics: dict[str, MetricValue]
    """Metric name (see schema/contract.json) to value; "inf" for infinite distances."""
    index: int | None = None
    """1-based position of the case in this evaluation."""
    total: int | None = None
    """Cases in this evaluation."""


class EvalSummary(Event):
    type: Literal["eval_summary"] = "eval_summary"
    cases: int
    """Cases evaluated."""
    out_dir: str
    """Where metrics.csv and summary.json were written."""
    summary: dict[str, dict[str, dict[str, MetricValue]]]
    """label -> metric -> {mean, std, median, min, max, n, n_inf}."""
    postprocess: list[str] | None = None
    """A cross-validation's: the post-processing its held-out cases chose for the folds' ensemble (cv/summary.json)."""


class Fold(Event):
    type: Literal["fold"] = "fold"
    fold: int | Literal["all"]
    """Fold number (0-based), or 'all' for the model trained on every case."""
    folds: int
    """Folds of the cross-validation."""
    status: Literal["started", "completed", "interrupted", "failed"]
    """Where the fold's training stands."""
    run_dir: str
    """The fold's own run folder."""
    val_dice: float | None = None
    """The fold's validation Dice once completed."""


class Warning(Event):  # noqa: A001 - the event's name on the wire
    type: Literal["warning"] = "warning"
    message: str
    """What to know."""
    file: str | None = None
    """The file it concerns."""
    hint: str | None = None
    """What to do about it."""


class Error(Event):
    type: Literal["error"] = "error"
    message: str
    """What went wrong."""
    file: str | None = None
    """The file it concerns."""
    hint: str | None = None
    """What to do about it."""
    kind: Literal["bad_input", "internal", "out_of_memory", "io"] = "internal"
    """bad_input, internal, out_of_memory, io."""


class RunEnd(Event):
    type: Literal["run_end"] = "run_end"
    status: Literal["completed", "interrupted", "failed"]
    """How the job ended."""
    reason: str
    """Why, in a few words."""
    exit_code: int
    """The engine's exit code (0, 1, 2 or 130)."""
    best_dice: float | None = None
    """Best validation Dice of a training."""
    epoch: int | None = None
    """Epochs completed."""


EVENT_CLASSES: tuple[type[Event], ...] = (RunStart, Progress, DataSummary, EpochStart, Step, EpochEnd, Checkpoint,
                                          CaseMetrics, EvalSummary, Fold, Warning, Error, RunEnd)
EVENT_TYPES: dict[type, str] = {cls: cls.model_fields["type"].default for cls in EVENT_CLASSES}
TYPE_CLASSES = {v: k for k, v in EVENT_TYPES.items()}
AnyEvent = Annotated[Union[tuple(EVENT_CLASSES)], Field(discriminator="type")]  # type: ignore[valid-type]


@functools.lru_cache(maxsize=1)
def _adapter() -> TypeAdapter:
    return TypeAdapter(AnyEvent)


@functools.lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema of one event line (what schema/events.schema.json holds)."""
    schema = _adapter().json_schema()
    for cls in EVENT_CLASSES:  # v, type and time are on every line, though the writer fills them in
        spec = schema["$defs"][cls.__name__]
        spec["required"] = ["v", "type", "time", *[r for r in spec.get("required", []) if r not in ("v", "type", "time")]]
    schema["title"] = "heartseg event"
    schema["x-version"] = SCHEMA_VERSION
    return schema


def jsonable(value: Any) -> Any:
    """Turn numpy scalars and infinities into JSON; NaN becomes null (never written silently as NaN)."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
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


def to_record(event: Event) -> dict[str, Any]:
    """The wire form of an event: v, type and time first, then its fields."""
    body = jsonable(event)
    return {"v": body.pop("v"), "type": body.pop("type"), "time": body.pop("time"), **body}


def validate_record(record: dict[str, Any]) -> Event:
    """Check one parsed event line against the contract; raises ValueError naming the field."""
    if not isinstance(record, dict):
        raise ValueError("an event must be a JSON object")
    if record.get("v") != SCHEMA_VERSION:
        raise ValueError(f"event version {record.get('v')!r}, expected {SCHEMA_VERSION}")
    if record.get("type") not in TYPE_CLASSES:
        raise ValueError(f"unknown event type {record.get('type')!r}")
    if not isinstance(record.get("time"), (int, float)) or isinstance(record.get("time"), bool):
        raise ValueError(f"{record['type']}: time must be a number")  # the writer fills it; a reader requires it
    try:
        return _adapter().validate_python(record, strict=True)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:])  # loc[0] is the union's tag
        if err["type"] == "extra_forbidden":
            raise ValueError(f"{record['type']}: unknown field {where}") from None
        if err["type"] == "missing":
            raise ValueError(f"{record['type']}: missing field {where}") from None
        raise ValueError(f"{record['type']}.{where}: {json.dumps(err.get('input'))[:80]} is invalid ({err['msg']})") from None
