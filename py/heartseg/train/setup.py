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
AUTO_VALUES = {"model.out_channels": 0, "data.spacing": None}


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
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key not in RESUME_MAY_CHANGE:
            continue
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


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
