"""`heartseg export`: a raw state_dict the classic script's UNet3D loads strictly, and a sidecar of how to apply it.

ClassicUNet3D below is this test's own rendering of the classic homework architecture (what users' scripts define),
kept independent of heartseg.model so that an export that only heartseg can read fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from heartseg.model import build_model
from test_train_helpers import engine

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


class ClassicDoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class ClassicUNet3D(nn.Module):
    def __init__(self, in_channels=1, out_channels=1, features=(32, 64, 128, 256)):
        super().__init__()
        self.encoder_layers = nn.ModuleList()
        self.decoder_layers = nn.ModuleList()
        self.upconvs = nn.ModuleList()
        self.pool = nn.MaxPool3d(2, 2)
        c = in_channels
        for f in features:
            self.encoder_layers.append(ClassicDoubleConv(c, f))
            c = f
        self.bottleneck = ClassicDoubleConv(features[-1], features[-1] * 2)
        for f in reversed(features):
            self.upconvs.append(nn.ConvTranspose3d(f * 2, f, 2, 2))
            self.decoder_layers.append(ClassicDoubleConv(f * 2, f))
        self.final_conv = nn.Conv3d(features[0], out_channels, 1)

    def forward(self, x):
        skips = []
        for enc in self.encoder_layers:
            x = enc(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.upconvs, self.decoder_layers, reversed(skips)):
            x = dec(torch.cat((skip, up(x)), dim=1))
        return self.final_conv(x)


def _round_trip(source_model: nn.Module, exported: Path, features) -> None:
    classic = ClassicUNet3D(1, 1, features)
    classic.load_state_dict(torch.load(str(exported)))  # strict, exactly as the classic script does
    classic.eval()
    source_model.eval()
    x = torch.randn(1, 1, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(classic(x), source_model(x), atol=1e-5, rtol=0)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
def test_export_a_bare_state_dict_round_trips_into_the_classic_class(tmp_path):
    from heartseg.checkpoint import model_from_checkpoint

    src = FIXTURES / "seed_tiny_trained_state_dict.pth"
    out = tmp_path / "best_model.pth"
    result = engine("export", "--checkpoint", str(src), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout.splitlines()[-1]
    model, _ = model_from_checkpoint(src)
    _round_trip(model, out, [4, 8, 16, 32])
    side = json.loads((tmp_path / "best_model.pth.json").read_text())
    assert side["architecture"] == {"in_channels": 1, "out_channels": 1, "features": [4, 8, 16, 32]}
    assert side["values"]["data.normalization"] == "minmax" and side["sources"]["data.normalization"].startswith("assumed")


def test_export_a_run_keeps_its_preprocessing_and_drops_the_training_state(tmp_path):
    from heartseg import config as cfgmod

    torch.manual_seed(3)
    model = build_model(1, 1, [2, 4])
    for m in model.modules():  # statistics away from their defaults, so a dropped buffer would show
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    cfg = cfgmod.Config()
    cfg.model.features, cfg.data.normalization, cfg.data.spacing = [2, 4], "percentile", [2.0, 1.0, 1.0]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(cfgmod.to_dict(cfg)))
    torch.save({"format": "heartseg", "model": model.state_dict(), "config": cfgmod.to_dict(cfg), "epoch": 7,
                "optimizer": {"state": {}, "param_groups": []}, "labels": {"0": "background", "1": "left atrium"},
                "spacing": [2.0, 1.0, 1.0]}, run / "checkpoints" / "final.pt")
    out = tmp_path / "shared" / "model.pth"
    result = engine("export", "--run", str(run), "--out", str(out), "--threshold", "0.4")
    assert result.returncode == 0, result.stderr
    sd = torch.load(str(out), weights_only=True)
    assert set(sd) == set(model.state_dict())  # weights and buffers only: no optimiser, no history
    _round_trip(model, out, [2, 4])
    side = json.loads((tmp_path / "shared" / "model.pth.json").read_text())
    assert side["values"] == {"data.spacing": [2.0, 1.0, 1.0], "data.normalization": "percentile",
                              "infer.threshold": 0.4, "infer.postprocess": ["largest", "fill_holes"]}
    assert side["sources"]["data.normalization"] == "recorded" and side["sources"]["infer.threshold"] == "overridden"
    assert side["labels"] == {"0": "background", "1": "left atrium"} and side["epoch"] == 7
    assert side["source"] == str((run / "checkpoints" / "final.pt").resolve())


@pytest.mark.parametrize("case", ["out is a folder", "out under a file", "no model", "both"])
def test_export_bad_input_is_one_line(tmp_path, case):
    ckpt = tmp_path / "m.pth"
    torch.save(build_model(1, 1, [2, 4]).state_dict(), ckpt)
    (tmp_path / "afile").write_text("x")
    out = {"out is a folder": tmp_path, "out under a file": tmp_path / "afile" / "m.pth"}.get(case, tmp_path / "o.pth")
    model = {"no model": [], "both": ["--checkpoint", str(ckpt), "--run", str(tmp_path)]}.get(case, ["--checkpoint", str(ckpt)])
    result = engine("export", *model, "--out", str(out))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o.pth").exists() and (tmp_path / "afile").read_text() == "x"
