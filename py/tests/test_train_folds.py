"""Cross-validation runs: `train` with data.folds = K trains one sub-run per fold, then writes RUN/cv/;
data.fold 'all' trains one model on every case (no validation)."""

from __future__ import annotations

import csv
import json

import pytest

from heartseg import config as cfgmod
from heartseg import layout
from heartseg.cli import main
from heartseg.data.prepared import fold_of, fold_split
from heartseg.postprocess_choice import CANDIDATES, candidate_name, choose
from test_train_helpers import tiny_config_dict, tiny_dataset, write_config


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("cv") / "data", cases=4, shape=(16, 16, 16))


def _config(tmp_path, root, **data):
    base = tiny_config_dict(root, tmp_path / "cache", epochs=1, iters_per_epoch=1, bn_recalibration=2)
    return write_config(tmp_path / "cfg.json", cfgmod.merge(base, {"data": data}))


NAMES = [f"synth_{i:03d}" for i in range(4)]


def test_every_fold_then_cross_validated_metrics(four, tmp_path, capsys, restore_torch_globals):
    run = tmp_path / "run"
    cfg = _config(tmp_path, four, folds=2)
    assert main(["train", "--config", str(cfg), "--run", str(run)]) == 0, capsys.readouterr().err
    parent = json.loads((run / layout.CONFIG).read_text())
    assert parent["data"]["folds"] == 2 and parent["data"]["fold"] is None
    of = fold_of(NAMES, 2, 0)
    for k in range(2):
        sub = run / layout.fold_dir(k)
        assert (sub / layout.FINAL).is_file()
        assert json.loads((sub / layout.CONFIG).read_text())["data"]["fold"] == k
        assert json.loads((sub / layout.SPLIT).read_text())["val"] == fold_split(NAMES, 2, k, 0)[1]
    with open(run / layout.CV / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["case"] for r in rows) == NAMES  # every case scored once, by the fold that held it out
    assert all(int(r["fold"]) == of[r["case"]] for r in rows)
    summary = json.loads((run / layout.CV / "summary.json").read_text())
    dice = [float(r["dice"]) for r in rows]
    assert summary["folds"] == 2 and summary["cases"] == 4 and sorted(summary["per_fold"]) == ["0", "1"]
    assert summary["summary"]["left atrium"]["dice"]["mean"] == pytest.approx(sum(dice) / 4)
    out = capsys.readouterr().out
    assert "cross-validation, 2 folds, 4 cases" in out
    assert (run / layout.CV_FIGURE).stat().st_size > 0 and f"(figure: {run / layout.CV_FIGURE})" in out
    # every fold scored each post-processing candidate on its held-out cases; cv/ records the choice among them
    trial = []
    for k in range(2):
        with open(run / layout.fold_dir(k) / layout.EVAL_POSTPROCESS, newline="") as f:
            trial += list(csv.DictReader(f))
    assert sorted({r["case"] for r in trial}) == NAMES
    assert len(trial) == 4 * len(CANDIDATES)
    chosen, means = choose([{**r, "dice": float(r["dice"])} for r in trial])
    assert summary["postprocess"] == {"configured": ["largest", "fill_holes"], "chosen": chosen,
                                      "mean_dice": pytest.approx(means)}
    assert f"post-processing for the folds' ensemble: {candidate_name(chosen)}" in out

    # --resume: finished folds are kept, a missing one is trained, cv/ is written again
    kept = (run / layout.fold_dir(0) / layout.FINAL).stat().st_mtime_ns
    import shutil

    shutil.rmtree(run / layout.fold_dir(1))
    (run / layout.CV / "summary.json").unlink()
    assert main(["train", "--config", str(cfg), "--run", str(run), "--resume"]) == 0, capsys.readouterr().err
    assert (run / layout.fold_dir(0) / layout.FINAL).stat().st_mtime_ns == kept
    assert (run / layout.fold_dir(1) / layout.FINAL).is_file() and (run / layout.CV / "summary.json").is_file()


def test_fold_all_trains_on_every_case(four, tmp_path, capsys, restore_torch_globals):
    run = tmp_path / "all"
    cfg = _config(tmp_path, four, folds=2, fold="all")
    assert main(["train", "--config", str(cfg), "--run", str(run)]) == 0, capsys.readouterr().err
    assert json.loads((run / layout.SPLIT).read_text()) == {"train": NAMES, "val": []}
    assert (run / layout.FINAL).is_file() and not (run / layout.BEST).exists()  # nothing to select a best on


def test_more_folds_than_cases_writes_nothing(four, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--config", str(_config(tmp_path, four, folds=5)), "--run", str(run)])
    assert code == 2 and "data.folds is 5 but the dataset has 4 case(s)" in capsys.readouterr().err
    assert not run.exists()


def test_fold_task_writes_the_parent_once_and_the_fold_config(four, tmp_path):
    from heartseg.train.folds import fold_task

    parent_cfg = _config(tmp_path, four, folds=2)
    run = tmp_path / "runs" / "cv"
    fold_task(parent_cfg, run, 1, tmp_path / "fold-1.json")
    first = (run / layout.CONFIG).read_bytes()
    assert json.loads(first)["data"]["fold"] is None and json.loads(first)["data"]["folds"] == 2
    assert json.loads((tmp_path / "fold-1.json").read_text())["data"]["fold"] == 1
    # a half-made sub-run (no last.pt) is started again; one with last.pt is kept for --resume
    half = run / layout.fold_dir(0)
    (half / "tensorboard").mkdir(parents=True)
    fold_task(parent_cfg, run, "0", tmp_path / "fold-0.json")
    assert not half.exists() and (run / layout.CONFIG).read_bytes() == first
    kept = run / layout.fold_dir(1) / layout.LAST
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"x")
    fold_task(parent_cfg, run, 1, tmp_path / "fold-1.json")
    assert kept.read_bytes() == b"x"


@pytest.mark.parametrize("data, fold, problem", [
    ({"folds": 0}, 0, "needs data.folds >= 2"),
    ({"folds": 2, "fold": 1}, 1, "needs data.folds >= 2 and data.fold null"),
    ({"folds": 2}, 2, "fold 2: expected 0..1"),
    ({"folds": 3}, -1, "fold -1: expected 0..2"),
])
def test_fold_task_bad_input_writes_nothing(four, tmp_path, data, fold, problem):
    from heartseg.errors import BadInput
    from heartseg.train.folds import fold_task

    parent_cfg = _config(tmp_path, four, **data)
    with pytest.raises(BadInput, match=problem):
        fold_task(parent_cfg, tmp_path / "runs" / "cv", fold, tmp_path / "out.json")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out.json").exists()


def test_resuming_a_cv_parent_with_a_broken_config_names_the_config(four, tmp_path, capsys):
    # a parent's config.json written by hand (or damaged) used to fall through to "no checkpoints/last.pt"
    run = tmp_path / "cv"
    (run / layout.fold_dir(0)).mkdir(parents=True)
    parent = cfgmod.merge(json.loads(_config(tmp_path, four, folds=2).read_text()), {"name": None})
    (run / layout.CONFIG).write_text(json.dumps(parent))
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    code = main(["train", "--run", str(run), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "config.json" in err and "name" in err and "last.pt" not in err, err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
