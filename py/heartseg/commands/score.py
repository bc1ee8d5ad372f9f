"""`python -m heartseg score PRED REF --out DIR`: metrics of label maps made by any tool, no model needed.

PRED and REF are two NIfTI files or two folders (cases matched by name, `_0000` suffixes stripped). Every
pair must share shape and affine; the spacing comes from REF's header. Label names come from --labels (a
dataset.json or a {"1": "name"} object), else a dataset.json in REF or its parent, else `label N` for each
value found. Everything is checked before DIR/metrics.csv and DIR/summary.json are written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput, Problem

AFFINE_TOLERANCE_VOXELS = 0.05
"""Affines may differ by rounding: up to this share of the smallest voxel, in mm."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", help="predicted label map, or a folder of them")
    p.add_argument("ref", help="reference label map, or a folder of them")
    p.add_argument("--out", required=True, help="folder for metrics.csv and summary.json")
    p.add_argument("--labels", help="dataset.json or JSON object {\"1\": \"left atrium\"} naming label values")


def pair_files(pred: Path, ref: Path) -> list[tuple[str, Path, Path]]:
    """(case, pred file, ref file) for two files or two folders; BadInput lists every unmatched case."""
    from heartseg.evaluation import case_name, nifti_files

    problems = [Problem("not found", str(p)) for p in (pred, ref) if not p.exists()]
    if problems:
        raise BadInput(problems)
    if pred.is_file() and ref.is_file():
        return [(case_name(ref), pred, ref)]
    if not (pred.is_dir() and ref.is_dir()):
        raise BadInput("PRED and REF must both be files or both be folders", file=str(pred))
    found: dict[str, dict[str, Path]] = {"pred": {}, "ref": {}}
    for side, folder in (("pred", pred), ("ref", ref)):
        for f in nifti_files(folder):
            name = case_name(f)
            if name in found[side]:
                problems.append(Problem(f"case {name} appears twice (also {found[side][name].name})", str(f)))
            found[side][name] = f
        if not found[side]:
            problems.append(Problem("no .nii or .nii.gz files", str(folder)))
    for name in sorted(set(found["pred"]) - set(found["ref"])):
        problems.append(Problem(f"prediction of case {name} has no reference in {ref}", str(found["pred"][name])))
    for name in sorted(set(found["ref"]) - set(found["pred"])):
        problems.append(Problem(f"reference of case {name} has no prediction in {pred}", str(found["ref"][name])))
    if problems:
        raise BadInput(problems)
    return [(name, found["pred"][name], found["ref"][name]) for name in sorted(found["ref"])]


def parse_labels(raw: object, where: str) -> dict[int, str]:
    """Decathlon {"0": "background", "1": "name"} or nnU-Net v2 {"name": 1}; background is dropped."""
    if isinstance(raw, dict) and "labels" in raw:
        raw = raw["labels"]
    if not isinstance(raw, dict) or not raw:
        raise BadInput("expected a label object such as {\"1\": \"left atrium\"}", file=where)
    out: dict[int, str] = {}
    for k, v in raw.items():
        if isinstance(k, str) and k.strip().isdigit() and isinstance(v, str):
            out[int(k)] = v
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            out[v] = str(k)
        else:
            raise BadInput(f"label entry {json.dumps(k)}: {json.dumps(v)} is neither \"N\": \"name\" nor \"name\": N",
                           file=where)
    out.pop(0, None)
    if not out:
        raise BadInput("no foreground labels declared", file=where)
    return dict(sorted(out.items()))


def declared_labels(option: str | None, ref: Path) -> dict[int, str] | None:
    if option:
        path = Path(option)
        text = path.read_text(encoding="utf-8") if path.is_file() else option
        try:
            return parse_labels(json.loads(text), str(path) if path.is_file() else "--labels")
        except json.JSONDecodeError as e:
            raise BadInput(f"--labels is neither a JSON file nor JSON ({e.msg})", file=option) from None
    folder = ref if ref.is_dir() else ref.parent
    for candidate in (folder / "dataset.json", folder.parent / "dataset.json"):
        if candidate.is_file():
            try:
                doc = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("labels"), dict):
                return parse_labels(doc["labels"], str(candidate))
    return None


def geometry_problems(pred: Path, ref: Path) -> list[Problem]:
    """Header-only check that a prediction lies on its reference's grid."""
    import numpy as np
    from nibabel.affines import voxel_sizes

    from heartseg.data.io import read_header

    (ph, pp), (rh, rp) = read_header(pred), read_header(ref)
    problems = [p for p in (pp, rp) if p]
    if problems:
        return problems
    (p_shape, p_aff), (r_shape, r_aff) = ph, rh  # type: ignore[misc]
    if tuple(p_shape[:3]) != tuple(r_shape[:3]) or any(s != 1 for s in (*p_shape[3:], *r_shape[3:])):
        return [Problem(f"shape {tuple(p_shape)} differs from the reference's {tuple(r_shape)} ({ref})", str(pred))]
    tol = AFFINE_TOLERANCE_VOXELS * float(voxel_sizes(r_aff).min())
    diff = float(np.abs(p_aff - r_aff).max())
    if diff > tol:
        return [Problem(f"affine differs from the reference's by up to {diff:.3g} mm ({ref})", str(pred),
                        "predictions must keep the reference image's header")]
    return []


def read_labels(path: Path) -> tuple[Any, Any, list[Problem]]:
    """(data, affine, problems) of a label map that must hold integer values."""
    import numpy as np

    from heartseg.data.io import read_volume
    from heartseg.data.validate import label_values

    vol, problem = read_volume(path)
    if problem:
        return None, None, [problem]
    _, problems = label_values(vol)
    if problems:
        return None, None, problems
    return np.asarray(vol.data), vol.affine, []


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from nibabel.affines import voxel_sizes

    from heartseg import events as ev
    from heartseg.event_writer import EventWriter
    from heartseg.evaluation import command_events, emit_case, rows_for_case, write_results
    from heartseg.metrics import binary_metrics, case_metrics

    events = EventWriter(None)
    events.emit(ev.RunStart(command="score"))
    with command_events(events, "score") as state:
        pred, ref, out = Path(args.pred), Path(args.ref), Path(args.out)
        if out.exists() and not out.is_dir():
            raise BadInput("--out exists and is not a folder", file=str(out))
        pairs = pair_files(pred, ref)
        problems = [p for _, pf, rf in pairs for p in geometry_problems(pf, rf)]
        if problems:
            raise BadInput(problems)
        labels = declared_labels(args.labels, ref)
        per_case: dict[str, Any] = {}
        names: dict[int, str] = dict(labels or {})
        problems = []
        for i, (case, pf, rf) in enumerate(pairs, 1):
            (p_data, _, p_probs), (r_data, r_aff, r_probs) = read_labels(pf), read_labels(rf)
            problems += p_probs + r_probs
            if p_probs or r_probs:
                continue
            values = {int(v) for v in np.union1d(np.unique(p_data), np.unique(r_data)) if v != 0}
            if labels is not None and values - set(labels):
                extra = sorted(values - set(labels))
                problems.append(Problem(f"label values {extra} are not declared (declared: {sorted(labels)})", str(pf)))
                continue
            for v in values:
                names.setdefault(v, f"label {v}")
            spacing = tuple(float(s) for s in voxel_sizes(r_aff))
            # labels absent from both maps are filled in below with the documented both-empty values
            per_case[case] = case_metrics(p_data, r_data, spacing, {v: names[v] for v in values}) if values else {}
            events.emit(ev.Progress(stage="score", done=i, total=len(pairs), item=case))
        if problems:
            raise BadInput(problems)
        names = names or {1: "label 1"}
        both_empty = binary_metrics(np.zeros((1, 1, 1), bool), np.zeros((1, 1, 1), bool), (1.0, 1.0, 1.0))
        rows = []
        for i, (case, found) in enumerate(per_case.items(), 1):
            metrics = {name: found.get(name, both_empty) for _, name in sorted(names.items())}
            rows += rows_for_case(case, metrics)
            emit_case(events, case, metrics, i, len(per_case))
        summary = write_results(out, rows, {"pred": str(pred), "ref": str(ref)})
        events.emit(ev.EvalSummary(cases=len(pairs), out_dir=str(out), summary=summary))
        state["reason"] = f"scored {len(pairs)} cases"
    print(f"heartseg: scored {len(pairs)} case(s) -> {out / 'metrics.csv'}")
    return 0
