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


def make_run(root, name, data_base=None):
    run = root / name
    checkpoint(run / "checkpoints" / "best.pt")
    (run / "config.json").write_text(json.dumps(cfg(data_base or root)))
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


def snapshot(folder):
    """Every file under `folder` with its bytes (a refused or finished evaluation must not change the training's)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_evaluate_writes_metrics_summary_and_figures(dataset, capsys):
    run = make_run(dataset, "run")
    before = snapshot(run)
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
    records = [json.loads(line) for line in (run / "eval" / "events.jsonl").read_text().splitlines()]
    for r in records:
        ev.validate_record(r)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "run_start" and "case_metrics" in kinds and "eval_summary" in kinds
    assert records[0]["checkpoint"] == str((run / "checkpoints" / "best.pt").resolve())
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "completed"
    after = snapshot(run)
    assert {k: v for k, v in after.items() if not k.startswith("eval/")} == before  # the training's record as it was


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

    def oracle(model, image, patch, infer_cfg, out_channels, device, **_):
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


def _broken_copy(dataset, tmp_path, problem):
    """A copy of the dataset with one defect (what a new user hands evaluate by mistake)."""
    import shutil

    import nibabel as nib

    data = tmp_path / f"data-{problem}"
    shutil.copytree(dataset / "data", data)
    first = sorted((data / "imagesTr").iterdir())[0]
    if problem == "zero-byte image":
        first.write_bytes(b"")
    elif problem == "broken dataset.json":
        (data / "dataset.json").write_text("{not json")
    elif problem == "4-D image":
        img = nib.load(str(first))
        nib.save(nib.Nifti1Image(np.stack([np.asarray(img.dataobj)] * 2, axis=-1), img.affine), str(first))
    return data


@pytest.mark.parametrize("problem", ["zero-byte image", "broken dataset.json", "4-D image", "cuda on a CPU machine",
                                     "bad --normalization"])
def test_refused_evaluate_leaves_the_run_and_the_cache_untouched(dataset, tmp_path, capsys, monkeypatch, problem):
    import shutil

    run = make_run(tmp_path, "run", dataset)
    shutil.copy(run / "config.json", tmp_path / "keep.json")
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("HEARTSEG_CACHE", str(cache))
    config = cfg(dataset)
    config["data"]["cache_dir"] = ""
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    args = ["--run", run, "--split", "all", "--no-figures"]
    if problem == "cuda on a CPU machine":
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        args += ["--device", "cuda"]
    elif problem == "bad --normalization":
        args += ["--normalization", "robust"]
    else:
        args += ["--data", _broken_copy(dataset, tmp_path, problem)]
    code, err = evaluate(*args, capsys=capsys)
    assert code == 2, err
    assert len([line for line in err.splitlines() if line.startswith("heartseg:")]) == 1, err
    assert snapshot(run) == before  # byte-identical: no eval/, no events, no engine.log lines
    assert not any(p.is_file() for p in cache.rglob("*")) if cache.exists() else True


def _read_only_folder(tmp_path):
    """A folder on a read-only file system (a tmpfs remounted ro), or a chmod 555 one for a non-root user."""
    import os
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        return folder, lambda: folder.chmod(0o555), lambda: folder.chmod(0o755)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "none", str(folder)], capture_output=True).returncode:
        pytest.skip("root without mount permission: cannot make a read-only folder")

    def seal():
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

    return folder, seal, lambda: subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_evaluate_on_a_read_only_run_is_one_line_and_predict_still_works(dataset, tmp_path, capsys):
    import shutil

    ro, seal, release = _read_only_folder(tmp_path)
    try:
        run = ro / "run"
        shutil.copytree(make_run(tmp_path, "src-run", dataset), run)
        seal()
        before = snapshot(run)
        code, err = evaluate("--run", run, "--no-figures", capsys=capsys)
        assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, err
        assert snapshot(run) == before
        out = tmp_path / "pred"
        image = sorted((dataset / "data" / "imagesTr").iterdir())[0]
        code = main(["predict", "--run", str(run), "--input", str(image), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        assert (out / image.name).is_file() and snapshot(run) == before
    finally:
        release()


@pytest.mark.parametrize("which, expected", [("final", "best.pt"), ("best", "best.pt"), ("last", "last.pt")])
def test_infer_checkpoint_selects_the_weights(dataset, tmp_path, capsys, which, expected):
    run = make_run(tmp_path, "run", dataset)
    checkpoint(run / "checkpoints" / "last.pt")
    code, err = evaluate("--run", run, "--no-figures", "--use", which, capsys=capsys)
    assert code == 0, err
    start = json.loads((run / "eval" / "events.jsonl").read_text().splitlines()[0])
    assert start["type"] == "run_start" and start["checkpoint"].endswith(f"checkpoints/{expected}")


def test_final_is_preferred_and_a_missing_best_is_refused(dataset, tmp_path, capsys):
    run = make_run(tmp_path, "run", dataset)
    checkpoint(run / "checkpoints" / "final.pt")
    code, err = evaluate("--run", run, "--no-figures", capsys=capsys)
    assert code == 0, err
    start = json.loads((run / "eval" / "events.jsonl").read_text().splitlines()[0])
    assert start["checkpoint"].endswith("checkpoints/final.pt")
    (run / "checkpoints" / "best.pt").unlink()
    code, err = evaluate("--run", run, "--no-figures", "--use", "best", capsys=capsys)
    assert code == 2 and "checkpoints/best.pt" in err


def test_evaluate_reads_the_runs_split(dataset, tmp_path, capsys):
    run = make_run(tmp_path, "run", dataset)
    # a split no seeded split would give: two validation cases, chosen by hand
    (run / "split.json").write_text(json.dumps({"train": ["synth_001"], "val": ["synth_000", "synth_002"]}))
    code, err = evaluate("--run", run, "--no-figures", capsys=capsys)
    assert code == 0, err
    assert sorted({r["case"] for r in read_metrics_csv(run / "eval" / "metrics.csv")}) == ["synth_000", "synth_002"]
    (run / "split.json").write_text(json.dumps({"train": [], "val": ["nobody"]}))
    code, err = evaluate("--run", run, "--no-figures", capsys=capsys)
    assert code == 2 and "nobody" in err


def test_evaluate_on_a_tensorboard_only_folder_writes_nothing(tmp_path, capsys):
    run = tmp_path / "tb-run"
    (run / "tensorboard").mkdir(parents=True)
    (run / "tensorboard" / "events.out.tfevents.1.host").write_bytes(b"\x00" * 64)
    before = snapshot(run)
    code, err = evaluate("--run", run, "--data", tmp_path, capsys=capsys)
    assert code == 2 and "checkpoints" in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(run) == before and sorted(p.name for p in run.iterdir()) == ["tensorboard"]


def test_a_checkpoint_naming_label_1_otherwise_is_warned_about(dataset, tmp_path, capsys):
    from heartseg import config as cfgmod

    model = build_model(1, 1, [2, 4])
    conf = cfgmod.from_dict(cfg(dataset))
    torch.save({"format": "heartseg", "model": model.state_dict(), "config": cfgmod.to_dict(conf),
                "labels": {"0": "background", "1": "myocardium"}}, tmp_path / "m.pt")
    code = main(["evaluate", "--checkpoint", str(tmp_path / "m.pt"), "--run", str(tmp_path / "run"), "--split", "all",
                 "--no-figures"])
    out = capsys.readouterr()
    assert code == 0, out.err
    warned = [json.loads(x)["message"] for x in (tmp_path / "run" / "eval" / "events.jsonl").read_text().splitlines()
              if json.loads(x)["type"] == "warning"]
    assert any("'myocardium'" in w and "'left atrium'" in w for w in warned), warned


@pytest.mark.parametrize("passes, note", [("1", None), ("4", "4 passes per window"), ("3", "infer.tta: got 3, expected 1, 2, 4 or 8")])
def test_evaluate_takes_tta_after_training(dataset, tmp_path, capsys, passes, note):
    # mirroring TTA is a choice at inference: a run trained with infer.tta 1 is evaluated with --tta N
    run = make_run(tmp_path, "run", dataset)
    code = main(["evaluate", "--run", str(run), "--no-figures", "--tta", passes])
    out, err = capsys.readouterr()
    if passes == "3":
        assert code == 2 and note in err and not (run / "eval").exists()
        return
    assert code == 0, err
    assert (note in out) if note else "test-time augmentation" not in out
