"""From a dataset folder to validated, preprocessed, cached cases: load_dataset() and prepare().

prepare() validates and preprocesses each new case in one decode, into a staging folder; only when the whole
dataset is free of problems are the new entries renamed into the cache, so a bad dataset writes nothing.
Cached cases are recognised by content hash; their validation facts come from the cached meta.
"""

from __future__ import annotations

import os
import statistics
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from heartseg import events as ev
from heartseg.event_writer import EventWriter
from heartseg.data import cache
from heartseg.data.discover import Case, Dataset, discover
from heartseg.data.io import file_hash, read_header
from heartseg.data.prepared import Prepared
from heartseg.data.preprocess import CaseMeta, oriented_spacing, preprocess_volumes
from heartseg.data.validate import check_case, read_case
from heartseg.errors import BadInput, Problem


def _infer_labels(dataset: Dataset, present: list[list[int]]) -> None:
    """Without dataset.json the labels are the values found; they are named 'label N'."""
    if not dataset.labels_declared:
        values = sorted({v for p in present for v in p} | {0})
        dataset.labels = {v: ("background" if v == 0 else f"label {v}") for v in values}


def load_dataset(root: str | Path, *, require_labels: bool = True) -> Dataset:
    """Discover and fully validate every case (decoding each file); raise BadInput with all problems."""
    dataset, problems = discover(root, require_labels=require_labels)
    if dataset is None:
        raise BadInput(problems)
    declared = dataset.labels if dataset.labels_declared else None
    present, warnings = [], []
    for case in dataset.cases:
        _, label, case_problems, case_warnings = check_case(case.name, case.images, case.label, declared)
        problems += case_problems
        warnings += case_warnings
        if label is not None and not case_problems:
            present.append([int(v) for v in np.unique(label.data)])
    problems += _channel_problems(dataset.cases)
    if problems:
        raise BadInput(problems)
    _infer_labels(dataset, present)
    dataset.warnings = warnings
    return dataset


def _channel_problems(cases: list[Case]) -> list[Problem]:
    if not cases:
        return []
    counts = [len(c.images) for c in cases]
    usual = statistics.mode(counts)
    return [Problem(f"case {c.name} has {len(c.images)} image channels, most cases have {usual}", str(c.images[0]))
            for c in cases if len(c.images) != usual]


def _build(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: decode, check and preprocess one case into its staging folder (runs in a thread pool)."""
    images, label, problems, warnings = check_case(job["name"], job["images"], job["label"], job["declared"])
    if problems or job.get("validate_only"):
        return {"name": job["name"], "problems": problems, "warnings": warnings, "meta": None}
    image, lab, meta = preprocess_volumes(job["name"], images, label, job["spacing"], job["normalization"])
    del images, label  # the decoded source is no longer needed while writing
    cache.write_entry(Path(job["staging"]), image, lab, meta)
    return {"name": job["name"], "problems": [], "warnings": warnings, "meta": meta.to_json()}


def _check_cached(meta: CaseMeta, declared: dict[int, str] | None) -> tuple[list[Problem], list[Problem]]:
    """Validation facts of a cached case (its files are unchanged): declared labels may have changed."""
    present = meta.labels_present
    where = meta.label or (meta.images[0] if meta.images else None)
    if declared is not None and any(v not in declared for v in present):
        bad = [v for v in present if v not in declared]
        return [Problem(f"label values {', '.join(map(str, bad))} not declared in dataset.json", where)], []
    return [], ([] if present or meta.label is None else [Problem("label is empty (only background)", where)])


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _target_spacing(cfg, cases: list[Case]) -> tuple[list[float] | None, list[Problem], set[str]]:
    if cfg.spacing is not None and cfg.spacing != "native":  # 'native': the median below is only reported
        return [float(s) for s in cfg.spacing], [], set()
    spacings, problems, failed = [], [], set()
    for case in cases:
        header, problem = read_header(case.images[0])
        if problem:
            problems.append(problem)
            failed.add(case.name)
        else:
            spacings.append(oriented_spacing(header[1]))
    if not spacings:
        return None, problems, failed
    return [float(v) for v in np.median(np.array(spacings), axis=0)], problems, failed


def _pool_size(requested: int | None, jobs: int) -> int:
    if requested is None:
        requested = min(4, os.cpu_count() or 1)
    return max(1, min(requested, jobs))


def prepare(cfg, events: EventWriter | None = None, *, workers: int | None = None) -> Prepared:
    """Validate the dataset in cfg.root and bring every case into the cache; BadInput lists every problem.

    cfg is a heartseg.config.DataConfig. Emits Progress(stage='preprocess') per case and Warning events.
    workers: threads for new cases (None: up to 4, never more than the cores or the new cases).
    """
    if not getattr(cfg, "root", ""):
        raise BadInput("data.root is empty: give the dataset folder", hint="set data.root in the config")
    dataset, problems = discover(cfg.root)
    if dataset is None:
        raise BadInput(problems)
    cases = sorted(dataset.cases, key=lambda c: c.name)
    if cfg.max_cases:
        cases = cases[: cfg.max_cases]
    cases_dir = cache.cache_root(cfg.cache_dir) / "cases"
    if _is_inside(cases_dir, dataset.root):
        raise BadInput(f"the cache folder {cases_dir} is inside the dataset folder", str(dataset.root),
                       "datasets are often shared or read-only: set data.cache_dir or HEARTSEG_CACHE elsewhere")
    spacing, spacing_problems, unreadable = _target_spacing(cfg, cases)
    problems += spacing_problems + _channel_problems(cases)
    declared = dataset.labels if dataset.labels_declared else None

    entries, metas, jobs, warnings = {}, {}, [], []
    hits = 0
    staging = cache.Staging(cases_dir)
    cache.remove_stale_staging(cases_dir)
    total = len(cases)
    done = 0

    def progress(name: str) -> None:
        nonlocal done
        done += 1
        if events is not None:
            events.emit(ev.Progress(stage="preprocess", done=done, total=total, item=name))

    for case in cases:
        if case.name in unreadable or spacing is None:
            continue
        paths = [*case.images, *([case.label] if case.label else [])]
        try:
            digests = [file_hash(p) for p in paths]
        except OSError as e:
            problems.append(Problem(f"cannot read file ({e.strerror or e})", str(getattr(e, "filename", None) or paths[0])))
            continue
        grid = "native" if cfg.spacing == "native" else spacing
        name = cache.entry_name(case.name, cache.case_key(digests, grid, cfg.normalization))
        meta = cache.read_meta(cases_dir / name)
        if meta is not None:
            # the same bytes may have been cached from another copy of the dataset: point at this one
            meta.images, meta.label = [str(p) for p in case.images], (str(case.label) if case.label else None)
            meta.digests = {str(p): d for p, d in zip(paths, digests)}
            case_problems, case_warnings = _check_cached(meta, declared)
            problems += case_problems
            warnings += case_warnings
            entries[case.name], metas[case.name] = cases_dir / name, meta
            hits += 1
            progress(case.name)
        else:
            jobs.append({"name": case.name, "images": case.images, "label": case.label, "declared": declared,
                         "spacing": None if grid == "native" else spacing, "normalization": cfg.normalization,
                         "entry": name})
    for job in jobs:
        job["validate_only"] = bool(problems)  # the dataset already fails: only collect the remaining problems
    try:
        for result in _run_jobs(jobs, staging, workers):
            problems += result["problems"]
            warnings += result["warnings"]
            if result["meta"] is not None:
                job = result["job"]
                entries[job["name"]] = cases_dir / job["entry"]
                metas[job["name"]] = CaseMeta.from_json(result["meta"])
            progress(result["name"])
        if problems:
            raise BadInput(problems)
        staging.commit()
    finally:
        staging.discard()
    _infer_labels(dataset, [m.labels_present for m in metas.values()])
    dataset.warnings = warnings
    for w in warnings:
        if events is not None:
            events.emit(ev.Warning(message=w.message, file=w.file, hint=w.hint))
    return Prepared(dataset, spacing, entries, metas, cases_dir, hits, len(jobs), cfg)


def _run_jobs(jobs: list[dict[str, Any]], staging: cache.Staging, workers: int | None):
    """Yield each job's result as it finishes, in threads when there are several new cases.

    Threads, not processes: decompression, hashing, numpy and scipy.ndimage release the GIL, and threads need
    no re-import of the caller's main module (spawn) nor a fork of a process holding torch threads or CUDA.
    """
    for job in jobs:
        job["staging"] = str(staging.path(job["entry"]))
    size = _pool_size(workers, len(jobs))
    if size <= 1:
        for job in jobs:
            yield {**_build(job), "job": job}
        return
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="heartseg-preprocess") as pool:
        futures = {pool.submit(_build, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                yield {**future.result(), "job": futures[future]}
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def preprocess_image(paths: list[Path] | Path, spacing: list[float] | None, normalization: str = "zscore",
                     ) -> tuple[np.ndarray, CaseMeta]:
    """One case for prediction (no label), same pipeline as training; raises BadInput naming the file."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("preprocess_image: no image paths given")
    if spacing is not None and (len(spacing) != 3 or any(s <= 0 for s in spacing)):
        raise ValueError(f"spacing: got {spacing}, expected three positive numbers (z, y, x)")
    name = paths[0].name
    images, _ = read_case(name, paths, None, None)
    image, _, meta = preprocess_volumes(name, images, None, spacing, normalization)
    return image, meta
