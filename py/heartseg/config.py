"""The engine's typed configuration: nested dataclasses, one docstring line per field.

The TypeScript front mirrors this in `src/core/config.ts` (zod); a test on each side checks the defaults agree.
Axis order everywhere in the config is (z, y, x), i.e. torch's (D, H, W).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DataConfig:
    root: str = ""
    """Dataset folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/)."""
    cache_dir: str = ""
    """Folder for preprocessed cases; empty means $HEARTSEG_CACHE or ~/.cache/heartseg."""
    spacing: list[float] | None = None
    """Target voxel spacing in mm as [z, y, x]; null means the dataset's median spacing."""
    normalization: str = "zscore"
    """Intensity normalisation: 'zscore' (per case, over the body), 'percentile' (clip 0.5-99.5 %, then z-score) or 'none'."""
    val_fraction: float = 0.2
    """Share of cases held out for validation when val_cases is empty."""
    val_cases: list[str] = field(default_factory=list)
    """Case names held out for validation; empty means a seeded split by val_fraction."""
    split_seed: int = 0
    """Seed of the train/validation split."""
    max_cases: int = 0
    """Use at most this many cases (0 means all); for quick trials."""
    patch: list[int] = field(default_factory=lambda: [64, 128, 128])
    """Training patch size in voxels, [z, y, x]."""
    batch: int = 2
    """Patches per training step (per process when distributed)."""
    foreground_share: float = 0.33
    """Minimum share of patches centred on a foreground voxel (label chosen uniformly)."""
    workers: int = 0
    """DataLoader worker processes (0 samples in the training process)."""


@dataclass
class AugmentConfig:
    flip: bool = True
    """Random flips along each axis."""
    rotate: bool = True
    """Random rotation in the axial (y, x) plane."""
    rotate_degrees: float = 15.0
    """Largest rotation angle in degrees."""
    scale: bool = True
    """Random isotropic zoom."""
    scale_range: list[float] = field(default_factory=lambda: [0.85, 1.15])
    """Zoom factor range [low, high]."""
    intensity: bool = True
    """Random intensity scale and shift."""
    gamma: bool = True
    """Random gamma on the intensity range."""
    noise: bool = True
    """Additive Gaussian noise."""
    probability: float = 0.2
    """Probability of each spatial/intensity transform (flips use 0.5 per axis)."""


@dataclass
class ModelConfig:
    features: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    """Channels per encoder level; depth is its length; the bottleneck has twice the last."""
    in_channels: int = 1
    """Input channels (image modalities)."""
    out_channels: int = 0
    """Output channels; 0 means from the dataset's labels (1 for one foreground label, else labels incl. background)."""


@dataclass
class OptimConfig:
    optimizer: str = "adamw"
    """'adamw' or 'sgd' (Nesterov momentum)."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 1e-4
    """Weight decay."""
    momentum: float = 0.99
    """SGD momentum (ignored by AdamW)."""
    schedule: str = "poly"
    """Learning-rate schedule: 'poly', 'cosine', 'step' or 'constant'."""
    warmup_epochs: int = 0
    """Epochs of linear warm-up before the schedule."""
    step_size: int = 30
    """Epochs between decays for the 'step' schedule."""
    step_gamma: float = 0.5
    """Decay factor for the 'step' schedule."""
    grad_clip: float = 12.0
    """Clip the gradient norm to this value (0 turns clipping off)."""


@dataclass
class TrainConfig:
    epochs: int = 100
    """Number of epochs."""
    iters_per_epoch: int = 250
    """Training steps per epoch."""
    val_every: int = 1
    """Validate on whole validation volumes every this many epochs."""
    patience: int = 0
    """Stop after this many validations without a better Dice (0 means never stop early)."""
    loss: str = "dice_ce"
    """'dice_ce' (soft Dice + cross-entropy) or 'dice'."""
    seed: int = 0
    """Seed for weights, sampling and augmentation."""
    deterministic: bool = False
    """Deterministic algorithms (slower; makes runs and resumes reproducible)."""
    device: str = "auto"
    """'auto', 'cpu', 'cuda' or 'cuda:N'."""
    amp: bool = True
    """Mixed precision on CUDA (bf16 where supported, else fp16 with a scaler); CPU always runs fp32."""
    channels_last: bool = False
    """Use the channels_last_3d memory format."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    threads: int = 0
    """CPU threads for torch (0 means torch's default)."""
    tb_image_every: int = 5
    """Write a validation slice image to TensorBoard every this many epochs."""
    step_event_seconds: float = 1.0
    """Least time between two 'step' events."""
    sync_bn: bool = True
    """Synchronise BatchNorm across ranks under torchrun, so N ranks with batch B train like one process with batch N*B."""


@dataclass
class InferConfig:
    overlap: float = 0.5
    """Sliding-window overlap, from 0 (none) to below 1."""
    gaussian: bool = True
    """Gaussian importance weighting of window centres (else constant)."""
    tta: bool = False
    """Mirroring test-time augmentation (up to 8x the cost)."""
    sw_batch: int = 2
    """Windows per forward pass."""
    keep_largest: bool = True
    """Keep only the largest connected component per label."""
    stitch_device: str = "auto"
    """Where probabilities are accumulated: 'auto' (the model's device if it fits), 'cpu' or 'cuda'."""


@dataclass
class Config:
    name: str = ""
    """Run name; empty means one made from the date and the dataset."""
    data: DataConfig = field(default_factory=DataConfig)
    """Dataset, preprocessing and patch sampling."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Training-time augmentation."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network architecture."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser and learning-rate schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The training loop."""
    infer: InferConfig = field(default_factory=InferConfig)
    """Sliding-window inference (validation, evaluation, prediction)."""


CHOICES: dict[str, tuple[str, ...]] = {
    "data.normalization": ("zscore", "percentile", "none"),
    "optim.optimizer": ("adamw", "sgd"),
    "optim.schedule": ("poly", "cosine", "step", "constant"),
    "train.loss": ("dice_ce", "dice"),
    "infer.stitch_device": ("auto", "cpu", "cuda"),
}


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def defaults() -> dict[str, Any]:
    return to_dict(Config())


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return {int: "integer", float: "number", str: "string", bool: "true/false", type(None): "null"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ValueError:
                continue
        raise ValueError(f"{key}: got {json.dumps(value)}, expected {_type_name(tp)}")
    if tp is type(None):
        if value is None:
            return None
    elif origin is list:
        if isinstance(value, list):
            return [_coerce(v, typing.get_args(tp)[0], f"{key}[{i}]") for i, v in enumerate(value)]
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, key)
    raise ValueError(f"{key}: got {json.dumps(value)}, expected {_type_name(tp)}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ValueError(f"unknown config key {where}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    return cls(**kwargs)


def _check(cfg: Config) -> None:
    flat = flatten(to_dict(cfg))
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise ValueError(f"{key}: got {json.dumps(flat[key])}, expected one of {', '.join(allowed)}")
    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ValueError(f"{key}: got {json.dumps(flat[key])}, expected {expected}")
    need(len(cfg.data.patch) == 3 and all(p >= 8 for p in cfg.data.patch), "data.patch", "three sizes >= 8")
    need(cfg.data.spacing is None or (len(cfg.data.spacing) == 3 and all(s > 0 for s in cfg.data.spacing)),
         "data.spacing", "null or three positive numbers")
    need(0 <= cfg.data.val_fraction < 1, "data.val_fraction", "a number in [0, 1)")
    need(cfg.data.batch >= 1, "data.batch", "an integer >= 1")
    need(0 <= cfg.data.foreground_share <= 1, "data.foreground_share", "a number in [0, 1]")
    need(cfg.data.workers >= 0, "data.workers", "an integer >= 0")
    need(cfg.data.max_cases >= 0, "data.max_cases", "an integer >= 0")
    need(len(cfg.model.features) >= 2 and all(f >= 1 for f in cfg.model.features), "model.features",
         "at least two positive channel counts")
    need(cfg.model.in_channels >= 1, "model.in_channels", "an integer >= 1")
    need(cfg.model.out_channels >= 0, "model.out_channels", "an integer >= 0")
    need(cfg.optim.lr > 0, "optim.lr", "a positive number")
    need(cfg.optim.grad_clip >= 0, "optim.grad_clip", "a number >= 0")
    need(cfg.train.epochs >= 1, "train.epochs", "an integer >= 1")
    need(cfg.train.iters_per_epoch >= 1, "train.iters_per_epoch", "an integer >= 1")
    need(cfg.train.val_every >= 1, "train.val_every", "an integer >= 1")
    need(cfg.train.patience >= 0, "train.patience", "an integer >= 0")
    need(0 <= cfg.infer.overlap < 1, "infer.overlap", "a number in [0, 1)")
    need(cfg.infer.sw_batch >= 1, "infer.sw_batch", "an integer >= 1")
    need(len(cfg.augment.scale_range) == 2 and 0 < cfg.augment.scale_range[0] <= cfg.augment.scale_range[1],
         "augment.scale_range", "[low, high] with 0 < low <= high")
    need(0 <= cfg.augment.probability <= 1, "augment.probability", "a number in [0, 1]")


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from a (possibly partial) dict; unknown keys and wrong types raise ValueError naming the key."""
    if not isinstance(data, dict):
        raise ValueError(f"config: got {type(data).__name__}, expected a JSON object")
    cfg = _build(Config, data, "")
    _check(cfg)
    return cfg


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


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two config dicts (override wins); used for presets and resumed runs."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
