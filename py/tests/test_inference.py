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


# --- one padding rule, hole filling, TTA cost (issue 15, items 3 and 5) --------------------------------------------

from heartseg.data.preprocess import pad_values  # noqa: E402
from heartseg.inference import (fill_holes, labels_from_probabilities, postprocess,  # noqa: E402
                                tta_note)


class Recorder(torch.nn.Module):
    """Returns its input's first channel as one output channel and keeps every batch it saw."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x[:, :1]


def test_windows_are_padded_with_each_channels_minimum():
    # a volume smaller than the patch: the window reaching past it must hold the channel's minimum, as training
    # patches do (the old rule was 0.0, the body mean after z-scoring)
    image = np.full((2, 6, 6, 6), 1.0, np.float32)
    image[0, 0, 0, 0], image[1, 2, 2, 2] = -3.0, -1.5
    model = Recorder()
    predict_volume(model, image, (8, 8, 8), InferConfig(postprocess=[], tta=1), 1, "cpu")
    window = model.seen[0][0]
    assert window.shape == (2, 8, 8, 8)
    assert window[0, 0, 0, 0] == -3.0 and window[1, 0, 0, 0] == -1.5  # the padded corner
    assert window[0, 7, 7, 7] == -3.0 and window[1, 7, 7, 7] == -1.5
    assert window[:, 1:7, 1:7, 1:7].tolist() == torch.from_numpy(image).tolist()  # the volume, centred


def test_training_patches_use_the_same_padding_rule():
    from heartseg.data import sampling

    assert sampling.pad_values is pad_values  # one function: the sampler imports the rule inference uses


@pytest.mark.parametrize("pad", [[0.0, 1.0, 2.0], [1.0]])
def test_pad_must_match_the_channels(pad):
    with pytest.raises(ValueError, match="pad has"):
        sliding_window(lambda x: x[:, :1], torch.zeros(2, 4, 4, 4), (8, 8, 8), pad=pad, out_channels=1)


def _shell(value=1):
    labels = np.zeros((9, 9, 9), np.uint8)
    labels[2:7, 2:7, 2:7] = value
    labels[3:6, 3:6, 3:6] = 0  # a 27-voxel cavity, enclosed
    return labels


def test_fill_holes_fills_an_enclosed_cavity():
    got = fill_holes(_shell())
    assert (got == 1).sum() == 125 and got[4, 4, 4] == 1


def test_fill_holes_leaves_open_holes_and_other_labels():
    open_cup = _shell()
    open_cup[3:6, 3:6, 6] = 0  # the cavity now reaches the outside through one face: not a hole
    assert np.array_equal(fill_holes(open_cup), open_cup)
    nested = _shell()
    nested[4, 4, 4] = 2  # another label inside the cavity keeps its voxel; the background around it is filled
    got = fill_holes(nested)
    assert got[4, 4, 4] == 2 and (got == 1).sum() == 124 and (got == 2).sum() == 1
    two = np.concatenate([_shell(1), _shell(3)], axis=0)  # per label
    got = fill_holes(two)
    assert (got == 1).sum() == 125 and (got == 3).sum() == 125


def test_postprocess_applies_the_steps_in_order():
    labels = _shell()
    labels[0, 0, 0] = 1  # a stray voxel
    assert (postprocess(labels, ["largest", "fill_holes"]) == 1).sum() == 125
    assert (postprocess(labels, ["largest"]) == 1).sum() == 98
    assert (postprocess(labels, []) == 1).sum() == 99
    with pytest.raises(ValueError, match="unknown postprocess step 'smooth'"):
        postprocess(labels, ["smooth"])


def test_predict_volume_fills_holes_when_asked():
    image = _shell().astype(np.float32)[None] * 4.0 - 2.0  # the "model" thresholds its own input

    def run(steps):
        return predict_volume(Recorder(), image, (8, 8, 8), InferConfig(postprocess=steps, threshold=0.5), 1,
                              "cpu")[0]

    assert (run([]) == 1).sum() == 98 and (run(["largest", "fill_holes"]) == 1).sum() == 125


class Symmetric(torch.nn.Module):
    """A convolution whose kernel is symmetric under every flip: mirroring its input mirrors its output."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1, bias=True)
        with torch.no_grad():
            w = self.conv.weight
            w.copy_((w + w.flip(2) + w.flip(3) + w.flip(4) + w.flip(2, 3) + w.flip(2, 4) + w.flip(3, 4)
                     + w.flip(2, 3, 4)) / 8)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x)


@pytest.mark.parametrize("tta", [2, 4, 8])
def test_tta_of_a_flip_equivariant_model_equals_the_plain_prediction(tta):
    torch.manual_seed(3)
    model = Symmetric()
    image = np.random.default_rng(1).standard_normal((1, 10, 12, 9)).astype(np.float32)
    plain = predict_volume(model, image, (8, 8, 8), InferConfig(tta=1, postprocess=[]), 2, "cpu")
    mirrored = predict_volume(model, image, (8, 8, 8), InferConfig(tta=tta, postprocess=[]), 2, "cpu")
    np.testing.assert_allclose(mirrored[1], plain[1], atol=1e-5)
    assert np.array_equal(mirrored[0], plain[0])


@pytest.mark.parametrize("tta, calls", [(1, 1), (2, 2), (4, 4), (8, 8)])
def test_tta_calls_the_model_once_per_pass(tta, calls):
    model = Symmetric()
    image = np.zeros((1, 8, 8, 8), np.float32)  # one window, one batch
    predict_volume(model, image, (8, 8, 8), InferConfig(tta=tta, postprocess=[]), 2, "cpu")
    assert model.calls == calls


@pytest.mark.parametrize("tta, expected", [
    (1, None),
    (2, "test-time augmentation: 2 passes per window (mirrored along x), 2x the model calls and about 2x the "
        "inference time"),
    (8, "test-time augmentation: 8 passes per window (mirrored along z, y, x), 8x the model calls and about 8x "
        "the inference time"),
])
def test_tta_note_states_the_cost(tta, expected):
    assert tta_note(tta) == expected


def test_tta_note_bad_input():
    with pytest.raises(ValueError, match="1, 2, 4 or 8"):
        tta_note(3)


@pytest.mark.parametrize("probs, threshold, expected", [
    (np.array([0.2, 0.5, 0.55, 0.9]).reshape(4, 1, 1), 0.5, [0, 0, 1, 1]),
    (np.array([0.2, 0.5, 0.55, 0.9]).reshape(4, 1, 1), 0.8, [0, 0, 0, 1]),
    (np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]).reshape(2, 1, 1, 3), 0.5, [0, 2]),  # channels last: argmax
])
def test_labels_from_probabilities(probs, threshold, expected):
    got = labels_from_probabilities(probs, InferConfig(threshold=threshold, postprocess=[]))
    assert got.ravel().tolist() == expected and got.dtype == np.uint8


def test_labels_from_probabilities_bad_shape():
    with pytest.raises(ValueError, match="3-D or 4-D"):
        labels_from_probabilities(np.zeros((2, 2)), InferConfig())
