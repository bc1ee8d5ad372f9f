"""Writing the event stream (heartseg.events defines it): DIR/events.jsonl, and the front's descriptor when it opened one.

The front opens fd 3 and sets HEARTSEG_EVENT_FD=3; without that variable no descriptor is written.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from heartseg.events import Event, RunEnd, to_record


class EventWriter:
    """Writes events to DIR/events.jsonl (append, flushed per line) and to $HEARTSEG_EVENT_FD when set.

    `file_name` lets a job keep its events beside its own output (an evaluation's eval/events.jsonl).
    The descriptor is best effort: once the front is gone (EPIPE, EBADF) events still go to the file.
    A run_end is the last line a writer writes: later events (a failure while shutting down, a second run_end)
    are dropped, so a record always ends with exactly one run_end.
    """

    def __init__(self, run_dir: str | Path | None, fd: int | None = None, enabled: bool = True,
                 file_name: str | None = None):
        from heartseg import layout

        self._lock = threading.Lock()
        self.enabled = enabled
        self._file = None
        self._file_name = file_name or layout.EVENTS
        self.front_gone = False
        """True once writing to the front's descriptor failed (it closed it or exited)."""
        self.ended: dict[str, Any] | None = None
        """The run_end record, once written."""
        if enabled and run_dir is not None:
            self.attach_run_dir(run_dir)
        if fd is None and os.environ.get("HEARTSEG_EVENT_FD", "").isdigit():
            fd = int(os.environ["HEARTSEG_EVENT_FD"])  # the front says which fd it opened; never guess fd 3
        from heartseg.train.signals import fd_open

        self._fd = fd if enabled and fd is not None and fd_open(fd) else None

    @property
    def path(self) -> Path | None:
        return Path(self._file.name) if self._file is not None else None

    def attach_run_dir(self, run_dir: str | Path) -> None:
        """Start appending to DIR/<file_name> once the folder may exist (it is created only after input checks)."""
        if self.enabled and self._file is None:
            path = Path(run_dir) / self._file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")

    def emit(self, event: Event) -> dict[str, Any]:
        record = to_record(event)
        if not self.enabled:
            return record
        line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self.ended is not None:
                return record  # the record is closed: nothing may follow its run_end
            if isinstance(event, RunEnd):
                self.ended = record
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
            if self._fd is not None:
                try:
                    os.write(self._fd, line.encode("utf-8"))
                except OSError:
                    self._fd = None  # the front went away; the file still has everything
                    self.front_gone = True
        return record

    def front_closed(self) -> bool:
        """True once the front's descriptor is gone: a failed write, or (checked without writing) no reader left."""
        if self._fd is not None and not self.front_gone:
            from heartseg.train.signals import reader_gone

            if reader_gone(self._fd):
                self._fd = None
                self.front_gone = True
        return self.front_gone

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class NullWriter(EventWriter):
    """For library use and tests: drops events, remembers them."""

    def __init__(self) -> None:
        super().__init__(None, fd=None, enabled=False)
        self.records: list[dict[str, Any]] = []

    def emit(self, event: Event) -> dict[str, Any]:
        record = to_record(event)
        self.records.append(record)
        return record
