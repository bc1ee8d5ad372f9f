"""Cross-validation in one run folder: `train --config CFG --run RUN` with data.folds = K >= 2 and no data.fold.

Each fold k is a complete, ordinary run in RUN/folds/fold-k (its own config.json with data.fold = k, split.json,
events, checkpoints), trained in turn; RUN/config.json keeps the parent's config (data.fold null). When every fold
has its checkpoints/final.pt, each is evaluated on its own validation cases (RUN/folds/fold-k/eval/) and the
cross-validated metrics are written to RUN/cv/: metrics.csv (one row per case and label, with its fold),
summary.json (per label and metric over all cases, and per fold) and folds.png (heartseg.figures.folds_figure).
`--resume` on RUN continues: finished folds are kept, an interrupted one resumes from its last.pt, the rest start.
The folds follow data/prepared.fold_of.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from heartseg import layout
from heartseg.errors import BadInput


def every_fold_config(args: argparse.Namespace) -> Any | None:
    """The parent config when `args` asks for every fold of a cross-validation, else None (a problem with the
    config is left for the ordinary training to report)."""
    from heartseg.train import setup

    try:
        cfg, _ = setup.load_config(args.config, getattr(args, "preset", None), Path(args.run), bool(args.resume))
    except (BadInput, ValueError, OSError):
        if args.resume and (Path(args.run) / layout.FOLDS).is_dir():
            raise  # a cross-validation parent with a broken config: say what is wrong, not "no last.pt"
        return None
    return cfg if cfg.data.folds >= 2 and cfg.data.fold is None else None


def _fold_config(cfg: Any, fold: int) -> dict[str, Any]:
    from heartseg import config as cfgmod

    data = cfgmod.to_dict(cfg)
    data["data"]["fold"] = fold
    if data.get("name"):
        data["name"] = f"{data['name']}-fold-{fold}"
    return data


def _prepare_sub(sub: Path) -> bool:
    """True when the fold's sub-run resumes (it has last.pt); one that never finished an epoch is removed."""
    resume = (sub / layout.LAST).is_file()
    if sub.exists() and not resume:
        import shutil

        shutil.rmtree(sub)  # a fold that never finished an epoch: start it again
    sub.parent.mkdir(parents=True, exist_ok=True)
    return resume


def fold_task(parent_config: str | Path, run: str | Path, fold: int | str, out: str | Path) -> None:
    """Before one task of a job array trains its fold (`train --config OUT --run RUN/folds/fold-k`, --resume when it
    has last.pt): RUN/config.json from the parent config if missing (every task writes the same), the fold's config
    to OUT, a sub-run that never finished an epoch removed. Then `train --resume RUN` writes cv/."""
    from heartseg import config as cfgmod
    from heartseg.fsutil import atomic_write_json

    cfg = cfgmod.load(parent_config)
    if cfg.data.folds < 2 or cfg.data.fold is not None:
        raise BadInput("a fold task needs data.folds >= 2 and data.fold null", file=str(Path(parent_config).resolve()))
    k = int(fold)
    if not 0 <= k < cfg.data.folds:
        raise BadInput(f"fold {k}: expected 0..{cfg.data.folds - 1}", file=str(Path(parent_config).resolve()))
    parent = Path(run)
    parent.mkdir(parents=True, exist_ok=True)
    if not (parent / layout.CONFIG).is_file():
        atomic_write_json(parent / layout.CONFIG, cfgmod.to_dict(cfg))
    atomic_write_json(out, _fold_config(cfg, k))
    _prepare_sub(parent / layout.fold_dir(k))


def run_every_fold(args: argparse.Namespace, cfg: Any, train_one: Callable[[argparse.Namespace], int],
                   log: Callable[[str], None] = print) -> int:
    """Train every fold in its sub-run, then write RUN/cv/; returns the first non-zero exit code, else 0."""
    from heartseg import config as cfgmod
    from heartseg.fsutil import atomic_write_json
    import os

    from heartseg.train import runfolder

    parent = Path(args.run)
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise BadInput("every fold in one job is not supported under torchrun", file=str(parent.resolve()),
                       hint="train one fold per job with --fold N (a job array), then --resume RUN writes cv/")
    if args.resume and not parent.is_dir():
        raise BadInput("cannot resume: run folder does not exist", file=str(parent.resolve()))
    if not args.resume:
        runfolder.check_run_dir(parent, False)
    folds = int(cfg.data.folds)
    _check_cases(cfg, folds)  # before anything is created
    if not args.resume:
        parent.mkdir(parents=True)
        atomic_write_json(parent / layout.CONFIG, cfgmod.to_dict(cfg))
    with tempfile.TemporaryDirectory(prefix="heartseg-folds-") as tmp:
        for k in range(folds):
            sub = parent / layout.fold_dir(k)
            if (sub / layout.FINAL).is_file():
                log(f"heartseg: fold {k}/{folds}: already trained ({sub})")
                continue
            config_path = Path(tmp) / f"fold-{k}.json"
            config_path.write_text(json.dumps(_fold_config(cfg, k)), encoding="utf-8")
            resume = _prepare_sub(sub)
            log(f"heartseg: fold {k}/{folds}: {'resuming' if resume else 'training'} in {sub}")
            code = train_one(argparse.Namespace(config=str(config_path), run=str(sub), resume=resume,
                                                init=getattr(args, "init", None), preset=None))
            if code != 0:
                log(f"heartseg: fold {k}/{folds} ended with exit code {code}; continue with --resume {parent}")
                return code
    return write_cv(parent, folds, log)


def _check_cases(cfg: Any, folds: int) -> None:
    from heartseg.data.discover import discover

    if not cfg.data.root:
        raise BadInput("data.root is empty: give the dataset folder")
    dataset, problems = discover(cfg.data.root)
    if dataset is None:
        raise BadInput(problems)
    cases = len(dataset.cases) if not cfg.data.max_cases else min(len(dataset.cases), cfg.data.max_cases)
    if cases < folds:
        raise BadInput(f"data.folds is {folds} but the dataset has {cases} case(s)", file=str(dataset.root),
                       hint=f"use at most {cases} folds")


def write_cv(parent: Path, folds: int, log: Callable[[str], None] = print) -> int:
    """Evaluate each fold's final model on its validation cases and write RUN/cv/metrics.csv and summary.json
    (with the post-processing the folds' held-out cases chose: heartseg.postprocess_choice)."""
    from heartseg.cli import main as cli_main
    from heartseg.evaluation import read_metrics_csv, summarize
    from heartseg.fsutil import atomic_write_text
    from heartseg.metrics import METRIC_NAMES
    from heartseg import events as ev
    from heartseg import postprocess_choice as ppc

    rows: list[dict[str, Any]] = []
    per_fold: dict[str, Any] = {}
    trial: list[dict[str, Any]] = []
    for k in range(folds):
        sub = parent / layout.fold_dir(k)
        code = cli_main(["evaluate", "--run", str(sub), "--no-figures", "--postprocess-trial"])
        if code != 0:
            log(f"heartseg: evaluating fold {k} failed (exit {code})")
            return code
        fold_rows = [{**r, "fold": k} for r in read_metrics_csv(sub / layout.EVAL_METRICS)]
        per_fold[str(k)] = {"cases": sorted({r["case"] for r in fold_rows}), "summary": summarize(fold_rows)}
        rows += fold_rows
        trial += ppc.read_trial(sub / layout.EVAL_POSTPROCESS)
    chosen, means = ppc.choose(trial)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["fold", "case", "label", *METRIC_NAMES])
    for r in sorted(rows, key=lambda r: (r["case"], r["label"])):
        writer.writerow([r["fold"], r["case"], r["label"], *(repr(float(r[m])) for m in METRIC_NAMES)])
    cv = parent / layout.CV
    atomic_write_text(parent / layout.CV_METRICS, buf.getvalue())
    configured = list(_fold_postprocess(parent / layout.fold_dir(0)))
    doc = {"folds": folds, "cases": len({r["case"] for r in rows}), "metrics": list(METRIC_NAMES),
           "checkpoint": "final", "summary": summarize(rows), "per_fold": per_fold,
           "postprocess": {"configured": configured, "chosen": chosen, "mean_dice": means}}
    atomic_write_text(parent / layout.CV_SUMMARY, json.dumps(ev.jsonable(doc), indent=2, allow_nan=False) + "\n")
    figure = _folds_figure(parent, folds, rows)
    for label, metrics in doc["summary"].items():
        dice = metrics["dice"]
        log(f"heartseg: cross-validation, {folds} folds, {doc['cases']} cases: {label} Dice {dice['mean']:.4f} "
            f"± {dice['std']:.4f} -> {cv} (figure: {figure})")
    tried = ", ".join(f"{name} {dice:.4f}" for name, dice in means.items())
    log(f"heartseg: post-processing for the folds' ensemble: {ppc.candidate_name(chosen)} (mean Dice of the held-out "
        f"cases per choice: {tried}; the metrics above use {ppc.candidate_name(configured)})")
    return 0


def _folds_figure(parent: Path, folds: int, rows: list[dict[str, Any]]) -> Path:
    """RUN/cv/folds.png: each fold's validation curve over time, and its held-out cases' Dice."""
    from heartseg import figures

    curves = {k: figures.read_epoch_ends(parent / layout.fold_dir(k) / layout.EVENTS) for k in range(folds)}
    return figures.folds_figure(curves, rows, parent / layout.CV_FIGURE,
                                title=f"{parent.name}: {folds}-fold cross-validation, final models")


def _fold_postprocess(sub: Path) -> list[str]:
    """The infer.postprocess a fold's evaluation applied, as its eval/summary.json records it."""
    doc = json.loads((sub / layout.EVAL_SUMMARY).read_text(encoding="utf-8"))
    return [str(s) for s in doc["preprocessing"]["values"]["infer.postprocess"]]
