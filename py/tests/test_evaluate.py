"""`heartseg evaluate`: a short run over tiny synthetic data writes metrics, summary and readable figures."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from heartseg import events as ev
from heartseg.cli import main
from heartseg.evaluation import read_metrics_csv
from heartseg.metrics import METRIC_NAMES
from heartseg.model import build_model
from heartseg.synth import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_dataset(root / "data", 3, seed=3, shape=(12, 24, 20), spacing=(2.0, 1.25, 1.0))
    return root


def checkpoint(path):
    torch.manual_seed(1)
    model = build_model(1, 1, [2, 4])
    torch.nn.init.constant_(model.final_conv.bias, 0.2)  # the untrained model predicts some foreground
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def cfg(base, **data):
    return {"data": {"root": str(base / "data"), "patch": [8, 16, 16], "cache_dir": str(base / "cache"),
                     "val_fraction": 0.34, **data}, "model": {"features": [2, 4]}, "train": {"device": "cpu"},
            "infer": {"sw_batch": 4}}


def make_run(root, name):
    run = root / name
    checkpoint(run / "checkpoints" / "best.pt")
    (run / "config.json").write_text(json.dumps(cfg(root)))
    lines = [{"v": 1, "type": "epoch_end", "time": float(e), "epoch": e, "epochs": 3, "train_loss": 1.0 / e,
              "lr": 1e-3, "seconds": 1.0, "memory": {"cpu_rss_mb": 100.0}, "val_loss": 1.1 / e, "val_dice": 0.2 * e}
             for e in (1, 2, 3)]
    (run / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


def evaluate(*argv, capsys):
    code = main(["evaluate", *map(str, argv)])
    return code, capsys.readouterr().err


def not_blank(path):
    pixels = mpimg.imread(str(path))
    return pixels.ndim == 3 and pixels.var() > 0


def test_evaluate_writes_metrics_summary_and_figures(dataset, capsys):
    run = make_run(dataset, "run")
    code, err = evaluate("--run", run, capsys=capsys)
    assert code == 0, err
    rows = read_metrics_csv(run / "eval" / "metrics.csv")
    assert len(rows) == 1 and rows[0]["label"] == "left atrium"  # one of three cases is held out
    case = rows[0]["case"]
    assert all(not np.isnan(rows[0][m]) for m in METRIC_NAMES)
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert summary["cases"] == 1 and summary["split"] == "val"
    assert set(summary["summary"]["left atrium"]) == set(METRIC_NAMES)
    figures = run / "eval" / "figures"
    names = {p.name for p in figures.glob("*.png")}
    assert names == {f"{case}_slices.png", f"{case}_surface.png", "metrics_boxplot.png", "curves.png"}
    for png in figures.glob("*.png"):
        assert not_blank(png), png.name
    import nibabel as nib

    saved = nib.load(str(run / "eval" / "predictions" / f"{case}.nii.gz"))
    source = nib.load(str(dataset / "data" / "labelsTr" / f"{case}.nii.gz"))
    assert saved.shape == source.shape and np.allclose(saved.affine, source.affine)
    assert set(np.unique(np.asarray(saved.dataobj))) <= {0, 1}
    records = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    for r in records:
        ev.validate_record(r)
    kinds = [r["type"] for r in records]
    assert "case_metrics" in kinds and "eval_summary" in kinds
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "completed"


def test_bare_checkpoint_on_every_case_creates_the_run(dataset, tmp_path, capsys):
    ckpt = checkpoint(tmp_path / "model.pth")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg(dataset, root="")))
    run = tmp_path / "new-run"
    code, err = evaluate("--checkpoint", ckpt, "--run", run, "--data", dataset / "data", "--split", "all",
                         "--config", tmp_path / "cfg.json", "--no-figures", capsys=capsys)
    assert code == 0, err
    rows = read_metrics_csv(run / "eval" / "metrics.csv")
    assert sorted(r["case"] for r in rows) == ["synth_000", "synth_001", "synth_002"]
    assert not (run / "eval" / "figures").exists()


@pytest.mark.parametrize("problem,expected", [
    ("no checkpoint", "checkpoint file not found"),
    ("no data", "dataset folder not found"),
    ("no validation cases", "no validation cases"),
    ("no run", "run folder not found"),
])
def test_bad_input_creates_no_run(dataset, tmp_path, capsys, problem, expected):
    ckpt = checkpoint(tmp_path / "model.pth")
    config = cfg(dataset, val_fraction=0.0) if problem == "no validation cases" else cfg(dataset)
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    args = ["--run", tmp_path / "run", "--config", tmp_path / "cfg.json"]
    if problem != "no run":
        args += ["--checkpoint", tmp_path / "absent.pt" if problem == "no checkpoint" else ckpt]
    if problem == "no data":
        args += ["--data", tmp_path / "nodata"]
    code, err = evaluate(*args, capsys=capsys)
    assert code == 2 and expected in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("spacing,min_dice", [(None, 1.0), ([2.0, 1.25, 1.25], 0.75)])
def test_oracle_prediction_scores_perfectly_on_the_source_grid(dataset, tmp_path, capsys, monkeypatch, spacing,
                                                                min_dice):
    # a stand-in model that returns each case's own preprocessed label: restoring it to the label file's grid and
    # scoring there must give Dice 1 without resampling, and close to 1 through a coarser grid and back
    import heartseg.inference
    from heartseg.data.prepared import Prepared

    loaded = {}
    original_load = Prepared.load

    def remember(self, name):
        loaded["case"] = original_load(self, name)
        return loaded["case"]

    def oracle(model, image, patch, infer_cfg, out_channels, device):
        label = np.asarray(loaded["case"].label)
        return (label == 1).astype(np.uint8), (label == 1)[None].astype(np.float32)

    monkeypatch.setattr(Prepared, "load", remember)
    monkeypatch.setattr(heartseg.inference, "predict_volume", oracle)
    ckpt = checkpoint(tmp_path / "model.pth")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg(dataset, spacing=spacing)))
    code, err = evaluate("--checkpoint", ckpt, "--run", tmp_path / "run", "--split", "all", "--no-figures",
                         "--config", tmp_path / "cfg.json", capsys=capsys)
    assert code == 0, err
    rows = read_metrics_csv(tmp_path / "run" / "eval" / "metrics.csv")
    assert len(rows) == 3
    for r in rows:
        assert r["dice"] >= min_dice
        if min_dice == 1.0:
            assert r["hd95"] == 0.0 and r["abs_vol_diff_ml"] == 0.0
