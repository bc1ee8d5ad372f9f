"""Result figures (PNG, matplotlib Agg): orthogonal slices with contours, 3D surfaces coloured by surface
distance, metric box plots and the training curves of a run.

Arrays are (z, y, x) with spacing in mm in the same order; images are drawn with their physical aspect ratio.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from heartseg.data.cache import cache_root

# matplotlib keeps a font cache in ~/.cache: heartseg writes only to the run, --out and its own cache
os.environ.setdefault("MPLCONFIGDIR", str(cache_root() / "matplotlib"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

REF_COLOR = "#2ca02c"
PRED_COLOR = "#d62728"
UNITS = {"hd95": "mm", "assd": "mm", "abs_vol_diff_ml": "mL"}
MAX_FACES = 40_000
"""Coarser marching cubes above this many triangles: matplotlib's 3D drawing is slow."""


def structure_centre(*masks: np.ndarray) -> tuple[int, int, int]:
    """Centre of mass of the first non-empty mask, else the volume's centre, as voxel indices."""
    for mask in masks:
        if mask is not None and np.any(mask):
            return tuple(int(round(c)) for c in ndimage.center_of_mass(mask != 0))  # type: ignore[return-value]
    shape = masks[0].shape
    return tuple(s // 2 for s in shape)  # type: ignore[return-value]


def _save(fig: plt.Figure, path: Path) -> Path:
    from heartseg.fsutil import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    return path


def slices_figure(image: np.ndarray, ref: np.ndarray, pred: np.ndarray, spacing: Sequence[float], path: Path,
                  title: str = "", labels: Mapping[int, str] | None = None) -> Path:
    """Axial, coronal and sagittal slices through the structure's centre; reference solid, prediction dashed."""
    if image.shape != ref.shape or image.shape != pred.shape:
        raise ValueError(f"image, ref and pred shapes differ: {image.shape}, {ref.shape}, {pred.shape}")
    sz, sy, sx = (float(s) for s in spacing)
    cz, cy, cx = structure_centre(ref, pred)
    values = sorted(int(v) for v in (labels or {}) if int(v) != 0) or \
        sorted(int(v) for v in np.union1d(np.unique(ref), np.unique(pred)) if v != 0)
    # (name, 2-D take, row spacing, column spacing); origin='lower' puts anterior/superior up in RAS
    views = [
        (f"axial z={cz}", lambda a: a[cz], sy, sx),
        (f"coronal y={cy}", lambda a: a[:, cy], sz, sx),
        (f"sagittal x={cx}", lambda a: a[:, :, cx], sz, sy),
    ]
    lo, hi = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8))
    for ax, (name, take, row_mm, col_mm) in zip(axes, views):
        ax.imshow(take(image), cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, origin="lower",
                  aspect=row_mm / col_mm, interpolation="nearest")
        for value in values:
            for mask, color, style in ((ref, REF_COLOR, "solid"), (pred, PRED_COLOR, "dashed")):
                plane = np.pad((take(mask) == value).astype(np.float32), 1)  # closes contours at the border
                if plane.any():
                    rows, cols = np.arange(-1, plane.shape[0] - 1), np.arange(-1, plane.shape[1] - 1)
                    ax.contour(cols, rows, plane, levels=[0.5], colors=[color], linestyles=style, linewidths=1.4)
        ax.set_xlim(-0.5, take(image).shape[1] - 0.5)
        ax.set_ylim(-0.5, take(image).shape[0] - 0.5)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], color=REF_COLOR, label="reference"),
               plt.Line2D([], [], color=PRED_COLOR, linestyle="dashed", label="prediction")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _mesh(mask: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    from skimage import measure

    if not mask.any() or mask.all():
        return None
    padded = np.pad(mask.astype(np.float32), 1)  # closes surfaces that touch the volume's border
    step = 1
    while True:
        verts, faces, _, _ = measure.marching_cubes(padded, 0.5, spacing=tuple(spacing), step_size=step)
        if len(faces) <= MAX_FACES or step >= 8:
            return verts - np.asarray(spacing), faces
        step *= 2


def _vertex_distances(verts: np.ndarray, other: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Distance (mm) from each vertex's nearest voxel to the other mask's surface voxels."""
    from heartseg.metrics import surface

    dist = ndimage.distance_transform_edt(~surface(other), sampling=spacing)
    idx = np.rint(verts / np.asarray(spacing)).astype(int)
    idx = np.clip(idx, 0, np.array(other.shape) - 1)
    return dist[idx[:, 0], idx[:, 1], idx[:, 2]]


def _shade(colors: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Darken faces turned away from a light above-front-left, so the 3D shape reads without lighting support."""
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = np.array([-0.4, -0.5, 0.75])
    intensity = 0.45 + 0.55 * np.abs(normals @ (light / np.linalg.norm(light)))
    out = colors.copy()
    out[:, :3] *= intensity[:, None]
    return out


def surface_figure(ref: np.ndarray, pred: np.ndarray, spacing: Sequence[float], path: Path, title: str = "") -> Path:
    """Reference and prediction surfaces (marching cubes, in mm), each coloured by its distance to the other
    (grey where the other mask is empty)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    ref, pred = ref != 0, pred != 0
    meshes = {"reference": (_mesh(ref, spacing), pred), "prediction": (_mesh(pred, spacing), ref)}
    colored = {}
    for name, (mesh, other) in meshes.items():
        if mesh is not None and other.any():
            colored[name] = _vertex_distances(mesh[0], other, spacing)
    vmax = max([float(np.percentile(d, 99)) for d in colored.values()] + [1.0])
    cmap = plt.get_cmap("viridis")
    # both panels show the same box: the union of the two surfaces plus a margin, in mm
    all_verts = [m[0] for m, _ in meshes.values() if m is not None]
    if all_verts:
        stacked = np.concatenate(all_verts)
        lo, hi = stacked.min(axis=0) - 2 * np.asarray(spacing), stacked.max(axis=0) + 2 * np.asarray(spacing)
    else:
        lo, hi = np.zeros(3), np.array(ref.shape) * np.asarray(spacing)
    fig = plt.figure(figsize=(12, 5.5))
    for i, (name, (mesh, _)) in enumerate(meshes.items()):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.set_title(name)
        if mesh is None:
            ax.text2D(0.5, 0.5, "empty", transform=ax.transAxes, ha="center", fontsize=14)
        else:
            verts, faces = mesh
            tris = verts[:, ::-1][faces]  # draw x, y, z axes from (z, y, x) coordinates
            dist = colored.get(name)
            if dist is None:
                colors = np.tile(np.array([0.7, 0.7, 0.7, 1.0]), (len(faces), 1))
            else:
                colors = cmap(np.clip(dist[faces].mean(axis=1) / vmax, 0, 1))
            ax.add_collection3d(Poly3DCollection(tris, facecolors=_shade(colors, tris), linewidths=0))
        ax.set_xlim(lo[2], hi[2])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[0], hi[0])
        ax.set_box_aspect(tuple((hi - lo)[::-1]))
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        ax.set_zlabel("z (mm)")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, vmax))
    fig.subplots_adjust(left=0.02, right=0.86, wspace=0.15)
    fig.colorbar(mappable, cax=fig.add_axes((0.91, 0.22, 0.015, 0.56)), label="distance to the other surface (mm)")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def metrics_boxplot(rows: Sequence[Mapping[str, object]], metric_names: Sequence[str], path: Path,
                    title: str = "") -> Path:
    """One box per label for each metric; infinite values are left out and counted in the panel title."""
    labels = sorted({str(r["label"]) for r in rows})
    cols = 4
    nrows = math.ceil(len(metric_names) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.3 * cols, 3.2 * nrows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metric_names):
        data, n_inf = [], 0
        for label in labels:
            vals = np.array([float(r[metric]) for r in rows if str(r["label"]) == label], dtype=float)  # type: ignore
            n_inf += int(np.isinf(vals).sum())
            data.append(vals[np.isfinite(vals)])
        ax.boxplot(data, showmeans=True)
        for j, vals in enumerate(data):
            jitter = np.linspace(-0.08, 0.08, len(vals)) if len(vals) > 1 else np.zeros(len(vals))
            ax.scatter(np.full(len(vals), j + 1) + jitter, vals, s=10, alpha=0.6, color="#1f77b4")
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        unit = f" ({UNITS[metric]})" if metric in UNITS else ""
        ax.set_title(metric + unit + (f", {n_inf} inf left out" if n_inf else ""), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[len(metric_names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def read_epoch_ends(events_path: Path) -> list[dict]:
    """epoch_end records of an events.jsonl (unreadable lines are skipped: the file may be mid-write)."""
    records = []
    if not events_path.is_file():
        return records
    for line in events_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("type") == "epoch_end":
            records.append(rec)
    return records


def _last_per_epoch(epochs: Sequence[Mapping[str, object]]) -> dict[int, Mapping[str, object]]:
    """epoch -> its epoch_end record; a resumed run repeats epochs: the last one wins."""
    return {int(r["epoch"]): r for r in epochs}  # type: ignore[call-overload]


def curves_figure(events_path: Path, path: Path, title: str = "") -> Path | None:
    """Loss and validation Dice per epoch from RUN/events.jsonl; None when the run has no epoch_end events."""
    epochs = read_epoch_ends(events_path)
    if not epochs:
        return None
    by_epoch = _last_per_epoch(epochs)
    xs = sorted(by_epoch)

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(e, by_epoch[e].get(key)) for e in xs]
        pts = [(e, float(v)) for e, v in pts if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4))
    for key, name in (("train_loss", "train"), ("val_loss", "validation")):
        ex, ys = series(key)
        if ys:
            ax_loss.plot(ex, ys, marker="o" if len(ys) < 30 else None, label=name)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ex, ys = series("val_dice")
    if ys:
        ax_dice.plot(ex, ys, marker="o" if len(ys) < 30 else None, color="#2ca02c", label="validation Dice")
        best = int(np.argmax(ys))
        ax_dice.scatter([ex[best]], [ys[best]], color="#d62728", zorder=3, label=f"best {ys[best]:.3f}")
        ax_dice.legend()
    else:
        ax_dice.text(0.5, 0.5, "no validation Dice", transform=ax_dice.transAxes, ha="center")
    ax_dice.set_xlabel("epoch")
    ax_dice.set_ylabel("Dice")
    ax_dice.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _elapsed_val_dice(epochs: Sequence[Mapping[str, object]]) -> tuple[list[float], list[float]]:
    """(minutes since the start, validation Dice) per validated epoch; a resumed run's repeated epoch counts once."""
    by_epoch = _last_per_epoch(epochs)
    minutes, xs, ys = 0.0, [], []
    for e in sorted(by_epoch):
        rec = by_epoch[e]
        minutes += float(rec.get("seconds") or 0.0) / 60.0  # type: ignore[arg-type]
        dice = rec.get("val_dice")
        if isinstance(dice, (int, float)) and not isinstance(dice, bool):
            xs.append(minutes)
            ys.append(float(dice))
    return xs, ys


def folds_figure(curves: Mapping[int, Sequence[Mapping[str, object]]], rows: Sequence[Mapping[str, object]],
                 path: Path, title: str = "") -> Path:
    """A cross-validation at a glance: each fold's validation Dice over training time (its epoch_end events), and
    the Dice of every held-out case beside its fold (rows: fold, case, label, dice; the line is the mean)."""
    if not rows:
        raise ValueError("folds_figure needs at least one held-out case row")
    folds = sorted({int(r["fold"]) for r in rows} | set(curves))  # type: ignore[call-overload]
    colors = plt.get_cmap("tab10")
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    drawn = 0
    for k in folds:
        xs, ys = _elapsed_val_dice(curves.get(k, ()))
        if ys:
            ax_t.plot(xs, ys, marker="o" if len(ys) < 30 else None, ms=3, color=colors(k % 10), label=f"fold {k}")
            drawn += 1
    if drawn:
        ax_t.legend(fontsize=8)
    else:
        ax_t.text(0.5, 0.5, "no validation Dice in the folds' events", transform=ax_t.transAxes, ha="center")
    ax_t.set_xlabel("training time (min, validation included)")
    ax_t.set_ylabel("validation Dice (training grid)")
    ax_t.grid(alpha=0.3)
    labels = sorted({str(r["label"]) for r in rows})
    for li, label in enumerate(labels):
        marker = "o^sDv"[li % 5]
        for k in folds:
            vals = np.array([float(r["dice"]) for r in rows  # type: ignore[arg-type]
                             if int(r["fold"]) == k and str(r["label"]) == label], dtype=float)  # type: ignore
            if len(vals):
                jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(1)
                ax_c.scatter(np.full(len(vals), k) + jitter, vals, s=18, marker=marker, color=colors(k % 10))
                ax_c.plot([k - 0.25, k + 0.25], [vals.mean()] * 2, color=colors(k % 10))
        dice = np.array([float(r["dice"]) for r in rows if str(r["label"]) == label], dtype=float)  # type: ignore
        spread = float(dice.std(ddof=1)) if len(dice) > 1 else 0.0  # as cv/summary.json's std
        ax_c.axhline(dice.mean(), color="#444444", ls=("--", ":", "-.")[li % 3], lw=1,
                     label=f"{label}, {len(dice)} cases: {dice.mean():.3f} ± {spread:.3f}")
    ax_c.set_xticks(folds, [str(k) for k in folds])
    ax_c.set_xlabel("fold")
    ax_c.set_ylabel("Dice of each held-out case")
    ax_c.legend(fontsize=8, loc="best")  # not over a case: the low ones matter most
    ax_c.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
