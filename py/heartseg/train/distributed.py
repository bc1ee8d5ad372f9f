"""torchrun support: process group (NCCL on CUDA, Gloo on CPU), DDP, synchronised BatchNorm and reductions.

With DDP each rank normalises its own batch in BatchNorm unless the layers are synchronised; we always convert
BatchNorm to a synchronised version when world_size > 1 (torch's SyncBatchNorm on CUDA, `CpuSyncBatchNorm3d`
on CPU, where torch's is not supported), so N ranks with batch B train like one process with batch N*B.
State_dict keys are unchanged, so checkpoints stay seed-compatible.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from heartseg.device import resolve_device as _resolve_device


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
            return backend
        except TypeError:
            pass
    dist.init_process_group(backend=backend, timeout=timeout)
    return backend


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


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
    if active():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
