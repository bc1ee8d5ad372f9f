"""The preprocessed-case cache: one folder per (case content, settings), written whole or not at all.

Layout: CACHE/cases/<case>-<key>/{image.npy, label.npy, fg_<value>.npy, meta.json}. The key hashes the source
files' bytes, the preprocessing settings and CODE_VERSION, so a changed file or setting misses only that case.
Entries are built in CACHE/cases/.tmp-*/ and renamed into place (atomic on one file system).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from heartseg.data.preprocess import CaseMeta, foreground_index
from heartseg.fsutil import fsync_dir

CODE_VERSION = "2"  # bump when preprocessing changes what it writes (2: labels by resize_labels)
STALE_STAGING_SECONDS = 6 * 3600


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """cfg.cache_dir, else $HEARTSEG_CACHE, else $XDG_CACHE_HOME/heartseg, else ~/.cache/heartseg."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("HEARTSEG_CACHE"):
        return Path(os.environ["HEARTSEG_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "heartseg"


def case_key(digests: list[str], spacing: list[float] | str, normalization: str) -> str:
    grid = spacing if isinstance(spacing, str) else [round(float(s), 6) for s in spacing]  # 'native': own grid
    settings = {"v": CODE_VERSION, "files": digests, "spacing": grid,
                "normalization": normalization}
    return hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(), digest_size=10).hexdigest()


def entry_name(case: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in case)[:80]
    return f"{safe}-{key}"


def read_meta(entry: Path) -> CaseMeta | None:
    """The cached meta of a complete entry, or None (missing or unreadable: rebuild it)."""
    try:
        return CaseMeta.from_json(json.loads((entry / "meta.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_entry(entry: Path, image: np.ndarray, label: np.ndarray | None, meta: CaseMeta) -> None:
    """Write a complete entry folder (inside a staging folder; the caller renames it into place)."""
    entry.mkdir(parents=True)
    np.save(entry / "image.npy", np.ascontiguousarray(image, dtype=np.float32))
    if label is not None:
        np.save(entry / "label.npy", np.ascontiguousarray(label, dtype=np.uint8))
        for value, coords in foreground_index(label).items():
            np.save(entry / f"fg_{value}.npy", coords)
    (entry / "meta.json").write_text(json.dumps(meta.to_json()), encoding="utf-8")  # last: marks it complete


def load_arrays(entry: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Memory-mapped image and label: nothing is read until a patch touches it."""
    image = np.load(entry / "image.npy", mmap_mode="r")
    label_path = entry / "label.npy"
    label = np.load(label_path, mmap_mode="r") if label_path.exists() else None
    return image, label


def load_foreground(entry: Path, values: list[int]) -> dict[int, np.ndarray]:
    out = {}
    for v in values:
        path = entry / f"fg_{v}.npy"
        if path.exists():
            out[v] = np.load(path)
    return out


class Staging:
    """A private folder for entries being built; commit() renames them into place, discard() removes all."""

    def __init__(self, cases_dir: Path):
        self.cases_dir = cases_dir
        self.dir = cases_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._made = False

    def path(self, name: str) -> Path:
        if not self._made:
            self.cases_dir.mkdir(parents=True, exist_ok=True)
            self.dir.mkdir()
            self._made = True
        return self.dir / name

    def commit(self) -> None:
        if not self._made:
            return
        for entry in self.dir.iterdir():
            final = self.cases_dir / entry.name
            try:
                os.replace(entry, final)
            except OSError:
                if not (final / "meta.json").exists():  # another process's complete copy wins
                    raise
        fsync_dir(self.cases_dir)
        self.discard()

    def discard(self) -> None:
        if self._made:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._made = False


def remove_stale_staging(cases_dir: Path) -> None:
    """Staging folders of processes killed long ago; recent ones may belong to a running process."""
    if not cases_dir.is_dir():
        return
    now = time.time()
    for path in cases_dir.glob(".tmp-*"):
        try:
            if now - path.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
