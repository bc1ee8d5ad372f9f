"""`python -m heartseg evaluate --run RUN [--checkpoint CKPT] [--data DATA] [--split val|all] [--config CFG]`.

Predicts whole volumes of a dataset split, maps them back onto each label file's own grid and scores them there
(spacing from the label's header). Writes RUN/eval/metrics.csv, RUN/eval/summary.json, RUN/eval/predictions/CASE.nii.gz and RUN/eval/figures/:
CASE_slices.png, CASE_surface[_LABEL].png, metrics_boxplot.png and curves.png (when the run has epoch_end
events). Every input is checked before RUN is created (a bare checkpoint may name a new RUN).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput, Problem


def add_arguments(p: argparse.ArgumentParser) -> None:
    from heartseg.commands.predict import add_model_arguments

    add_model_arguments(p)
    p.add_argument("--data", help="dataset folder (default: the config's data.root)")
    p.add_argument("--split", choices=("val", "all"), default="val",
                   help="val: the run's validation cases from RUN/split.json (default); all: every case")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures (metrics only)")
    p.add_argument("--postprocess-trial", action="store_true",
                   help="also score every post-processing candidate into RUN/eval/postprocess.csv (what cv/ chooses "
                        "from; heartseg.postprocess_choice)")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "label"


def _prepare(args: argparse.Namespace, events: Any, holder: dict[str, Any], run_dir: Path):
    """Returns dataset_labels(cfg, spacing) for load_setup: prepares the data at the model's spacing."""
    from heartseg.data import prepare

    def dataset_labels(cfg: Any, spacing: list[float] | None) -> dict[int, str]:
        if args.data:
            cfg.data.root = str(Path(args.data).resolve())
        if not cfg.data.root:
            raise BadInput("no dataset: give --data DATA or set data.root in the config")
        if spacing is not None:
            cfg.data.spacing = list(spacing)  # the grid the model was trained on, not this dataset's median
        prepared = prepare(cfg.data, events)
        if args.split == "val":
            names = _validation_cases(run_dir, prepared)
        else:
            names = list(prepared.case_names)
        holder.update(prepared=prepared, names=names)
        return prepared.labels

    return dataset_labels


def _validation_cases(run_dir: Path, prepared: Any) -> list[str]:
    """The run's held-out cases as RUN/split.json recorded them (the split is part of the result), else a new split."""
    import json

    from heartseg import layout

    from heartseg.layout import cv_members

    if cv_members(run_dir):  # every case was trained on by some fold: the ensemble has no held-out cases here
        raise BadInput("a cross-validation run has no validation split: each case was trained on by the other folds",
                       file=str(run_dir.resolve()), hint="its cross-validated metrics are in RUN/cv/; score the "
                       "folds' ensemble on other data with --data DATA --split all")
    split_file = run_dir / layout.SPLIT
    if split_file.is_file():
        try:
            val = json.loads(split_file.read_text(encoding="utf-8"))["val"]
            if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise BadInput("split.json is not a readable split ({\"train\": [...], \"val\": [...]})",
                           file=str(split_file.resolve())) from None
        unknown = [n for n in val if n not in prepared.case_names]
        if unknown:
            raise BadInput(f"the run's validation cases {', '.join(unknown[:3])} are not in the dataset",
                           file=str(Path(prepared.dataset.root).resolve()),
                           hint="evaluate on the data the run trained on, or use --split all")
        names = list(val)
    else:
        names = prepared.split()[1]
    if not names:
        raise BadInput("the split has no validation cases", file=str(Path(prepared.dataset.root).resolve()),
                       hint="use --split all, or set data.val_fraction / data.val_cases")
    return names


def _check_writable(run_dir: Path) -> None:
    """Evaluation writes RUN/eval/ only; a read-only run (or parent, for a new one) is refused before any work."""
    import os

    target = run_dir / "eval" if run_dir.is_dir() else run_dir
    probe = target
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise BadInput(f"{probe} is a file, not a folder", file=str(run_dir.resolve()))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput("cannot write the evaluation: the folder is read-only", file=str(probe.resolve()),
                       hint="copy the run somewhere writable, or evaluate its checkpoint into a new run: heartseg "
                            "evaluate RUN/checkpoints/final.pt DATA --name NEW")


def _read_reference(meta: Any) -> tuple[Any, Any]:
    """The source label map (stored axis order) and its voxel sizes."""
    import numpy as np
    from nibabel.affines import voxel_sizes

    from heartseg.data.io import read_volume

    vol, problem = read_volume(Path(meta.label))
    if problem:
        raise BadInput([problem])
    return np.asarray(vol.data), tuple(float(s) for s in voxel_sizes(vol.affine))


def _case_figures(fig_dir: Path, case: Any, pred: Any, labels: dict[int, str], spacing: list[float]) -> None:
    import numpy as np

    from heartseg import figures

    ref = np.asarray(case.label)
    figures.slices_figure(np.asarray(case.image[0]), ref, pred, spacing, fig_dir / f"{case.name}_slices.png",
                          title=case.name, labels=labels)
    for value, name in labels.items():
        suffix = "" if len(labels) == 1 else f"_{_slug(name)}"
        figures.surface_figure(ref == value, pred == value, spacing, fig_dir / f"{case.name}_surface{suffix}.png",
                               title=f"{case.name}: {name}")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from heartseg import config as cfgmod
    from heartseg import events as ev
    from heartseg.event_writer import EventWriter
    from heartseg import figures, layout
    from heartseg.commands.predict import save_nifti_like
    from heartseg.evaluation import command_events, emit_case, rows_for_case, write_results
    from heartseg.fsutil import atomic_write_text
    from heartseg.model_setup import load_setup, user_overrides
    from heartseg.inference import predict_volume, restore_prediction, tta_note
    from heartseg.metrics import METRIC_NAMES, case_metrics
    from heartseg.postprocess_choice import trial_csv_text, trial_rows

    run_dir = Path(args.run).resolve() if args.run else None
    # the evaluation's own record (RUN/eval/events.jsonl), attached only once its inputs are fine: a refused
    # evaluation leaves the run untouched; the training's events.jsonl is never written
    events = EventWriter(None, file_name=layout.EVAL_EVENTS)
    with command_events(events, "evaluate") as state:
        if run_dir is None:
            raise BadInput("give --run RUN (the folder for eval/; with --checkpoint it may be new)")
        if run_dir.exists() and not run_dir.is_dir():
            raise BadInput("--run exists and is not a folder", file=str(run_dir))
        if not run_dir.exists() and not args.checkpoint:
            raise BadInput("run folder not found", file=str(run_dir),
                           hint="give --checkpoint to evaluate a bare checkpoint")
        _check_writable(run_dir)
        overrides, _ = user_overrides(args)
        holder: dict[str, Any] = {}
        setup = load_setup(str(run_dir) if run_dir.is_dir() else None, args.checkpoint, overrides, args.device,
                           dataset_labels=_prepare(args, events, holder, run_dir))
        prepared, names = holder["prepared"], holder["names"]
        if prepared.channels != setup.in_channels:
            raise BadInput(f"the dataset has {prepared.channels} image channel(s), the model expects "
                           f"{setup.in_channels}", file=str(prepared.dataset.root))
        missing = [Problem(f"case {n} has no label file to score against", str(prepared.meta(n).images[0]))
                   for n in names if not prepared.meta(n).label]
        if missing:
            raise BadInput(missing)
        eval_dir, labels = run_dir / layout.EVAL, setup.label_names
        events.attach_run_dir(run_dir)  # inputs are fine: now RUN/eval/ may be created
        applied = setup.application.as_dict()
        events.emit(ev.RunStart(command="evaluate", run_dir=str(eval_dir), config=cfgmod.to_dict(setup.cfg),
                                torch=torch.__version__, device=str(setup.device), checkpoint=str(setup.checkpoint.resolve())))
        for w in setup.warnings:
            events.emit(ev.Warning(message=w))
            print(f"heartseg: {w}", flush=True)
        if tta_note(setup.cfg.infer.tta):
            print(f"heartseg: {tta_note(setup.cfg.infer.tta)}", flush=True)
        values = np.asarray(setup.class_values, dtype=np.uint8)
        rows: list[dict[str, Any]] = []
        trial: list[dict[str, Any]] = []
        for i, name in enumerate(names, 1):
            case = prepared.load(name)
            classes, probs = predict_volume(setup.model, case.image, setup.cfg.data.patch, setup.cfg.infer,
                                        setup.out_channels, setup.device, precision=setup.cfg.train.precision,
                                        layout=setup.cfg.train.layout)
            pred = values[classes] if setup.out_channels > 1 else classes * values[-1]
            ref, spacing = _read_reference(case.meta)
            # probabilities onto the label's grid, then threshold and post-process there (not labels upsampled)
            source_classes, source_probs = restore_prediction(probs, case.meta, setup.cfg.infer)
            restored = values[source_classes] if setup.out_channels > 1 else source_classes * values[-1]
            metrics = case_metrics(restored, ref, spacing, labels)
            if args.postprocess_trial:
                trial += trial_rows(name, source_probs, setup.cfg.infer, ref, setup.class_values, labels)
            # kept so people (and the UI's slice viewer) can look at what was scored, on the label's own grid
            save_nifti_like(restored.astype(np.uint8), Path(case.meta.label), eval_dir / "predictions" / f"{name}.nii.gz")
            rows += rows_for_case(name, metrics)
            emit_case(events, name, metrics, i, len(names))
            if not args.no_figures:
                _case_figures(eval_dir / "figures", case, pred, labels, case.meta.spacing)
            events.emit(ev.Progress(stage="evaluate", done=i, total=len(names), item=name))
        extra = {"checkpoint": str(setup.checkpoint.resolve()), "checkpoint_kind": setup.kind, "split": args.split,
                 "data": str(prepared.dataset.root), "cases_evaluated": list(names), "preprocessing": applied}
        summary = write_results(eval_dir, rows, extra)
        trial_path = run_dir / layout.EVAL_POSTPROCESS
        if args.postprocess_trial:
            atomic_write_text(trial_path, trial_csv_text(trial))
        else:
            trial_path.unlink(missing_ok=True)  # it described the evaluation this one replaces
        if not args.no_figures:
            figures.metrics_boxplot(rows, METRIC_NAMES, eval_dir / "figures" / "metrics_boxplot.png",
                                    title=f"{run_dir.name}: {len(names)} cases ({args.split})")
            figures.curves_figure(run_dir / "events.jsonl", eval_dir / "figures" / "curves.png", title=run_dir.name)
        events.emit(ev.EvalSummary(cases=len(names), out_dir=str(eval_dir), summary=summary))
        state["reason"] = f"evaluated {len(names)} cases"
    print(f"heartseg: evaluated {len(names)} case(s) -> {eval_dir}")
    return 0
