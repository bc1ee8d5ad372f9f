"""The run folder: created only after inputs are checked, guarded by a lock file, with the complete config.json."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from heartseg import layout
from heartseg.errors import BadInput
from heartseg.fsutil import atomic_write_json, is_temporary

LOCK_NAME = layout.LOCK
LAST = layout.LAST
BEST = layout.BEST
FINAL = layout.FINAL


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse a new run over an existing folder, or a resume without one (BadInput, nothing created)."""
    if resume:
        if not run_dir.is_dir():
            raise BadInput("cannot resume: run folder does not exist", file=str(run_dir))
        if not (run_dir / LAST).is_file():
            raise BadInput(f"cannot resume: no {LAST} in the run folder", file=str(run_dir),
                           hint="the run never finished an epoch; start it again under a new name")
    elif run_dir.exists():
        raise BadInput("run folder already exists", file=str(run_dir),
                       hint="pass --resume to continue it, or choose another --run")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    """An O_EXCL lock file holding 'pid host'; a lock left by a dead process on this host is taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def _owner(self) -> tuple[int | None, str]:
        try:
            parts = self.path.read_text(encoding="utf-8").split()
        except OSError:
            return None, ""
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        return pid, parts[1] if len(parts) > 1 else ""

    def acquire(self) -> "RunLock":
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid, host = self._owner()
                same_host = host in ("", socket.gethostname())
                if pid is not None and same_host and not _pid_alive(pid):
                    try:
                        self.path.unlink()  # stale: its process is gone
                    except FileNotFoundError:
                        pass
                    continue
                who = f"process {pid} on {host or 'this host'}" if pid else "another process"
                raise BadInput(f"run folder is in use by {who}", file=str(self.path.parent),
                               hint=f"wait for it to finish, or delete {self.path} if that process is gone") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {socket.gethostname()}\n")
            self.held = True
            return self
        raise BadInput("could not take the run folder's lock", file=str(self.path))

    def release(self) -> None:
        if self.held and self._owner()[0] == os.getpid():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _unwritable(run_dir: Path, e: OSError) -> BadInput:
    return BadInput(f"cannot write the run folder ({e.strerror or e})", file=str(e.filename or run_dir),
                    hint="choose a writable --runs-dir / --run, or fix the folder's permissions")


def remove_partial_writes(run_dir: Path) -> list[Path]:
    """Temporary files of writes cut short by SIGKILL or a power loss; call only while holding the lock."""
    stale = [p for folder in (run_dir, run_dir / layout.CHECKPOINTS) if folder.is_dir()
             for p in folder.iterdir() if is_temporary(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def create_run_dir(run_dir: Path, resume: bool) -> RunLock:
    """Make the folder (atomically for new runs, so two runs with one name cannot both start) and lock it."""
    try:
        if not resume:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            run_dir.mkdir()
        lock = RunLock(run_dir).acquire()
    except FileExistsError:
        raise BadInput("run folder already exists", file=str(run_dir),
                       hint="pass --resume to continue it, or choose another --run") from None
    except OSError as e:
        raise _unwritable(run_dir, e) from None
    try:
        for sub in (layout.CHECKPOINTS, layout.TENSORBOARD):
            (run_dir / sub).mkdir(exist_ok=True)
        remove_partial_writes(run_dir)
    except OSError as e:
        lock.release()
        raise _unwritable(run_dir, e) from None
    return lock


def write_config(run_dir: Path, config: dict[str, Any]) -> Path:
    return atomic_write_json(run_dir / layout.CONFIG, config)
