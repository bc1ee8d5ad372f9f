"""`tbread DIR`: every scalar of a TensorBoard log folder as JSON {"scalars": {tag: [[step, value], ...]}}."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput


def add_arguments(p) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder holding TensorBoard event files (searched recursively)")


def read_scalars(folder: str | Path) -> dict[str, list[list[float]]]:
    """All scalars under `folder` (every event file, sub-folders included), sorted by step per tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(folder)
    if not root.is_dir():
        raise BadInput("not a folder", file=str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file() and "tfevents" in p.name)
    if not files:
        raise BadInput("no TensorBoard event files (*tfevents*) in this folder", file=str(root))
    scalars: dict[str, list[list[float]]] = {}
    for path in files:
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 1, "tensors": 1})
        try:
            acc.Reload()
        except Exception as e:  # noqa: BLE001 - a corrupt file is bad input, not a crash
            raise BadInput(f"cannot read TensorBoard events ({type(e).__name__}: {e})", file=str(path)) from None
        for tag in acc.Tags().get("scalars", []):
            scalars.setdefault(tag, []).extend([[int(e.step), float(e.value)] for e in acc.Scalars(tag)])
    return {tag: sorted(values, key=lambda sv: sv[0]) for tag, values in sorted(scalars.items())}


def tags(folder: str | Path) -> dict[str, Any]:
    """Tag names per kind (scalars, images, graph) across the folder's event files; tests and inspect use it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, Any] = {"scalars": set(), "images": set(), "graph": False}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "tfevents" in p.name):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        t = acc.Tags()
        out["scalars"] |= set(t.get("scalars", []))
        out["images"] |= set(t.get("images", []))
        out["graph"] = out["graph"] or bool(t.get("graph"))
    return {"scalars": sorted(out["scalars"]), "images": sorted(out["images"]), "graph": out["graph"]}


def run(args) -> int:
    print(json.dumps({"scalars": read_scalars(args.dir)}))
    return 0
