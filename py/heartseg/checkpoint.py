"""Loading and saving checkpoints: raw state_dicts, `module.`-prefixed ones and heartseg's full checkpoints.

Every load is `torch.load(..., weights_only=True)`: a pickle that needs arbitrary code is refused, never run.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from heartseg.errors import BadInput
from heartseg.model import UNet3D, architecture_from_state_dict, build_model, strip_module_prefix

FORMAT = "heartseg"
FORMAT_VERSION = 1
_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "net", "network_weights")


@dataclass
class LoadedCheckpoint:
    state_dict: dict[str, torch.Tensor]
    """Model weights without any 'module.' prefix."""
    architecture: dict[str, Any]
    """{"in_channels", "out_channels", "features"} read from the tensor shapes."""
    kind: str
    """'raw' (a bare or wrapped state_dict) or 'heartseg' (a full training checkpoint)."""
    config: dict[str, Any] | None = None
    epoch: int | None = None
    metrics: dict[str, Any] | None = None
    full: dict[str, Any] | None = None
    """The whole heartseg checkpoint (optimizer, scheduler, scaler, rng, history ...); None for raw files."""
    path: str = ""


MAX_INFLATION = 4
"""A zip entry may unpack to at most this many times its stored size (torch stores entries uncompressed)."""
MAX_PICKLE_BYTES = 256 << 20
"""The object tree (data.pkl) of a checkpoint; weights live in separate records, so real ones are far smaller."""


def _check_archive(path: Path) -> None:
    """Refuse a zip checkpoint whose declared sizes would need far more memory than the file (a zip bomb)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # the legacy (pre-1.6) format: torch reads it record by record from the file itself
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise BadInput(f"not a PyTorch checkpoint (broken zip archive: {e})", file=str(path)) from None
    for info in infos:
        limit = MAX_PICKLE_BYTES if info.filename.endswith(".pkl") else MAX_INFLATION * info.compress_size + (1 << 20)
        if info.file_size > limit:
            raise BadInput(f"checkpoint entry {info.filename!r} declares {info.file_size:,} bytes "
                           f"({info.compress_size:,} stored); refused to bound memory", file=str(path))


def _safe_load(path: Path) -> Any:
    if not path.exists():
        raise BadInput("checkpoint file not found", file=str(path))
    if not path.is_file():
        raise BadInput("checkpoint path is not a file", file=str(path))
    if path.stat().st_size == 0:
        raise BadInput("checkpoint file is empty", file=str(path))
    _check_archive(path)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Unsupported global" in text:
            detail = text.split("Unsupported global:", 1)[1].strip().split(" was not", 1)[0]
            raise BadInput(f"checkpoint needs arbitrary code to load ({detail}) and was refused",
                           file=str(path), hint="only weights (tensors, numbers, dicts) are loaded; "
                           "re-save it from trusted code with torch.save(model.state_dict(), ...)") from None
        raise BadInput("not a PyTorch checkpoint (unreadable pickle data)", file=str(path)) from None
    except Exception as e:  # noqa: BLE001 - garbage bytes raise anything from IndexError to RuntimeError
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInput(f"not a PyTorch checkpoint (unreadable: {first[:200]})", file=str(path)) from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read any supported checkpoint safely; BadInput naming the file for anything unusable."""
    p = Path(path)
    obj = _safe_load(p)
    full: dict[str, Any] | None = None
    if isinstance(obj, dict) and obj.get("format") == FORMAT and _is_state_dict(obj.get("model")):
        full, sd, kind = obj, obj["model"], "heartseg"
    elif _is_state_dict(obj):
        sd, kind = obj, "raw"
    else:
        wrapped = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj, dict) and _is_state_dict(obj.get(k))), None)
        if wrapped is None:
            what = f"a dict with keys {sorted(map(str, obj))[:6]}" if isinstance(obj, dict) else type(obj).__name__
            raise BadInput(f"not a model checkpoint: holds {what}, no state_dict of tensors", file=str(p))
        sd, kind = wrapped, "raw"
    sd = strip_module_prefix(sd)
    try:
        arch = architecture_from_state_dict(sd)
    except ValueError as e:
        raise BadInput(f"{e}; heartseg loads 3D U-Net checkpoints only", file=str(p)) from None
    if full is None:
        return LoadedCheckpoint(state_dict=sd, architecture=arch, kind=kind, path=str(p))
    epoch = full.get("epoch")
    metrics = full.get("metrics") if isinstance(full.get("metrics"), dict) else None
    config = full.get("config") if isinstance(full.get("config"), dict) else None
    return LoadedCheckpoint(state_dict=sd, architecture=arch, kind=kind, config=config,
                            epoch=int(epoch) if isinstance(epoch, int) else None, metrics=metrics,
                            full=full, path=str(p))


def mismatches(model: torch.nn.Module, sd: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Keys missing from / unexpected in `sd`, and keys whose shapes differ, relative to `model`."""
    own = model.state_dict()
    return {
        "missing": sorted(k for k in own if k not in sd),
        "unexpected": sorted(k for k in sd if k not in own),
        "shape": sorted(f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                        for k, v in own.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)),
    }


def load_into(model: torch.nn.Module, sd: dict[str, torch.Tensor], strict: bool, file: str = "") -> dict[str, list[str]]:
    """Copy matching weights into `model`; strict raises BadInput on any mismatch, else skips and reports them."""
    report = mismatches(model, sd)
    if strict and any(report.values()):
        parts = [f"{len(v)} {k} (e.g. {v[0]})" for k, v in report.items() if v]
        raise BadInput("checkpoint does not fit the model: " + "; ".join(parts), file=file or None)
    bad_shape = {s.split(":", 1)[0] for s in report["shape"]}
    usable = {k: v for k, v in sd.items() if k not in bad_shape and k not in report["unexpected"]}
    model.load_state_dict(usable, strict=False)
    return report


def model_from_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[UNet3D, LoadedCheckpoint]:
    """Build the UNet3D the checkpoint describes, load it strictly, move it to `device`, eval mode."""
    ckpt = load_checkpoint(path)
    model = build_model(**ckpt.architecture)
    load_into(model, ckpt.state_dict, strict=True, file=str(path))
    model.to(device).eval()
    return model, ckpt


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """torch.save through fsutil.atomic_path: a reader sees the old file or the whole new one, never half."""
    from heartseg.fsutil import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


# --- what a checkpoint needs to be applied: preprocessing, output convention, labels ---------------------------------
APPLY_KEYS = ("data.spacing", "data.normalization", "infer.threshold", "infer.postprocess")
"""Config keys that decide what a model sees and how its output becomes labels; they travel with the weights."""
CLASSIC = {"data.spacing": "native", "data.normalization": "minmax", "infer.threshold": 0.5, "infer.postprocess": []}
"""What a bare state_dict is assumed to need: the classic homework script's pipeline (own grid, min-max per volume,
one sigmoid channel > 0.5, no post-processing)."""
CLASSIC_LINE = ("no preprocessing recorded in a bare state_dict: assuming the classic script's (native grid, "
                "min-max per volume, sigmoid > 0.5, no post-processing); override with --normalization, --spacing, "
                "--threshold, --postprocess or --config")
NORMALIZATION_PARAMETERS = {
    "minmax": {"formula": "(x - min) / (max - min + 1e-8)", "per": "volume"},
    "zscore": {"formula": "(x - mean) / std", "over": "voxels above the volume's minimum", "per": "volume"},
    "percentile": {"clip_percentiles": [0.5, 99.5], "then": "(x - mean) / std", "per": "volume"},
    "none": {"formula": "x"},
}
"""How each data.normalization value is computed (heartseg.data.preprocess.normalize)."""
RECORDED, ASSUMED, OVERRIDDEN, DEFAULT = "recorded", "assumed (bare state_dict)", "overridden", "default"
CROSS_VALIDATED = "chosen by the cross-validation (cv/summary.json)"


def recorded_settings(ckpt: LoadedCheckpoint) -> dict[str, Any]:
    """APPLY_KEYS as a heartseg checkpoint recorded them (its config; the resolved grid); {} for a bare one."""
    from heartseg.config import flatten

    if ckpt.kind != "heartseg" or not ckpt.config:
        return {}
    flat = flatten(ckpt.config)
    out = {k: flat[k] for k in APPLY_KEYS if k in flat}
    spacing = (ckpt.full or {}).get("spacing")
    if out.get("data.spacing") is None and isinstance(spacing, list) and len(spacing) == 3:
        out["data.spacing"] = [float(v) for v in spacing]
    return out


@dataclass
class Application:
    """What evaluate/predict apply with a checkpoint, and where each value comes from."""

    values: dict[str, Any]
    """APPLY_KEYS -> value."""
    sources: dict[str, str]
    """APPLY_KEYS -> RECORDED, ASSUMED, OVERRIDDEN or DEFAULT."""
    output: str
    """'sigmoid > THRESHOLD' or 'softmax, argmax over K classes'."""
    labels: dict[str, str] | None
    """Label value -> name as recorded (None for a bare state_dict: the dataset's, or 'label 1')."""
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        norm = self.values["data.normalization"]
        return {"values": self.values, "sources": self.sources, "output": self.output, "labels": self.labels,
                "normalization_parameters": NORMALIZATION_PARAMETERS.get(norm, {}), "notes": self.notes}


def application(ckpt: LoadedCheckpoint, overrides: dict[str, Any] | None = None,
                recorded: dict[str, Any] | None = None) -> Application:
    """The values of APPLY_KEYS: an override wins, then what the checkpoint (or its run) recorded, then, for a bare
    state_dict, CLASSIC; a heartseg checkpoint missing a key (older format) gets the config default."""
    from heartseg.config import Config, flatten

    overrides = {k: v for k, v in (overrides or {}).items() if k in APPLY_KEYS}
    rec = recorded_settings(ckpt) if recorded is None else recorded
    defaults = flatten(Config().model_dump(mode="json"))
    values, sources, notes = {}, {}, []
    bare = ckpt.kind != "heartseg"
    for key in APPLY_KEYS:
        if key in overrides:
            values[key], sources[key] = overrides[key], OVERRIDDEN
        elif key in rec:
            values[key], sources[key] = rec[key], RECORDED
        elif bare:
            values[key], sources[key] = CLASSIC[key], ASSUMED
        else:
            values[key], sources[key] = defaults[key], DEFAULT
    if bare and any(sources[k] == ASSUMED for k in APPLY_KEYS):
        notes.append(CLASSIC_LINE)
    out = int(ckpt.architecture["out_channels"])
    output = f"sigmoid > {values['infer.threshold']}" if out == 1 else f"softmax, argmax over {out} classes"
    labels = (ckpt.full or {}).get("labels")
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else None
    return Application(values=values, sources=sources, output=output, labels=labels, notes=notes)
