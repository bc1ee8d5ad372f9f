"""Training building blocks: learning-rate schedules, optimisers, run folder and lock, signals, channels, memory."""

from __future__ import annotations

import math
import os
import signal
from types import SimpleNamespace

import pytest
import torch

from heartseg import config as cfgmod
from heartseg.errors import BadInput
from heartseg.train.memory import cpu_rss_mb, snapshot
from heartseg.train.optim import StepSchedule, build_optimizer, lr_at
from heartseg.train.runfolder import RunLock, check_run_dir, create_run_dir
from heartseg.train.setup import check_channels, resolve_out_channels
from heartseg.train.signals import StopRequest


@pytest.mark.parametrize("step,schedule,warmup,expected", [
    (0, "constant", 0, 1.0),
    (99, "constant", 0, 1.0),
    (50, "poly", 0, 0.5 ** 0.9),
    (100, "poly", 0, 0.0),
    (50, "cosine", 0, 0.5),
    (25, "cosine", 0, 0.5 * (1 + math.cos(math.pi / 4))),
    (0, "poly", 10, 0.1),              # warm-up: (step + 1) / warmup
    (9, "cosine", 10, 1.0),
    (55, "poly", 10, 0.5 ** 0.9),      # schedule runs over the 90 steps after warm-up
    (19, "step", 0, 1.0),              # decays every 20 steps by 0.5
    (20, "step", 0, 0.5),
    (65, "step", 0, 0.125),
])
def test_lr_table(step, schedule, warmup, expected):
    assert lr_at(step, 1.0, schedule, 100, warmup, decay_every=20, gamma=0.5) == pytest.approx(expected)


@pytest.mark.parametrize("kwargs", [{"schedule": "linear"}, {"total_steps": 0}, {"warmup_steps": -1},
                                    {"decay_every": 0}])
def test_lr_refuses_bad_settings(kwargs):
    args = {"step": 0, "peak": 1.0, "schedule": "poly", "total_steps": 10, **kwargs}
    with pytest.raises(ValueError):
        lr_at(**args)


def _optim_cfg(**kw):
    return cfgmod.from_dict({"optim": kw}).optim


def test_step_schedule_sets_the_optimizer_and_resumes_from_its_step():
    params = [torch.nn.Parameter(torch.zeros(2))]
    ocfg = _optim_cfg(lr=0.1, schedule="poly", warmup_epochs=1)
    opt = build_optimizer(params, ocfg)
    sched = StepSchedule(opt, ocfg, epochs=4, iters_per_epoch=5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 5)
    for _ in range(7):
        sched.step()
    other = StepSchedule(build_optimizer(params, ocfg), ocfg, epochs=4, iters_per_epoch=5)
    other.load_state_dict(sched.state_dict())
    assert other.optimizer.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * (1 - 2 / 15) ** 0.9)


@pytest.mark.parametrize("name,cls", [("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)])
def test_optimizers(name, cls):
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], _optim_cfg(optimizer=name, lr=0.01))
    assert isinstance(opt, cls)
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["momentum"] == 0.99


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_fused_optimizer_on_cpu_updates_as_the_foreach_one(name):
    torch.manual_seed(0)
    start, grads = torch.randn(3, 4), [torch.randn(3, 4) for _ in range(3)]
    out = {}
    for fused in (False, True):
        p = torch.nn.Parameter(start.clone())
        opt = build_optimizer([p], _optim_cfg(optimizer=name, lr=0.01), fused=fused)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out[fused] = (p.detach().clone(), opt.param_groups[0].get("fused"))
    assert out[True][1] is True  # the CPU has a fused kernel (torch >= 2.4), so it is used
    assert torch.allclose(out[True][0], out[False][0], atol=1e-6)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], SimpleNamespace(optimizer="lamb", lr=0.1))


def test_run_dir_checks(tmp_path):
    check_run_dir(tmp_path / "new", resume=False)
    with pytest.raises(BadInput, match="already exists"):
        check_run_dir(tmp_path, resume=False)
    with pytest.raises(BadInput, match="does not exist"):
        check_run_dir(tmp_path / "new", resume=True)
    with pytest.raises(BadInput, match="last.pt"):
        check_run_dir(tmp_path, resume=True)


def test_create_run_dir_is_exclusive_and_locks(tmp_path):
    run = tmp_path / "runs" / "a"
    lock = create_run_dir(run, resume=False)
    assert (run / "checkpoints").is_dir() and (run / "tensorboard").is_dir()
    assert (run / ".lock").read_text().split()[0] == str(os.getpid())
    with pytest.raises(BadInput, match="already exists"):
        create_run_dir(run, resume=False)
    with pytest.raises(BadInput, match=f"in use by process {os.getpid()}"):
        RunLock(run).acquire()
    lock.release()
    assert not (run / ".lock").exists()
    with RunLock(run):
        assert (run / ".lock").exists()
    assert not (run / ".lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / ".lock").write_text(f"{2**22 + 99} {os.uname().nodename}\n")
    with RunLock(tmp_path) as lock:
        assert lock.held and (tmp_path / ".lock").read_text().split()[0] == str(os.getpid())


def test_lock_of_another_host_is_respected(tmp_path):
    (tmp_path / ".lock").write_text(f"{2**22 + 99} some-other-node\n")
    with pytest.raises(BadInput, match="some-other-node"):
        RunLock(tmp_path).acquire()


@pytest.mark.parametrize("requested,labels,expected", [
    (0, {0: "bg", 1: "la"}, 1),
    (0, {0: "bg", 1: "a", 2: "b"}, 3),
    (2, {0: "bg", 1: "la"}, 2),
])
def test_output_channels(requested, labels, expected):
    assert resolve_out_channels(requested, labels) == expected


def test_check_channels_names_the_key():
    cfg = cfgmod.from_dict({"model": {"out_channels": 1}})
    with pytest.raises(BadInput, match="model.out_channels is 1"):
        check_channels(cfg, {0: "bg", 1: "a", 2: "b"}, 1, "/data")
    with pytest.raises(BadInput, match="model.in_channels"):
        check_channels(cfgmod.Config(), {0: "bg", 1: "a"}, 2, "/data")


def test_first_signal_sets_the_flag_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM keeps the first reason
        assert stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_sigint_aborts_at_once():
    with StopRequest():
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_memory_readings():
    assert cpu_rss_mb() > 10
    snap = snapshot(torch.device("cpu"))
    assert snap["gpu_allocated_mb"] is None and snap["gpu_reserved_mb"] is None
