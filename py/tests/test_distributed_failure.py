"""A failure on one rank ends every rank within seconds, with that rank's message (issue 16).

Two ranks train on the CPU with Gloo through reliability_hooks.py (test-only: HEARTSEG_TEST_FAIL with
HEARTSEG_TEST_FAIL_RANK makes one rank's N-th step or validation raise CUDA's OutOfMemoryError). Every process must
end well inside the subprocess timeout (the collective timeout at start is 30 minutes), non-zero, and rank 0 must
record the failing rank's error in events.jsonl as a single-process run records its own, leaving a loadable last.pt.
Gloo notices a peer that exited; NCCL does not, so the stuck case (a peer that reported and went silent) is tested
on its own: the PeerWatch ends the blocked rank.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliability_engine import HOOKS, events, load_weights_only
from test_train_helpers import PY_ROOT, tiny_config_dict, tiny_dataset, write_config

LIMIT = 120
"""Seconds each process may take, start-up and training included: far below the 30-minute collective timeout."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(fail: str, rank: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HEARTSEG_TEST_FAIL=fail, HEARTSEG_TEST_FAIL_RANK=str(rank))
    for key in ("HEARTSEG_EVENT_FD", "HEARTSEG_DEBUG", "HEARTSEG_TEST_PAUSE"):
        env.pop(key, None)
    return env


def _launch(launcher: str, args: list[str], env: dict[str, str], cwd: Path) -> list[tuple[int, str]]:
    """(exit code, output) per process: torchrun's one, or each rank's when started by hand (no agent to end them)."""
    port = str(_free_port())
    if launcher == "torchrun":
        cmds = [([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", port,
                  str(HOOKS), *args], env)]
    else:
        cmds = [([sys.executable, str(HOOKS), *args],
                 dict(env, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r)))
                for r in range(2)]
    procs = [subprocess.Popen(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd, e in cmds]
    out = []
    try:
        for proc in procs:
            try:
                text, _ = proc.communicate(timeout=LIMIT)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"a rank was still running after {LIMIT} s (waiting out the collective "
                                     "timeout)") from None
            out.append((proc.returncode, text))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return out


@pytest.mark.parametrize("launcher, fail, rank", [
    ("torchrun", "step:OOM:3", 1),      # mid-epoch 2, in DDP's collectives; torchrun's agent also ends the peers
    ("by hand", "validate:OOM:2", 1),   # the second validation; nobody but the ranks themselves ends anything
])
def test_a_failing_rank_ends_every_rank_with_its_message(tmp_path, launcher, fail, rank):
    root = tiny_dataset(tmp_path / "data")
    cfg = write_config(tmp_path / "cfg.json", tiny_config_dict(root, tmp_path / "cache", epochs=3, iters_per_epoch=2,
                                                                 deterministic=False))
    run = tmp_path / "run"
    results = _launch(launcher, ["train", "--config", str(cfg), "--run-dir", str(run)], _env(fail, rank), tmp_path)
    output = "\n".join(text for _, text in results)
    assert all(code != 0 for code, _ in results), output[-4000:]
    if launcher != "torchrun":
        assert [code for code, _ in results] == [1, 1], output[-4000:]
    assert f"training failed on rank {rank}: OutOfMemory" in results[0][1], output[-4000:]  # rank 0's one line
    records = events(run)
    error = [r for r in records if r["type"] == "error"]
    assert len(error) == 1 and error[0]["kind"] == "out_of_memory", error
    assert error[0]["message"].startswith(f"rank {rank}: OutOfMemory: CUDA ran out of memory"), error
    assert error[0]["hint"] and "data.batch" in error[0]["hint"]
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "failed" and records[-1]["exit_code"] == 1
    saved = [r for r in records if r["type"] == "checkpoint" and r["kind"] == "last"]
    last = load_weights_only(run / "checkpoints" / "last.pt")  # resumable: the last good checkpoint
    assert saved and last["epoch"] == saved[-1]["epoch"] == 1


def _stuck_rank(rank: int, port: int, folder: str) -> None:
    """Rank 1 reports a failure and stays (as a dead peer looks to NCCL); rank 0 waits in a barrier."""
    import torch

    from heartseg.train import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    info = distributed.from_env()
    distributed.init(info, torch.device("cpu"))
    if rank == 1:
        distributed.abort = lambda: None  # keep the group up: rank 0's barrier gets no error from Gloo
        distributed.fail(distributed.Failure(1, "MemoryError: injected", "out_of_memory", "lower data.batch"))
        time.sleep(LIMIT)
        return

    def report(failure: distributed.Failure) -> None:
        Path(folder, "reported").write_text(json.dumps([failure.describe(), failure.kind]), encoding="utf-8")

    distributed.PeerWatch(0, on_stuck=report, poll=0.2, grace=1.0).start()
    distributed.barrier()  # never met: only the watch can end this process
    Path(folder, "barrier-returned").write_text("x", encoding="utf-8")


def test_a_rank_stuck_in_a_collective_is_ended_by_its_watch(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ranks = [ctx.Process(target=_stuck_rank, args=(r, port, str(tmp_path))) for r in range(2)]
    for p in ranks:
        p.start()
    try:
        ranks[0].join(LIMIT)
        assert ranks[0].exitcode == 1, f"rank 0 still blocked or ended otherwise (exit code {ranks[0].exitcode})"
        assert json.loads((tmp_path / "reported").read_text()) == ["rank 1: MemoryError: injected", "out_of_memory"]
        assert not (tmp_path / "barrier-returned").exists()
    finally:
        for p in ranks:
            if p.is_alive():
                p.kill()
            p.join()
