"""PatchSampler and the train loader: shapes, per-step seeding, foreground share, padding, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from heartseg.config import AugmentConfig, DataConfig
from heartseg.data import PatchSampler, make_train_loader, prepare
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sampling")
    root = make_dataset(tmp / "d", cases=3, shape=(20, 18, 16), labels={0: "background", 1: "a", 2: "b"})
    return prepare(DataConfig(root=str(root), cache_dir=str(tmp / "cache"), patch=[8, 8, 8], batch=2))


def _sampler(prepared, seed=0, rank=0, augment=None, **data):
    cfg = DataConfig(patch=[8, 8, 8], batch=2).model_copy(update=data)
    return PatchSampler(prepared, prepared.case_names, cfg, augment, seed=seed, rank=rank)


def test_batch_shapes_and_types(prepared):
    batch = _sampler(prepared, augment=AugmentConfig(probability=1.0), batch=3, patch=[8, 12, 10]).batch(0)
    assert batch["image"].dtype == torch.float32 and batch["image"].shape == (3, 1, 8, 12, 10)
    assert batch["label"].dtype == torch.uint8 and batch["label"].shape == (3, 8, 12, 10)
    assert set(batch["label"].unique().tolist()) <= {0, 1, 2} and len(batch["cases"]) == 3


@pytest.mark.parametrize("a, b, same", [
    ((0, 0, 5), (0, 0, 5), True),
    ((0, 0, 5), (0, 0, 6), False),  # another step
    ((0, 0, 5), (0, 1, 5), False),  # another rank
    ((0, 0, 5), (1, 0, 5), False),  # another seed
])
def test_seeding_per_step(prepared, a, b, same):
    aug = AugmentConfig(probability=0.5)
    first = _sampler(prepared, seed=a[0], rank=a[1], augment=aug).batch(a[2])
    second = _sampler(prepared, seed=b[0], rank=b[1], augment=aug).batch(b[2])  # a fresh sampler: a resume
    assert torch.equal(first["image"], second["image"]) == same


@pytest.mark.parametrize("share", [0.0, 0.33, 0.5, 1.0])
def test_foreground_share(prepared, share):
    sampler = _sampler(prepared, foreground_share=share)
    plans = [p for step in range(300) for p in sampler.draw(step)]
    forced = np.mean([p["foreground"] is not None for p in plans])
    assert forced == pytest.approx(share, abs=0.05)
    values = [p["foreground"] for p in plans if p["foreground"] is not None]
    if values:
        assert np.mean(np.array(values) == 1) == pytest.approx(0.5, abs=0.1)  # labels chosen uniformly
    batch = sampler.batch(7)
    for i, plan in enumerate(sampler.draw(7)):
        if plan["foreground"] is not None:  # the patch's middle voxel is the sampled foreground voxel
            assert batch["label"][i, 4, 4, 4].item() == plan["foreground"]


def test_patch_larger_than_volume_is_padded(prepared):
    sampler = _sampler(prepared, patch=[16, 32, 32], foreground_share=0.0)
    batch = sampler.batch(0)
    case = prepared.load(batch["cases"][0])
    z, y, x = case.image.shape[1:]  # (8, 10, 12) after reorientation: smaller than the patch everywhere
    img, lab = batch["image"][0, 0].numpy(), batch["label"][0].numpy()
    lo = [(16 - z) // 2, (32 - y) // 2, (32 - x) // 2]  # a small volume sits in the middle
    inside = (slice(lo[0], lo[0] + z), slice(lo[1], lo[1] + y), slice(lo[2], lo[2] + x))
    np.testing.assert_array_equal(img[inside], case.image[0])
    np.testing.assert_array_equal(lab[inside], case.label)
    pad = case.meta.intensity[0]["pad"]
    outside = np.ones(img.shape, bool)
    outside[inside] = False
    assert np.all(img[outside] == np.float32(pad)) and np.all(lab[outside] == 0)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_matches_direct_batches(prepared, workers):
    sampler = _sampler(prepared, seed=3, augment=AugmentConfig(probability=0.5))
    batches = list(make_train_loader(sampler, start_step=10, num_steps=4, workers=workers))
    assert len(batches) == 4
    for i, batch in enumerate(batches):
        assert torch.equal(batch["image"], sampler.batch(10 + i)["image"])
        assert torch.equal(batch["label"], sampler.batch(10 + i)["label"])


@pytest.mark.parametrize("kwargs, message", [
    ({"names": []}, "no case names"),
    ({"names": ["nope"]}, "unknown case 'nope'"),
    ({"patch": [8, 8]}, "patch: got"),
    ({"batch": 0}, "batch: got 0"),
    ({"foreground_share": 1.5}, "foreground_share: got 1.5"),
])
def test_sampler_bad_arguments(prepared, kwargs, message):
    names = kwargs.pop("names", prepared.case_names)
    cfg = DataConfig(patch=[8, 8, 8]).model_copy(update=kwargs)
    with pytest.raises(ValueError, match=message):
        PatchSampler(prepared, names, cfg, None, seed=0)


def test_loader_bad_arguments(prepared):
    with pytest.raises(ValueError, match="must all be >= 0"):
        make_train_loader(_sampler(prepared), -1, 3, 0)


def test_sampler_pickles_without_arrays(prepared):
    import pickle

    sampler = _sampler(prepared)
    sampler.batch(0)
    assert sampler._open and len(pickle.dumps(sampler)) < 50_000  # memmaps are reopened, never copied


def _peak_sampling_bytes(tmp, cases: int) -> tuple[int, int]:
    root = make_dataset(tmp / f"d{cases}", cases=cases, shape=(48, 48, 48), prefix="m")
    prepared = prepare(DataConfig(root=str(root), cache_dir=str(tmp / "cache"), patch=[16, 16, 16], batch=2),
                       workers=1)
    tracemalloc.start()
    opened = [prepared.load(n) for n in prepared.case_names]  # opening every case maps, it does not read
    assert all(isinstance(c.image, np.memmap) and isinstance(c.label, np.memmap) for c in opened)
    sampler = PatchSampler(prepared, prepared.case_names, prepared._cfg, None, seed=0)
    for step in range(40):
        sampler.batch(step)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, cases * 48 ** 3 * 5  # float32 image + uint8 label per case


def test_sampling_memory_does_not_grow_with_cases(tmp_path):
    peak_few, _ = _peak_sampling_bytes(tmp_path, 2)
    peak_many, data_bytes = _peak_sampling_bytes(tmp_path, 12)
    assert peak_many < data_bytes / 4, (peak_many, data_bytes)
    assert peak_many < 2 * peak_few + 200_000, (peak_few, peak_many)
