"""The engine's data pipeline: discovery, validation, preprocessing with a cache, patch sampling, augmentation.

Public API (other modules import only these names):
    load_dataset, Case, Dataset                  discover + validate a Decathlon-style folder
    prepare, Prepared, PreprocessedCase          validate + preprocess into the cache, memory-mapped cases
    preprocess_image, restore, CaseMeta          one case for prediction, and back onto its source grid
    PatchSampler, make_train_loader              seeded training batches (torch imported lazily)
"""

from __future__ import annotations

from heartseg.data.discover import Case, Dataset
from heartseg.data.prepare import load_dataset, prepare, preprocess_image
from heartseg.data.prepared import Prepared, PreprocessedCase
from heartseg.data.preprocess import CaseMeta, restore

__all__ = ["Case", "Dataset", "load_dataset", "prepare", "Prepared", "PreprocessedCase", "CaseMeta",
           "preprocess_image", "restore", "PatchSampler", "make_train_loader"]


def __getattr__(name: str):
    # sampling imports torch; commands like analyze and preprocess should not pay for it
    if name in ("PatchSampler", "make_train_loader"):
        from heartseg.data import sampling

        return getattr(sampling, name)
    raise AttributeError(f"module 'heartseg.data' has no attribute {name!r}")
