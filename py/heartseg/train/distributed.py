"""torchrun support: process group (NCCL on CUDA, Gloo on CPU), DDP, synchronised BatchNorm and reductions.

With DDP each rank normalises its own batch in BatchNorm unless the layers are synchronised; we always convert
BatchNorm to a synchronised version when world_size > 1 (torch's SyncBatchNorm on CUDA, `CpuSyncBatchNorm3d`
on CPU, where torch's is not supported), so N ranks with batch B train like one process with batch N*B.
State_dict keys are unchanged, so checkpoints stay seed-compatible.

A rank that fails says so before it exits (`fail`: the first failure is written to the rendezvous store, then the
group is torn down); every other rank hears it from a `PeerWatch` thread (polling the store) or from its next
collective, and ends with that rank's message instead of waiting out the collective timeout. A rank stuck in a
collective that never returns (NCCL does not notice a dead peer) is ended by the watch after a grace period. Once
training runs, the collective timeout drops from the 30 minutes of data preparation to TRAINING_TIMEOUT_MINUTES:
the backstop for a rank that dies without a word (SIGKILL, a crash) where no launcher ends its peers.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from heartseg.device import resolve_device as _resolve_device
from heartseg.errors import EXIT_FAILED

TRAINING_TIMEOUT_MINUTES = 5.0
"""Collective timeout once training runs (ranks then never wait on each other for long: steps are in lockstep and
validation shares differ by one case); data preparation, where rank 0 fills the cache alone, keeps init's 30."""
FAILURE_KEY = "heartseg/failure"
"""Rendezvous-store key holding the first failure of any rank (JSON of `Failure`)."""
POLL_SECONDS = 1.0
"""How often a PeerWatch reads the store."""
GRACE_SECONDS = 10.0
"""After a peer's failure, how long a rank may take to fail by itself before its watch ends it (well inside the
30 s torchrun waits between its SIGTERM and its SIGKILL)."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(env: dict[str, str] | None = None) -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK; absent means a single process."""
    env = dict(os.environ) if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {e}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}")
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def resolve_device(spec: str, info: DistInfo) -> torch.device:
    """heartseg.device.resolve_device with this rank's LOCAL_RANK. Under torchrun 'cuda:N' counts from GPU N:
    rank with LOCAL_RANK r takes cuda:N+r, so every rank has its own GPU (not all of them GPU N)."""
    spec = (spec or "auto").strip()
    if info.enabled and spec.startswith("cuda:") and spec[5:].isdigit():
        return _resolve_device(f"cuda:{int(spec[5:]) + info.local_rank}")
    return _resolve_device(spec, info.local_rank)


def init(info: DistInfo, device: torch.device, timeout_minutes: float = 30.0) -> str | None:
    """Join the process group torchrun describes (env:// rendezvous); returns the backend, None when single."""
    if not info.enabled or dist.is_initialized():
        return dist.get_backend() if dist.is_initialized() else None
    backend = "nccl" if device.type == "cuda" else "gloo"
    timeout = datetime.timedelta(minutes=timeout_minutes)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        try:  # device_id binds the NCCL communicator to this rank's GPU at once (torch >= 2.3)
            dist.init_process_group(backend=backend, timeout=timeout, device_id=device)
            _joined()
            return backend
        except TypeError:
            pass
    dist.init_process_group(backend=backend, timeout=timeout)
    _joined()
    return backend


def set_timeout(minutes: float) -> None:
    """The collective timeout from now on (the process group's own; no-op for a single process)."""
    if active():
        dist.set_timeout(datetime.timedelta(minutes=minutes))


def cleanup() -> None:
    """Leave the process group: politely after a good run, by abort after a failure (destroy could wait on a
    peer that is gone)."""
    global _store, _failure, _watch
    if _watch is not None:
        _watch.stop()
    if _failure is not None:
        abort()
    elif dist.is_initialized():
        dist.destroy_process_group()
    _store, _failure, _watch = None, None, None  # the next run in this process (a fold) starts clean


def abort() -> None:
    """Drop the process group at once; an NCCL collective in flight (ours or another thread's) then fails."""
    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "nccl":
            dist.distributed_c10d._abort_process_group()
        else:
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - already broken: leaving is all that is left to do
        pass


# --- one rank's failure ends every rank ------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    rank: int
    message: str
    kind: str = "internal"
    hint: str | None = None

    def describe(self) -> str:
        return f"rank {self.rank}: {self.message}"


class PeerFailed(RuntimeError):
    """Raised by a collective of ours once another rank has reported a failure: there is nobody to meet."""

    def __init__(self, failure: Failure):
        super().__init__(f"training failed on {failure.describe()}")
        self.failure = failure


_store: Any = None
"""The rendezvous store (torchrun's agent holds it, so it outlives any one rank); None for a single process."""
_failure: Failure | None = None
"""The run's first failure, once this rank knows it."""
_handling = threading.Event()
"""Set when this rank's main thread is reporting a failure: the watch then leaves the ending to it."""
_watch: "PeerWatch | None" = None


def _joined() -> None:
    global _store, _failure
    _failure = None
    _handling.clear()
    try:
        _store = dist.distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - no store: failures then travel only through broken collectives
        _store = None


def _read_failure() -> Failure | None:
    """The failure in the store, if any rank has written one (None when there is no store or it is gone)."""
    if _store is None:
        return None
    try:
        if not _store.check([FAILURE_KEY]):
            return None
        return Failure(**json.loads(_store.get(FAILURE_KEY)))
    except Exception:  # noqa: BLE001 - the store's host has ended: nothing more to learn from it
        return None


def fail(own: Failure) -> Failure:
    """This rank failed: tell the others (the first report wins), tear the group down so none of our collectives can
    block, and return the run's failure: `own`, or another rank's earlier one that ours follows from (a collective
    broken by that rank's exit). Called by the main thread; from here on a SIGTERM (torchrun ending the other ranks)
    must not cut the report short."""
    global _failure
    _handling.set()
    if _store is not None and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
    first = _failure or own
    if _failure is None and _store is not None:
        try:
            first = Failure(**json.loads(_store.compare_set(FAILURE_KEY, "", json.dumps(asdict(own)))))
        except Exception:  # noqa: BLE001 - the store is gone (its host ended): this rank's view is all we have
            first = _read_failure() or own
    _failure = first
    abort()
    return first


def _check() -> None:
    if _failure is not None:
        raise PeerFailed(_failure)


class PeerWatch:
    """A daemon thread that reads the store every POLL_SECONDS for another rank's failure. When one appears it is
    recorded (our next collective raises PeerFailed), an NCCL group is aborted (its collectives in flight fail), and
    if the main thread has not begun to report it within GRACE_SECONDS (blocked in a collective that will not
    return), `on_stuck(failure)` reports it and the process exits with EXIT_FAILED."""

    def __init__(self, rank: int, on_stuck: Callable[[Failure], None] | None = None,
                 poll: float = POLL_SECONDS, grace: float = GRACE_SECONDS):
        self.rank, self.on_stuck, self.poll, self.grace = rank, on_stuck, poll, grace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartseg-peer-watch", daemon=True)

    def start(self) -> "PeerWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        global _failure
        while not self._stop.wait(self.poll):
            if _store is None:
                return
            try:
                if not _store.check([FAILURE_KEY]):
                    continue
            except Exception:  # noqa: BLE001 - the store's host ended (the run is over, or broken collectives say so)
                return
            failure = _read_failure()
            if failure is None or failure.rank == self.rank or self._stop.is_set():
                return
            if _failure is None:
                _failure = failure
            if dist.is_initialized() and dist.get_backend() == "nccl":
                abort()
            if self._stop.wait(self.grace) or _handling.is_set():
                return
            # still inside a collective that will not return: report from here and end the process
            try:
                if self.on_stuck is not None:
                    self.on_stuck(failure)
                else:
                    print(f"heartseg: training failed on {failure.describe()}", file=sys.stderr, flush=True)
            finally:
                os._exit(EXIT_FAILED)


def watch_peers(rank: int, on_stuck: Callable[[Failure], None] | None = None) -> PeerWatch | None:
    """Start this rank's PeerWatch (None for a single process); cleanup() stops it."""
    global _watch
    if not active():
        return None
    if _watch is not None:
        _watch.stop()
    _watch = PeerWatch(rank, on_stuck).start()
    return _watch


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is again the sum over ranks (every rank's loss depends on every input)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(t)


class CpuSyncBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics cover the whole global batch (differentiable all-reduce; Gloo-friendly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        all_reduce = all_reduce_sum
        c = x.shape[1]
        dims = [0] + list(range(2, x.ndim))
        count = torch.tensor([x.numel() // c], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count]))
        total = sums[c]
        mean = sums[:c] / total
        shape = [1, c] + [1] * (x.ndim - 2)
        centred = x - mean.reshape(shape)
        var = all_reduce((centred * centred).sum(dims)) / total  # two passes: as exact as single-process BN
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(total)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1.0)), alpha=m)
        y = centred / torch.sqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap every BatchNorm for its synchronised version, keeping parameters and buffers (same state_dict keys)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm3d):
        out = CpuSyncBatchNorm3d(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, device))
    return out


def wrap(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool = True) -> nn.Module:
    """DistributedDataParallel around `model` (already on `device`) when distributed; the model itself otherwise."""
    if not info.enabled:
        return model
    if sync_bn:
        model = convert_sync_batchnorm(model, device)
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        return DDP(model, device_ids=[device.index], output_device=device.index)
    return DDP(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DDP and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def sum_tensor(t: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over ranks (identity for a single process); used for global Dice statistics."""
    return all_reduce_sum(t) if active() else t


def reduce_floats(values: list[float], device: torch.device, op: str = "sum") -> list[float]:
    """Sum (or max) plain numbers over ranks."""
    _check()
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any rank (a signal that reached one rank stops them all together)."""
    if not active():
        return flag
    return reduce_floats([1.0 if flag else 0.0], device, op="max")[0] > 0


def barrier() -> None:
    _check()
    if active():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    _check()
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
