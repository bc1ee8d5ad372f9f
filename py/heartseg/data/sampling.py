"""Training batches from the cache: stateless per step, so resuming and DataLoader workers are exact.

The batch for global step s on rank r draws everything from np.random.default_rng([seed, r, s]): no state
carries between steps, workers never share a generator, and a resumed run sees the same patches.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch

from heartseg.data import augment
from heartseg.data.prepared import Prepared
from heartseg.data.preprocess import pad_values


class PatchSampler:
    def __init__(self, prepared: Prepared, names: list[str], data_cfg, augment_cfg, seed: int, rank: int = 0):
        if not names:
            raise ValueError("PatchSampler: no case names to sample from")
        unknown = [n for n in names if n not in prepared.case_names]
        if unknown:
            raise ValueError(f"PatchSampler: unknown case {unknown[0]!r}")
        patch = [int(p) for p in data_cfg.patch]
        if len(patch) != 3 or any(p < 1 for p in patch):
            raise ValueError(f"patch: got {data_cfg.patch}, expected three positive sizes (z, y, x)")
        if int(data_cfg.batch) < 1:
            raise ValueError(f"batch: got {data_cfg.batch}, expected an integer >= 1")
        if not 0 <= float(data_cfg.foreground_share) <= 1:
            raise ValueError(f"foreground_share: got {data_cfg.foreground_share}, expected a number in [0, 1]")
        self.prepared = prepared
        self.names = list(names)
        self.patch = np.array(patch, dtype=np.int64)
        self.batch_size = int(data_cfg.batch)
        self.foreground_share = float(data_cfg.foreground_share)
        self.augment_cfg = augment_cfg
        self.seed, self.rank = int(seed), int(rank)
        self._open: dict[str, tuple] = {}

    def __getstate__(self):
        # memmaps would be pickled as whole arrays: each worker reopens the cases it samples instead
        state = dict(self.__dict__)
        state["_open"] = {}
        return state

    def _case(self, name: str):
        if name not in self._open:
            case = self.prepared.load(name)
            fg = {v: c for v, c in self.prepared.foreground(name).items() if len(c)}
            pad = pad_values(case.image)  # the rule inference pads its windows with
            self._open[name] = (case.image, case.label, fg, pad)
        return self._open[name]

    def _n_foreground(self, rng: np.random.Generator) -> int:
        """floor(B * share) patches always, one more with the fractional remainder: expected share exactly."""
        want = self.batch_size * self.foreground_share
        return min(self.batch_size, int(math.floor(want)) + int(rng.random() < want - math.floor(want)))

    def _random_centre(self, rng: np.random.Generator, shape: np.ndarray) -> np.ndarray:
        """A centre whose patch lies inside the volume; a volume smaller than the patch sits in its middle."""
        mid = self.patch // 2
        room = shape - self.patch
        start = np.where(room >= 0, [rng.integers(0, max(r, 0) + 1) for r in room], room // 2)
        return start + mid

    def draw(self, step: int) -> list[dict]:
        """The plan of one batch (case, centre, label, matrix) without reading any voxel; used by batch() and tests."""
        rng = np.random.default_rng([self.seed, self.rank, int(step)])
        n_fg = self._n_foreground(rng)
        plans = []
        for i in range(self.batch_size):
            name = self.names[int(rng.integers(len(self.names)))]
            image, _, fg, _ = self._case(name)
            shape = np.array(image.shape[-3:], dtype=np.int64)
            value = None
            if i >= self.batch_size - n_fg and fg:
                value = sorted(fg)[int(rng.integers(len(fg)))]
                coords = fg[value]
                centre = coords[int(rng.integers(len(coords)))].astype(np.int64)
            else:
                centre = self._random_centre(rng, shape)
            plans.append({"case": name, "centre": centre, "foreground": value,
                          "matrix": augment.draw_spatial(rng, self.augment_cfg), "rng": rng})
        return plans

    def batch(self, step: int) -> dict:
        """{'image': float32 (B, C, pz, py, px), 'label': uint8 (B, pz, py, px), 'cases': names}.

        Labels stay uint8 until they reach the training device: an int64 copy on the host was half the bytes moved."""
        plans = self.draw(step)
        channels = self._case(plans[0]["case"])[0].shape[0]
        images = np.empty((self.batch_size, channels, *self.patch), np.float32)
        labels = np.zeros((self.batch_size, *self.patch), np.uint8)  # patches are written straight in here
        for i, plan in enumerate(plans):
            image, label, _, pad = self._case(plan["case"])
            augment.extract(image, label, plan["centre"], self.patch, plan["matrix"], pad, images[i], labels[i])
            augment.intensity(images[i], plan["rng"], self.augment_cfg)
        return {"image": torch.from_numpy(images), "label": torch.from_numpy(labels),
                "cases": [p["case"] for p in plans]}


class _Steps(torch.utils.data.Dataset):
    def __init__(self, sampler: PatchSampler, start_step: int, num_steps: int):
        self.sampler, self.start_step, self.num_steps = sampler, start_step, num_steps

    def __len__(self) -> int:
        return self.num_steps

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.num_steps:
            raise IndexError(index)
        return self.sampler.batch(self.start_step + index)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # workers share the cores with the training process


def make_train_loader(sampler: PatchSampler, start_step: int, num_steps: int, workers: int) -> Iterable[dict]:
    """Batches for global steps [start_step, start_step + num_steps), in order, with `workers` processes."""
    if start_step < 0 or num_steps < 0 or workers < 0:
        raise ValueError(f"make_train_loader: start_step={start_step}, num_steps={num_steps}, workers={workers} "
                         "must all be >= 0")
    return torch.utils.data.DataLoader(
        _Steps(sampler, start_step, num_steps), batch_size=None, shuffle=False, num_workers=workers,
        pin_memory=torch.cuda.is_available(), worker_init_fn=_one_thread if workers else None,
        prefetch_factor=2 if workers else None, persistent_workers=False)
