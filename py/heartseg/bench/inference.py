"""inference: seconds to segment one 130x320x320 volume, heartseg.inference.predict_volume vs MONAI's
sliding_window_inference with the same model, window, overlap (0.5), Gaussian blending (sigma 0.125) and
windows per batch; both end in a probability array and a label map on the CPU.

The two outputs are compared (largest absolute difference of the probabilities on a 4-voxel grid) so a speed-up
never comes from computing something else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heartseg.bench import datasets, results, runner

NAME, UNIT = "inference", "s"
VOLUME = [130, 320, 320]
MODES = {
    "smoke": {"volume": [24, 40, 40], "patch": [16, 32, 32], "features": [4, 8], "repeats": 1, "warmup": 0},
    # --quick: an eighth of the volume (8 windows instead of 64) and a thin model, to fit 3 minutes on 2 cores
    "quick": {"volume": [66, 160, 160], "patch": [64, 128, 128], "features": [4, 8, 16, 32], "repeats": 1, "warmup": 0,
              "rounds": 2},  # alternating processes: load from other work falls on both sides alike
    "full": {"volume": VOLUME, "patch": [64, 128, 128], "features": [16, 32, 64, 128], "repeats": 1, "warmup": 0,
             "rounds": 2},
}
CUDA_FEATURES = [32, 64, 128, 256]
OVERLAP, SW_BATCH = 0.5, 2


def _setup(s: dict[str, Any]):
    import torch

    from heartseg.model import UNet3D

    torch.manual_seed(0)
    model = UNet3D(1, 1, s["features"]).to(s["device"]).eval()
    image = torch.randn(1, *s["volume"], generator=torch.Generator().manual_seed(0))
    return model, image


def _save(s: dict[str, Any], side: str, probs: np.ndarray) -> None:
    out = Path(s["scratch"]) / f"inference-{s['device']}-{side}.npy"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.asarray(probs).reshape(-1, *s["volume"])[0, ::4, ::4, ::4].astype(np.float32))


def ours(s: dict[str, Any]) -> dict[str, Any]:
    from heartseg.config import InferConfig
    from heartseg.inference import predict_volume

    model, image = _setup(s)
    cfg = InferConfig(overlap=OVERLAP, gaussian=True, tta=1, sw_batch=SW_BATCH, postprocess=[])
    holder: dict[str, Any] = {}

    def once():
        holder["out"] = predict_volume(model, image, s["patch"], cfg, 1, s["device"],
                                       precision=s.get("precision", "auto"), layout=s.get("layout", "contiguous"))

    cpu: list[float] = []
    seconds = runner.time_repeats(once, s["repeats"], s["warmup"], cpu)
    _save(s, "ours", holder["out"][1])
    return {"values": seconds, "extra": {"cpu_seconds": round(runner.median(cpu), 3)}}


def baseline(s: dict[str, Any]) -> dict[str, Any]:
    import torch
    from monai.inferers import sliding_window_inference

    model, image = _setup(s)
    device = torch.device(s["device"])
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16

    def predictor(batch):
        with torch.autocast(device.type, dtype=amp, enabled=device.type == "cuda"):
            logits = model(batch)
        return torch.sigmoid(logits.float())

    holder: dict[str, Any] = {}

    def once():
        with torch.inference_mode():
            probs = sliding_window_inference(image[None].to(device), s["patch"], SW_BATCH, predictor,
                                             overlap=OVERLAP, mode="gaussian", sigma_scale=0.125)[0]
            labels = (probs[0] > 0.5).to(torch.uint8).cpu().numpy()
            holder["out"] = (labels, probs.cpu().numpy())

    cpu: list[float] = []
    seconds = runner.time_repeats(once, s["repeats"], s["warmup"], cpu)
    _save(s, "baseline", holder["out"][1])
    return {"values": seconds, "extra": {"cpu_seconds": round(runner.median(cpu), 3)}}


def _agreement(s: dict[str, Any]) -> float | None:
    paths = [Path(s["scratch"]) / f"inference-{s['device']}-{side}.npy" for side in ("ours", "baseline")]
    if not all(p.is_file() for p in paths):
        return None
    a, b = (np.load(p) for p in paths)
    for p in paths:
        p.unlink()
    return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")


def _measure(name: str, s: dict[str, Any], note: str) -> dict[str, Any]:
    record, _, _ = runner.pair(name, NAME, UNIT, s, note=note, timeout=s.get("timeout_s"), rounds=s.get("rounds", 1))
    diff = _agreement(s)
    if diff is not None:
        record["max_prob_diff"] = None if not np.isfinite(diff) else float(f"{diff:.3g}")
        record["note"] += f"; outputs agree to {diff:.1e}" if np.isfinite(diff) else "; output shapes DIFFER"
    return record


def _auto_choice(s: dict[str, Any]):
    """The precision and layout train.precision/layout 'auto' pick for this model on this CPU (runtime.choose_for,
    as a run's start does); inference uses the run's choice, so this line shows what its evaluate and predict get."""
    import torch

    from heartseg import config as cfgmod
    from heartseg.train import runtime

    cfg = cfgmod.from_dict({"model": {"features": s["features"]}, "data": {"patch": s["patch"], "batch": SW_BATCH},
                            "train": {"device": "cpu"}})
    return runtime.choose_for(cfg, torch.device("cpu"), 1, 1)


def run(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        import monai  # noqa: F401 - the baseline; a bench/test-only dependency
    except ImportError:
        reason = "MONAI is not installed (pip install -r requirements-dev.txt)"
        return [results.skipped(NAME, UNIT, reason)] + ([results.skipped("inference_cuda", UNIT, reason)]
                                                        if ctx.get("gpu") else [])
    s = {**ctx, **MODES[ctx["mode"]], "device": "cpu", "scratch": str(datasets.work_dir(ctx) / "scratch")}
    width = "" if s["features"] == CUDA_FEATURES else f" (narrower than the default {'-'.join(map(str, CUDA_FEATURES))} for --{ctx['mode']} on a CPU)"
    small = "" if s["volume"] == VOLUME else f" (reduced from {'x'.join(map(str, VOLUME))} for --{ctx['mode']})"
    note = (f"CPU fp32, volume {'x'.join(map(str, s['volume']))}{small}, window {'x'.join(map(str, s['patch']))}, overlap "
            f"{OVERLAP}, Gaussian, {SW_BATCH} windows per batch, model {'-'.join(map(str, s['features']))}{width}")
    out = [_measure(NAME, s, note)]
    choice = _auto_choice(s)
    if choice.precision != "fp32" or choice.layout != "contiguous":  # else the line above is the same measurement
        a = {**s, "precision": choice.precision, "layout": choice.layout}
        out.append(_measure(f"{NAME}_auto", a, note.replace("CPU fp32", f"CPU, ours in {choice.precision} + "
                                                            f"{choice.layout} as training chose ({choice.reason}), "
                                                            "MONAI fp32") + "; the outputs differ by the precision"))
    if ctx.get("gpu"):
        if not ctx.get("cuda"):
            out.append(results.skipped("inference_cuda", UNIT, "no CUDA device visible to torch"))
        else:
            g = {**s, "device": "cuda", "features": CUDA_FEATURES, "warmup": 1,
                 "volume": s["volume"] if ctx["mode"] == "smoke" else VOLUME,
                 "repeats": 2 if ctx["mode"] == "smoke" else 5}
            out.append(_measure("inference_cuda", g, f"CUDA with AMP on both sides, volume "
                                f"{'x'.join(map(str, g['volume']))}, default model, same windows as the CPU line"))
    return out
