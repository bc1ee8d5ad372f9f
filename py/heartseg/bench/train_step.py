"""train_step: voxels per second of one training step, the engine's Trainer.train_step vs a plain PyTorch loop.

Both sides train the same model (same seed, same widths) on the same patch: ours is the step exactly as the
training loop runs it (AdamW, Dice + cross-entropy, gradient clipping, AMP/channels_last/compile switches);
the baseline is the plain loop people write (Adam, BCE-with-logits + soft Dice, written out). fp32 on the CPU;
with --gpu on CUDA also AMP, channels_last_3d and torch.compile, with MFU against the GPU's peak.
"""

from __future__ import annotations

import math
from typing import Any

from heartseg import cost
from heartseg.bench import results, runner

NAME, UNIT = "train_step", "voxels/s"
DEFAULT = [32, 64, 128, 256]
MODES = {  # repeats per round; two rounds alternate the sides (see runner.pair)
    "smoke": {"features": [4, 8], "patch": [16, 16, 16], "repeats": 1, "warmup": 1, "rounds": 2},
    "quick": {"features": DEFAULT, "patch": [32, 64, 64], "repeats": 3, "warmup": 1, "rounds": 2},
    "full": {"features": DEFAULT, "patch": [64, 128, 128], "repeats": 2, "warmup": 1, "rounds": 2},
}
CUDA_MODES = {
    "smoke": {"features": [4, 8], "patch": [16, 16, 16], "repeats": 2, "warmup": 1},
    "quick": {"features": DEFAULT, "patch": [64, 128, 128], "repeats": 5, "warmup": 2},
    "full": {"features": DEFAULT, "patch": [64, 128, 128], "repeats": 20, "warmup": 3},
}
CUDA_VARIANTS = {  # record name -> (amp, channels_last, compile)
    "train_step_cuda_fp32": (False, False, False),
    "train_step_cuda_amp": (True, False, False),
    "train_step_cuda_channels_last": (True, True, False),
    "train_step_cuda_compile": (True, False, True),
}


def _batch(patch: list[int], device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    image = torch.randn(1, 1, *patch, generator=g)
    zz, yy, xx = torch.meshgrid(*[torch.linspace(-1, 1, p) for p in patch], indexing="ij")
    label = ((zz**2 + yy**2 + xx**2) < 0.4).long()[None]  # a ball: about a quarter of the patch is foreground
    return image.to(device), label.to(device)


def _timed(step, device: str, repeats: int, warmup: int, cpu: list[float]) -> list[float]:
    import torch

    def synced():
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return runner.time_repeats(synced, repeats, warmup, cpu)


def _ours(s: dict[str, Any], device: str, amp: bool = False, channels_last: bool = False,
          compile_: bool = False, auto: bool = False) -> dict[str, Any]:
    """auto: precision and layout as train.precision/layout 'auto' choose them (timed by the Trainer at start)."""
    import torch

    from heartseg.config import Config
    from heartseg.train.loop import Trainer

    cfg = Config()
    cfg.model.features = list(s["features"])
    cfg.data.patch, cfg.data.batch = list(s["patch"]), 1
    cfg.train.device, cfg.train.precision = device, "auto" if amp else "fp32"
    cfg.train.layout, cfg.train.compile = "channels_last" if channels_last else "contiguous", compile_
    if auto:
        cfg.train.precision, cfg.train.layout = "auto", "auto"
    torch.manual_seed(0)
    trainer = Trainer(cfg, in_channels=1, out_channels=1)
    trainer.start()
    image, label = _batch(s["patch"], device)
    cpu: list[float] = []
    seconds = _timed(lambda: trainer.train_step(image, label), device, s["repeats"], s["warmup"], cpu)
    body = _body(s, seconds, cpu, device, amp)
    if auto and trainer.choice is not None:
        body["extra"]["choice"] = f"{trainer.cfg.train.precision}+{trainer.cfg.train.layout}"
        body["extra"]["choice_reason"] = trainer.choice.reason
    return body


def _plain(s: dict[str, Any], device: str) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from heartseg.model import UNet3D

    torch.manual_seed(0)
    model = UNet3D(1, 1, s["features"]).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    image, label = _batch(s["patch"], device)
    target = label[:, None].float()

    def step():
        optimizer.zero_grad()
        logits = model(image)
        probs = torch.sigmoid(logits)
        dice = 1 - (2 * (probs * target).sum() + 1e-5) / (probs.sum() + target.sum() + 1e-5)
        loss = F.binary_cross_entropy_with_logits(logits, target) + dice
        loss.backward()
        optimizer.step()

    cpu: list[float] = []
    return _body(s, _timed(step, device, s["repeats"], s["warmup"], cpu), cpu, device, False)


def _body(s: dict[str, Any], seconds: list[float], cpu: list[float], device: str, amp: bool) -> dict[str, Any]:
    import torch

    voxels = math.prod(s["patch"])
    extra: dict[str, Any] = {"step_seconds": round(runner.median(seconds), 4),
                             "step_cpu_seconds": round(runner.median(cpu), 4)}
    if device.startswith("cuda"):
        from heartseg.machine import gpu_peak_tflops

        peak = gpu_peak_tflops(torch.cuda.get_device_name(0), amp)
        achieved = cost.TRAIN_FLOPS_FACTOR * cost.forward_flops(s["features"], s["patch"]) / runner.median(seconds)
        extra["tflops"] = round(achieved / 1e12, 2)
        extra["mfu"] = round(achieved / (peak * 1e12), 4) if peak else None
        extra["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return {"values": [voxels / t for t in seconds], "extra": extra}


def ours(s):
    return _ours(s, "cpu", auto=True)


def baseline(s):
    return _plain(s, "cpu")


def baseline_cuda(s):
    return _plain(s, "cuda")


def ours_train_step_cuda_fp32(s):
    return _ours(s, "cuda", *CUDA_VARIANTS["train_step_cuda_fp32"])


def ours_train_step_cuda_amp(s):
    return _ours(s, "cuda", *CUDA_VARIANTS["train_step_cuda_amp"])


def ours_train_step_cuda_channels_last(s):
    return _ours(s, "cuda", *CUDA_VARIANTS["train_step_cuda_channels_last"])


def ours_train_step_cuda_compile(s):
    return _ours(s, "cuda", *CUDA_VARIANTS["train_step_cuda_compile"])


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    s = {**ctx, **MODES[ctx["mode"]], "threads": None}
    shape = f"1x1x{'x'.join(map(str, s['patch']))}"
    reduced = "" if s["patch"] == [64, 128, 128] else f" (reduced from 64x128x128 for --{ctx['mode']})"
    note = (f"CPU, ours in the precision/layout 'auto' measures best (baseline fp32 contiguous), model "
            f"{'-'.join(map(str, s['features']))} "
            f"({cost.parameters(s['features']) / 1e6:.1f} M params), patch {shape}{reduced}; median of "
            f"{s['repeats'] * s['rounds']} steps ({s['rounds']} alternating processes per side, each after "
            f"{s['warmup']} warm-up step)")
    record, _, _ = runner.pair(NAME, NAME, UNIT, s, note=note, timeout=ctx.get("timeout_s"), rounds=s["rounds"])
    out = [record]
    if ctx.get("gpu"):
        out += _run_cuda(ctx)
    return out


def _run_cuda(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    if not ctx.get("cuda"):
        return [results.skipped(v, UNIT, "no CUDA device visible to torch") for v in CUDA_VARIANTS]
    s = {**ctx, **CUDA_MODES[ctx["mode"]]}
    base = runner.run_side(NAME, "baseline_cuda", s, ctx.get("timeout_s"))
    out = []
    fp32_rate = None
    for variant, (amp, _, _) in CUDA_VARIANTS.items():
        note = f"CUDA, patch 1x1x{'x'.join(map(str, s['patch']))}, baseline: plain fp32 loop on the same GPU"
        record, _, _ = runner.pair(variant, NAME, UNIT, s, ours=f"ours_{variant}", note=note,
                                      timeout=ctx.get("timeout_s"), baseline_body=base)
        mfu = record.get("ours_mfu")
        if mfu is not None:
            record["note"] += f"; MFU {mfu:.1%}"
        if variant == "train_step_cuda_fp32":
            fp32_rate = record["ours"]
        elif amp and fp32_rate and record["ours"]:
            record["note"] += f"; {record['ours'] / fp32_rate:.2f}x ours in fp32"
        out.append(record)
    return out
