"""The event schema: the shared example files, the writer, and encoding of awkward numbers."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from heartseg import events as E
from heartseg.event_writer import EventWriter

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "events"


def _lines(name):
    return [json.loads(line) for line in (SCHEMA / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("record", _lines("examples.jsonl"), ids=lambda r: r["type"])
def test_examples_are_valid(record):
    E.validate_record(record)


@pytest.mark.parametrize("record", _lines("invalid.jsonl"), ids=lambda r: str(r.get("type")))
def test_invalid_examples_are_rejected(record):
    with pytest.raises(ValueError):
        E.validate_record(record)


def test_every_event_type_has_an_example():
    assert {r["type"] for r in _lines("examples.jsonl")} == set(E.TYPE_CLASSES)


@pytest.mark.parametrize(
    "value, expected",
    [(float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), None), (np.float32(0.5), 0.5), (np.int64(3), 3), (True, True)],
)
def test_jsonable(value, expected):
    assert E.jsonable(value) == expected


def test_writer_appends_to_file_and_fd(tmp_path, monkeypatch):
    r, w = os.pipe()
    monkeypatch.setenv("HEARTSEG_EVENT_FD", str(w))
    writer = EventWriter(tmp_path / "run")
    writer.emit(E.Progress(stage="preprocess", done=1, total=2, item="a"))
    writer.emit(E.CaseMetrics(case="c", label="la", metrics={"dice": 0.0, "hd95": math.inf}))
    writer.close()
    os.close(w)
    piped = os.read(r, 65536).decode().splitlines()
    os.close(r)
    filed = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    assert piped == filed and len(filed) == 2
    rec = json.loads(filed[1])
    assert rec["metrics"]["hd95"] == "inf"
    for line in filed:
        E.validate_record(json.loads(line))


def test_writer_without_env_never_touches_fd3(tmp_path, monkeypatch):
    monkeypatch.delenv("HEARTSEG_EVENT_FD", raising=False)
    writer = EventWriter(tmp_path)
    assert writer._fd is None
