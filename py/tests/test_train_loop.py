"""The loop's decisions in process: early stopping, label values mapped to classes, skipped non-finite steps."""

from __future__ import annotations

import math

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.data import PatchSampler, make_train_loader, prepare
from heartseg.event_writer import NullWriter
from heartseg.events import validate_record
from heartseg.train.batch import unpack
from heartseg.train.loop import Trainer
from test_train_helpers import tiny_config_dict, tiny_dataset

FIXED = {"precision": "fp32", "layout": "contiguous"}
"""Not measured: these tests are about the loop, not the speed choice (test_speed.py)."""


def test_early_stopping_after_patience_validations_without_gain(tmp_path, restore_torch_globals):
    root = tiny_dataset(tmp_path / "data", cases=3)
    cfg = cfgmod.from_dict(cfgmod.merge(tiny_config_dict(root, tmp_path / "cache"), {
        "optim": {"lr": 1e-12}, "train": {"epochs": 6, "iters_per_epoch": 1, "patience": 2}}))
    prepared = prepare(cfg.data)
    train_names, val_names = prepared.split()
    events = NullWriter()
    trainer = Trainer(cfg, in_channels=1, out_channels=1, events=events)
    trainer.start()
    sampler = PatchSampler(prepared, train_names, cfg.data, cfg.augment, 0)
    outcome = trainer.fit(prepared, val_names, lambda s, n: make_train_loader(sampler, s, n, 0))
    # lr ~ 0: Dice never improves after epoch 1, so epochs 2 and 3 use up the patience
    assert (outcome.status, outcome.reason, outcome.epoch) == ("completed", "early_stopping", 3)
    ends = [r for r in events.records if r["type"] == "epoch_end"]
    assert [r["is_best"] for r in ends] == [True, False, False]
    for r in events.records:
        validate_record(r)


class _Batches:
    """Label values 0 and 2 (a dataset whose labels are not 0..K-1) in a fixed batch."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.image = torch.randn(2, 1, 8, 8, 8, generator=g)
        self.label = torch.where(self.image[:, 0] > 0.5, 2, 0)

    def __call__(self, start, count):
        return [{"image": self.image, "label": self.label}] * count


def test_label_values_are_mapped_to_class_indices(restore_torch_globals):
    cfg = cfgmod.from_dict({"model": {"features": [2, 4]}, "train": {"device": "cpu", "epochs": 1,
                                                                     "iters_per_epoch": 2, **FIXED}})
    trainer = Trainer(cfg, in_channels=1, out_channels=2)
    trainer.start()
    trainer.label_values = [0, 2]
    batches = _Batches()
    seen = []
    real_loss = trainer.loss_fn

    def recording_loss(logits, target):
        seen.append(target.unique().tolist())
        return real_loss(logits, target)

    trainer.loss_fn = recording_loss
    trainer.validate = lambda *a, **k: None  # no dataset here: training only
    trainer.fit(None, [], batches)
    assert seen and all(values == [0, 1] for values in seen)


def test_non_finite_loss_skips_the_update(restore_torch_globals):
    cfg = cfgmod.from_dict({"model": {"features": [2, 4]}, "train": {"device": "cpu", **FIXED}})
    trainer = Trainer(cfg, in_channels=1, out_channels=1)
    trainer.start()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    image = torch.full((1, 1, 8, 8, 8), math.nan)
    loss = trainer.train_step(image, torch.zeros(1, 8, 8, 8, dtype=torch.long))
    assert not math.isfinite(loss) and trainer.global_step == 1
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)


@pytest.mark.parametrize("batch", [
    {"image": torch.zeros(1, 1, 4, 4, 4), "label": torch.zeros(1, 4, 4, 4, dtype=torch.uint8)},
    (torch.zeros(1, 1, 4, 4, 4).numpy(), torch.zeros(1, 4, 4, 4, dtype=torch.uint8).numpy()),
])
def test_unpack_accepts_dicts_and_pairs(batch):
    image, label = unpack(batch)
    # labels keep their compact dtype on the host; train_step widens them on the device
    assert image.dtype == torch.float32 and label.dtype == torch.uint8 and tuple(label.shape) == (1, 4, 4, 4)


@pytest.mark.parametrize("optimizer,schedule", [("adamw", "cosine"), ("sgd", "step")])
def test_switches_train_on_cpu(optimizer, schedule, restore_torch_globals):
    cfg = cfgmod.from_dict({"model": {"features": [2, 4]}, "optim": {"optimizer": optimizer, "schedule": schedule},
                            "train": {"device": "cpu", "channels_last": True, "amp": True, "loss": "dice"}})
    trainer = Trainer(cfg, in_channels=1, out_channels=3)
    trainer.start()
    # legacy amp/channels_last: 'auto' precision is measured on a CPU (fp32 or bf16), never fp16 with a scaler
    assert trainer.amp_dtype in (None, torch.bfloat16) and not trainer.scaler.is_enabled()
    assert trainer.cfg.train.layout == "channels_last"
    image = torch.randn(2, 1, 8, 8, 8)
    losses = [trainer.train_step(image, (image[:, 0] > 0).long() + (image[:, 0] > 1).long()) for _ in range(3)]
    assert all(math.isfinite(v) for v in losses) and trainer.global_step == 3


def test_checkpoints_record_the_training_grid_and_labels(tmp_path):
    """A bare best.pt must say which spacing and labels it was trained with (predict/evaluate read them)."""
    import torch

    from heartseg.train.state import full_checkpoint

    ck = full_checkpoint(model_state={}, architecture={}, config={}, epoch=1, global_step=1, optimizer={},
                         scheduler={}, scaler=None, progress={}, best={}, metrics={}, history=[], world_size=1,
                         data={"spacing": [2.0, 1.25, 1.25], "labels": {"0": "background", "1": "left atrium"}})
    torch.save(ck, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    assert back["spacing"] == [2.0, 1.25, 1.25] and back["labels"]["1"] == "left atrium"
