"""Process-wide settings of a training run: seeds, determinism, cuDNN, mixed precision."""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


PRECISIONS = ("fp32", "bf16", "fp16")
LAYOUTS = ("contiguous", "channels_last")
MIN_SPEEDUP = 1.2
"""'auto' leaves fp32 contiguous only for a variant measured at least this many times faster."""
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cuda_bf16_native(device: torch.device) -> bool:
    """bf16 in hardware (compute capability >= 8); torch.cuda.is_bf16_supported() counts emulation by default."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    if major < 8:
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3 has no including_emulation: the capability decides
        return True


def cpu_bf16_native(flags: str | None = None) -> bool:
    """The CPU has bf16 instructions (AVX-512 BF16 or AMX), from /proc/cpuinfo (or the `flags` given)."""
    if flags is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                flags = next((line for line in f if line.startswith("flags")), "")
        except OSError:
            flags = ""
    words = set(flags.split())
    return bool(words & {"avx512_bf16", "amx_bf16"})


def bf16_native(device: torch.device) -> bool:
    return cuda_bf16_native(device) if device.type == "cuda" else cpu_bf16_native()


def half_precision(device: torch.device) -> str:
    """The reduced precision worth trying on this device: bf16 where native, fp16 on older GPUs, else bf16."""
    if device.type == "cuda" and not cuda_bf16_native(device):
        return "fp16"
    return "bf16"


def default_choice(device: torch.device) -> tuple[str, str]:
    """What 'auto' means without a measurement: mixed precision on CUDA, fp32 on a CPU, contiguous."""
    return (half_precision(device) if device.type == "cuda" else "fp32"), "contiguous"


def amp_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision setting; None means fp32. An unmeasured 'auto' is default_choice."""
    if precision == "auto":
        precision = default_choice(device)[0]
    if precision not in DTYPES:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return DTYPES[precision]


@dataclass
class Choice:
    precision: str
    layout: str
    reason: str
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step by variant name ('bf16+channels_last'), when measured."""
    speedup: float | None = None
    """Measured speed of the choice over fp32 contiguous."""


def variant_name(precision: str, layout: str) -> str:
    return precision if layout == "contiguous" else f"{precision}+{layout}"


def choose(timings: dict[tuple[str, str], float], native_bf16: bool, min_speedup: float = MIN_SPEEDUP,
           precision: str = "auto", layout: str = "auto") -> Choice:
    """Pure: the fastest measured (precision, layout) at least `min_speedup` times faster than fp32 contiguous,
    else fp32 contiguous. A setting that is not 'auto' is kept as it is; bf16 without native support must also
    beat every fp32 variant (emulated bf16 is often slower)."""
    fixed_p = None if precision == "auto" else precision
    fixed_l = None if layout == "auto" else layout
    names = {variant_name(p, l): round(s, 4) for (p, l), s in timings.items()}
    if fixed_p and fixed_l:
        return Choice(fixed_p, fixed_l, "set in the config", names)
    base_key = (fixed_p or "fp32", fixed_l or "contiguous")
    base = timings.get(base_key)
    if base is None or not base > 0:
        p, l = fixed_p or "fp32", fixed_l or "contiguous"
        return Choice(p, l, f"not measured: {variant_name(*base_key)} has no timing", names)
    fp32_best = min((s for (p, _), s in timings.items() if p == "fp32" and s > 0), default=base)
    best_key, best = base_key, base
    for (p, l), s in sorted(timings.items(), key=lambda kv: kv[1]):
        if (fixed_p and p != fixed_p) or (fixed_l and l != fixed_l) or not s > 0:
            continue
        if base / s < min_speedup:
            continue
        if p == "bf16" and not native_bf16 and not s < fp32_best / min_speedup:
            continue
        if s < best:
            best_key, best = (p, l), s
    ratio = base / best
    name = variant_name(*best_key)
    if best_key == base_key:
        others = [(k, s) for k, s in timings.items() if k != base_key and s > 0]
        top = min(others, key=lambda kv: kv[1], default=None)
        why = (f"{variant_name(*base_key)}: {base:.3g} s/step; the fastest other, {variant_name(*top[0])}, was "
               f"{base / top[1]:.2f}x (under the {min_speedup:g}x needed)" if top else
               f"{variant_name(*base_key)}: the only variant measured")
    else:
        why = f"{name}: measured {ratio:.2f}x {variant_name(*base_key)} ({best:.3g} vs {base:.3g} s/step)"
        if best_key[0] == "bf16":
            why += "; bf16 is native here" if native_bf16 else "; bf16 is emulated here but measured faster"
    return Choice(best_key[0], best_key[1], why, names, round(ratio, 3))


def variants_to_measure(device: torch.device, precision: str = "auto", layout: str = "auto") -> list[tuple[str, str]]:
    """(precision, layout) pairs to time for the 'auto' parts of the settings; fp32 contiguous (the baseline) first."""
    precisions = ["fp32", half_precision(device)] if precision == "auto" else [precision]
    layouts = list(LAYOUTS) if layout == "auto" else [layout]
    out = [(p, l) for p in precisions for l in layouts]
    base = ("fp32" if precision == "auto" else precision, "contiguous" if layout == "auto" else layout)
    return [base] + [v for v in out if v != base]


def measure_patch(features: list[int], patch: list[int], batch: int, device: torch.device,
                  max_gflop: float = 120.0, max_voxels: int = 2 * 32 * 64 * 64) -> list[int]:
    """The patch the measurement times: the training patch, halved along its longest axis while one step would
    cost more than `max_gflop` or move more than `max_voxels` per step on a CPU (speed ratios move little with
    size; minutes of timing would)."""
    import math

    from heartseg.cost import TRAIN_FLOPS_FACTOR, forward_flops

    out, least = list(patch), 2 ** len(features)

    def heavy(p: list[int]) -> bool:
        return (TRAIN_FLOPS_FACTOR * forward_flops(features, p, batch=batch) > max_gflop * 1e9
                or batch * math.prod(p) > max_voxels)

    while device.type != "cuda" and heavy(out):
        axis = max(range(3), key=lambda i: out[i])
        if out[axis] // 2 < least:
            break
        out[axis] //= 2
    return out


PROBE_SLOWDOWN = 2.0
"""A reduced precision whose probe convolution is this many times slower than fp32 is not timed on the model."""
PROBE_ROUNDS = 5
"""Most probe rounds: a slow verdict needs every round slow (an emulated bf16 conv costs ~0.2 s a round)."""


def cpu_seconds() -> float:
    """This process's CPU time over its torch threads: on a shared machine other work does not count."""
    return time.process_time() / max(1, torch.get_num_threads())


def probe_half(device: torch.device, width: int, precision: str, clock: Callable[[], float] | None = None) -> float:
    """How many times slower one 3x3x3 convolution (forward and backward, `width` channels up to 32, 8^3) runs in
    `precision` than in fp32: some CPUs and builds emulate bf16 Conv3d tens of times slower (small, so that an
    emulated probe costs well under a second)."""
    clock = clock or (time.perf_counter if device.type == "cuda" else cpu_seconds)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        width = max(1, min(32, width))
        conv = torch.nn.Conv3d(width, width, 3, padding=1).to(device)
        x = torch.randn(1, width, 8, 8, 8, device=device, requires_grad=True)

        def once(dtype: torch.dtype | None) -> float:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            tick = clock()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                y = conv(x)
            y.float().sum().backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return max(clock() - tick, 1e-9)

        # interleaved rounds, the minimum of each: on a loaded machine a thread spinning while its peer is
        # descheduled counts as CPU time, and one such round once made native bf16 look 15x slower
        half, full = math.inf, math.inf
        for round_ in range(PROBE_ROUNDS):
            half, full = min(half, once(DTYPES[precision])), min(full, once(None))
            if round_ >= 1 and half / full < PROBE_SLOWDOWN:
                break  # fast enough: the common case ends after two rounds
        return half / full


def timed_step(net: Any, opt: Any, loss_fn: Any, x: torch.Tensor, y: torch.Tensor, device: torch.device,
               dtype: torch.dtype | None, clock: Callable[[], float]) -> float:
    """Seconds of one optimiser step of `net` on (x, y) under autocast `dtype` (None: fp32), the GPU drained first."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tick = clock()
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        logits = net(x)
    loss_fn(logits.float(), y).backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - tick


def time_variants(features: list[int], in_channels: int, out_channels: int, patch: list[int], batch: int,
                  device: torch.device, variants: list[tuple[str, str]], steps: int = 2, loss: str = "dice_ce",
                  clock: Callable[[], float] | None = None) -> dict[tuple[str, str], float]:
    """Seconds per training step (AdamW, the loss, backward) of the model for each variant: one warm-up step each,
    then `steps` rounds that visit every variant in turn (load from other work falls on all alike); the minimum.
    On a CPU the clock is CPU seconds per thread, so other work on a shared machine does not count. A reduced
    precision whose probe convolution is PROBE_SLOWDOWN times slower than fp32 is left out (recorded at the
    probe's ratio times fp32), so a badly emulated bf16 does not cost minutes of timing."""
    from heartseg.losses import build_loss
    from heartseg.model import build_model

    clock = clock or (time.perf_counter if device.type == "cuda" else cpu_seconds)
    slow = {p: probe_half(device, max(features), p, clock) for p in {p for p, _ in variants if p != "fp32"}}
    skipped = [v for v in variants if slow.get(v[0], 1.0) >= PROBE_SLOWDOWN]
    variants = [v for v in variants if v not in skipped] or variants[:1]

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the run's seeded initialisation must not depend on this
        torch.manual_seed(0)
        model = build_model(in_channels, out_channels, features).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = build_loss(loss)
        image = torch.randn(batch, in_channels, *patch, device=device)
        label = (torch.rand(batch, *patch, device=device) * max(2, out_channels)).long().clamp_(max=max(1, out_channels - 1))

        def step(precision: str, layout: str) -> float:
            fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
            model.to(memory_format=fmt)
            x = image.contiguous(memory_format=fmt)
            return timed_step(model, opt, loss_fn, x, label, device, DTYPES[precision], clock)

        for v in variants:
            step(*v)
        best: dict[tuple[str, str], float] = {}
        for _ in range(max(1, steps)):
            for v in variants:
                s = step(*v)
                best[v] = min(best.get(v, s), s)
    fp32 = min(best.values())
    for v in skipped:  # not timed: what the probe says, so the reason can name it
        best[v] = fp32 * slow[v[0]]
    return best


def choose_for(cfg: Any, device: torch.device, in_channels: int, out_channels: int,
               measure: Callable[..., dict[tuple[str, str], float]] | None = None) -> Choice:
    """train.precision / train.layout for this run: kept when set; 'auto' measured on this model, batch and patch
    (deterministic runs take default_choice unmeasured, so the choice cannot depend on the machine's load)."""
    t = cfg.train
    if t.precision != "auto" and t.layout != "auto":
        return Choice(t.precision, t.layout, "set in the config")
    if t.deterministic:
        p, l = default_choice(device)
        return Choice(p if t.precision == "auto" else t.precision, l if t.layout == "auto" else t.layout,
                      "train.deterministic: not measured (a measured choice would depend on the machine's load)")
    variants = variants_to_measure(device, t.precision, t.layout)
    patch = measure_patch(list(cfg.model.features), list(cfg.data.patch), cfg.data.batch, device)
    timings = (measure or time_variants)(list(cfg.model.features), in_channels, out_channels, patch,
                                         cfg.data.batch, device, variants, loss=t.loss)
    choice = choose(timings, bf16_native(device), precision=t.precision, layout=t.layout)
    if patch != list(cfg.data.patch):
        choice.reason += f" (timed on a {'x'.join(map(str, patch))} patch)"
    return choice


def slow_amp_warning(device: torch.device, dtype: torch.dtype | None, torch_version: str | None = None,
                     cudnn: int | None = None) -> str | None:
    """torch 2.9 turned cuDNN off for fp16/bf16 Conv3d with cuDNN >= 9.8 (pytorch#163539, about 4x slower);
    later releases turn it back on only with cuDNN >= 9.15. None when this torch and cuDNN are not affected."""
    if device.type != "cuda" or dtype is None:
        return None
    version = str(torch_version or torch.__version__).split("+")[0].split(".")
    try:
        major_minor = (int(version[0]), int(version[1]))
    except (ValueError, IndexError):
        return None
    cudnn = cudnn if cudnn is not None else (torch.backends.cudnn.version() or 0)
    affected = major_minor >= (2, 9) and cudnn >= 90800 and (major_minor < (2, 10) or cudnn < 91500)
    if not affected:
        return None
    return (f"torch {torch_version or torch.__version__} with cuDNN {cudnn}: mixed-precision 3D convolutions skip "
            "cuDNN and run about 4x slower; use torch >= 2.10 with cuDNN >= 9.15, or set train.precision to fp32")


def seed_everything(seed: int, deterministic: bool, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed patch shapes: let cuDNN pick kernels once
