"""Partial configs for common situations: demo (synthetic data, minutes on a CPU), cpu (la2018 on a CPU), gpu."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    """The partial config dict of preset `name`; ValueError listing the known ones when there is none."""
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(names())})")
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_comment", None)
    return data
