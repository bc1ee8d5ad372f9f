"""What scripts/gpu-check.sh runs: versions, the training step in each precision/layout (+ torch.compile) with MFU,
loader patches/s against what the step consumes, and a short `--preset gpu` training that is stopped with SIGTERM,
resumed and evaluated. Writes one JSON document. `--dry` uses tiny sizes on any device (CI runs it on a CPU).

    python -m heartseg.bench.gpu_check --out gpu-check.json [--data DIR] [--dry] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REAL = {"features": [32, 64, 128, 256], "patch": [64, 128, 128], "batch": 2, "steps": 5, "loader_seconds": 20.0,
        "workers": [4, 8]}
DRY = {"features": [4, 8], "patch": [16, 16, 16], "batch": 2, "steps": 1, "loader_seconds": 2.0, "workers": [0]}


def versions() -> dict[str, Any]:
    import torch

    from heartseg.train.runtime import cpu_bf16_native, cuda_bf16_native, slow_amp_warning

    out: dict[str, Any] = {"python": sys.version.split()[0], "torch": str(torch.__version__), "cuda": torch.version.cuda,
                           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                           "cuda_available": torch.cuda.is_available(), "cpu_bf16_native": cpu_bf16_native()}
    if torch.cuda.is_available():
        dev = torch.device("cuda", 0)
        props = torch.cuda.get_device_properties(dev)
        out.update(gpu=props.name, capability=f"{props.major}.{props.minor}", memory_gb=round(props.total_memory / 2**30, 1),
                   bf16_native=cuda_bf16_native(dev), slow_amp_warning=slow_amp_warning(dev, torch.bfloat16))
    return out


def step_bench(s: dict[str, Any], device, compile_too: bool) -> dict[str, Any]:
    """Seconds per step and MFU of each precision x layout (runtime.time_variants, the chooser's own timing)."""
    import torch

    from heartseg import cost, machine
    from heartseg.train import runtime

    variants = [("fp32", "contiguous"), ("fp32", "channels_last"), (runtime.half_precision(device), "contiguous"),
                (runtime.half_precision(device), "channels_last")]
    timings = runtime.time_variants(s["features"], 1, 1, s["patch"], s["batch"], device, variants, steps=s["steps"])
    choice = runtime.choose(timings, runtime.bf16_native(device))
    flops = cost.TRAIN_FLOPS_FACTOR * cost.forward_flops(s["features"], s["patch"], batch=s["batch"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    rows = {}
    base = timings[("fp32", "contiguous")]
    for (p, l), sec in timings.items():
        peak = machine.gpu_peak_tflops(name, amp=p != "fp32") if name else None
        rows[runtime.variant_name(p, l)] = {"seconds_per_step": round(sec, 5), "ratio_vs_fp32": round(base / sec, 3),
                                           "mfu": round(flops / sec / (peak * 1e12), 4) if peak else None}
    out = {"model": s["features"], "patch": s["patch"], "batch": s["batch"], "train_gflop_per_step": round(flops / 1e9, 1),
           "variants": rows, "choice": {"precision": choice.precision, "layout": choice.layout, "reason": choice.reason}}
    if compile_too:
        out["compile"] = compile_bench(s, device, choice)
    return out


def compile_bench(s: dict[str, Any], device, choice) -> dict[str, Any]:
    """The chosen variant under torch.compile: compile seconds and seconds per step after it."""
    import torch

    from heartseg.losses import build_loss
    from heartseg.model import build_model
    from heartseg.train.runtime import DTYPES, timed_step

    fmt = torch.channels_last_3d if choice.layout == "channels_last" else torch.contiguous_format
    model = build_model(1, 1, s["features"]).to(device).to(memory_format=fmt)
    net = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    loss_fn = build_loss("dice_ce")
    x = torch.randn(s["batch"], 1, *s["patch"], device=device).contiguous(memory_format=fmt)
    y = (torch.rand(s["batch"], *s["patch"], device=device) > 0.5).long()
    dtype = DTYPES[choice.precision]

    def step() -> float:
        return timed_step(net, opt, loss_fn, x, y, device, dtype, time.perf_counter)

    try:
        first = step()
        times = sorted(step() for _ in range(max(3, s["steps"])))
    except Exception as e:  # noqa: BLE001 - a report: compile may fail on some stacks
        return {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    return {"compile_seconds": round(first, 1), "seconds_per_step": round(times[len(times) // 2], 5)}


def loader_bench(s: dict[str, Any], data_root: Path, cache: Path, step_seconds: float) -> dict[str, Any]:
    """Patches per second from PatchSampler with the default augmentation, for each worker count, vs the demand."""
    from heartseg import config as cfgmod
    from heartseg import data

    cfg = cfgmod.from_dict({"data": {"root": str(data_root), "cache_dir": str(cache), "patch": s["patch"],
                                     "batch": s["batch"]}, "model": {"features": s["features"]}})
    prepared = data.prepare(cfg.data)
    names = prepared.split()[0]
    sampler = data.PatchSampler(prepared, names, cfg.data, cfg.augment, 0)
    out: dict[str, Any] = {"demand_patches_per_s": round(s["batch"] / step_seconds, 1)}
    for workers in s["workers"]:
        count, tick = 0, time.perf_counter()
        for _ in data.make_train_loader(sampler, 0, 100000, workers):
            count += s["batch"]
            if time.perf_counter() - tick > s["loader_seconds"]:
                break
        out[f"workers_{workers}"] = round(count / (time.perf_counter() - tick), 1)
    return out


def engine(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heartseg", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def training(s: dict[str, Any], dry: bool, data_root: Path, work: Path, seconds: float) -> dict[str, Any]:
    """`train --preset gpu` (dry: tiny) for `seconds`, SIGTERM half-way, --resume to the end, evaluate."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("HEARTSEG_EVENT_FD", None)
    cfg: dict[str, Any] = {"data": {"root": str(data_root), "cache_dir": str(work / "cache")},
                           "train": {"minutes": round(seconds / 60.0, 3), "checkpoint_minutes": 0}}
    if dry:
        cfg["data"].update(patch=s["patch"], batch=s["batch"], workers=0, spacing=None)
        cfg["model"] = {"features": s["features"]}
        # the clock ends the run, as in real mode: a fixed few epochs could end before the SIGTERM arrives
        cfg["train"].update(epochs=10_000, iters_per_epoch=2, val_every=1, device="auto", precision="fp32",
                            layout="contiguous", bn_recalibration=2, threads=1)
        cfg["infer"] = {"sw_batch": 1, "overlap": 0.25}
    cfg_path = work / "config.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    run = work / "run"
    out: dict[str, Any] = {"seconds": seconds}
    tick = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "heartseg", "train", "--preset", "gpu", "--config", str(cfg_path),
                             "--run", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = run / "events.jsonl"
    deadline = time.monotonic() + max(60.0, 10 * seconds)
    while proc.poll() is None and time.monotonic() < deadline:  # SIGTERM after the first epoch's checkpoint
        if events.is_file() and '"kind":"last"' in events.read_text(encoding="utf-8", errors="replace"):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.2)
    _, err = proc.communicate(timeout=max(120.0, 10 * seconds))
    out["first"] = {"exit": proc.returncode, "wall_s": round(time.perf_counter() - tick, 1), "stderr": err[-400:]}
    tick = time.perf_counter()
    resumed = engine("train", "--run", str(run), "--resume", env=env, timeout=max(300.0, 10 * seconds))
    out["resume"] = {"exit": resumed.returncode, "wall_s": round(time.perf_counter() - tick, 1),
                     "stderr": resumed.stderr[-400:]}
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines() if line.strip()]
    ends = [r for r in records if r["type"] == "epoch_end"]
    out["epochs"] = len(ends)
    out["last_lr"] = ends[-1]["lr"] if ends else None
    out["val_dice"] = [r["val_dice"] for r in ends if r.get("val_dice") is not None]
    out["run_end"] = next((r for r in reversed(records) if r["type"] == "run_end"), None)
    tick = time.perf_counter()
    evaluated = engine("evaluate", "--run", str(run), "--no-figures", env=env, timeout=600.0)
    out["evaluate"] = {"exit": evaluated.returncode, "wall_s": round(time.perf_counter() - tick, 1),
                       "stdout": evaluated.stdout[-400:], "stderr": evaluated.stderr[-400:]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu-check.json")
    p.add_argument("--data", default="", help="la2018 (Decathlon layout); empty: a synthetic set is written")
    p.add_argument("--dry", action="store_true", help="tiny sizes: checks the script end to end on any machine")
    p.add_argument("--seconds", type=float, default=60.0, help="training budget of the short run")
    args = p.parse_args(argv)
    import torch

    from heartseg.device import resolve_device

    s = DRY if args.dry else REAL
    device = resolve_device("auto")
    result: dict[str, Any] = {"mode": "dry" if args.dry else "real", "versions": versions()}
    print(json.dumps(result["versions"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="heartseg-gpu-check-") as tmp:
        work = Path(tmp)
        data_root = Path(args.data) if args.data else None
        if data_root is None:
            from heartseg.synth import write_dataset

            shape = (24, 32, 32) if args.dry else (64, 128, 128)
            data_root = write_dataset(work / "synth", 4 if args.dry else 8, 0, shape)
        try:
            result["step"] = step_bench(s, device, compile_too=not args.dry and device.type == "cuda")
            print(json.dumps(result["step"]), flush=True)
            chosen = result["step"]["choice"]
            from heartseg.train.runtime import variant_name

            sec = result["step"]["variants"][variant_name(chosen["precision"], chosen["layout"])]["seconds_per_step"]
            result["loader"] = loader_bench(s, data_root, work / "cache", sec)
            print(json.dumps(result["loader"]), flush=True)
            result["training"] = training(s, args.dry, data_root, work, args.seconds)
            print(json.dumps({k: v for k, v in result["training"].items() if k != "evaluate"}), flush=True)
        except Exception as e:  # noqa: BLE001 - keep what was measured
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            del torch
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"gpu-check: wrote {Path(args.out).resolve()}", flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
