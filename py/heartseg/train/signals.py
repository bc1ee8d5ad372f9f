"""Stop requests: SIGINT/SIGTERM/SIGHUP, or a front that vanished, turn into a flag the loop checks between steps,
so a step is never cut in half and the run always ends with a checkpoint and one run_end."""

from __future__ import annotations

import errno
import os
import select
import signal
import stat
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable

FRONT_GONE = "front closed"
"""The run_end reason when the front went away (its event pipe or our output pipe has no reader any more)."""


class StopRequest:
    """Context manager: while active, the first SIGINT/SIGTERM/SIGHUP sets `.signal_name`; a second SIGINT aborts
    at once. `watch(check)` adds a condition polled whenever `requested` is read (between steps)."""

    # SIGHUP: the terminal (or the SSH connection) of whoever started us closed; stop cleanly rather than die
    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._checks: list[Callable[[], str | None]] = []

    @property
    def requested(self) -> bool:
        if self.signal_name is None:
            for check in self._checks:
                reason = check()
                if reason:
                    self.request(reason)
                    break
        return self.signal_name is not None

    def watch(self, check: Callable[[], str | None]) -> None:
        """`check()` returns a reason to stop (e.g. FRONT_GONE) or None; it must be cheap (called every step)."""
        self._checks.append(check)

    def request(self, name: str = "SIGINT") -> None:
        """Ask the loop to stop at the next safe point (used by tests and by the handler)."""
        if self.signal_name is None:
            self.signal_name = name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: the person wants out now
        self.request(name)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # handlers can only be set from the main thread
            for sig in self.SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def reader_gone(fd: int) -> bool:
    """True when fd is a pipe/socket/terminal whose other end closed (POLLERR/POLLHUP), without writing to it."""
    try:
        poller = select.poll()
        poller.register(fd, 0)  # mask 0: only the error conditions are reported
        return any(flags & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, flags in poller.poll(0))
    except (OSError, ValueError):
        return True


class OutputGuard:
    """Keeps stdout/stderr writable after their reader (the front, a pipe) went away.

    On the first EPIPE (or when `check()` sees the reader gone) fds 1 and 2 are pointed at `fallback()` (the run's
    engine.log once it exists, else /dev/null), so later prints, warnings and tracebacks cannot raise, and
    `.broken` is set; StopRequest.watch(guard.check) turns that into a stop request.
    """

    def __init__(self, fallback: Callable[[], Path | None] = lambda: None):
        self.fallback = fallback
        self.broken = False
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> "OutputGuard":
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Guarded(sys.stdout, self)  # type: ignore[assignment]
        sys.stderr = _Guarded(sys.stderr, self)  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def check(self) -> str | None:
        if not self.broken and any(_is_pipe_or_tty(fd) and reader_gone(fd) for fd in (1, 2)):
            self.redirect()
        return FRONT_GONE if self.broken else None

    def redirect(self) -> None:
        """Point fds 1 and 2 at the fallback (append) so every later write, from Python or C, succeeds."""
        self.broken = True
        target = None
        try:
            target = self.fallback()
        except Exception:  # noqa: BLE001 - no log file: /dev/null is still a place to write
            target = None
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if target else -1
        except OSError:
            fd = -1
        if fd < 0:
            fd = os.open(os.devnull, os.O_WRONLY)
        for std in (1, 2):
            if not fd_open(std) or (_is_pipe_or_tty(std) and reader_gone(std)):
                os.dup2(fd, std)
        os.close(fd)


def fd_open(fd: int) -> bool:
    """Whether `fd` is an open descriptor (fstat succeeds)."""
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _is_pipe_or_tty(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


class _Guarded:
    """A text stream whose write/flush survive a vanished reader (see OutputGuard)."""

    def __init__(self, inner: Any, guard: OutputGuard):
        self._inner, self._guard = inner, guard

    def _retry(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.EBADF, errno.ECONNRESET):
                raise
            self._guard.redirect()
            try:
                return fn()  # the buffered bytes now go to the fallback
            except OSError:
                return None

    def write(self, text: str) -> int:
        self._retry(lambda: self._inner.write(text))
        return len(text)

    def flush(self) -> None:
        self._retry(self._inner.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
