"""Shared fixtures: tiny NIfTI datasets made on the fly, la2018 when present, and a private cache per test.

    write_nifti(path, array_xyz, affine=None, spacing=(1, 1, 1))      one file, stored order (x, y, z)
    make_dataset(root, ...)                                           a tiny Decathlon dataset (see its docstring)
    dataset_factory (fixture)                                         make_dataset under tmp_path
    synth_dataset (fixture, session)                                  `heartseg synth` output, 4 cases of 16x32x32
    la2018 (fixture)                                                  ../shared/data/la2018, or skip
    HEARTSEG_CACHE is set to a fresh folder for every test, so no test writes to ~/.cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
LA2018 = SHARED / "data" / "la2018"

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def write_nifti(path: str | Path, array: np.ndarray, affine: np.ndarray | None = None,
                spacing=(1.0, 1.0, 1.0)) -> Path:
    """Save `array` (stored order x, y, z) with `affine`, or a plain RAS affine with `spacing` (x, y, z)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if affine is None:
        affine = np.diag([*map(float, spacing), 1.0])
    img = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))
    return path


def blob_case(shape=(12, 10, 8), labels=(1,), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, label uint8) in stored order: label value k fills a box; the image is brighter there."""
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, np.uint8)
    for k, value in enumerate(labels):
        lo = [1 + k * 2 + int(rng.integers(0, 2)) for _ in shape]
        label[lo[0]:lo[0] + 3, lo[1]:lo[1] + 3, lo[2]:lo[2] + 2] = value
    image = (rng.normal(100, 10, shape) + 50 * label).astype(np.float32)
    return image, label


def make_dataset(root: str | Path, cases: int = 3, shape=(12, 10, 8), spacing=(1.0, 1.0, 1.0),
                 labels: dict[int, str] | None = None, dataset_json: bool = True, channels: int = 1,
                 affine: np.ndarray | None = None, prefix: str = "case", seed: int = 0) -> Path:
    """A tiny Decathlon dataset: imagesTr/<prefix>_NNN[_000c].nii.gz, labelsTr/<prefix>_NNN.nii.gz, dataset.json.

    labels defaults to {0: background, 1: left atrium}; every foreground label appears in every case.
    channels > 1 writes NAME_0000, NAME_0001, ... files. shape and spacing are in stored order (x, y, z).
    """
    root = Path(root)
    labels = labels or {0: "background", 1: "left atrium"}
    training = []
    for i in range(cases):
        name = f"{prefix}_{i:03d}"
        image, label = blob_case(shape, [v for v in labels if v != 0], seed=seed * 1000 + i)
        for c in range(channels):
            suffix = f"_{c:04d}" if channels > 1 else ""
            write_nifti(root / "imagesTr" / f"{name}{suffix}.nii.gz", image * (c + 1), affine, spacing)
        write_nifti(root / "labelsTr" / f"{name}.nii.gz", label, affine, spacing)
        training.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
    if dataset_json:
        meta = {"name": "tiny", "modality": {str(c): "MRI" for c in range(channels)},
                "labels": {str(k): v for k, v in labels.items()}, "numTraining": cases, "training": training}
        (root / "dataset.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HEARTSEG_CACHE", str(tmp_path_factory.mktemp("heartseg-cache")))


@pytest.fixture
def dataset_factory(tmp_path) -> Callable[..., Path]:
    counter = iter(range(1_000_000))

    def make(**kwargs) -> Path:
        return make_dataset(tmp_path / f"data{next(counter)}", **kwargs)

    return make


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    from heartseg.synth import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synth") / "ds", cases=4, seed=0, shape=(16, 32, 32),
                         spacing=(2.0, 1.5, 1.5))


@pytest.fixture
def la2018() -> Path:
    if not (LA2018 / "dataset.json").exists():
        pytest.skip(f"la2018 not found at {LA2018} (../shared is absent)")
    return LA2018


@pytest.fixture
def restore_torch_globals():
    """Tests that switch deterministic algorithms or thread counts hand torch back as they found it."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)
