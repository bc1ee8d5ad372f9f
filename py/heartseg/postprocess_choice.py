"""Post-processing chosen by cross-validation: which infer.postprocess steps help on the folds' held-out cases.

Each fold's evaluation for cv/ (`evaluate --postprocess-trial`) scores every candidate (each subset of the steps,
in POSTPROCESS_STEPS' order) by Dice on the label's own grid and writes eval/postprocess.csv. write_cv pools the
trials of all folds and keeps the candidate with the highest mean foreground Dice, the fewest steps on a tie
(nnU-Net decides its post-processing the same way). The cross-validation's headline metrics stay those of the
configured steps: the choice is made on these cases, so scoring it on them would flatter it. An ensemble of the
folds (evaluate/predict given the cross-validation run) applies the choice unless --postprocess says otherwise.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from heartseg import layout
from heartseg.inference import POSTPROCESS_STEPS, labels_from_probabilities, postprocess
from heartseg.metrics import dice

CANDIDATES: tuple[tuple[str, ...], ...] = tuple(
    combo for n in range(len(POSTPROCESS_STEPS) + 1) for combo in itertools.combinations(POSTPROCESS_STEPS, n))
"""Every subset of the post-processing steps, fewest steps first (the order a tie is broken in)."""

TRIAL_COLUMNS = ("case", "label", "steps", "dice")


def candidate_name(steps: Sequence[str]) -> str:
    """'largest,fill_holes' as on the command line; 'none' for no step."""
    return ",".join(steps) or "none"


def trial_rows(case: str, restored: np.ndarray, infer_cfg: Any, ref: np.ndarray, class_values: Sequence[int],
               labels: Mapping[int, str]) -> list[dict[str, Any]]:
    """Dice of every candidate for one case: restored probabilities on the label's grid against its label map."""
    values = np.asarray(class_values, dtype=np.uint8)
    raw = labels_from_probabilities(restored, SimpleNamespace(threshold=getattr(infer_cfg, "threshold", 0.5),
                                                              postprocess=()))
    rows = []
    for steps in CANDIDATES:
        classes = postprocess(raw, steps)
        pred = values[classes] if restored.ndim == 4 else classes * values[-1]
        for value, name in sorted(labels.items(), key=lambda kv: int(kv[0])):
            if int(value) != 0:
                rows.append({"case": case, "label": str(name), "steps": candidate_name(steps),
                             "dice": dice(pred == int(value), ref == int(value))})
    return rows


def trial_csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for r in rows:
        writer.writerow([r["case"], r["label"], r["steps"], repr(float(r["dice"]))])
    return buf.getvalue()


def read_trial(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, "dice": float(r["dice"])} for r in csv.DictReader(f)]


def choose(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, float]]:
    """(the chosen steps, mean Dice per candidate name) over every case and foreground label of the trial rows."""
    if not rows:
        raise ValueError("no post-processing trial rows to choose from")
    means: dict[str, float] = {}
    for steps in CANDIDATES:
        name = candidate_name(steps)
        scores = [float(r["dice"]) for r in rows if r["steps"] == name]
        if scores:
            means[name] = float(np.mean(scores))
    if not means:
        raise ValueError(f"the trial rows name no known candidate (steps {sorted({r['steps'] for r in rows})})")
    best = max(means.values())
    # CANDIDATES runs fewest steps first, so the first at the best mean is the simplest
    chosen = next(name for name in means if means[name] == best)
    return ([] if chosen == "none" else chosen.split(",")), means


def cv_choice(run: str | Path) -> list[str] | None:
    """The steps RUN/cv/summary.json chose, or None (no cv/ yet, written before the choice existed, unreadable)."""
    try:
        doc = json.loads((Path(run) / layout.CV_SUMMARY).read_text(encoding="utf-8"))
        steps = doc["postprocess"]["chosen"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(steps, list) or any(s not in POSTPROCESS_STEPS for s in steps):
        return None
    return [str(s) for s in steps]
