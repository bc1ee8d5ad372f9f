"""Speed decisions as pure functions: the precision/layout chooser over measured timings, explicit settings kept,
the time budget (a fake clock: no timing asserts), the cuDNN gate of the slow mixed-precision warning."""

from __future__ import annotations

import math

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.event_writer import NullWriter
from heartseg.events import validate_record
from heartseg.train import runtime
from heartseg.train.loop import Trainer
from heartseg.train.optim import TimeBudget, lr_at
from heartseg.train.runtime import choose, choose_for, cpu_bf16_native, slow_amp_warning, variants_to_measure
from heartseg.train.validation import ValResult

F, C, B, L = "fp32", "contiguous", "bf16", "channels_last"


def table(fp32, fp32_cl, bf16, bf16_cl):
    out = {(F, C): fp32, (F, L): fp32_cl, (B, C): bf16, (B, L): bf16_cl}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize("timings, native, want, ratio", [
    # the measurement on this Zen 4 CPU (AVX-512 BF16)
    (table(1.90, 1.63, 0.93, 0.83), True, (B, L), 1.90 / 0.83),
    # nothing 1.2x faster: fp32 contiguous stays
    (table(1.0, 0.90, 0.95, 0.88), True, (F, C), 1.0),
    # a laptop without native bf16: bf16 measured slower, channels_last alone 1.25x
    (table(1.0, 0.80, 2.0, 1.9), False, (F, L), 1.25),
    # emulated bf16 must beat every fp32 variant by the margin too: 0.65 is not under 0.70 / 1.2
    (table(1.0, 0.70, 0.80, 0.65), False, (F, L), 1.0 / 0.70),
    # the same timings with native bf16: the fastest wins
    (table(1.0, 0.70, 0.80, 0.65), True, (B, L), 1.0 / 0.65),
    # bf16 alone 1.25x, channels_last hurts it
    (table(1.0, 0.95, 0.80, 0.85), True, (B, C), 1.25),
    # emulated bf16 that measures well faster is taken ("never unless measured faster")
    (table(1.0, 0.95, 0.50, 0.60), False, (B, C), 2.0),
    # no baseline timing: nothing to compare with
    (table(None, 0.5, 0.4, 0.3), True, (F, C), None),
])
def test_chooser_table(timings, native, want, ratio):
    got = choose(timings, native)
    assert (got.precision, got.layout) == want
    assert got.speedup == (pytest.approx(ratio, rel=1e-3) if ratio is not None else None)
    assert got.reason and (ratio is None or ratio == 1.0 or f"{ratio:.2f}x" in got.reason)


@pytest.mark.parametrize("precision, layout, timings, want", [
    ("bf16", "auto", {(B, C): 1.0, (B, L): 0.7}, (B, L)),
    ("bf16", "auto", {(B, C): 1.0, (B, L): 0.9}, (B, C)),
    # a fixed precision is kept even when another one would be faster
    ("fp32", "auto", {(F, C): 1.0, (F, L): 0.95, (B, L): 0.3}, (F, C)),
    ("auto", "contiguous", {(F, C): 1.0, (B, C): 0.5, (B, L): 0.1}, (B, C)),
    ("fp16", "channels_last", {(F, C): 1.0}, ("fp16", L)),
])
def test_chooser_keeps_explicit_settings(precision, layout, timings, want):
    got = choose(timings, True, precision=precision, layout=layout)
    assert (got.precision, got.layout) == want


@pytest.mark.parametrize("precision, layout, want", [
    ("auto", "auto", [(F, C), (F, L), (B, C), (B, L)]),
    ("auto", "channels_last", [(F, L), (B, L)]),
    ("fp16", "auto", [("fp16", C), ("fp16", L)]),
    ("bf16", "contiguous", [(B, C)]),
])
def test_variants_to_measure_on_a_cpu(precision, layout, want):
    assert variants_to_measure(torch.device("cpu"), precision, layout) == want


def _cfg(**train):
    return cfgmod.from_dict({"model": {"features": [2, 4]}, "data": {"patch": [8, 8, 8], "batch": 1},
                             "train": {"device": "cpu", **train}})


@pytest.mark.parametrize("precision, layout", [("fp32", "contiguous"), ("bf16", "channels_last"),
                                               ("fp16", "contiguous")])
def test_explicit_settings_are_never_measured_nor_overridden(precision, layout):
    def measure(*a, **k):
        raise AssertionError("an explicit setting must not be measured")

    got = choose_for(_cfg(precision=precision, layout=layout), torch.device("cpu"), 1, 1, measure=measure)
    assert (got.precision, got.layout) == (precision, layout)


def test_half_explicit_measures_only_the_free_axis():
    seen = []

    def measure(features, cin, cout, patch, batch, device, variants, **k):
        seen.extend(variants)
        return {(F, C): 1.0, (F, L): 0.5}  # fp32 would win, but precision is fixed

    got = choose_for(_cfg(precision="bf16"), torch.device("cpu"), 1, 1, measure=measure)
    assert seen == [(B, C), (B, L)] and got.precision == "bf16"


def test_deterministic_runs_are_not_measured():
    def measure(*a, **k):
        raise AssertionError("deterministic: no measurement")

    got = choose_for(_cfg(deterministic=True), torch.device("cpu"), 1, 1, measure=measure)
    assert (got.precision, got.layout) == (F, C)


def test_trainer_applies_and_records_the_measured_choice(monkeypatch, restore_torch_globals):
    monkeypatch.setattr(runtime, "time_variants", lambda *a, **k: table(1.9, 1.6, 0.9, 0.8))
    trainer = Trainer(_cfg(), in_channels=1, out_channels=1)
    trainer.start()
    assert (trainer.cfg.train.precision, trainer.cfg.train.layout) == (B, L)
    assert trainer.amp_dtype == torch.bfloat16
    assert trainer.checkpoint_dict()["config"]["train"]["precision"] == "bf16"
    weight = next(p for p in trainer.model.parameters() if p.ndim == 5)
    assert weight.is_contiguous(memory_format=torch.channels_last_3d)
    loss = trainer.train_step(torch.randn(1, 1, 8, 8, 8), torch.zeros(1, 8, 8, 8, dtype=torch.long))
    assert math.isfinite(float(loss))


def test_trainer_keeps_an_explicit_setting(monkeypatch, restore_torch_globals):
    monkeypatch.setattr(runtime, "time_variants", lambda *a, **k: pytest.fail("measured an explicit setting"))
    trainer = Trainer(_cfg(precision="fp32", layout="contiguous"), in_channels=1, out_channels=1)
    trainer.start()
    assert (trainer.cfg.train.precision, trainer.cfg.train.layout, trainer.amp_dtype) == (F, C, None)
    assert trainer.optimizer.param_groups[0]["fused"] is True  # one kernel per step on the CPU too


@pytest.mark.parametrize("flags, native", [
    ("flags : fpu avx512f avx512_bf16 avx512_vnni", True),
    ("flags : fpu amx_bf16 amx_tile", True),
    ("flags : fpu avx2 avx512f", False),
    ("", False),
])
def test_cpu_bf16_native_from_flags(flags, native):
    assert cpu_bf16_native(flags) is native


@pytest.mark.parametrize("version, cudnn, dtype, warns", [
    ("2.9.0+cu128", 90800, torch.bfloat16, True),
    ("2.9.1", 91500, torch.float16, True),       # 2.9 turned cuDNN off for every cuDNN >= 9.8
    ("2.9.1", 90700, torch.bfloat16, False),
    ("2.10.0", 91000, torch.bfloat16, True),     # later releases only turn it back on from cuDNN 9.15
    ("2.11.0", 91500, torch.bfloat16, False),
    ("2.8.0", 91000, torch.bfloat16, False),
    ("2.10.0", 91000, None, False),              # fp32 is not affected
])
def test_slow_amp_warning_is_gated_on_cudnn(version, cudnn, dtype, warns):
    got = slow_amp_warning(torch.device("cuda"), dtype, torch_version=version, cudnn=cudnn)
    assert (got is not None) is warns
    assert slow_amp_warning(torch.device("cpu"), torch.bfloat16, torch_version=version, cudnn=cudnn) is None


# --- the time budget ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reserve, points, want", [
    (10.0, [9.0, 45.0, 90.0], [0.1, 0.5, 1.0]),    # fixed horizon 90 s: elapsed / horizon
    (0.0, [50.0, 100.0, 120.0], [0.5, 1.0, 1.0]),
])
def test_time_budget_fraction_table(reserve, points, want):
    b = TimeBudget(100.0, reserve)
    assert [round(b.advance(p), 6) for p in points] == want


def test_time_budget_spreads_what_is_left_when_the_horizon_moves():
    b = TimeBudget(100.0, 20.0)
    assert b.advance(40.0) == pytest.approx(0.5)
    b.set_reserve(0.0)  # a measured validation turned out short: 60 s left for the other half
    assert b.advance(70.0) == pytest.approx(0.75)
    assert b.advance(100.0) == 1.0 and not b.out_of_time(50.0, 1.0) and b.out_of_time(99.5, 1.0)


def test_lr_follows_the_budget_and_ends_at_zero():
    assert lr_at(0, 1.0, "poly", 1000, fraction=0.5) == pytest.approx(0.5 ** 0.9)
    assert lr_at(900, 1.0, "poly", 1000, fraction=0.1) == pytest.approx(0.1 ** 0.9)  # the steps are further on
    assert lr_at(0, 1.0, "cosine", 1000, fraction=1.0) == 0.0
    assert lr_at(0, 1.0, "poly", 1000, fraction=1.0) == 0.0


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budgeted_fit_ends_on_time_with_lr_zero_and_a_final_validation(restore_torch_globals):
    clock = FakeClock()
    cfg = cfgmod.from_dict({"model": {"features": [2, 4]}, "data": {"patch": [8, 8, 8], "batch": 1},
                            "optim": {"lr": 0.01, "schedule": "poly"},
                            "train": {"device": "cpu", "precision": "fp32", "layout": "contiguous", "minutes": 1.0,
                                      "epochs": 1000, "iters_per_epoch": 7, "val_every": 3, "checkpoint_minutes": 0,
                                      "bn_recalibration": 0,
                                      "step_event_seconds": 0.0}})
    events = NullWriter()
    trainer = Trainer(cfg, in_channels=1, out_channels=1, events=events, clock=clock)
    trainer.start()
    clock.now += 2.0  # start-up counts against the budget
    real_step, lrs, validations = trainer.train_step, [], []

    def step(image, label):
        lrs.append(trainer.schedule.lr())
        clock.now += 1.5
        return real_step(image, label)

    def validate(prepared, names, keep_sample=False):
        clock.now += 4.0
        validations.append(clock.now)
        return ValResult(loss=0.5, dice=0.5, dice_per_label={"la": 0.5}, cases=1)

    trainer.train_step, trainer.validate = step, validate
    image, label = torch.randn(1, 1, 8, 8, 8), torch.zeros(1, 8, 8, 8, dtype=torch.long)
    outcome = trainer.fit(None, ["case"], lambda start, n: ({"image": image, "label": label} for _ in range(n)))
    spent = clock.now - 1000.0
    assert outcome.reason == "time_budget" and outcome.status == "completed"
    assert spent <= 60.0, spent                      # within the budget, final validation included
    assert spent >= 60.0 - 15.0, spent               # and not far short of it (room for final.pt's validation)
    assert trainer.schedule.lr() == 0.0 and trainer.history[-1]["lr"] == 0.0
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0
    assert validations[-1] == clock.now and trainer.history[-1]["val_dice"] == 0.5
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # poly without warm-up: never rises
    assert lrs[-1] < 0.1 * 0.01                       # the last step ran at a small lr, not cut short high
    ends = [r for r in events.records if r["type"] == "epoch_end"]
    assert ends[-1]["budget_seconds"] == 60.0 and ends[-1]["elapsed_seconds"] <= 60.0
    for r in events.records:
        validate_record(r)


@pytest.mark.parametrize("precision, layout, tol", [("fp32", "channels_last", 1e-5), ("bf16", "contiguous", 0.05),
                                                    ("bf16", "channels_last", 0.05)])
def test_inference_runs_in_the_recorded_precision_and_layout(precision, layout, tol, restore_torch_globals):
    from types import SimpleNamespace

    from heartseg.inference import predict_volume
    from heartseg.model import build_model

    torch.manual_seed(0)
    infer = SimpleNamespace(overlap=0.25, gaussian=True, tta=1, sw_batch=2, stitch_device="cpu", postprocess=[])
    image = torch.randn(2, 12, 20, 20)  # two channels: with one, contiguous and channels_last strides coincide
    ref_model, model = build_model(2, 1, [2, 4]), build_model(2, 1, [2, 4])
    model.load_state_dict(ref_model.state_dict())
    _, want = predict_volume(ref_model, image, [8, 16, 16], infer, 1, "cpu")
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(
        memory_format=torch.channels_last_3d) and args[0].ndim == 5))
    _, got = predict_volume(model, image, [8, 16, 16], infer, 1, "cpu", precision=precision, layout=layout)
    assert seen and all(seen) is (layout == "channels_last")
    assert float(abs(torch.from_numpy(got) - torch.from_numpy(want)).max()) <= tol


def test_last_pt_is_written_by_time_and_at_the_end(tmp_path, restore_torch_globals):
    clock = FakeClock()
    cfg = cfgmod.from_dict({"model": {"features": [2, 4]}, "data": {"patch": [8, 8, 8], "batch": 1},
                            "train": {"device": "cpu", "precision": "fp32", "layout": "contiguous", "epochs": 5,
                                      "iters_per_epoch": 2, "checkpoint_minutes": 1.0, "bn_recalibration": 0,
                                      "val_every": 100}})
    events = NullWriter()
    trainer = Trainer(cfg, in_channels=1, out_channels=1, run_dir=tmp_path, events=events, clock=clock)
    trainer.start()
    real_step = trainer.train_step

    def step(image, label):
        clock.now += 20.0  # an epoch of two steps takes 40 s: last.pt is due every other epoch, and at the end
        return real_step(image, label)

    trainer.train_step = step
    trainer.validate = lambda *a, **k: ValResult(loss=0.5, dice=0.5, dice_per_label={"la": 0.5}, cases=1)
    image, label = torch.randn(1, 1, 8, 8, 8), torch.zeros(1, 8, 8, 8, dtype=torch.long)
    trainer.fit(None, ["case"], lambda start, n: ({"image": image, "label": label} for _ in range(n)))
    saved = [r["epoch"] for r in events.records if r["type"] == "checkpoint" and r["kind"] == "last"]
    assert saved == [2, 4, 5]
    back = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert back["epoch"] == 5 and all(t.device.type == "cpu" for t in back["model"].values())


def test_doctor_speed_reports_the_measured_choice():
    from heartseg.commands.doctor import speed

    got = speed("cpu", measure=lambda *a, **k: table(3.0, 2.0, 6.0, 5.0))
    assert (got["precision"], got["layout"]) == (F, L) and got["speedup"] == pytest.approx(1.5)
    assert "1.50x" in got["reason"] and got["model"] == [16, 32, 64, 128]


def test_loss_is_read_only_at_sync_points(restore_torch_globals):
    """On a GPU reading the loss waits for the device: the loop reads it every `sync_every` steps, not every step."""
    cfg = _cfg(precision="fp32", layout="contiguous", epochs=1, iters_per_epoch=10, step_event_seconds=0.0,
               bn_recalibration=0)
    events = NullWriter()
    trainer = Trainer(cfg, in_channels=1, out_channels=1, events=events)
    trainer.start()
    trainer.sync_every = 5  # what CUDA uses (SYNC_EVERY_CUDA), on the CPU
    returned = []
    real_step = trainer.train_step

    def step(image, label):
        loss = real_step(image, label)
        assert isinstance(loss, torch.Tensor)  # not a float: no read of the device here
        returned.append(float(loss))
        return loss

    trainer.train_step = step
    trainer.validate = lambda *a, **k: ValResult(loss=0.5, dice=0.5, dice_per_label={"la": 0.5}, cases=1)
    g = torch.Generator().manual_seed(0)
    batches = [{"image": torch.randn(1, 1, 8, 8, 8, generator=g), "label": torch.zeros(1, 8, 8, 8, dtype=torch.long)}
               for _ in range(10)]
    trainer.fit(None, ["case"], lambda start, n: iter(batches[start:start + n]))
    assert [r["iter"] for r in events.records if r["type"] == "step"] == [5, 10]
    assert trainer.history[-1]["train_loss"] == pytest.approx(sum(returned) / 10, rel=1e-6)


def _clock(durations):
    """A clock whose successive intervals (tick, tock) are `durations`, in the order the probe measures."""
    now, marks = 0.0, []
    for d in durations:
        marks += [now, now + d]
        now += d + 1.0
    it = iter(marks)
    return lambda: next(it)


@pytest.mark.parametrize("durations, slow", [
    # (bf16, fp32) per round: a busy machine inflates the first three bf16 rounds, then bf16 is 2x faster
    ([30, 1, 25, 1, 28, 1, 0.5, 1], False),
    # emulated: every round slow -> a slow verdict after all PROBE_ROUNDS rounds
    ([30, 1] * 5, True),
    # native and quiet: two rounds suffice
    ([0.5, 1, 0.4, 1], False),
])
def test_probe_needs_every_round_slow(durations, slow):
    ratio = runtime.probe_half(torch.device("cpu"), 4, "bf16", clock=_clock(durations))
    assert (ratio >= runtime.PROBE_SLOWDOWN) == slow
