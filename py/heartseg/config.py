"""The engine's typed configuration: nested pydantic models, one docstring line under each field.

This module is the one definition of the config. `python -m heartseg schema` turns it into
`schema/config.schema.json`, from which the front derives its validator, its TypeScript types, the command-line
flags (`x-flag`), the configure form, the keys a resume may change (`x-resume`) and the text of every error
(`x-expected`). Axis order everywhere in the config is (z, y, x), i.e. torch's (D, H, W).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PositiveFloat = Annotated[float, Field(gt=0)]
Triple = Annotated[list[PositiveFloat], Field(min_length=3, max_length=3)]
Patch = Annotated[list[Annotated[int, Field(ge=8)]], Field(min_length=3, max_length=3)]
Postprocess = Literal["largest", "fill_holes"]


def setting(default: Any = ..., *, flag: str | None = None, arg: str | None = None, resume: bool = False,
            expected: str | None = None, default_factory: Any = None, **constraints: Any) -> Any:
    """A config field with the metadata the front derives its flags, resume rule and messages from.

    flag: the command-line flag that sets it (`--flag ARG`); resume: a `--resume` may change it;
    expected: the "expected ..." text of errors when the generated one would be unclear.
    """
    extra: dict[str, Any] = {}
    if flag:
        extra["x-flag"] = flag
        extra["x-arg"] = arg or "X"
    if resume:
        extra["x-resume"] = True
    if expected:
        extra["x-expected"] = expected
    if default_factory is not None:
        return Field(default_factory=default_factory, json_schema_extra=extra or None, **constraints)
    return Field(default, json_schema_extra=extra or None, **constraints)


class Section(BaseModel):
    # strict: "5" is not 5 and 1 is not true; int -> float is still accepted (JSON has one number type)
    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True, validate_default=True)


class DataConfig(Section):
    root: str = setting("", resume=True)
    """Dataset folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/)."""
    cache_dir: str = setting("", flag="cache-dir", arg="DIR", resume=True)
    """Folder for preprocessed cases; empty means $HEARTSEG_CACHE or ~/.cache/heartseg."""
    spacing: Triple | Literal["native"] | None = setting(
        None, flag="spacing", arg="Z,Y,X", expected="three positive numbers (z, y, x in mm), 'native' or null (median)")
    """Target voxel spacing in mm as [z, y, x]; null: the dataset's median; 'native': each image's own grid."""
    normalization: Literal["zscore", "percentile", "minmax", "none"] = setting("zscore", flag="normalization",
                                                                               arg="NAME")
    """Intensities: 'zscore' (per case, over the body), 'percentile' (clip 0.5-99.5 %, z-score), 'minmax' ([0, 1] per volume) or 'none'."""
    val_fraction: float = setting(0.2, ge=0, lt=1)
    """Share of cases held out for validation when val_cases is empty and there are no folds."""
    val_cases: list[str] = setting(default_factory=list)
    """Case names held out for validation; empty means a seeded split by val_fraction."""
    split_seed: int = 0
    """Seed of the train/validation split and of the cross-validation folds."""
    folds: int = setting(0, flag="folds", arg="K", ge=0, expected="0 (one split) or a number of folds >= 2")
    """Cross-validation folds: 0 trains one split by val_fraction/val_cases; K >= 2 splits the cases into K folds."""
    fold: int | Literal["all"] | None = setting(None, flag="fold", arg="N|all",
                                                expected="null (every fold), a fold number or 'all'")
    """With folds: null trains every fold in turn, N only fold N; 'all' trains one model on every case (no validation)."""
    max_cases: int = setting(0, flag="max-cases", arg="N", ge=0)
    """Use at most this many cases (0 means all); for quick trials."""
    patch: Patch = setting(default_factory=lambda: [64, 128, 128], flag="patch", arg="Z,Y,X",
                           expected="three sizes >= 8 (z, y, x in voxels)")
    """Training patch size in voxels, [z, y, x]."""
    batch: int = setting(2, flag="batch", arg="N", ge=1)
    """Patches per training step (per process when distributed)."""
    foreground_share: float = setting(0.33, ge=0, le=1)
    """Minimum share of patches centred on a foreground voxel (label chosen uniformly)."""
    workers: int = setting(0, flag="workers", arg="N", ge=0, resume=True)
    """Patch-sampling worker processes that overlap the training step (0 samples in the training process)."""

    @model_validator(mode="after")
    def _fold_in_range(self) -> "DataConfig":
        if self.folds == 1:
            raise ValueError("data.folds: got 1, expected 0 (one split) or a number of folds >= 2")
        if isinstance(self.fold, int) and not 0 <= self.fold < max(self.folds, 1):
            raise ValueError(f"data.fold: got {self.fold}, expected a fold number from 0 to "
                             f"{max(self.folds, 1) - 1} (data.folds is {self.folds})")
        return self


class AugmentConfig(Section):
    flip: bool = True
    """Random flips along each axis."""
    rotate: bool = True
    """Random rotation in the axial (y, x) plane."""
    rotate_degrees: float = 15.0
    """Largest rotation angle in degrees."""
    scale: bool = True
    """Random isotropic zoom."""
    scale_range: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] = setting(
        default_factory=lambda: [0.85, 1.15], expected="[low, high] with 0 < low <= high")
    """Zoom factor range [low, high]."""
    intensity: bool = True
    """Random intensity scale and shift."""
    gamma: bool = True
    """Random gamma on the intensity range."""
    noise: bool = True
    """Additive Gaussian noise."""
    probability: float = setting(0.2, ge=0, le=1)
    """Probability of each spatial/intensity transform (flips use 0.5 per axis)."""

    @model_validator(mode="after")
    def _ordered_range(self) -> "AugmentConfig":
        if self.scale_range[0] > self.scale_range[1]:
            raise ValueError(f"augment.scale_range: got {json.dumps(self.scale_range)}, expected [low, high] with "
                             "0 < low <= high")
        return self


class ModelConfig(Section):
    features: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2)] = setting(
        default_factory=lambda: [32, 64, 128, 256], flag="features", arg="C,C,..",
        expected="at least two positive channel counts")
    """Channels per encoder level; depth is its length; the bottleneck has twice the last."""
    in_channels: int = setting(1, ge=1)
    """Input channels (image modalities)."""
    out_channels: int = setting(0, ge=0)
    """Output channels; 0 means from the dataset's labels (1 for one foreground label, else labels incl. background)."""


class OptimConfig(Section):
    optimizer: Literal["adamw", "sgd"] = setting("adamw", flag="optimizer", arg="NAME")
    """'adamw' or 'sgd' (Nesterov momentum)."""
    lr: float = setting(1e-3, flag="lr", arg="X", gt=0)
    """Peak learning rate."""
    weight_decay: float = setting(1e-4, ge=0)
    """Weight decay."""
    momentum: float = setting(0.99, ge=0, lt=1)
    """SGD momentum (ignored by AdamW)."""
    schedule: Literal["poly", "cosine", "step", "constant"] = setting("poly", flag="schedule", arg="NAME")
    """Learning-rate schedule over the run (its steps, or its time budget with train.minutes)."""
    warmup_epochs: int = setting(0, ge=0)
    """Epochs of linear warm-up before the schedule."""
    step_size: int = setting(30, ge=1)
    """Epochs between decays for the 'step' schedule."""
    step_gamma: float = setting(0.5, gt=0)
    """Decay factor for the 'step' schedule."""
    grad_clip: float = setting(12.0, ge=0)
    """Clip the gradient norm to this value (0 turns clipping off)."""


class TrainConfig(Section):
    epochs: int = setting(100, flag="epochs", arg="N", ge=1, resume=True)
    """Number of epochs (with train.minutes: the most; the budget decides)."""
    iters_per_epoch: int = setting(250, flag="iters", arg="N", ge=1)
    """Training steps per epoch."""
    minutes: float = setting(0.0, flag="minutes", arg="M", ge=0, resume=True)
    """Time budget: the schedule runs on elapsed time and the run ends on time with lr 0 (0: run the epochs)."""
    val_every: int = setting(1, flag="val-every", arg="N", ge=1, resume=True)
    """Validate on whole validation volumes every this many epochs."""
    patience: int = setting(0, flag="patience", arg="N", ge=0, resume=True)
    """Stop after this many validations without a better Dice (0 means never stop early)."""
    loss: Literal["dice_ce", "dice"] = "dice_ce"
    """'dice_ce' (soft Dice + cross-entropy) or 'dice'."""
    deep_supervision: bool = False
    """Also score the decoder's coarser levels (nnU-Net style; training only, final.pt is a plain U-Net)."""
    seed: int = setting(0, flag="seed", arg="N")
    """Seed for weights, sampling and augmentation."""
    deterministic: bool = False
    """Deterministic algorithms (slower; makes runs and resumes reproducible)."""
    device: str = setting("auto", flag="device", arg="DEV", resume=True, pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                          expected="auto, cpu, cuda or cuda:N")
    """'auto', 'cpu', 'cuda' or 'cuda:N'."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = setting("auto", flag="precision", arg="P")
    """'auto': bf16 where the device runs it natively and it measures faster, else fp32; or force one."""
    layout: Literal["auto", "contiguous", "channels_last"] = setting("auto", flag="layout", arg="L")
    """Memory format of activations: 'auto' picks channels_last_3d when it measures faster."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    threads: int = setting(0, flag="threads", arg="N", ge=0, resume=True)
    """CPU threads for torch (0 means torch's default)."""
    ema_decay: float = setting(0.0, ge=0, lt=1)
    """Exponential moving average of the weights for the final model (0: off)."""
    bn_recalibration: int = setting(32, ge=0)
    """Training batches over which BatchNorm statistics are recomputed for the final model, checkpoints/final.pt (0: off)."""
    checkpoint_minutes: float = setting(5.0, ge=0, resume=True)
    """Write last.pt at most this often, besides the end and every stop (0: after every epoch)."""
    tb_image_every: int = setting(5, ge=1, resume=True)
    """Write a validation slice image to TensorBoard every this many epochs."""
    step_event_seconds: float = setting(1.0, ge=0, resume=True)
    """Least time between two 'step' events."""
    sync_bn: bool = True
    """Synchronise BatchNorm across ranks under torchrun, so N ranks with batch B train like one process with batch N*B."""


class InferConfig(Section):
    checkpoint: Literal["final", "best", "last"] = setting("final", flag="use", arg="WHICH")
    """Weights evaluate/predict take from a run: 'final' (end of training), 'best' (best validation Dice) or 'last'."""
    overlap: float = setting(0.5, ge=0, lt=1)
    """Sliding-window overlap, from 0 (none) to below 1."""
    gaussian: bool = True
    """Gaussian importance weighting of window centres (else constant)."""
    tta: Literal[1, 2, 4, 8] = setting(1, flag="tta", arg="N", expected="1, 2, 4 or 8")
    """Mirrored passes per window (test-time augmentation): 1 (none), 2, 4 or 8; the cost grows in proportion."""
    threshold: float = setting(0.5, flag="threshold", arg="P", gt=0, lt=1)
    """Probability above which a voxel is foreground when the model has one output channel (sigmoid)."""
    postprocess: list[Postprocess] = setting(default_factory=lambda: ["largest", "fill_holes"], flag="postprocess",
                                             arg="STEPS", expected="a list of largest, fill_holes (or none)")
    """After thresholding, per label: 'largest' keeps the largest connected component, 'fill_holes' fills holes."""
    sw_batch: int = setting(2, ge=1, resume=True)
    """Windows per forward pass."""
    stitch_device: Literal["auto", "cpu", "cuda"] = setting("auto", resume=True)
    """Where probabilities are accumulated: 'auto' (the model's device if it fits), 'cpu' or 'cuda'."""


class Config(Section):
    name: str = setting("", resume=True)
    """Run name; empty means one made from the date and the dataset."""
    data: DataConfig = setting(default_factory=DataConfig)
    """Dataset, preprocessing and patch sampling."""
    augment: AugmentConfig = setting(default_factory=AugmentConfig)
    """Training-time augmentation."""
    model: ModelConfig = setting(default_factory=ModelConfig)
    """Network architecture."""
    optim: OptimConfig = setting(default_factory=OptimConfig)
    """Optimiser and learning-rate schedule."""
    train: TrainConfig = setting(default_factory=TrainConfig)
    """The training loop."""
    infer: InferConfig = setting(default_factory=InferConfig)
    """Sliding-window inference and post-processing (validation, evaluation, prediction)."""

    @model_validator(mode="after")
    def _patch_fits_depth(self) -> "Config":
        least = 2 ** len(self.model.features)
        if min(self.data.patch) < least:
            raise ValueError(f"data.patch: got {json.dumps(self.data.patch)}, expected sizes >= {least} (2^"
                             f"{len(self.model.features)} for the {len(self.model.features)} levels of model.features)")
        return self


SECTIONS = ("data", "augment", "model", "optim", "train", "infer")

LEGACY_KEYS = {
    ("train", "amp"): lambda v: {"precision": "auto" if v else "fp32"},
    ("train", "channels_last"): lambda v: {"layout": "channels_last" if v else "contiguous"},
    ("infer", "keep_largest"): lambda v: {"postprocess": ["largest"] if v else []},
    ("infer", "tta"): lambda v: {"tta": 8 if v else 1},
}
"""Keys of configs written before this schema (config.json of older runs), and what they mean now."""


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A config dict with LEGACY_KEYS rewritten; anything else is left for validation to judge."""
    out = copy.deepcopy(data)
    for (section, key), new in LEGACY_KEYS.items():
        part = out.get(section)
        if isinstance(part, dict) and key in part:
            if not isinstance(part[key], bool):
                continue  # not what older versions wrote: validation names it as it is
            for k, v in new(part.pop(key)).items():
                part.setdefault(k, v)
    return out


def to_dict(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def defaults() -> dict[str, Any]:
    return to_dict(Config())


@functools.lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema of Config, every leaf with its `x-expected` error text (what schema/ holds)."""
    from heartseg.schema_text import annotate_expected, resolve

    schema = Config.model_json_schema()
    for key, value in flatten(defaults()).items():  # default_factory fields carry no default of their own
        resolve(schema, key.split("."))["default"] = value
    return annotate_expected(schema)


def field_schema(key: str) -> dict[str, Any] | None:
    """The JSON Schema of a dotted key ('train.epochs'), or None when there is no such key."""
    from heartseg.schema_text import resolve

    return resolve(json_schema(), key.split("."))


def _value_at(data: Any, parts: list[str]) -> Any:
    for p in parts:
        if not isinstance(data, dict) or p not in data:
            return None
        data = data[p]
    return data


def problems_of(error: ValidationError, data: Any) -> list[str]:
    """One line per problem: 'KEY: got VALUE, expected TEXT' or 'unknown config key KEY (known: ...)'."""
    out: list[str] = []
    for err in error.errors():
        if err["type"] == "extra_forbidden":  # the last part is the unknown name itself
            parts = [p for p in err["loc"] if isinstance(p, str)]
        else:  # union branches add their tags ("literal['native']") and list items their index
            parts = [p for p in err["loc"] if isinstance(p, str) and p in _known_path_names()]
        key = ".".join(parts)
        if err["type"] == "extra_forbidden":
            parent = field_schema(".".join(parts[:-1])) if len(parts) > 1 else json_schema()
            known = sorted((parent or {}).get("properties", {}))
            line = f"unknown config key {key} (known: {', '.join(known)})"
        elif err["type"] == "value_error":
            line = str(err["ctx"]["error"]) if err.get("ctx") else err["msg"]
        else:
            spec = field_schema(key) if key else None
            expected = spec.get("x-expected", "a JSON object") if spec else "a JSON object"
            value = _value_at(data, parts) if parts else data
            line = f"{key or 'config'}: got {json.dumps(value)}, expected {expected}"
        if line not in out:
            out.append(line)
    return out


@functools.lru_cache(maxsize=1)
def _known_path_names() -> frozenset[str]:
    names: set[str] = set()
    for model in (Config, DataConfig, AugmentConfig, ModelConfig, OptimConfig, TrainConfig, InferConfig):
        names.update(model.model_fields)
    return frozenset(names)


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from a (possibly partial) dict; every problem raises one ValueError naming the key."""
    if not isinstance(data, dict):
        raise ValueError(f"config: got {json.dumps(data)}, expected a JSON object")
    data = upgrade(data)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ValueError("; ".join(problems_of(e, data))) from None


def load(path: str | Path) -> Config:
    """Read a JSON config file; errors name the file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ValueError(f"{p}: config file not found") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from e
    try:
        return from_dict(data)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from e


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'epochs': 3}} -> {'train.epochs': 3}: dotted keys, as errors and reasons name them."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """{'train.epochs': 3} -> {'train': {'epochs': 3}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two config dicts (override wins); used for presets and resumed runs."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resume_keys() -> tuple[str, ...]:
    """Dotted keys a --resume may change (fields marked resume=True); the rest must match the run."""
    return tuple(key for key in flatten(defaults()) if (field_schema(key) or {}).get("x-resume"))
