"""Ensembles of a cross-validation run's folds: the mean probability, as one model for evaluate and predict."""

from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch

from heartseg import config as cfgmod
from heartseg.cli import main
from heartseg.inference import Ensemble
from heartseg.model import build_model
from heartseg.layout import cv_members
from tests.conftest import write_nifti


class Constant(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)

    def forward(self, x):
        shape = (x.shape[0], len(self.logits), *x.shape[2:])
        return self.logits.view(1, -1, 1, 1, 1).expand(shape)


@pytest.mark.parametrize("logits, expected", [
    ([[0.0], [math.log(3)]], [0.625]),                        # sigmoid: 0.5 and 0.75
    ([[0.0, 0.0], [math.log(3), 0.0]], [0.625, 0.375]),       # softmax: (0.5, 0.5) and (0.75, 0.25)
    ([[20.0], [20.0], [-20.0]], [2 / 3]),                     # nearly certain members: finite logits
])
def test_ensemble_returns_the_mean_probability_as_logits(logits, expected):
    k = len(expected)
    ensemble = Ensemble([Constant(lg) for lg in logits], k)
    out = ensemble(torch.zeros(2, 1, 3, 3, 3))
    probs = torch.sigmoid(out) if k == 1 else torch.softmax(out, dim=1)
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(probs[0, :, 0, 0, 0].numpy(), expected, atol=1e-6)


def test_ensemble_needs_a_model():
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([], 1)


def test_cv_members(tmp_path):
    run = tmp_path / "cv"
    for name in ("fold-1", "fold-0", "fold-10", "all", "fold-x"):
        (run / "folds" / name).mkdir(parents=True)
    assert [p.name for p in cv_members(run)] == ["fold-0", "fold-1", "fold-10"]
    assert cv_members(tmp_path / "absent") == [] and cv_members(None) == []
    (run / "checkpoints").mkdir()  # an ordinary run that happens to hold a folds/ folder
    assert cv_members(run) == []


def _fold(run, k, seed):
    sub = run / "folds" / f"fold-{k}"
    (sub / "checkpoints").mkdir(parents=True)
    torch.manual_seed(seed)
    model = build_model(1, 1, [2, 4])
    with torch.no_grad():
        model.final_conv.weight.mul_(50)
    torch.save(model.state_dict(), sub / "checkpoints" / "final.pt")
    cfg = cfgmod.from_dict({"data": {"patch": [8, 8, 8], "spacing": [1.0, 1.0, 1.0], "normalization": "zscore",
                                     "folds": 2, "fold": k}, "model": {"features": [2, 4], "out_channels": 1},
                            "train": {"device": "cpu"}, "infer": {"postprocess": []}})
    (sub / "config.json").write_text(json.dumps(cfgmod.to_dict(cfg)))
    return sub


def test_predict_with_a_cross_validation_run_averages_its_folds(tmp_path, capsys):
    run = tmp_path / "cv"
    subs = [_fold(run, 0, 1), _fold(run, 1, 2)]
    data = np.random.default_rng(0).normal(0, 1, (12, 10, 9)).astype(np.float32)
    img = write_nifti(tmp_path / "in" / "a.nii.gz", data)
    probs = []
    for i, where in enumerate([*subs, run]):
        out = tmp_path / f"out{i}"
        code = main(["predict", "--run", str(where), "--input", str(img), "--out", str(out), "--probabilities"])
        assert code == 0, capsys.readouterr().err
        probs.append(np.asarray(nib.load(str(out / "a_probabilities.nii.gz")).dataobj))
    assert not np.allclose(probs[0], probs[1], atol=1e-3)  # two different models
    np.testing.assert_allclose(probs[2], (probs[0] + probs[1]) / 2, atol=1e-5)
    assert "the mean probability of its 2 folds' models" in capsys.readouterr().out


def test_evaluate_a_cross_validation_run(tmp_path, capsys):
    from heartseg.synth import write_dataset

    data = write_dataset(tmp_path / "data", 2, 0, (8, 16, 16), (2.0, 2.0, 2.0))
    run = tmp_path / "cv"
    _fold(run, 0, 1), _fold(run, 1, 2)
    base = ["evaluate", "--run", str(run), "--data", str(data), "--no-figures"]
    # its own cases were trained on by the other folds: no honest validation split to score the ensemble on
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "a cross-validation run has no validation split" in err and not (run / "eval").exists()
    assert main([*base, "--split", "all"]) == 0, capsys.readouterr().err  # other data: every case
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert summary["cases"] == 2


@pytest.mark.parametrize("flags, values, source", [
    ([], ["largest"], "chosen by the cross-validation (cv/summary.json)"),   # the folds' choice
    (["--postprocess", "none"], [], "overridden"),                           # the user's word wins
    (["--postprocess", "fill_holes"], ["fill_holes"], "overridden"),
])
def test_an_ensemble_applies_the_post_processing_its_cross_validation_chose(tmp_path, capsys, flags, values, source):
    run = tmp_path / "cv"
    _fold(run, 0, 1), _fold(run, 1, 2)  # their own configs say no post-processing
    (run / "cv").mkdir()
    (run / "cv" / "summary.json").write_text(json.dumps({"postprocess": {"configured": [], "chosen": ["largest"]}}))
    img = write_nifti(tmp_path / "in" / "a.nii.gz", np.random.default_rng(0).normal(0, 1, (12, 10, 9)).astype(np.float32))
    out = tmp_path / "out"
    assert main(["predict", "--run", str(run), "--input", str(img), "--out", str(out), *flags]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "heartseg-predict.json").read_text())
    assert manifest["preprocessing"]["values"]["infer.postprocess"] == values
    assert manifest["preprocessing"]["sources"]["infer.postprocess"] == source
    assert manifest["config"]["infer"]["postprocess"] == values
    assert ("post-processing chosen by the cross-validation" in capsys.readouterr().out) == (not flags)


def test_one_fold_keeps_its_own_post_processing(tmp_path, capsys):
    run = tmp_path / "cv"
    sub = _fold(run, 0, 1)
    _fold(run, 1, 2)
    (run / "cv").mkdir()
    (run / "cv" / "summary.json").write_text(json.dumps({"postprocess": {"configured": [], "chosen": ["largest"]}}))
    img = write_nifti(tmp_path / "in" / "a.nii.gz", np.random.default_rng(0).normal(0, 1, (12, 10, 9)).astype(np.float32))
    assert main(["predict", "--run", str(sub), "--input", str(img), "--out", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "heartseg-predict.json").read_text())
    assert manifest["preprocessing"]["values"]["infer.postprocess"] == []
