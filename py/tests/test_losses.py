"""Losses against hand-computed values: sigmoid and softmax Dice, cross-entropy, empty masks, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from heartseg.losses import SegLoss, cross_entropy_loss, loss_from_probs, soft_dice_loss

BIG = 30.0  # sigmoid(30) = 1 - 9e-14: a confident prediction


def _target(values):
    return torch.tensor(values, dtype=torch.long).reshape(1, 1, 1, len(values))


def _sigmoid_logits(values):
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 1, 1, len(values))


# sigmoid Dice on 8 voxels, 4 of them foreground: (logits, expected loss) worked out by hand
@pytest.mark.parametrize("logits,expected", [
    ([BIG] * 4 + [-BIG] * 4, 0.0),                  # perfect
    ([-BIG] * 4 + [BIG] * 4, 1.0),                  # exactly wrong: no overlap
    ([0.0] * 8, 1 - 2 * 2.0 / (4.0 + 4.0)),         # p = 0.5 everywhere: 2*2 / (4 + 4) = 0.5
    ([BIG] * 8, 1 - 2 * 4.0 / (8.0 + 4.0)),         # everything foreground: 8/12
    ([BIG] * 2 + [-BIG] * 6, 1 - 2 * 2.0 / (2.0 + 4.0)),  # half the foreground found: 4/6
])
def test_sigmoid_dice_table(logits, expected):
    loss = soft_dice_loss(_sigmoid_logits(logits), _target([1, 1, 1, 1, 0, 0, 0, 0]))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_binary_cross_entropy_at_zero_logits_is_ln2():
    loss = cross_entropy_loss(_sigmoid_logits([0.0] * 6), _target([1, 0, 1, 0, 0, 0]))
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)


def test_dice_ce_is_the_sum_of_its_parts():
    logits, target = _sigmoid_logits([0.3, -1.0, 2.0, 0.0]), _target([1, 0, 1, 1])
    both = SegLoss("dice_ce")(logits, target)
    assert both.item() == pytest.approx((soft_dice_loss(logits, target) + cross_entropy_loss(logits, target)).item())
    assert SegLoss("dice")(logits, target).item() == pytest.approx(soft_dice_loss(logits, target).item())


def test_softmax_dice_with_uniform_logits_three_classes():
    # 6 voxels: classes [0, 0, 1, 1, 1, 2]; p = 1/3 everywhere. Dice_c = 2 * k_c/3 / (6/3 + k_c)
    target = _target([0, 0, 1, 1, 1, 2])
    logits = torch.zeros(1, 3, 1, 1, 6)
    d1 = 2 * (3 / 3) / (2 + 3)
    d2 = 2 * (1 / 3) / (2 + 1)
    assert soft_dice_loss(logits, target).item() == pytest.approx(1 - (d1 + d2) / 2, abs=1e-5)
    assert cross_entropy_loss(logits, target).item() == pytest.approx(math.log(3), rel=1e-6)


def test_softmax_dice_perfect_and_wrong():
    target = _target([0, 1, 2, 2])
    perfect = torch.full((1, 3, 1, 1, 4), -BIG)
    for i, c in enumerate([0, 1, 2, 2]):
        perfect[0, c, 0, 0, i] = BIG
    assert soft_dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-5)
    wrong = torch.full((1, 3, 1, 1, 4), -BIG)
    wrong[0, 0] = BIG  # all background
    assert soft_dice_loss(wrong, target).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("logit", [-BIG, 0.0, BIG])
def test_empty_foreground_never_gives_nan(channels, logit):
    logits = torch.full((2, channels, 4, 4, 4), logit, requires_grad=True)
    target = torch.zeros(2, 4, 4, 4, dtype=torch.long)
    loss = SegLoss("dice_ce")(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_empty_target_and_empty_prediction_is_a_perfect_dice():
    logits = torch.full((1, 1, 3, 3, 3), -BIG)
    assert soft_dice_loss(logits, torch.zeros(1, 3, 3, 3, dtype=torch.long)).item() == pytest.approx(0.0, abs=1e-6)


def test_batch_dice_pools_voxels_over_the_batch():
    # sample 1: perfect on 1 fg voxel; sample 2: p=0.5 on 1 fg voxel of 2 voxels
    logits = torch.tensor([[BIG, -BIG], [0.0, 0.0]]).reshape(2, 1, 1, 1, 2)
    target = torch.tensor([[1, 0], [1, 0]]).reshape(2, 1, 1, 2)
    pooled = 1 - 2 * (1 + 0.5) / ((1 + 1) + (1 + 1))           # sums over both samples
    per_sample = 1 - (1.0 + 2 * 0.5 / (1 + 1)) / 2               # mean of 1 and 0.5
    assert soft_dice_loss(logits, target, batch_dice=True).item() == pytest.approx(pooled, abs=1e-5)
    assert soft_dice_loss(logits, target, batch_dice=False).item() == pytest.approx(per_sample, abs=1e-5)


def test_target_with_a_channel_axis_is_accepted():
    logits, target = torch.randn(2, 1, 3, 4, 5), torch.randint(0, 2, (2, 1, 3, 4, 5))
    assert SegLoss()(logits, target).item() == pytest.approx(SegLoss()(logits, target[:, 0]).item())


@pytest.mark.parametrize("channels", [1, 3])
def test_loss_from_probs_matches_the_training_loss(channels):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, channels, 4, 5, 6, generator=g)
    target = torch.randint(0, max(channels, 2), (1, 4, 5, 6), generator=g)
    probs = torch.sigmoid(logits[0]) if channels == 1 else torch.softmax(logits[0], 0)
    expected = SegLoss("dice_ce")(logits, target).item()
    assert loss_from_probs(probs.numpy(), target[0].numpy(), "dice_ce") == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("logits,target", [
    (torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 4, 4, 3, dtype=torch.long)),
    (torch.zeros(4, 4), torch.zeros(4, dtype=torch.long)),
    (torch.zeros(2, 1, 4, 4, 4), torch.zeros(1, 4, 4, 4, dtype=torch.long)),
])
def test_mismatched_shapes_are_refused(logits, target):
    with pytest.raises(ValueError, match="shape"):
        SegLoss()(logits, target)


@pytest.mark.parametrize("kwargs", [{"kind": "focal"}, {"smooth": 0.0}])
def test_bad_loss_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SegLoss(**kwargs)


def test_loss_from_probs_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match="do not match"):
        loss_from_probs(np.zeros((1, 4, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8))
