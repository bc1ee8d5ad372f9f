"""Writing files so that a reader never sees half of one: the one helper every writer in the engine uses.

A write goes to a temporary file in the target's folder (same suffix, so libraries that pick a format by name
still work), is flushed and fsynced, gets the mode a plain open() would give it, and is renamed over the target;
then the folder is fsynced so the rename survives a power loss. On any error the temporary file is removed and
the error names the target.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def file_mode() -> int:
    """The mode open() would give a new file (mkstemp's is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _suffix(name: str) -> str:
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return  # some file systems cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error it replaces `path` durably."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + _suffix(target.name), dir=str(target.parent))
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync_path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(target)  # "No space left on device: '.../last.pt'" says which write failed
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")


def is_temporary(name: str) -> bool:
    """True for the names atomic_path gives its temporary files (left behind only by SIGKILL or power loss)."""
    return name.startswith(".") and ".tmp" in name
