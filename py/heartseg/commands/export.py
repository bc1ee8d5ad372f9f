"""`python -m heartseg export (--run RUN | --checkpoint CKPT) --out FILE`: weights to share, and how to apply them.

FILE is a raw state_dict (`torch.save(model.state_dict(), FILE)`), so the classic script's
`UNet3D(in_channels, out_channels, features).load_state_dict(torch.load(FILE))` loads it strictly; nothing else
(optimiser, history) goes into it. FILE.json beside it records the architecture and everything needed to apply the
model as heartseg would: spacing, normalisation and its formula, output convention, threshold, post-processing and
label names, each with its source. No TorchScript/ONNX: the state_dict plus the class is what users of the classic
script load, and a traced graph would fix the input size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from heartseg.errors import BadInput

SIDECAR_SUFFIX = ".json"
"""The sidecar is FILE + this suffix (best_model.pth -> best_model.pth.json)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from heartseg.model_setup import add_override_arguments

    p.add_argument("--run", help="run folder (its infer.checkpoint weights: final, else best, else last)")
    p.add_argument("--checkpoint", help="checkpoint file (a heartseg checkpoint or a bare state_dict)")
    p.add_argument("--out", required=True, help="the state_dict file to write (FILE.json is written beside it)")
    p.add_argument("--config", help="config JSON whose keys override what the checkpoint recorded")
    add_override_arguments(p)


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + SIDECAR_SUFFIX)


def _check_out(out: Path) -> None:
    import os

    if out.is_dir():
        raise BadInput("--out is a folder, expected a file name", file=str(out))
    probe = out.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise BadInput(f"--out: {probe} is a file, not a folder", file=str(out))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput("--out is not writable (read-only or no permission)", file=str(out))


def run(args: argparse.Namespace) -> int:
    import torch

    from heartseg import config as cfgmod
    from heartseg.checkpoint import APPLY_KEYS, application, load_checkpoint, load_into, save_atomic
    from heartseg.model_setup import find_checkpoint, user_overrides
    from heartseg.fsutil import atomic_write_text
    from heartseg.model import build_model

    if bool(args.run) == bool(args.checkpoint):
        raise BadInput("give one of --run RUN or --checkpoint CKPT")
    if args.run and not Path(args.run).is_dir():
        raise BadInput("run folder not found", file=str(Path(args.run).resolve()))
    out = Path(args.out).resolve()
    _check_out(out)
    overrides, _ = user_overrides(args)
    run_cfg = None
    if args.run and (Path(args.run) / "config.json").is_file():
        try:
            run_cfg = cfgmod.load(Path(args.run) / "config.json")
        except ValueError as e:
            raise BadInput(str(e), file=str((Path(args.run) / "config.json").resolve())) from None
    which = overrides.get("infer.checkpoint") or (run_cfg.infer.checkpoint if run_cfg else "final")
    path = find_checkpoint(args.run, args.checkpoint, which).resolve()
    ckpt = load_checkpoint(path)
    recorded = None
    if ckpt.kind != "heartseg" and run_cfg is not None:  # weights only, but the run recorded how it trained them
        flat = cfgmod.flatten(cfgmod.to_dict(run_cfg))
        recorded = {k: flat[k] for k in APPLY_KEYS}
    applied = application(ckpt, overrides, recorded)
    model = build_model(**ckpt.architecture)
    load_into(model, ckpt.state_dict, strict=True, file=str(path))  # exactly the classic class's keys
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_atomic(state, out)
    a = ckpt.architecture
    sidecar = {
        "format": "heartseg-export", "format_version": 1,
        "weights": out.name, "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "load_with": f"UNet3D(in_channels={a['in_channels']}, out_channels={a['out_channels']}, "
                     f"features={list(a['features'])}).load_state_dict(torch.load({out.name!r}))",
        "architecture": a, "source": str(path), "source_kind": ckpt.kind, "epoch": ckpt.epoch,
        "metrics": ckpt.metrics, "torch_version": str(torch.__version__), **applied.as_dict(),
    }
    side = sidecar_path(out)
    atomic_write_text(side, json.dumps(sidecar, indent=2, default=str) + "\n")
    for note in applied.notes:
        print(f"heartseg: {note}")
    print(f"heartseg: exported {path.name} -> {out} (state_dict) and {side} (how to apply it)")
    return 0
