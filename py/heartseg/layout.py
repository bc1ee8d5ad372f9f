"""Every name heartseg gives to files and folders it writes, defined once.

`python -m heartseg schema` exports these to `schema/contract.json`, where the front reads them: no other file,
on either side, spells a run-folder name.
"""

from __future__ import annotations

from pathlib import Path

# --- a run folder (RUNS_DIR/NAME) ----------------------------------------------------------------------------------
CONFIG = "config.json"
"""The complete config the run trains with (resolved spacing and output channels)."""
SPLIT = "split.json"
"""{"train": [...], "val": [...]}: the cases the run trained and validated on; evaluation reads it."""
EVENTS = "events.jsonl"
"""The training's events, one JSON object per line; only training writes here."""
ENGINE_LOG = "engine.log"
"""The engine's own output (stdout and stderr) for the training."""
LOCK = ".lock"
"""'pid host' of the process writing the run."""
TENSORBOARD = "tensorboard"
"""TensorBoard event files."""
CHECKPOINTS = "checkpoints"
"""Checkpoint folder."""
LAST = "checkpoints/last.pt"
"""Full training state, to resume."""
BEST = "checkpoints/best.pt"
"""The weights with the best validation Dice."""
FINAL = "checkpoints/final.pt"
"""The model at the end of training (stable statistics): what evaluate and predict use by default."""
EVAL = "eval"
"""An evaluation's output: everything below, nothing else in the run changes."""
EVAL_EVENTS = "eval/events.jsonl"
"""The evaluation's own events."""
EVAL_LOG = "eval/engine.log"
"""The evaluation's engine output."""
EVAL_METRICS = "eval/metrics.csv"
"""One row per case and label."""
EVAL_SUMMARY = "eval/summary.json"
"""Per label and metric: mean, std, median, min, max, n, n_inf."""
EVAL_PREDICTIONS = "eval/predictions"
"""CASE.nii.gz on each label's own grid, as scored."""
EVAL_FIGURES = "eval/figures"
"""PNG figures."""
EVAL_POSTPROCESS = "eval/postprocess.csv"
"""A fold's post-processing trial for cv/: case, label, steps, dice of every candidate (heartseg.postprocess_choice)."""
FOLDS = "folds"
"""Cross-validation: one sub-run per fold, FOLDS/fold-N (and FOLDS/all for the model trained on every case)."""
FOLD_DIR = "folds/fold-{fold}"
"""One fold's sub-run (fold counted from 0)."""
ALL_DIR = "folds/all"
"""The sub-run of the model trained on every case (--all)."""
CV = "cv"
"""Cross-validated metrics of a fold run: cv/metrics.csv (per case, with its fold), cv/summary.json and
cv/folds.png."""
CV_METRICS = "cv/metrics.csv"
"""One row per case and label, with the fold that held the case out."""
CV_SUMMARY = "cv/summary.json"
"""Per label and metric over every case, per fold, and the post-processing the folds chose."""
CV_FIGURE = "cv/folds.png"
"""Each fold's validation Dice over training time, and every held-out case's Dice beside its fold."""

# --- a prediction folder (--out DIR) -------------------------------------------------------------------------------
PREDICT_MANIFEST = "heartseg-predict.json"
"""What was predicted from what: checkpoint, preprocessing, and each input with its output."""
PREDICT_EVENTS = "heartseg-predict.events.jsonl"
"""The prediction's events."""
PREDICT_LOG = "heartseg-predict.log"
"""The prediction's engine output."""
PREDICTION_SUFFIX = ""
"""Appended to an input's case name to name its label map (CASE.nii.gz keeps the input's extension)."""
PROBABILITIES_SUFFIX = "_probabilities"
"""Appended to an input's case name for its probability map."""


def fold_dir(fold: int | str) -> str:
    """The sub-run of one fold inside a cross-validation run: folds/fold-N, or folds/all."""
    return ALL_DIR if fold == "all" else FOLD_DIR.format(fold=int(fold))


def names() -> dict[str, str]:
    """Every constant above, by name, for schema/contract.json."""
    return {k.lower(): v for k, v in globals().items() if k.isupper() and isinstance(v, str)}


def run_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / name


def cv_members(run: str | Path | None) -> list[Path]:
    """The fold sub-runs (RUN/folds/fold-k, in fold order) of a cross-validation run; [] for any other folder.
    evaluate and predict given such a run use the folds' models as one ensemble."""
    if not run:
        return []
    parent = Path(run)
    if (parent / CHECKPOINTS).is_dir() or not (parent / FOLDS).is_dir():
        return []
    found = []
    for sub in (parent / FOLDS).iterdir():
        name = sub.name
        if sub.is_dir() and name.startswith("fold-") and name[5:].isdigit():
            found.append((int(name[5:]), sub))
    return [sub for _, sub in sorted(found)]
