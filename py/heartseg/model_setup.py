"""The model an evaluate, predict, inspect or export runs: which checkpoint of a run, the config it resolves to
(run config < checkpoint < the user's override flags), the device, and the label values and names of its outputs;
BadInput naming the file for anything unusable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput


@dataclass
class ModelSetup:
    """A model ready for inference with everything needed to read its outputs."""

    model: Any
    cfg: Any
    """heartseg.config.Config used for patch, spacing, normalisation and inference settings."""
    checkpoint: Path
    device: Any
    in_channels: int
    out_channels: int
    class_values: list[int]
    """Label value of each output class index (index 0 is background); for one output channel [0, value]."""
    label_names: dict[int, str]
    """Foreground label value -> name."""
    spacing: list[float] | None
    """Spacing (z, y, x) the model was trained at; None means each image's own."""
    warnings: list[str] = dc_field(default_factory=list)
    application: Any = None
    """heartseg.checkpoint.Application: the preprocessing and output convention applied, with their sources."""
    kind: str = "heartseg"
    """The checkpoint's kind: 'heartseg' or 'raw' (a bare state_dict)."""


CHECKPOINT_FILES = {"final": ("final.pt", "best.pt", "last.pt"), "best": ("best.pt",), "last": ("last.pt",)}
"""infer.checkpoint -> files of RUN/checkpoints/ tried in order ('final': runs from before final.pt fall back)."""


def find_checkpoint(run: str | None, checkpoint: str | None, which: str = "final") -> Path:
    if checkpoint:
        return Path(checkpoint)
    ckpt_dir = Path(str(run)) / "checkpoints"
    for name in CHECKPOINT_FILES.get(which, CHECKPOINT_FILES["final"]):
        if (ckpt_dir / name).is_file():
            return ckpt_dir / name
    tried = " or ".join(f"checkpoints/{n}" for n in CHECKPOINT_FILES.get(which, ()))
    raise BadInput(f"run has no {tried} (infer.checkpoint is {which!r})", file=str(ckpt_dir.resolve()),
                   hint="train first, choose another with --use final|best|last, or give a checkpoint file")


def run_data_summary(run: str | None) -> dict[str, Any] | None:
    """The last data_summary event of RUN/events.jsonl: the labels and spacing the run trained with."""
    path = Path(str(run)) / "events.jsonl" if run else None
    if path is None or not path.is_file():
        return None
    found = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"data_summary"' in line:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            found = rec if rec.get("type") == "data_summary" else found
    return found


# --- overrides: --config FILE (its keys) and the flags of the keys that travel with the weights ------------------------
def override_flags() -> dict[str, tuple[str, str, str]]:
    """Config key -> (flag, metavar, help) for checkpoint.APPLY_KEYS, infer.checkpoint and infer.tta (mirrored passes:
    a choice at inference, not a property of the weights), from the config's x-flag."""
    from heartseg import config as cfgmod
    from heartseg.checkpoint import APPLY_KEYS

    sections = {"data": cfgmod.DataConfig, "infer": cfgmod.InferConfig}
    out = {}
    for key in (*APPLY_KEYS, "infer.checkpoint", "infer.tta"):
        section, name = key.split(".")
        info = sections[section].model_fields[name]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out[key] = (str(extra["x-flag"]), str(extra.get("x-arg", "X")), (info.description or "").split(";")[0])
    return out


def add_override_arguments(p: Any) -> None:
    for key, (flag, metavar, text) in override_flags().items():
        p.add_argument(f"--{flag}", dest=f"set:{key}", metavar=metavar, help=f"{key}: {text} (overrides the checkpoint's)".replace("%", "%%"))


def parse_flag_value(key: str, text: str) -> Any:
    """A flag's text as the config value: JSON when it parses, else comma lists ('1,1,2', 'largest,fill_holes')."""
    t = text.strip()
    if key == "infer.postprocess" and t.lower() in ("none", "", "[]"):
        return []
    try:
        value = json.loads(t)
    except json.JSONDecodeError:
        value = t
    if key == "data.spacing" and isinstance(value, str) and "," in value:
        try:
            return [float(v) for v in value.replace("x", ",").split(",")]
        except ValueError:
            return value
    if key == "infer.postprocess" and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def user_overrides(args: Any) -> tuple[dict[str, Any], str | None]:
    """(dotted key -> value the user set with --config FILE or a flag, that file). Flags win over the file."""
    from heartseg import config as cfgmod

    flat: dict[str, Any] = {}
    config = getattr(args, "config", None)
    if config:
        try:
            data = json.loads(Path(config).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInput("config file not found", file=str(Path(config).resolve())) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadInput(f"config file is not readable JSON ({e})", file=str(Path(config).resolve())) from None
        if not isinstance(data, dict):
            raise BadInput("config file must be a JSON object", file=str(Path(config).resolve()))
        flat.update(cfgmod.flatten(cfgmod.upgrade(data)))
    for key, (flag, _, _) in override_flags().items():
        text = getattr(args, f"set:{key}", None)
        if text is not None:
            flat[key] = parse_flag_value(key, text)
    if flat:
        try:
            cfgmod.from_dict(cfgmod.unflatten(flat))
        except ValueError as e:
            raise BadInput(str(e), file=str(Path(config).resolve()) if config else None) from None
    return flat, config


def resolve_config(run: str | None, overrides: dict[str, Any], ckpt_config: dict | None, warnings: list[str]) -> Any:
    """The checkpoint's own config (else RUN/config.json, else the defaults) with the user's keys on top."""
    from heartseg import config as cfgmod

    base: dict[str, Any] = {}
    if ckpt_config:
        base = cfgmod.upgrade(ckpt_config)
    elif run and (Path(run) / "config.json").is_file():
        try:
            base = cfgmod.to_dict(cfgmod.load(Path(run) / "config.json"))
        except ValueError as e:
            raise BadInput(str(e), file=str((Path(run) / "config.json").resolve())) from None
    try:
        cfgmod.from_dict(base)
    except ValueError as e:
        warnings.append(f"the checkpoint's config is not usable ({e}); using the defaults")
        base = {}
    merged = cfgmod.merge(base, cfgmod.unflatten(overrides))
    try:
        return cfgmod.from_dict(merged)
    except ValueError as e:
        raise BadInput(f"config: {e}") from None


def _class_values(out_channels: int, labels: Mapping[int, str] | None, file: str) -> tuple[list[int], dict[int, str]]:
    if not labels:
        values = [0, 1] if out_channels == 1 else list(range(out_channels))
        return values, {v: f"label {v}" for v in values if v}
    names = {int(k): str(v) for k, v in labels.items() if int(k) != 0}
    values = [0, *sorted(names)]
    if (out_channels == 1 and len(names) != 1) or (out_channels > 1 and len(values) != out_channels):
        raise BadInput(f"the model has {out_channels} output channel(s) but the labels are {dict(labels)}",
                       file=file, hint="one channel serves one foreground label; otherwise one per label incl. background")
    return values, names


def _label_name_warnings(recorded: Mapping[str, str] | None, dataset: Mapping[int, str]) -> list[str]:
    if not recorded:
        return []
    return [f"label {v}: the checkpoint calls it {recorded[str(v)]!r}, the dataset {dataset[v]!r}"
            for v in sorted(int(k) for k in dataset) if v and str(v) in recorded
            and recorded[str(v)].strip().lower() != str(dataset[v]).strip().lower()]


def load_setup(run: str | None, checkpoint: str | None, overrides: dict[str, Any] | None, device: str | None,
               dataset_labels: Callable[[Any, list[float] | None], Mapping[int, str]] | None = None) -> ModelSetup:
    """Checkpoint, config, device, labels and spacing for evaluate/predict; BadInput for anything unusable.

    What the model is applied with (checkpoint.APPLY_KEYS) comes from the user's overrides, else what the
    checkpoint recorded, else (bare state_dict) the classic script's conventions. dataset_labels(cfg, spacing),
    when given, prepares the evaluation data and returns its labels; otherwise the labels are those recorded.
    """
    import torch

    from heartseg import config as cfgmod
    from heartseg.checkpoint import CROSS_VALIDATED, application, load_checkpoint, load_into
    from heartseg.device import resolve_device
    from heartseg.model import build_model

    overrides = dict(overrides or {})
    warnings: list[str] = []
    from heartseg.layout import cv_members

    members = cv_members(run) if not checkpoint else []
    cv_steps = None
    if members:  # a cross-validation run: its folds' models as one ensemble; the first fold's record stands for all
        from heartseg.postprocess_choice import candidate_name, cv_choice

        cv_steps = None if "infer.postprocess" in overrides else cv_choice(run)
        run = str(members[0])
    which = overrides.get("infer.checkpoint")
    if which is None and run and (Path(run) / "config.json").is_file():
        try:
            which = cfgmod.load(Path(run) / "config.json").infer.checkpoint
        except ValueError:
            which = None
    path = find_checkpoint(run, checkpoint, which or "final")
    ckpt = load_checkpoint(path)
    summary = run_data_summary(run) or {}
    recorded = None
    if ckpt.kind != "heartseg" and run and (Path(run) / "config.json").is_file() and not checkpoint:
        # a run whose checkpoint lost its record (saved elsewhere as weights only): the run's config is the record
        from heartseg.checkpoint import APPLY_KEYS
        flat = cfgmod.flatten(cfgmod.to_dict(cfgmod.load(Path(run) / "config.json")))
        recorded = {k: flat[k] for k in APPLY_KEYS}
    applied = application(ckpt, overrides, recorded)
    cfg = resolve_config(run, overrides, ckpt.config, warnings)
    if cv_steps is not None:
        applied.values["infer.postprocess"] = cv_steps
        applied.sources["infer.postprocess"] = CROSS_VALIDATED
        warnings.append(f"post-processing chosen by the cross-validation (cv/summary.json): "
                        f"{candidate_name(cv_steps)}; --postprocess overrides it")
    for key, value in applied.values.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    warnings += applied.notes
    # where the weights were trained is no property of theirs: a GPU run evaluates on a CPU machine unless told
    dev = resolve_device(device or overrides.get("train.device") or "auto")  # heartseg.device: the one rule
    from heartseg.train.runtime import amp_dtype, slow_amp_warning

    slow = slow_amp_warning(dev, amp_dtype(dev, cfg.train.precision))  # inference runs in the training's precision
    if slow:
        warnings.append(slow)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    full = ckpt.full or {}
    spacing = cfg.data.spacing
    if spacing is None:
        spacing = summary.get("spacing") or full.get("spacing")
    grid = None if spacing in (None, "native") else [float(s) for s in spacing]
    if dataset_labels is not None:
        labels = dataset_labels(cfg, grid)
        warnings += _label_name_warnings(applied.labels or summary.get("labels"), labels)
    else:
        labels = summary.get("labels") or full.get("labels")
        if spacing is None:
            warnings.append("the spacing the model was trained at is unknown (data.spacing is null and nothing "
                            "recorded one); predicting at each image's own spacing")
    arch = ckpt.architecture
    values, names = _class_values(int(arch["out_channels"]), labels, str(path))
    model = build_model(**arch)
    load_into(model, ckpt.state_dict, strict=True, file=str(path))
    if len(members) > 1:
        from heartseg.inference import Ensemble

        models = [model]
        for member in members[1:]:
            other_path = find_checkpoint(str(member), None, which or "final")
            other = load_checkpoint(other_path)
            if other.architecture != arch:
                raise BadInput(f"the folds' models differ ({other.architecture} vs {arch}); an ensemble needs one "
                               "network", file=str(other_path))
            models.append(build_model(**other.architecture))
            load_into(models[-1], other.state_dict, strict=True, file=str(other_path))
        model = Ensemble(models, int(arch["out_channels"]))
        warnings.append(f"cross-validation run: the mean probability of its {len(models)} folds' models "
                        f"({', '.join(m.name for m in members)}); preprocessing and labels from "
                        f"{members[0].name}'s record")
    model.to(dev).eval()
    return ModelSetup(model=model, cfg=cfg, checkpoint=path, device=dev, in_channels=int(arch["in_channels"]),
                      out_channels=int(arch["out_channels"]), class_values=values, label_names=names,
                      spacing=grid, warnings=warnings, application=applied, kind=ckpt.kind)
