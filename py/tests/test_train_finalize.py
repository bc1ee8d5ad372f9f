"""The final model (checkpoints/final.pt): BatchNorm statistics recomputed over training batches, weight average.

Issue 15, item 4: with batch 2 and momentum 0.1 the running statistics averaged ~20 patches; final.pt's are a
plain average over train.bn_recalibration batches, which is checked here against an independent recomputation.
"""

from __future__ import annotations

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.checkpoint import load_checkpoint
from heartseg.data import PatchSampler, make_train_loader, prepare
from heartseg.event_writer import NullWriter
from heartseg.events import validate_record
from heartseg.model import build_model
from heartseg.train.finalize import WeightAverage, bn_layers, recalibrate_bn
from heartseg.train.loop import Trainer
from heartseg.train.runfolder import FINAL, LAST
from test_train_helpers import tiny_config_dict, tiny_dataset


def _run(tmp_path, **train):
    root = tiny_dataset(tmp_path / "data", cases=3)
    cfg = cfgmod.from_dict(cfgmod.merge(tiny_config_dict(root, tmp_path / "cache"),
                                        {"train": {"epochs": 2, "iters_per_epoch": 2, **train}}))
    prepared = prepare(cfg.data)
    train_names, val_names = prepared.split()
    events = NullWriter()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    trainer = Trainer(cfg, in_channels=1, out_channels=1, run_dir=run, events=events)
    trainer.start()
    sampler = PatchSampler(prepared, train_names, cfg.data, cfg.augment, 0)

    def batches(start, count):
        return make_train_loader(sampler, start, count, 0)

    outcome = trainer.fit(prepared, val_names, batches)
    trainer.close()
    return run, trainer, batches, events, outcome


def _bn_inputs_average(state, architecture, batches):
    """Independent of recalibrate_bn: each BatchNorm's input mean and unbiased variance per batch, averaged."""
    model = build_model(**architecture)
    model.load_state_dict(state)
    model.train()
    sums: dict[str, list] = {}

    def hook(name):
        def record(_module, inputs):
            x = inputs[0].detach().double()
            dims = [0, *range(2, x.ndim)]
            n = x.numel() / x.shape[1]
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False) * n / (n - 1)
            sums.setdefault(name, []).append((mean, var))
        return record

    for name, m in model.named_modules():
        if m in bn_layers(model):
            m.register_forward_pre_hook(hook(name))
    with torch.no_grad():
        for batch in batches:
            model(batch["image"].float())
    return {name: (torch.stack([m for m, _ in v]).mean(0), torch.stack([s for _, s in v]).mean(0))
            for name, v in sums.items()}


def test_final_model_has_batchnorm_statistics_recomputed_over_training_batches(tmp_path, restore_torch_globals):
    run, trainer, batches, events, outcome = _run(tmp_path, bn_recalibration=3)
    assert outcome.status == "completed"
    assert (run / FINAL).is_file() and (run / LAST).is_file()
    final, last = load_checkpoint(run / FINAL), load_checkpoint(run / LAST)
    assert {k: final.full["final"][k] for k in ("ema_decay", "ema_updates", "bn_recalibration_batches")} == \
        {"ema_decay": 0.0, "ema_updates": 0, "bn_recalibration_batches": 3}
    weights = [k for k in last.state_dict if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(final.state_dict[k], last.state_dict[k]) for k in weights)  # no EMA: same weights
    stats = [k for k in last.state_dict if k.endswith(("running_mean", "running_var"))]
    assert stats and all(not torch.allclose(final.state_dict[k], last.state_dict[k]) for k in stats)
    # recomputed by hand: the 3 batches after the last training step, through last.pt's weights
    expected = _bn_inputs_average(last.state_dict, last.architecture,
                                  list(batches(trainer.global_step, 3)))
    assert len(expected) == len(stats) // 2
    for name, (mean, var) in expected.items():
        torch.testing.assert_close(final.state_dict[f"{name}.running_mean"], mean.float(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(final.state_dict[f"{name}.running_var"], var.float(), rtol=1e-4, atol=1e-5)
    kinds = [r["kind"] for r in events.records if r["type"] == "checkpoint"]
    assert kinds[-1] == "final" and "last" in kinds
    # the final model is scored on the validation cases itself: that is the number reported for it
    dice = final.full["final"]["val_dice"]
    assert 0.0 <= dice <= 1.0 and final.full["metrics"]["val_dice"] == dice
    assert events.records[-1]["metric"] == dice
    for r in events.records:
        validate_record(r)


def test_weight_average_in_a_run(tmp_path, restore_torch_globals):
    run, trainer, _, _, _ = _run(tmp_path, ema_decay=0.9, bn_recalibration=0)
    final, last = load_checkpoint(run / FINAL), load_checkpoint(run / LAST)
    assert final.full["final"]["ema_updates"] == trainer.global_step == 4
    assert final.full["final"]["bn_recalibration_batches"] == 0
    average = trainer.weight_average
    names = dict(zip(average.names, average.shadow))
    for name, value in names.items():
        torch.testing.assert_close(final.state_dict[name], value)
    assert any(not torch.equal(final.state_dict[n], last.state_dict[n]) for n in names)


def test_interrupted_run_writes_no_final_model(tmp_path, restore_torch_globals):
    root = tiny_dataset(tmp_path / "data", cases=3)
    cfg = cfgmod.from_dict(cfgmod.merge(tiny_config_dict(root, tmp_path / "cache"),
                                        {"train": {"epochs": 3, "iters_per_epoch": 1, "bn_recalibration": 2}}))
    prepared = prepare(cfg.data)
    train_names, val_names = prepared.split()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    trainer = Trainer(cfg, in_channels=1, out_channels=1, run_dir=run)
    trainer.start()
    sampler = PatchSampler(prepared, train_names, cfg.data, cfg.augment, 0)
    outcome = trainer.fit(prepared, val_names, lambda s, n: make_train_loader(sampler, s, n, 0), stop_after_epoch=1)
    trainer.close()
    assert outcome.status == "interrupted" and (run / LAST).is_file() and not (run / FINAL).exists()


@pytest.mark.parametrize("decay, values, expected", [
    # update n uses min(decay, (1 + n) / (10 + n)): 0.1, then 2/11, then 3/12
    (0.5, [10.0], 9.0),                       # 0.1 * 0 + 0.9 * 10
    (0.5, [10.0, 20.0], 18.0),                # 2/11 * 9 + 9/11 * 20 = 198/11
    (0.2, [10.0, 20.0, 40.0], 35.6),          # 9, then 18, then the cap: 0.2 * 18 + 0.8 * 40
])
def test_weight_average_by_hand(decay, values, expected):
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    average = WeightAverage(model, decay)
    for v in values:
        with torch.no_grad():
            model.weight.fill_(v)
        average.update(model)
    got = float(average.shadow[0])
    assert got == pytest.approx(expected)
    target = torch.nn.Linear(1, 1, bias=False)
    average.copy_to(target)
    assert float(target.weight.detach()) == pytest.approx(expected)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])
def test_weight_average_bad_decay(decay):
    with pytest.raises(ValueError, match="ema decay"):
        WeightAverage(torch.nn.Linear(1, 1), decay)


def test_recalibrate_bn_restores_mode_and_momentum_and_skips_when_asked():
    model = build_model(1, 1, [2, 4])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = {"image": torch.randn(2, 1, 8, 8, 8), "label": torch.zeros(2, 8, 8, 8)}
    assert recalibrate_bn(model, [batch], 0, torch.device("cpu")) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert recalibrate_bn(model, [batch] * 5, 2, torch.device("cpu")) == 2  # at most `count` batches
    assert not model.training and all(m.momentum == 0.1 for m in bn_layers(model))
    assert recalibrate_bn(model, [], 3, torch.device("cpu")) == 0  # fewer batches than asked: what there was
