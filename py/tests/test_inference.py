"""Sliding-window inference: window layout, exact stitching, mirroring TTA, MONAI agreement, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heartseg.config import InferConfig
from heartseg.inference import (importance_map, keep_largest_component, mirror_axes, predict_volume,
                                probabilities_to_labels, sliding_window, window_starts)
from heartseg.model import build_model


@pytest.mark.parametrize("size,patch,overlap,expected", [
    (10, 4, 0.5, [0, 2, 4, 6]),
    (11, 4, 0.5, [0, 2, 4, 6, 7]),  # the last window is flush with the far edge
    (4, 4, 0.5, [0]),
    (9, 4, 0.0, [0, 4, 5]),
    (5, 3, 0.9, [0, 1, 2]),  # int(3 * 0.1) == 0: step at least one voxel
    (20, 8, 0.25, [0, 6, 12]),
])
def test_window_starts(size, patch, overlap, expected):
    assert window_starts(size, patch, overlap) == expected


def test_importance_map_shape_and_floor():
    w = importance_map((9, 8, 5), gaussian=True)
    assert w.shape == (9, 8, 5)
    assert w.min() >= 1e-3
    assert torch.argmax(w).item() == np.ravel_multi_index((4, 3, 2), (9, 8, 5))  # centre (first of two for even)
    assert torch.allclose(w, torch.flip(w, (0, 1, 2)))  # symmetric about the centre
    assert torch.equal(importance_map((3, 4, 5), gaussian=False), torch.ones(3, 4, 5))


@pytest.mark.parametrize("passes, expected", [
    (1, [()]), (2, [(), (4,)]), (4, [(), (4,), (3,), (4, 3)]), (False, [()]),
])
def test_mirror_axes(passes, expected):
    assert mirror_axes(passes) == expected


def test_eight_passes_mirror_every_subset_of_axes():
    combos = mirror_axes(8)
    assert len(combos) == 8 and len(set(combos)) == 8 and () in combos and (4, 3, 2) in combos
    with pytest.raises(ValueError, match="1, 2, 4 or 8"):
        mirror_axes(3)


IDENTITY_SHAPES = [(2, 7, 13, 11), (1, 5, 9, 3), (1, 17, 16, 21)]


@pytest.mark.parametrize("shape", IDENTITY_SHAPES)
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
@pytest.mark.parametrize("tta", [False, True])
@pytest.mark.parametrize("gaussian", [False, True])
def test_identity_model_reproduces_its_input(shape, overlap, tta, gaussian):
    image = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    out = sliding_window(lambda x: x, image, (6, 8, 5), overlap=overlap, gaussian=gaussian, tta=tta, sw_batch=3,
                         out_channels=shape[0])
    assert out.shape == image.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, image, atol=1e-5, rtol=1e-5)


def test_tta_undoes_the_mirroring():
    # fn adds each voxel's x index within its window: not mirror-equivariant. Averaged over the 8 mirrorings,
    # half of which flip x, the added term is (px - 1) / 2 everywhere.
    px = 6

    def fn(x):
        return x + torch.arange(px, dtype=x.dtype)

    image = torch.randn(1, 9, 10, 13)
    with_tta = sliding_window(fn, image, (4, 4, px), overlap=0.5, tta=True, out_channels=1)
    torch.testing.assert_close(with_tta, image + (px - 1) / 2, atol=1e-5, rtol=1e-5)
    without = sliding_window(fn, image, (4, 4, px), overlap=0.5, tta=False, out_channels=1)
    assert (without - image).std() > 0.1  # the window position shows through without TTA


def test_channels_and_batching_do_not_change_the_result():
    conv = torch.nn.Conv3d(1, 3, 3, padding=1)
    image = torch.randn(1, 11, 12, 9)
    with torch.no_grad():
        outs = [sliding_window(conv, image, (6, 6, 6), sw_batch=b, out_channels=3) for b in (1, 2, 7)]
    assert outs[0].shape == (3, 11, 12, 9)
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[2])


@pytest.mark.parametrize("shape,patch,overlap,gaussian", [
    ((2, 21, 30, 17), (8, 12, 10), 0.5, True),
    ((2, 21, 30, 17), (8, 12, 10), 0.25, False),
    ((1, 13, 40, 9), (8, 16, 8), 0.7, True),
    ((1, 5, 9, 20), (8, 12, 8), 0.5, True),  # smaller than the patch along two axes: padded
])
def test_agrees_with_monai(shape, patch, overlap, gaussian):
    inferers = pytest.importorskip("monai.inferers")
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(shape[0], 2, 3, padding=1)
    image = torch.randn(shape)
    with torch.no_grad():
        ours = sliding_window(conv, image, patch, overlap=overlap, gaussian=gaussian, sw_batch=3, out_channels=2)
        theirs = inferers.sliding_window_inference(
            image[None], roi_size=patch, sw_batch_size=3, predictor=conv, overlap=overlap,
            mode="gaussian" if gaussian else "constant", sigma_scale=0.125)[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(overlap=1.0), "overlap"),
    (dict(overlap=-0.1), "overlap"),
    (dict(patch=(4, 4)), "patch"),
    (dict(sw_batch=0), "sw_batch"),
    (dict(out_channels=2), "fn returned shape"),
    (dict(image=torch.zeros(4, 4, 4)), "4-D"),
])
def test_bad_arguments(kwargs, match):
    args = dict(image=torch.zeros(1, 6, 6, 6), patch=(4, 4, 4), out_channels=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sliding_window(lambda x: x, args.pop("image"), args.pop("patch"), **args)


@pytest.mark.parametrize("probs,expected", [
    (np.array([[[[0.2, 0.6, 0.5]]]]), [[[0, 1, 0]]]),  # one channel: p > 0.5
    (np.array([[[[0.2, 0.1]]], [[[0.5, 0.1]]], [[[0.3, 0.8]]]]), [[[1, 2]]]),  # argmax over classes
])
def test_probabilities_to_labels(probs, expected):
    got = probabilities_to_labels(probs)
    assert got.dtype == np.uint8
    assert got.tolist() == expected


def test_keep_largest_component_per_label():
    labels = np.zeros((5, 5, 12), np.uint8)
    labels[1:4, 1:4, 0:3] = 1  # 27 voxels: kept
    labels[2, 2, 5] = 1  # stray voxel: removed
    labels[0:2, 0:2, 8:12] = 2  # label 2's only component: kept
    labels[4, 4, 11] = 2  # a second, smaller component: removed
    got = keep_largest_component(labels)
    assert (got == 1).sum() == 27 and got[2, 2, 5] == 0
    assert (got == 2).sum() == 16 and got[4, 4, 11] == 0
    diagonal = np.zeros((3, 3, 3), np.uint8)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = 1  # corner neighbours are connected (26-connectivity)
    assert (keep_largest_component(diagonal) == diagonal).all()


@pytest.mark.parametrize("out_channels", [1, 3])
@pytest.mark.parametrize("tta", [False, True])
def test_predict_volume_with_a_tiny_unet(out_channels, tta):
    torch.manual_seed(0)
    model = build_model(1, out_channels, [2, 4])
    model.train()
    image = np.random.default_rng(0).standard_normal((1, 13, 18, 10)).astype(np.float32)
    cfg = InferConfig(tta=8 if tta else 1, postprocess=[], sw_batch=2)
    labels, probs = predict_volume(model, image, (8, 8, 8), cfg, out_channels, "cpu")
    assert model.training  # the caller's mode is restored
    assert labels.shape == (13, 18, 10) and labels.dtype == np.uint8
    assert probs.shape == (out_channels, 13, 18, 10) and probs.dtype == np.float32
    assert probs.min() >= 0 and probs.max() <= 1
    if out_channels == 1:
        assert np.array_equal(labels, (probs[0] > 0.5).astype(np.uint8))
    else:
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
        assert np.array_equal(labels, probs.argmax(axis=0))
