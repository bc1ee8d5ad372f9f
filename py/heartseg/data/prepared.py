"""Prepared: a dataset whose cases all sit in the cache, ready to split, load (memory-mapped) and sample."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heartseg.data import cache
from heartseg.data.discover import Dataset
from heartseg.data.preprocess import CaseMeta
from heartseg.errors import BadInput, Problem


@dataclass
class PreprocessedCase:
    name: str
    image: np.ndarray
    """(C, Z, Y, X) float32, memory-mapped."""
    label: np.ndarray | None
    """(Z, Y, X) uint8, memory-mapped."""
    meta: CaseMeta


class Prepared:
    def __init__(self, dataset: Dataset, spacing: list[float], entries: dict[str, Path], metas: dict[str, CaseMeta],
                 cache_dir: Path, cache_hits: int, cache_misses: int, data_cfg=None):
        self.dataset = dataset
        self.labels: dict[int, str] = dict(dataset.labels)
        self.spacing = list(spacing)
        self.case_names = sorted(entries)
        self.cache_dir = cache_dir
        self.cache_hits = cache_hits
        self.cache_misses = cache_misses
        self.warnings = list(dataset.warnings)
        self._entries = dict(entries)
        self._metas = dict(metas)
        self._cfg = data_cfg

    @property
    def channels(self) -> int:
        return len(self._metas[self.case_names[0]].images) if self.case_names else 0

    def __repr__(self) -> str:
        return (f"Prepared({self.dataset.name!r}, {len(self.case_names)} cases, spacing={self.spacing}, "
                f"cache_hits={self.cache_hits}, cache_misses={self.cache_misses})")

    def _check(self, name: str) -> None:
        if name not in self._entries:
            raise KeyError(f"unknown case {name!r} (cases: {', '.join(self.case_names[:5])}...)")

    def meta(self, name: str) -> CaseMeta:
        self._check(name)
        return self._metas[name]

    def entry(self, name: str) -> Path:
        self._check(name)
        return self._entries[name]

    def load(self, name: str) -> PreprocessedCase:
        """Memory-mapped arrays: opening a case reads only headers, patches read only what they touch."""
        image, label = cache.load_arrays(self.entry(name))
        return PreprocessedCase(name, image, label, self._metas[name])

    def foreground(self, name: str) -> dict[int, np.ndarray]:
        """Label value -> (n, 3) subsampled voxel coordinates (z, y, x) on the preprocessed grid."""
        return cache.load_foreground(self.entry(name), self._metas[name].labels_present)

    def split(self) -> tuple[list[str], list[str]]:
        """(train, val): with data.folds >= 2 the cases of fold data.fold (fold_split; 'all': every case trains,
        none validates); else cfg.val_cases when given, else a seeded split by val_fraction; deterministic."""
        cfg = self._cfg
        names = self.case_names
        folds = int(getattr(cfg, "folds", 0) or 0)
        if folds >= 2:
            fold = getattr(cfg, "fold", None)
            where = str(self.dataset.root)
            if fold is None:
                raise BadInput(f"data.folds is {folds} but no fold is chosen", file=where,
                               hint="set data.fold to a fold number (0 to {}) or 'all'".format(folds - 1))
            if getattr(cfg, "val_cases", None):
                raise BadInput("data.val_cases and data.folds both choose the validation cases", file=where,
                               hint="use one of them")
            if len(names) < folds and fold != "all":  # 'all' trains on every case: the fold count plays no part
                raise BadInput(f"data.folds is {folds} but the dataset has {len(names)} case(s)", file=where,
                               hint=f"use at most {len(names)} folds")
            return fold_split(names, folds, fold, int(getattr(cfg, "split_seed", 0)))
        val_cases = list(getattr(cfg, "val_cases", []) or [])
        if val_cases:
            unknown = [n for n in val_cases if n not in self._entries]
            if unknown:
                raise BadInput([Problem(f"data.val_cases: no case named {n!r} in the dataset", str(self.dataset.root))
                                for n in unknown])
            return [n for n in names if n not in val_cases], sorted(set(val_cases))
        return seeded_split(names, float(getattr(cfg, "val_fraction", 0.2)), int(getattr(cfg, "split_seed", 0)))


def seeded_split(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Same names, fraction and seed give the same split; >= 1 validation case when there are >= 2 cases."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction: got {val_fraction}, expected a number in [0, 1)")
    names = sorted(names)
    n_val = int(round(len(names) * val_fraction))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    elif len(names) < 2:
        n_val = 0
    order = np.random.default_rng(seed).permutation(len(names))
    val = sorted(names[i] for i in order[:n_val])
    return [n for n in names if n not in val], val


def fold_of(names: list[str], folds: int, seed: int) -> dict[str, int]:
    """Case name -> cross-validation fold: names sorted, perm = default_rng(seed).permutation(n), and the case at
    sorted index perm[i] is in fold i % folds (so fold sizes differ by at most one)."""
    if folds < 2 or len(names) < folds:
        raise ValueError(f"folds: got {folds} for {len(names)} cases, expected 2 <= folds <= cases")
    names = sorted(names)
    perm = np.random.default_rng(seed).permutation(len(names))
    return {names[int(j)]: i % folds for i, j in enumerate(perm)}


def fold_split(names: list[str], folds: int, fold: int | str, seed: int) -> tuple[list[str], list[str]]:
    """(train, val) of one fold (fold_of); fold 'all' trains on every case and validates on none."""
    names = sorted(names)
    if fold == "all":
        return names, []
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"fold: got {fold!r}, expected a fold number from 0 to {folds - 1} or 'all'")
    of = fold_of(names, folds, seed)
    return [n for n in names if of[n] != fold], [n for n in names if of[n] == fold]
