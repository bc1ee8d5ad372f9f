"""Figures: each PNG opens, is not blank, and handles empty masks and runs without curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heartseg import figures
from heartseg.metrics import METRIC_NAMES


def read_png(path):
    import matplotlib.image as mpimg

    assert path.is_file() and path.stat().st_size > 0
    pixels = mpimg.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    return pixels


def masks():
    z, y, x = np.mgrid[0:12, 0:20, 0:16]
    ref = ((z - 6) ** 2 * 4 + (y - 10) ** 2 + (x - 8) ** 2) <= 36
    pred = ((z - 6) ** 2 * 4 + (y - 11) ** 2 + (x - 8) ** 2) <= 30
    image = ref * 2.0 + np.random.default_rng(0).normal(0, 0.3, ref.shape)
    return image, ref.astype(np.uint8), pred.astype(np.uint8)


@pytest.mark.parametrize("empty", [None, "pred", "both"])
def test_slices_figure(tmp_path, empty):
    image, ref, pred = masks()
    if empty in ("pred", "both"):
        pred[:] = 0
    if empty == "both":
        ref[:] = 0
    out = figures.slices_figure(image, ref, pred, (2.0, 1.0, 1.0), tmp_path / "s.png", title="case")
    assert read_png(out).var() > 0


def test_structure_centre_prefers_the_reference():
    image, ref, pred = masks()
    assert figures.structure_centre(ref, pred) == (6, 10, 8)
    assert figures.structure_centre(np.zeros_like(ref), pred) == (6, 11, 8)
    assert figures.structure_centre(np.zeros((4, 6, 8))) == (2, 3, 4)


@pytest.mark.parametrize("empty_pred", [False, True])
def test_surface_figure(tmp_path, empty_pred):
    _, ref, pred = masks()
    if empty_pred:
        pred[:] = 0
    out = figures.surface_figure(ref, pred, (2.0, 1.0, 1.0), tmp_path / "3d.png", title="case")
    assert read_png(out).var() > 0


def test_vertex_distances_in_mm():
    ref = np.zeros((10, 10, 10), bool)
    ref[2:8, 2:8, 2:8] = True
    verts = np.array([[2.0, 5.0, 5.0], [8.0, 5.0, 5.0]]) * np.array([2.0, 1.0, 1.0])  # z in mm, 2 mm voxels
    got = figures._vertex_distances(verts, ref, (2.0, 1.0, 1.0))
    assert got.tolist() == [0.0, 2.0]  # on the surface, and one 2 mm voxel outside it


def test_metrics_boxplot_counts_infinities(tmp_path):
    rows = [{"case": f"c{i}", "label": "atrium", **{m: float(i) / 10 for m in METRIC_NAMES}} for i in range(5)]
    rows[0]["hd95"] = float("inf")
    out = figures.metrics_boxplot(rows, METRIC_NAMES, tmp_path / "box.png", title="t")
    assert read_png(out).var() > 0


def test_curves_from_epoch_end_events(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [{"v": 1, "type": "run_start", "time": 1, "command": "train"}]
    for e in range(1, 6):
        lines.append({"v": 1, "type": "epoch_end", "time": e, "epoch": e, "epochs": 5, "train_loss": 1 / e,
                      "lr": 1e-3, "seconds": 1.0, "memory": {"cpu_rss_mb": 1.0},
                      "val_loss": 1.2 / e if e % 2 else None, "val_dice": 0.1 * e if e % 2 else None})
    events.write_text("\n".join(json.dumps(r) for r in lines) + "\n{broken line\n")
    assert len(figures.read_epoch_ends(events)) == 5
    out = figures.curves_figure(events, tmp_path / "curves.png")
    assert out is not None and read_png(out).var() > 0


def test_no_curves_without_epochs(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"v":1,"type":"run_start","time":1,"command":"evaluate"}\n')
    assert figures.curves_figure(tmp_path / "events.jsonl", tmp_path / "c.png") is None
    assert figures.curves_figure(tmp_path / "absent.jsonl", tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()


def test_slices_shape_mismatch(tmp_path):
    image, ref, pred = masks()
    with pytest.raises(ValueError, match="shapes differ"):
        figures.slices_figure(image, ref, pred[:-1], (1, 1, 1), tmp_path / "x.png")


def _epoch(e, seconds, dice):
    return {"v": 1, "type": "epoch_end", "time": e, "epoch": e, "epochs": 3, "train_loss": 1.0, "lr": 1e-3,
            "seconds": seconds, "memory": {"cpu_rss_mb": 1.0}, "val_dice": dice}


@pytest.mark.parametrize("epochs, expected", [
    ([], ([], [])),
    ([_epoch(1, 60, 0.5), _epoch(2, 120, None), _epoch(3, 60, 0.7)], ([1.0, 4.0], [0.5, 0.7])),
    # a resumed run repeats epoch 2: the later record wins, the time is counted once
    ([_epoch(1, 60, 0.5), _epoch(2, 30, 0.6), _epoch(2, 90, 0.65)], ([1.0, 2.5], [0.5, 0.65])),
])
def test_elapsed_val_dice(epochs, expected):
    assert figures._elapsed_val_dice(epochs) == expected


def test_folds_figure(tmp_path):
    rows = [{"fold": k, "case": f"c{k}{i}", "label": label, "dice": 0.8 + 0.03 * k + 0.01 * i}
            for k in range(3) for i in range(2) for label in ("atrium", "ventricle")]
    curves = {0: [_epoch(1, 60, 0.5), _epoch(2, 60, 0.7)], 1: [], 2: [_epoch(1, 50, 0.6)]}
    out = figures.folds_figure(curves, rows, tmp_path / "cv" / "folds.png", title="t")
    assert read_png(out).var() > 0
    # no curves at all (events lost): the held-out panel is still drawn
    assert read_png(figures.folds_figure({}, rows[:1], tmp_path / "one.png")).var() > 0


def test_folds_figure_needs_rows(tmp_path):
    with pytest.raises(ValueError, match="at least one held-out case"):
        figures.folds_figure({0: [_epoch(1, 60, 0.5)]}, [], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
