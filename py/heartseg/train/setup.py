"""Turning flags into a checked Config before anything is created: presets, --resume rules, output channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartseg import config as cfgmod
from heartseg import presets
from heartseg.errors import BadInput

RESUME_MAY_CHANGE = cfgmod.resume_keys()
"""Keys a --config given with --resume may change (the schema's x-resume fields, CONTRACT.resume_keys); the rest
must match the run (else the resume is not exact)."""
AUTO_VALUES = {"model.out_channels": 0, "data.spacing": None, "train.precision": "auto", "train.layout": "auto"}
"""Settings a run resolves when it starts (and records): asking for them again on --resume is no change."""


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{what} not found", file=str(path)) from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{what} is not valid JSON ({e.msg} at line {e.lineno})", file=str(path)) from None
    if not isinstance(data, dict):
        raise BadInput(f"{what} must be a JSON object", file=str(path))
    return data


def _build(data: dict[str, Any], file: str) -> cfgmod.Config:
    try:
        return cfgmod.from_dict(data)
    except ValueError as e:
        raise BadInput(str(e), file=file) from None




def load_config(config_path: str | None, preset: str | None, run_dir: Path, resume: bool) -> tuple[cfgmod.Config, dict[str, Any]]:
    """(Config, the user's raw partial dict). For --resume the run's config.json is the base, and a --config may
    only change RESUME_MAY_CHANGE keys."""
    user: dict[str, Any] = {}
    if preset:
        try:
            user = presets.load(preset)
        except ValueError as e:
            raise BadInput(str(e)) from None
    if config_path:
        user = cfgmod.merge(user, _read_json(Path(config_path), "config file"))
    if not resume:
        if not config_path and not preset:
            raise BadInput("train needs --config CFG (or --preset NAME)")
        return _build(user, config_path or f"preset {preset}"), user
    stored_path = run_dir / "config.json"
    stored = _read_json(stored_path, "the run's config.json")
    _build(stored, str(stored_path))
    flat_stored, flat_user = cfgmod.flatten(stored), cfgmod.flatten(user)
    problems = []
    for key, value in flat_user.items():
        if key in RESUME_MAY_CHANGE or key not in flat_stored:
            continue
        if key in AUTO_VALUES and value == AUTO_VALUES[key]:
            continue
        if flat_stored[key] != value and not (isinstance(value, (int, float)) and flat_stored[key] == value):
            # the values, not the file that carried them: the front passes changes through a temporary file
            problems.append(f"{key} is {json.dumps(flat_stored[key])} in the run, not {json.dumps(value)}")
    if problems:
        raise BadInput("cannot resume with a different config: " + "; ".join(problems), file=str(stored_path),
                       hint=f"on --resume only {', '.join(RESUME_MAY_CHANGE)} may change")
    merged = cfgmod.merge(stored, {k: v for k, v in _unflatten(flat_user).items()})
    return _build(merged, config_path or str(stored_path)), user


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    return cfgmod.unflatten({key: value for key, value in flat.items() if key in RESUME_MAY_CHANGE})


def resolve_out_channels(requested: int, labels: dict[int, str]) -> int:
    """0 means: 1 (sigmoid) for one foreground label, else one channel per label including background."""
    foreground = [v for v in labels if int(v) != 0]
    if requested:
        return requested
    return 1 if len(foreground) <= 1 else len(labels)


def check_channels(cfg: cfgmod.Config, labels: dict[int, str], channels: int, root: str) -> int:
    """Output channels for this dataset; BadInput naming the config key when the config cannot fit it."""
    out = resolve_out_channels(cfg.model.out_channels, labels)
    problems = []
    if channels and cfg.model.in_channels != channels:
        problems.append(f"model.in_channels is {cfg.model.in_channels} but the dataset has {channels} image channel(s)")
    foreground = [v for v in labels if int(v) != 0]
    if out == 1 and len(foreground) > 1:
        problems.append(f"model.out_channels is 1 (sigmoid) but the dataset has {len(foreground)} foreground labels")
    if out > 1 and out != len(labels):
        problems.append(f"model.out_channels is {out} but the dataset has {len(labels)} labels incl. background")
    if problems:
        raise BadInput("; ".join(problems), file=root)
    return out


def check_patch_fits(patch: list[int], features: list[int], prepared: Any, root: str) -> list[str]:
    """Before the run folder exists: refuse (BadInput) a patch larger than every case along an axis when a smaller
    legal patch would fit, naming it; a patch larger than only some cases is padded there (returned as warnings).
    The planner sizes patches from the median case, so smaller cases are expected to be padded, not refused."""
    names = list(prepared.case_names)
    if not names:
        return []
    shapes = {name: [int(s) for s in prepared.meta(name).resampled_shape] for name in names}
    patch = [int(p) for p in patch]
    step = 2 ** len(features)
    spacing = ", ".join(f"{s:g}" for s in prepared.spacing)
    largest = [max(shape[axis] for shape in shapes.values()) for axis in range(3)]
    over_all = [axis for axis in range(3) if patch[axis] > largest[axis]]
    fit = [min(p, s) // step * step for p, s in zip(patch, largest)]
    if over_all and min(fit) >= step:
        case = max(names, key=lambda n: sum(shapes[n]))
        raise BadInput(f"data.patch {patch} is larger than every case along {', '.join('zyx'[a] for a in over_all)}: "
                       f"the largest is {', '.join(map(str, largest))} voxels (z, y, x; e.g. {case}) at the training "
                       f"spacing {spacing} mm", file=root, hint=f"use --patch {','.join(map(str, fit))} or smaller")
    smallest = [min(shape[axis] for shape in shapes.values()) for axis in range(3)]
    axes = [axis for axis in range(3) if patch[axis] > smallest[axis]]
    if not axes:
        return []
    case = min(names, key=lambda n: min(shapes[n][a] - patch[a] for a in axes))
    return [f"data.patch {patch} is larger than the smallest case along {', '.join('zyx'[a] for a in axes)}: {case} is "
            f"{', '.join(map(str, shapes[case]))} voxels (z, y, x) at {spacing} mm; patches of it are padded"]


INIT_ARCH_KEYS = ("model.in_channels", "model.out_channels", "model.features")
"""What --init takes from the weights unless the config sets it (then it must match them)."""


def apply_init(cfg: cfgmod.Config, user: dict[str, Any], init: Any, preset: dict[str, Any] | None = None,
               preset_name: str = "") -> list[str]:
    """--init CKPT: the network (in/out channels, widths, depth) comes from the weights unless the user's config sets
    it, and then a different one is refused naming the first differing tensors (no partial load); the preprocessing
    the weights were trained with (recorded, or the classic script's for a bare state_dict) is kept unless the user
    set it. Changes `cfg`; returns the lines to tell the user."""
    import torch

    from heartseg.checkpoint import APPLY_KEYS, application, mismatches
    from heartseg.model import build_model

    flat = cfgmod.flatten(user)
    notes: list[str] = []
    arch = dict(init.architecture)
    # a preset's network is for training from scratch: the checkpoint's wins; its preprocessing wins but is named
    preset_only = {k: v for k, v in cfgmod.flatten(preset or {}).items() if flat.get(k) == v}
    for key in INIT_ARCH_KEYS:
        if key in preset_only:
            del flat[key]
            notes.append(f"preset {preset_name} sets {key} {json.dumps(preset_only[key])}; the --init checkpoint's "
                         "network is used")
    given = {k: flat[k] for k in INIT_ARCH_KEYS if k in flat and not (k == "model.out_channels" and flat[k] == 0)}
    wanted = {"in_channels": given.get("model.in_channels", arch["in_channels"]),
              "out_channels": given.get("model.out_channels", arch["out_channels"]),
              "features": list(given.get("model.features", arch["features"]))}
    if wanted != {**arch, "features": list(arch["features"])}:
        with torch.device("meta"):  # only the tensor shapes are compared: no memory for a large model
            model = build_model(**wanted)
        sd, first = init.state_dict, []
        for key, value in model.state_dict().items():  # in the network's order: the first layer that differs first
            if key not in sd:
                first.append(f"{key} missing from the checkpoint")
            elif tuple(sd[key].shape) != tuple(value.shape):
                first.append(f"{key}: checkpoint {tuple(sd[key].shape)} vs model {tuple(value.shape)}")
        first = (first + [f"{k} not in the model" for k in mismatches(model, sd)["unexpected"]])[:3]
        raise BadInput(f"--init: the checkpoint is UNet3D(in_channels={arch['in_channels']}, out_channels="
                       f"{arch['out_channels']}, features={list(arch['features'])}) but the config asks for "
                       f"UNet3D(in_channels={wanted['in_channels']}, out_channels={wanted['out_channels']}, "
                       f"features={wanted['features']}); first differing tensors: {'; '.join(first)}",
                       file=str(Path(init.path).resolve()),
                       hint="leave out --features (model.*) to fine-tune the checkpoint's own network")
    least = 2 ** len(arch["features"])
    if min(cfg.data.patch) < least:
        raise BadInput(f"data.patch: got {json.dumps(cfg.data.patch)}, expected sizes >= {least} for the "
                       f"{len(arch['features'])} levels of the --init checkpoint", file=str(Path(init.path).resolve()))
    cfg.model.in_channels, cfg.model.out_channels = int(arch["in_channels"]), int(arch["out_channels"])
    cfg.model.features = [int(f) for f in arch["features"]]
    applied = application(init, {k: flat[k] for k in APPLY_KEYS if k in flat})
    own = application(init)
    for key in APPLY_KEYS:
        if key in preset_only and applied.values[key] != own.values[key]:
            notes.append(f"preset {preset_name} changes {key} from {json.dumps(own.values[key])} (the checkpoint's, "
                         f"{own.sources[key]}) to {json.dumps(applied.values[key])}; set it in --config to keep it")
    for key, value in applied.values.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    kept = ", ".join(f"{k.split('.')[1]} {json.dumps(v)} ({applied.sources[k]})" for k, v in applied.values.items())
    return [f"--init: the network UNet3D(in_channels={arch['in_channels']}, out_channels={arch['out_channels']}, "
            f"features={list(arch['features'])}) comes from the checkpoint's weights; applied with {kept}",
            *applied.notes, *notes]
