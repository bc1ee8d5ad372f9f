"""Deep supervision: level weights, majority-downsampled labels, the heads' outputs and loss, and a training run
whose final.pt stays a plain U-Net while last.pt resumes with its heads."""

from __future__ import annotations

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.checkpoint import load_checkpoint
from heartseg.deep_supervision import (DS_STATE, DeepSupervised, DeepSupervisionLoss, build_heads, downsample_labels,
                                       heads_for, level_weights)
from heartseg.losses import build_loss
from heartseg.model import UNet3D, architecture_from_state_dict
from heartseg.train.loop import Trainer
from heartseg.train.runfolder import LAST
from test_train_resume import _fit
from test_train_helpers import tiny_config_dict, tiny_dataset


@pytest.mark.parametrize("levels, expected", [
    (1, [1.0]),
    (2, [1.0]),                    # the coarsest level is left out: nothing else to supervise
    (3, [2 / 3, 1 / 3]),
    (4, [4 / 7, 2 / 7, 1 / 7]),
])
def test_level_weights(levels, expected):
    assert level_weights(levels) == pytest.approx(expected)


@pytest.mark.parametrize("levels", [0, -1, 2.0, True])
def test_level_weights_bad(levels):
    with pytest.raises(ValueError, match="levels must be an integer >= 1"):
        level_weights(levels)


def _blocks(counts: dict[tuple[int, int, int], tuple[int, int]]) -> torch.Tensor:
    """A (1, 4, 4, 4) map whose 2x2x2 block at (bz, by, bx) has its first n voxels set to value."""
    target = torch.zeros(1, 4, 4, 4, dtype=torch.long)
    for (bz, by, bx), (value, n) in counts.items():
        block = torch.zeros(8, dtype=torch.long)
        block[:n] = value
        target[0, 2 * bz:2 * bz + 2, 2 * by:2 * by + 2, 2 * bx:2 * bx + 2] = block.reshape(2, 2, 2)
    return target


@pytest.mark.parametrize("counts, expected", [
    ({(0, 0, 0): (1, 8)}, {(0, 0, 0): 1}),              # a whole block
    ({(1, 0, 0): (1, 5)}, {(1, 0, 0): 1}),              # 5 of 8
    ({(0, 1, 0): (1, 3)}, {(0, 1, 0): 0}),              # 3 of 8
    ({(1, 1, 1): (2, 4)}, {(1, 1, 1): 0}),              # a 4-4 tie goes to the lower class
    ({(0, 0, 1): (2, 7)}, {(0, 0, 1): 2}),
])
def test_downsample_labels_by_majority(counts, expected):
    out = downsample_labels(_blocks(counts), (2, 2, 2), classes=3)
    want = torch.zeros(1, 2, 2, 2, dtype=torch.long)
    for (bz, by, bx), v in expected.items():
        want[0, bz, by, bx] = v
    assert torch.equal(out, want)


def test_downsample_labels_same_size_is_unchanged():
    target = _blocks({(0, 0, 0): (1, 5)})
    assert torch.equal(downsample_labels(target, (4, 4, 4), 3), target)


def test_downsample_labels_by_majority_not_strided_sampling():
    # slab z=1..2: strided sampling (z=0, 2) would give [0, 1]; each block holds 2 of 4, ties, so background
    target = torch.zeros(1, 4, 2, 2, dtype=torch.long)
    target[0, 1:3] = 1
    assert downsample_labels(target, (2, 1, 1), 2).tolist() == [[[[0]], [[0]]]]
    # slab z=0..2: strided sampling would give [1, 1]; the second block holds 2 of 4, so only the first is 1
    target[0, 0:2] = 1
    assert downsample_labels(target, (2, 1, 1), 2).tolist() == [[[[1]], [[0]]]]


@pytest.mark.parametrize("target, size, classes, match", [
    (torch.zeros(4, 4, 4, dtype=torch.long), (2, 2, 2), 2, "target must be"),
    (torch.zeros(1, 4, 4, 4, dtype=torch.long), (2, 2, 2), 1, "classes must be"),
])
def test_downsample_labels_bad(target, size, classes, match):
    with pytest.raises(ValueError, match=match):
        downsample_labels(target, size, classes)


@pytest.mark.parametrize("features, shapes", [
    ((4, 8), [(16, 16, 16)]),
    ((4, 8, 16), [(16, 16, 16), (8, 8, 8)]),
    ((4, 8, 16, 32), [(16, 16, 16), (8, 8, 8), (4, 4, 4)]),
])
def test_outputs_per_level(features, shapes):
    torch.manual_seed(0)
    unet = UNet3D(1, 2, features).eval()
    net = DeepSupervised(unet, build_heads(unet)).eval()
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        outs = net(x)
        plain = unet(x)
    assert [tuple(o.shape[2:]) for o in outs] == shapes and all(o.shape[1] == 2 for o in outs)
    assert torch.equal(outs[0], plain)  # the first output is the U-Net's own
    # the heads are not the U-Net's: its state_dict keeps the homework layout
    assert architecture_from_state_dict(unet.state_dict())["features"] == list(features)
    assert not any(k.startswith("heads") for k in unet.state_dict())


def test_heads_must_match_the_levels():
    unet = UNet3D(1, 1, (4, 8, 16))
    with pytest.raises(ValueError, match="0 heads for a 3-level U-Net: expected 1"):
        DeepSupervised(unet, torch.nn.ModuleList())


def test_loss_is_the_weighted_sum_of_levels():
    torch.manual_seed(0)
    base = build_loss("dice_ce")
    full = torch.randn(2, 1, 8, 8, 8)
    half = torch.randn(2, 1, 4, 4, 4)
    target = (torch.rand(2, 8, 8, 8) > 0.6).long()
    expected = 2 / 3 * base(full, target) + 1 / 3 * base(half, downsample_labels(target, (4, 4, 4), 2))
    assert float(DeepSupervisionLoss(base, 3)([full, half], target)) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="1 outputs for 2 supervised levels"):
        DeepSupervisionLoss(base, 3)([full], target)


def test_resume_needs_the_heads(tmp_path):
    class Ckpt:
        path, full = tmp_path / "last.pt", {"format": "heartseg"}

    with pytest.raises(ValueError, match="no deep-supervision heads"):
        heads_for(UNet3D(1, 1, (4, 8, 16)), Ckpt())


def test_training_with_deep_supervision(tmp_path, restore_torch_globals):
    root = tiny_dataset(tmp_path / "data")
    cfg_dict = tiny_config_dict(root, tmp_path / "cache", epochs=3, val_every=1, deep_supervision=True)
    cfg_dict["model"]["features"] = [4, 8, 16]
    first = _fit(cfgmod.from_dict(cfg_dict), tmp_path / "run", stop_after=2)
    assert first.ds_heads is not None and len(first.ds_heads) == 1
    last = load_checkpoint(tmp_path / "run" / LAST)
    heads = {k: v.clone() for k, v in last.full[DS_STATE].items()}
    assert set(heads) == {"0.weight", "0.bias"}
    assert not any(k.startswith(("heads", "unet.")) for k in last.state_dict)  # the U-Net's own layout
    UNet3D(**last.full["architecture"]).load_state_dict(last.state_dict, strict=True)
    # a resume starts from the saved heads (the optimiser state indexes them too) and finishes the run
    probe = Trainer(cfgmod.from_dict(cfg_dict), in_channels=1, out_channels=1)
    probe.start(resume=last)
    assert all(torch.equal(v.cpu(), heads[k]) for k, v in probe.ds_heads.state_dict().items())
    probe.close()
    resumed = _fit(cfgmod.from_dict(cfg_dict), tmp_path / "run", resume=True)
    assert resumed.epoch == 3 and [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert not torch.equal(resumed.ds_heads[0].weight.detach().cpu(), heads["0.weight"])  # trained on
    final = load_checkpoint(tmp_path / "run" / "checkpoints" / "final.pt")
    UNet3D(**architecture_from_state_dict(final.state_dict)).load_state_dict(final.state_dict, strict=True)
