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
                   help="val: the run's validation cases (default); all: every case")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures (metrics only)")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "label"


def _prepare(args: argparse.Namespace, events: Any, holder: dict[str, Any]):
    """Returns dataset_labels(cfg, spacing) for load_setup: prepares the data at the model's spacing."""
    from heartseg.data import prepare

    def dataset_labels(cfg: Any, spacing: list[float] | None) -> dict[int, str]:
        if args.data:
            cfg.data.root = str(args.data)
        if not cfg.data.root:
            raise BadInput("no dataset: give --data DATA or set data.root in the config")
        if spacing is not None:
            cfg.data.spacing = list(spacing)  # the grid the model was trained on, not this dataset's median
        prepared = prepare(cfg.data, events)
        if args.split == "val":
            names = prepared.split()[1]
            if not names:
                raise BadInput("the split has no validation cases", file=str(cfg.data.root),
                               hint="use --split all, or set data.val_fraction / data.val_cases")
        else:
            names = list(prepared.case_names)
        holder.update(prepared=prepared, names=names)
        return prepared.labels

    return dataset_labels


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

    from heartseg import events as ev
    from heartseg import figures
    from heartseg.commands.predict import save_nifti_like
    from heartseg.data import restore
    from heartseg.evaluation import command_events, emit_case, load_setup, rows_for_case, write_results
    from heartseg.inference import predict_volume
    from heartseg.metrics import METRIC_NAMES, case_metrics

    run_dir = Path(args.run) if args.run else None
    events = ev.EventWriter(run_dir if run_dir is not None and run_dir.is_dir() else None)
    events.emit(ev.RunStart(command="evaluate", run_dir=args.run, torch=torch.__version__))
    with command_events(events, "evaluate") as state:
        if run_dir is None:
            raise BadInput("give --run RUN (the folder for eval/; with --checkpoint it may be new)")
        if run_dir.exists() and not run_dir.is_dir():
            raise BadInput("--run exists and is not a folder", file=str(run_dir))
        if not run_dir.exists() and not args.checkpoint:
            raise BadInput("run folder not found", file=str(run_dir),
                           hint="give --checkpoint to evaluate a bare checkpoint")
        holder: dict[str, Any] = {}
        setup = load_setup(str(run_dir) if run_dir.is_dir() else None, args.checkpoint, args.config, args.device,
                           dataset_labels=_prepare(args, events, holder))
        prepared, names = holder["prepared"], holder["names"]
        if prepared.channels != setup.in_channels:
            raise BadInput(f"the dataset has {prepared.channels} image channel(s), the model expects "
                           f"{setup.in_channels}", file=str(prepared.dataset.root))
        missing = [Problem(f"case {n} has no label file to score against", str(prepared.meta(n).images[0]))
                   for n in names if not prepared.meta(n).label]
        if missing:
            raise BadInput(missing)
        events.attach_run_dir(run_dir)  # inputs are fine: now the run folder may be created
        for w in setup.warnings:
            events.emit(ev.Warning(message=w))
        eval_dir, labels = run_dir / "eval", setup.label_names
        values = np.asarray(setup.class_values, dtype=np.uint8)
        rows: list[dict[str, Any]] = []
        for i, name in enumerate(names, 1):
            case = prepared.load(name)
            classes, _ = predict_volume(setup.model, case.image, setup.cfg.data.patch, setup.cfg.infer,
                                        setup.out_channels, setup.device)
            pred = values[classes] if setup.out_channels > 1 else classes * values[-1]
            ref, spacing = _read_reference(case.meta)
            restored = restore(pred, case.meta, is_label=True)
            metrics = case_metrics(restored, ref, spacing, labels)
            # kept so people (and the UI's slice viewer) can look at what was scored, on the label's own grid
            save_nifti_like(restored.astype(np.uint8), Path(case.meta.label), eval_dir / "predictions" / f"{name}.nii.gz")
            rows += rows_for_case(name, metrics)
            emit_case(events, name, metrics, i, len(names))
            if not args.no_figures:
                _case_figures(eval_dir / "figures", case, pred, labels, case.meta.spacing)
            events.emit(ev.Progress(stage="evaluate", done=i, total=len(names), item=name))
        extra = {"checkpoint": str(setup.checkpoint), "split": args.split, "data": str(prepared.dataset.root)}
        summary = write_results(eval_dir, rows, extra)
        if not args.no_figures:
            figures.metrics_boxplot(rows, METRIC_NAMES, eval_dir / "figures" / "metrics_boxplot.png",
                                    title=f"{run_dir.name}: {len(names)} cases ({args.split})")
            figures.curves_figure(run_dir / "events.jsonl", eval_dir / "figures" / "curves.png", title=run_dir.name)
        events.emit(ev.EvalSummary(cases=len(names), out_dir=str(eval_dir), summary=summary))
        state["reason"] = f"evaluated {len(names)} cases"
    print(f"heartseg: evaluated {len(names)} case(s) -> {eval_dir}")
    return 0
