"""`heartseg predict`: label maps with the input's exact grid, run/checkpoint resolution, bad input refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from heartseg.cli import main
from heartseg.model import build_model

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
# permuted, flipped, anisotropic and shifted: reorientation to RAS and back must be undone exactly
OBLIQUE = np.array([[0.0, 0.0, -2.0, 10.0], [-0.8, 0.0, 0.0, 5.0], [0.0, 0.7, 0.0, -3.0], [0, 0, 0, 1]])


def tiny_checkpoint(path, in_channels=1, out_channels=1):
    torch.manual_seed(0)
    model = build_model(in_channels, out_channels, [2, 4])
    torch.nn.init.constant_(model.final_conv.bias, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def image_file(path, shape=(14, 11, 9), affine=OBLIQUE, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 1, shape).astype(np.float32)
    data[3:9, 3:8, 2:6] += 3.0
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def config(tmp_path, **data):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"data": {"patch": [8, 8, 8], **data}, "model": {"features": [2, 4]},
                                "train": {"device": "cpu"}, "infer": {"postprocess": []}}))
    return path


def predict(*argv, capsys):
    code = main(["predict", *map(str, argv)])
    return code, capsys.readouterr().err


def test_prediction_keeps_the_input_grid(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    img = image_file(tmp_path / "in" / "case7_0000.nii.gz")
    code, err = predict("--checkpoint", ckpt, "--input", tmp_path / "in", "--out", tmp_path / "out",
                        "--probabilities", "--config", config(tmp_path), capsys=capsys)
    assert code == 0, err
    src = nib.load(str(img))
    lab = nib.load(str(tmp_path / "out" / "case7.nii.gz"))
    prob = nib.load(str(tmp_path / "out" / "case7_probabilities.nii.gz"))
    assert lab.shape == src.shape and prob.shape == src.shape
    assert np.array_equal(lab.affine, src.affine) and np.array_equal(prob.affine, src.affine)
    assert lab.get_data_dtype() == np.uint8
    labels, probs = np.asarray(lab.dataobj), np.asarray(prob.dataobj)
    assert set(np.unique(labels)) <= {0, 1} and 0 <= probs.min() and probs.max() <= 1
    # no resampling at the image's own spacing: the labels are exactly the thresholded probabilities
    assert np.array_equal(labels, (probs > 0.5).astype(np.uint8))


def test_resampled_prediction_is_mapped_back(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    img = image_file(tmp_path / "a.nii.gz", shape=(15, 13, 7))
    code, err = predict("--checkpoint", ckpt, "--input", img, "--out", tmp_path / "out",
                        "--config", config(tmp_path, spacing=[1.3, 1.1, 0.9]), capsys=capsys)
    assert code == 0, err
    out = nib.load(str(tmp_path / "out" / "a.nii.gz"))
    assert out.shape == (15, 13, 7) and np.array_equal(out.affine, nib.load(str(img)).affine)


def test_run_folder_with_label_values(tmp_path, capsys):
    run = tmp_path / "run"
    tiny_checkpoint(run / "checkpoints" / "last.pt", out_channels=3)  # no best.pt yet: last.pt is used
    (run / "config.json").write_text(config(tmp_path).read_text())
    summary = {"v": 1, "type": "data_summary", "time": 1.0, "cases": 2, "train_cases": 1, "val_cases": 1,
               "labels": {"0": "background", "1": "atrium", "4": "ventricle"}, "spacing": [2.0, 0.7, 0.8],
               "patch": [8, 8, 8]}
    (run / "events.jsonl").write_text(json.dumps(summary) + "\n")
    img = image_file(tmp_path / "x.nii.gz")
    code, err = predict("--run", run, "--input", img, "--out", tmp_path / "out", capsys=capsys)
    assert code == 0, err
    labels = np.asarray(nib.load(str(tmp_path / "out" / "x.nii.gz")).dataobj)
    assert set(np.unique(labels)) <= {0, 1, 4} and labels.shape == (14, 11, 9)
    # the run is only read: the prediction's events are in --out
    assert (run / "events.jsonl").read_text() == json.dumps(summary) + "\n"
    assert sorted(p.name for p in run.rglob("*")) == ["checkpoints", "config.json", "events.jsonl", "last.pt"]
    assert any('"type":"progress"' in line for line in (tmp_path / "out" / "heartseg-predict.events.jsonl")
               .read_text().splitlines())


@pytest.mark.parametrize("case,expected", [
    ("missing", ["absent.nii.gz: input not found", "notes.txt: not a .nii or .nii.gz file"]),
    ("corrupt", ["broken.nii.gz: ", "gzip"]),
    ("channels", ["has 1 channel file(s), the model expects 2"]),
    ("no model", ["give --run RUN or --checkpoint CKPT"]),
    ("no run", ["run folder not found"]),
])
def test_bad_input_writes_nothing(tmp_path, capsys, case, expected):
    ckpt = tiny_checkpoint(tmp_path / "m.pth", in_channels=2 if case == "channels" else 1)
    good = image_file(tmp_path / "in" / "good.nii.gz")
    model = ["--checkpoint", ckpt]
    inputs = [good]
    if case == "missing":
        (tmp_path / "notes.txt").write_text("x")
        inputs += [tmp_path / "absent.nii.gz", tmp_path / "notes.txt"]
    elif case == "corrupt":
        (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 40)
        inputs.append(tmp_path / "broken.nii.gz")
    elif case == "no model":
        model = []
    elif case == "no run":
        model = ["--run", tmp_path / "nowhere"]
    code, err = predict(*model, "--input", *inputs, "--out", tmp_path / "out", "--config", config(tmp_path),
                        capsys=capsys)
    assert code == 2
    for text in expected:
        assert text in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(not (SHARED / "data" / "la2018").is_dir(), reason="../shared/data/la2018 not present")
def test_la2018_prediction_matches_the_image_header(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    images = sorted((SHARED / "data" / "la2018" / "imagesTr").glob("*.nii.gz"))[:2]
    code, err = predict("--checkpoint", ckpt, "--input", *images, "--out", tmp_path / "out",
                        "--config", config(tmp_path, spacing=[1.25, 1.25, 1.25]), capsys=capsys)
    assert code == 0, err
    for img in images:
        src, out = nib.load(str(img)), nib.load(str(tmp_path / "out" / img.name))
        assert out.shape == src.shape
        assert np.array_equal(out.affine, src.affine)


def test_bad_input_is_reported_as_error_events(tmp_path, capsys, monkeypatch):
    read_fd, write_fd = os.pipe()
    monkeypatch.setenv("HEARTSEG_EVENT_FD", str(write_fd))
    code, err = predict("--checkpoint", tmp_path / "absent.pt", "--input", tmp_path / "none.nii.gz",
                        "--out", tmp_path / "out", capsys=capsys)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        records = [json.loads(line) for line in f]
    assert code == 2
    errors = [r for r in records if r["type"] == "error"]
    assert errors and all(r["kind"] == "bad_input" and r["file"] for r in errors)
    assert records[-1]["type"] == "run_end" and records[-1]["exit_code"] == 2 and records[-1]["status"] == "failed"


@pytest.mark.parametrize("problem", ["out under a file", "out is a file", "out overwrites the input"])
def test_bad_out_is_one_line_exit_2(tmp_path, capsys, problem):
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    img = image_file(tmp_path / "in" / "case.nii.gz")
    (tmp_path / "afile").write_text("x")
    out = {"out under a file": tmp_path / "afile" / "sub", "out is a file": tmp_path / "afile",
           "out overwrites the input": tmp_path / "in"}[problem]
    code, err = predict("--checkpoint", ckpt, "--input", img, "--out", out, "--config", config(tmp_path),
                        capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "internal error" not in err, err
    assert (tmp_path / "afile").read_text() == "x" and nib.load(str(img)).shape == (14, 11, 9)


def test_predict_names_what_it_wrote_and_keeps_the_extension(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    a = image_file(tmp_path / "in" / "anatomical.nii")
    b = image_file(tmp_path / "in" / "other.nii.gz", seed=1)
    code = main(["predict", "--checkpoint", str(ckpt), "--input", str(a), str(b), "--out", str(tmp_path / "out"),
                 "--config", str(config(tmp_path))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "anatomical.nii", "heartseg-predict.events.jsonl", "heartseg-predict.json", "other.nii.gz"]
    last = captured.out.strip().splitlines()[-1]
    assert str(tmp_path / "out") in last and "anatomical.nii" in last
    manifest = json.loads((tmp_path / "out" / "heartseg-predict.json").read_text())
    assert [c["output"] for c in manifest["cases"]] == [str(tmp_path / "out" / "anatomical.nii"),
                                                      str(tmp_path / "out" / "other.nii.gz")]
    assert manifest["checkpoint"] == str(ckpt.resolve())


def test_refused_predict_with_a_run_leaves_the_run_byte_identical(tmp_path, capsys):
    run = tmp_path / "run"
    tiny_checkpoint(run / "checkpoints" / "best.pt")
    (run / "config.json").write_text(config(tmp_path).read_text())
    (run / "events.jsonl").write_text('{"v":1,"type":"run_end","time":1.0,"status":"completed"}\n')
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    (tmp_path / "bad.nii.gz").write_bytes(b"")
    code, err = predict("--run", run, "--input", tmp_path / "bad.nii.gz", "--out", tmp_path / "out", capsys=capsys)
    assert code == 2 and "bad.nii.gz" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "out").exists()
