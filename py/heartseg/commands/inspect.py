"""`inspect CKPT [--patch Z,Y,X] [--json]`: architecture, per-block output shapes and parameters, metrics, fit.

Shapes come from forward hooks on a meta-device copy of the model, so even the full-size network costs no compute.
"""

from __future__ import annotations

import json
from typing import Any

from heartseg.errors import BadInput


def add_arguments(p) -> None:
    p.add_argument("checkpoint", metavar="CKPT", help="a raw state_dict, a module.-prefixed one or a heartseg checkpoint")
    p.add_argument("--patch", metavar="Z,Y,X", help="input size for the per-block shapes (default: the checkpoint's "
                   "training patch, else the default config's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--config", help="config JSON whose keys would override what the checkpoint recorded")
    from heartseg.model_setup import add_override_arguments

    add_override_arguments(p)


def parse_patch(text: str) -> list[int]:
    parts = text.replace("x", ",").split(",")
    try:
        patch = [int(p) for p in parts]
    except ValueError:
        patch = []
    if len(patch) != 3 or any(p < 1 for p in patch):
        raise BadInput(f"--patch: got {text!r}, expected three positive sizes Z,Y,X (e.g. 32,64,64)")
    return patch


def block_summary(architecture: dict[str, Any], patch: list[int]) -> list[dict[str, Any]]:
    """Output shape and parameter count of every encoder, bottleneck, up-convolution, decoder and head block."""
    import torch

    from heartseg.model import build_model

    with torch.device("meta"):
        model = build_model(**architecture)
        x = torch.zeros((1, architecture["in_channels"], *patch))
    blocks: list[tuple[str, torch.nn.Module]] = []
    blocks += [(f"encoder_layers.{i}", m) for i, m in enumerate(model.encoder_layers)]
    blocks.append(("bottleneck", model.bottleneck))
    for i, (up, dec) in enumerate(zip(model.upconvs, model.decoder_layers)):
        blocks += [(f"upconvs.{i}", up), (f"decoder_layers.{i}", dec)]
    blocks.append(("final_conv", model.final_conv))
    shapes: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, list(out.shape)))
             for name, m in blocks]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return [{"name": name, "output_shape": shapes.get(name), "parameters": sum(p.numel() for p in m.parameters())}
            for name, m in blocks]


def describe(path: str, patch: list[int] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from heartseg import config as cfgmod
    from heartseg.checkpoint import application, load_checkpoint, mismatches
    from heartseg.model import build_model, count_parameters

    ckpt = load_checkpoint(path)
    arch = ckpt.architecture
    if patch is None:
        stored = ((ckpt.config or {}).get("data") or {}).get("patch")
        patch = list(stored) if isinstance(stored, list) and len(stored) == 3 else list(cfgmod.Config().data.patch)
    model = build_model(**arch)
    report = mismatches(model, ckpt.state_dict)
    compatible = not any(report.values())
    if compatible:
        model.load_state_dict(ckpt.state_dict, strict=True)
    out = arch["out_channels"]
    info: dict[str, Any] = {
        "file": str(path),
        "kind": ckpt.kind,
        "architecture": arch,
        "output": "sigmoid, one foreground label" if out == 1 else f"softmax over {out} classes incl. background",
        "parameters": count_parameters(model),
        "patch": patch,
        "blocks": block_summary(arch, patch),
        "compatible": compatible,
        "mismatches": report,
        "epoch": ckpt.epoch,
        "metrics": ckpt.metrics,
        # what evaluate/predict would apply, each value with its source: recorded, assumed or overridden
        "applies": application(ckpt, overrides).as_dict(),
    }
    if ckpt.full is not None:
        info["global_step"] = ckpt.full.get("global_step")
        info["torch_version"] = ckpt.full.get("torch_version")
    return info


def _table(info: dict[str, Any]) -> str:
    a = info["architecture"]
    lines = [f"{info['file']} ({info['kind']} checkpoint)",
             f"UNet3D(in_channels={a['in_channels']}, out_channels={a['out_channels']}, features={a['features']}): "
             f"{info['output']}",
             f"parameters: {info['parameters']:,}",
             f"per block for a 1x{a['in_channels']}x{'x'.join(map(str, info['patch']))} input:"]
    for b in info["blocks"]:
        shape = "x".join(map(str, b["output_shape"] or []))
        lines.append(f"  {b['name']:<20} {shape:<24} {b['parameters']:>12,}")
    if info["epoch"] is not None:
        lines.append(f"epoch: {info['epoch']}")
    if info["metrics"]:
        lines.append("metrics: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in info["metrics"].items()))
    lines.append("loads strictly into UNet3D: " + ("yes" if info["compatible"] else "no"))
    applies = info["applies"]
    lines.append(f"evaluate/predict apply (output: {applies['output']}):")
    for key, value in applies["values"].items():
        lines.append(f"  {key:<20} {json.dumps(value):<24} {applies['sources'][key]}")
    if applies["labels"]:
        lines.append("  labels               " + ", ".join(f"{k}={v}" for k, v in applies["labels"].items()))
    lines += [f"note: {n}" for n in applies["notes"]]
    return "\n".join(lines)


def run(args) -> int:
    patch = parse_patch(args.patch) if args.patch else None
    from heartseg.model_setup import user_overrides

    info = describe(args.checkpoint, patch, user_overrides(args)[0])
    print(json.dumps(info) if args.json else _table(info))
    return 0
