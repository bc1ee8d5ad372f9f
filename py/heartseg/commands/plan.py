"""`plan DATA`: propose spacing, patch, batch, network and iterations for a dataset on this device, with reasons."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from heartseg.errors import EXIT_OK, BadInput


def _positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {text!r}")
    return value


def _default_budget_text() -> str:
    from heartseg.planning.rules import DEFAULT_BUDGET_MINUTES as B

    return f"{B['cpu']:g} on a CPU, {B['cuda']:g} on a GPU"


def add_arguments(p) -> None:
    p.add_argument("data", metavar="DATA", help="dataset folder (Decathlon layout)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="plan for this device (auto: CUDA when torch sees one)")
    p.add_argument("--budget-minutes", type=_positive_minutes, default=None,
                   help=f"training time to plan for (default: {_default_budget_text()})")
    p.add_argument("--cache-dir", default="", help="preprocessed-case cache to read label sizes from")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="CPU threads the training will use (train.threads; 0: torch's default): the plan is timed with them")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--init", metavar="CKPT", help="plan for fine-tuning CKPT: its network and preprocessing are kept")


def check_dataset(root: str, cache_dir: str | None) -> None:
    """Train's checks of the dataset, every problem listed (BadInput): each case decoded and checked, or, when its
    files are unchanged since they were cached, the cached facts (declared labels may have changed since)."""
    from heartseg.data.discover import discover
    from heartseg.data.prepare import _channel_problems, _check_cached
    from heartseg.data.validate import check_case
    from heartseg.planning.fingerprint import _cached_metas

    dataset, problems = discover(root)
    if dataset is None:
        raise BadInput(problems)
    cases = sorted(dataset.cases, key=lambda c: c.name)
    declared = dataset.labels if dataset.labels_declared else None
    metas = _cached_metas(cases, cache_dir)
    for case in cases:
        if case.name in metas:
            problems += _check_cached(metas[case.name], declared)[0]
        else:
            problems += check_case(case.name, case.images, case.label, declared)[2]  # decoded one at a time
    problems += _channel_problems(cases)
    if problems:
        raise BadInput(problems)


def run(args) -> int:
    from heartseg import planning
    from heartseg.config import flatten

    if args.threads < 0:
        raise BadInput(f"--threads: got {args.threads}, expected 0 (torch's default) or a positive number")
    # a plan for a dataset train would refuse is no plan: the same problems, exit 2, before any fingerprint
    check_dataset(args.data, args.cache_dir or None)
    fingerprint = planning.read_fingerprint(args.data, args.cache_dir or None)
    device = planning.detect_device(args.device)
    if args.threads and device.kind == "cpu":  # a run on fewer threads than cores gets fewer steps: plan for it
        import torch

        torch.set_num_threads(args.threads)
        device = dataclasses.replace(device, cores=min(device.cores, args.threads),
                            flops=device.flops * min(device.cores, args.threads) / max(device.cores, 1))
    try:
        plan = planning.measured_plan(fingerprint, device, args.budget_minutes)
    except ValueError as e:
        raise BadInput(str(e), args.data) from None
    if args.init:  # the checkpoint fixes the network and preprocessing; patch, batch and steps stay planned
        from heartseg.checkpoint import application, load_checkpoint
        from heartseg.planning.fixed import fit_to_checkpoint

        init = load_checkpoint(args.init)
        plan = fit_to_checkpoint(plan, device, init.architecture, application(init), args.budget_minutes)
    if args.json:
        fp = dataclasses.asdict(fingerprint)
        summary = {"cases": len(fp["shapes"]), "modality": fp["modality"], "intensity": fp["intensity"],
                   "label_fractions": {str(k): round(v, 5) for k, v in fp["label_fractions"].items()},
                   "median_spacing": planning.target_spacing(fingerprint)[0],
                   "median_shape": [sorted(s[i] for s in fp["shapes"])[len(fp["shapes"]) // 2] for i in range(3)],
                   "foreground_mm": fp["foreground_mm"], "spacings": fp["spacings"], "shapes": fp["shapes"]}
        print(json.dumps({"config": plan.config, "reasons": plan.reasons, "estimates": plan.estimates,
                          "fingerprint": summary, "device": dataclasses.asdict(device)}))
        return EXIT_OK
    out = sys.stdout
    out.write(f"plan for {args.data}: {len(fingerprint.shapes)} cases, on {device.kind} ({device.name}, "
              f"{device.memory_gb:.0f} GB {'free' if device.kind == 'cuda' else 'RAM'})\n")
    flat = flatten(plan.config)
    width = max(len(k) for k in flat)
    for key, value in flat.items():
        reason = plan.reasons.get(key, "")
        out.write(f"  {key:<{width}}  {json.dumps(value):<22} {reason}\n")
    e = plan.estimates
    out.write(f"estimates: {e['step_seconds']:.2f} s per step, {e['memory_gb']:.1f} GB, {e['train_minutes']:.0f} min "
              f"of training, {e['parameters']:,} parameters\n")
    return EXIT_OK
