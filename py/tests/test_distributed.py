"""Distributed training on CPU with Gloo: two ranks equal one process with the same global batch.

Equality holds because BatchNorm is synchronised across ranks (CpuSyncBatchNorm3d) and the batch Dice pools
its sums over ranks; per-rank cross-entropy means average to the global mean since every rank has B samples.
The test uses SGD: Adam divides by the gradient's running RMS, which turns the rounding noise of gradients that
are zero in exact arithmetic (a convolution bias right before BatchNorm) into full-size steps of either sign.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from heartseg import config as cfgmod
from heartseg.events import validate_record
from heartseg.train.distributed import CpuSyncBatchNorm3d, DistInfo, from_env
from heartseg.train.loop import Trainer
from test_train_helpers import PY_ROOT, read_events, tiny_config_dict, tiny_dataset, write_config

GLOBAL_BATCH = 4
STEPS = 2


def _config() -> cfgmod.Config:
    return cfgmod.from_dict({"model": {"features": [4, 8]}, "optim": {"optimizer": "sgd", "lr": 0.05},
                             "train": {"device": "cpu", "threads": 1, "seed": 3,
                                       # exact comparison: fp32 on both sides, whatever this CPU measures fastest
                                       "precision": "fp32", "layout": "contiguous"}})


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    out = []
    for _ in range(STEPS):
        image = torch.randn(GLOBAL_BATCH, 1, 8, 12, 12, generator=g)
        label = (image[:, 0] > 0.8).long()
        out.append((image, label))
    return out


def _rank_main(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    trainer = Trainer(_config(), in_channels=1, out_channels=1, info=from_env())
    trainer.start()
    per_rank = GLOBAL_BATCH // world
    for image, label in _batches():
        trainer.train_step(image[rank * per_rank:(rank + 1) * per_rank], label[rank * per_rank:(rank + 1) * per_rank])
    torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, Path(out_dir) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_train_like_one_process(tmp_path):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = Trainer(_config(), in_channels=1, out_channels=1)
    single.start()
    initial = {k: v.clone() for k, v in single.model.state_dict().items()}
    for image, label in _batches():
        single.train_step(image, label)
    reference = single.model.state_dict()
    assert ranks[0].keys() == reference.keys()  # synchronised BatchNorm keeps the seed-compatible keys
    for key, value in reference.items():
        assert torch.equal(ranks[0][key], ranks[1][key]), f"ranks differ at {key}"
        assert torch.allclose(ranks[0][key].float(), value.float(), atol=1e-5, rtol=0), key
    moved = [k for k in reference if k.endswith("weight") and not torch.equal(initial[k], reference[k])]
    assert moved, "training did not change the weights: the comparison would be empty"


def test_cpu_sync_batchnorm_is_plain_batchnorm_in_one_process():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm3d(3)
    sync = CpuSyncBatchNorm3d(3)
    sync.load_state_dict(bn.state_dict())
    x = torch.randn(2, 3, 4, 4, 4)
    assert torch.allclose(bn(x), sync(x)) and torch.allclose(bn.running_var, sync.running_var)


@pytest.mark.parametrize("env,expected", [
    ({}, DistInfo(0, 1, 0)),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, DistInfo(1, 2, 1)),
    ({"RANK": "3", "WORLD_SIZE": "4"}, DistInfo(3, 4, 3)),
])
def test_torchrun_environment(env, expected):
    assert from_env(env) == expected


@pytest.mark.parametrize("env", [{"RANK": "2", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "x"}])
def test_inconsistent_torchrun_environment_is_refused(env):
    with pytest.raises(ValueError):
        from_env(env)


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun is not installed next to this Python")
def test_torchrun_two_ranks_write_one_run_folder(tmp_path):
    root = tiny_dataset(tmp_path / "data")
    cfg = write_config(tmp_path / "cfg.json", tiny_config_dict(root, tmp_path / "cache", epochs=1, iters_per_epoch=2,
                                                                 deterministic=False))
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1")
    env.pop("HEARTSEG_EVENT_FD", None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                str(_free_port())]
    result = subprocess.run([*torchrun, "-m", "heartseg", "train", "--config", str(cfg), "--run-dir", str(run)],
                            cwd=PY_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    events = read_events(run)
    for record in events:
        validate_record(record)
    assert [e["type"] for e in events].count("run_start") == 1  # rank 1 writes nothing
    assert events[0]["world_size"] == 2 and events[-1]["status"] == "completed"
    assert (run / "checkpoints" / "last.pt").is_file()


@pytest.fixture
def four_gpus(monkeypatch):
    """torch believes it sees four CUDA devices (nothing is allocated on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


@pytest.mark.parametrize("spec, info, want", [
    ("cuda:1", DistInfo(2, 4, 2), "cuda:3"),   # each rank its own GPU, counting from 1
    ("cuda:0", DistInfo(1, 2, 1), "cuda:1"),
    ("cuda", DistInfo(3, 4, 3), "cuda:3"),
    ("cuda:2", DistInfo(0, 1, 0), "cuda:2"),   # one process: exactly the GPU asked for
    ("cpu", DistInfo(1, 2, 1), "cpu"),
])
def test_each_rank_gets_its_own_gpu(four_gpus, spec, info, want):
    from heartseg.train.distributed import resolve_device

    assert str(resolve_device(spec, info)) == want


def test_a_rank_past_the_last_gpu_is_bad_input(four_gpus):
    from heartseg.errors import BadInput
    from heartseg.train.distributed import resolve_device

    with pytest.raises(BadInput, match="cuda:4"):
        resolve_device("cuda:2", DistInfo(2, 3, 2))


def test_init_binds_the_process_group_to_the_rank_s_gpu(monkeypatch):
    import torch.distributed as dist

    from heartseg.train import distributed

    seen = {}
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: seen.update(kw))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: seen.setdefault("set", d))
    assert distributed.init(DistInfo(1, 2, 1), torch.device("cuda:1")) == "nccl"
    assert seen["device_id"] == torch.device("cuda:1") and seen["set"] == torch.device("cuda:1")


def test_checkpoint_state_is_copied_to_the_cpu():
    from heartseg.train.state import to_cpu

    t = torch.ones(2)
    out = to_cpu({"state": {0: {"exp_avg": t, "step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}],
                  "pair": (t, 1)})
    assert out["state"][0]["exp_avg"].device.type == "cpu" and out["param_groups"][0]["params"] == [0]
    assert isinstance(out["pair"], tuple) and out["pair"][1] == 1
