"""Finding the cases of a Decathlon-style dataset: dataset.json entries, or imagesTr/ paired with labelsTr/.

Discovery only looks at names and dataset.json; reading the volumes is validate.py's job.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from heartseg.data.io import strip_nifti_suffix
from heartseg.errors import Problem

CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
MAX_DATASET_JSON = 16 * 1024**2
"""dataset.json larger than this is refused unread (a 10,000-case description is about 1 MiB)."""


@dataclass
class Case:
    name: str
    images: list[Path]
    """One file per channel, in channel order."""
    label: Path | None


@dataclass
class Dataset:
    root: Path
    name: str
    labels: dict[int, str]
    """Label value to name, background (0) included."""
    modality: dict[str, str]
    cases: list[Case]
    warnings: list[Problem] = field(default_factory=list)
    labels_declared: bool = True
    """False when no dataset.json declared the labels (they were then read from the label files)."""


def _parse_labels(raw, where: str) -> tuple[dict[int, str], list[Problem]]:
    """Decathlon writes {"0": "background"}; nnU-Net v2 writes {"background": 0}: accept both."""
    if not isinstance(raw, dict) or not raw:
        return {}, [Problem("'labels' must be a non-empty object such as {\"0\": \"background\", \"1\": \"left atrium\"}", where)]
    labels: dict[int, str] = {}
    for k, v in raw.items():
        if isinstance(k, str) and k.strip().lstrip("-").isdigit() and isinstance(v, str):
            labels[int(k)] = v
        elif isinstance(v, int) and not isinstance(v, bool):
            labels[v] = str(k)
        else:
            return {}, [Problem(f"'labels' entry {json.dumps(k)}: {json.dumps(v)} is neither \"N\": \"name\" nor \"name\": N", where)]
    bad = [v for v in labels if v < 0 or v > 255]
    if bad:
        return {}, [Problem(f"label value {bad[0]} is outside 0..255", where)]
    labels.setdefault(0, "background")
    return dict(sorted(labels.items())), []


def _case_name(path: Path) -> tuple[str, int | None] | None:
    stem = strip_nifti_suffix(path.name)
    if stem is None:
        return None
    m = CHANNEL_SUFFIX.match(stem)
    return (m["case"], int(m["channel"])) if m else (stem, None)


def _nifti_files(folder: Path) -> list[Path]:
    # macOS copies leave '._name' resource forks next to every file; they are not volumes
    return sorted(p for p in folder.iterdir() if strip_nifti_suffix(p.name) and not p.name.startswith("."))


def _resolve(root: Path, entry: str) -> Path:
    return Path(os.path.normpath(root / entry))  # drop the './' Decathlon writes, keep the user's root as given


def _leaves_root(entry: str) -> bool:
    """An absolute path, or one that climbs out through '..': dataset.json may only name files inside DATA."""
    parts = os.path.normpath(entry.replace("\\", "/")).split("/")
    return os.path.isabs(entry) or entry.startswith("~") or parts[0] == ".."


def _printable(path: Path) -> str:
    """The path with control characters escaped, so a message about it stays one line."""
    return str(path).encode("unicode_escape").decode("ascii", "replace") if _has_control(str(path)) else str(path)


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _special_file_problems(case: "Case") -> list[Problem]:
    """Names and kinds of file we refuse to read: control characters in a case name (messages, logs and file names
    derived from it must stay one line), and FIFOs, sockets and devices (a read could block or never end)."""
    problems = []
    if _has_control(case.name):
        problems.append(Problem(f"case name {json.dumps(case.name)} has a control character (e.g. a newline)",
                                _printable(case.images[0]), "rename the file"))
    for path in [*case.images, *([case.label] if case.label else [])]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # missing or unreadable: reading it names the problem
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problems.append(Problem("not a regular file (a FIFO, socket or device)", _printable(path)))
    return problems


def _from_entries(root: Path, entries, where: str) -> tuple[list[Case], list[Problem]]:
    cases, problems = [], []
    if not isinstance(entries, list):
        return [], [Problem("'training' must be a list of {\"image\": ..., \"label\": ...} entries", where)]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image" not in entry:
            problems.append(Problem(f"'training' entry {i} has no \"image\"", where))
            continue
        images = entry["image"] if isinstance(entry["image"], list) else [entry["image"]]
        if not all(isinstance(x, str) for x in images) or ("label" in entry and not isinstance(entry["label"], str)):
            problems.append(Problem(f"'training' entry {i}: image and label must be path strings", where))
            continue
        outside = [x for x in [*images, *([entry["label"]] if entry.get("label") else [])] if _leaves_root(x)]
        if outside:
            problems.append(Problem(f"'training' entry {i}: {json.dumps(outside[0])} is outside the dataset folder", where,
                                    "dataset.json names files relative to it, e.g. ./imagesTr/case_001.nii.gz"))
            continue
        paths = [_resolve(root, x) for x in images]
        named = _case_name(paths[0])
        if named is None:
            problems.append(Problem(f"'training' entry {i}: {images[0]} is not a .nii or .nii.gz file", where))
            continue
        # Decathlon lists 'imagesTr/x.nii.gz' for multi-channel data stored as x_0000.., x_0001..: expand it
        if len(paths) == 1 and not paths[0].exists():
            stem = strip_nifti_suffix(paths[0].name)
            suffix = paths[0].name[len(stem):]
            channels = sorted(paths[0].parent.glob(f"{stem}_[0-9][0-9][0-9][0-9]{suffix}"))
            if channels:
                paths = channels
        label = _resolve(root, entry["label"]) if entry.get("label") else None
        missing = [p for p in [*paths, *([label] if label else [])] if not p.exists()]
        if missing:
            problems += [Problem("file not found (listed in dataset.json)", str(p)) for p in missing]
            continue
        cases.append(Case(named[0], paths, label))
    return cases, problems


def _from_folders(root: Path) -> tuple[list[Case], list[Problem]]:
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    if not images_dir.is_dir():
        return [], [Problem("no dataset.json and no imagesTr/ folder: not a Decathlon-style dataset", str(root),
                            "expected dataset.json, imagesTr/ and labelsTr/")]
    channels: dict[str, dict[int, Path]] = {}
    problems: list[Problem] = []
    for path in _nifti_files(images_dir):
        name, channel = _case_name(path)
        slot = channels.setdefault(name, {})
        if (channel or 0) in slot:
            problems.append(Problem(f"two images for case {name} channel {channel or 0}", str(path)))
        slot[channel or 0] = path
    labels = {}
    if labels_dir.is_dir():
        for path in _nifti_files(labels_dir):
            labels[_case_name(path)[0]] = path
    cases = []
    for name, slot in sorted(channels.items()):
        label = labels.pop(name, None)
        if sorted(slot) != list(range(len(slot))):
            problems.append(Problem(f"case {name} has channels {sorted(slot)}, expected 0..{len(slot) - 1} without gaps",
                                    str(slot[min(slot)])))
            continue
        cases.append(Case(name, [slot[c] for c in sorted(slot)], label))
    for name, path in sorted(labels.items()):
        problems.append(Problem(f"label without an image (no imagesTr/{name}.nii.gz)", str(path)))
    return cases, problems


def discover(root: str | Path, *, require_labels: bool = True) -> tuple[Dataset | None, list[Problem]]:
    """List a dataset's cases; problems are returned, not raised, so validation can add its own."""
    root = Path(root)
    if not root.is_dir():
        return None, [Problem("dataset folder not found" if not root.exists() else "not a folder", str(root))]
    meta_path = root / "dataset.json"
    problems: list[Problem] = []
    meta: dict = {}
    if meta_path.exists():
        try:
            size = meta_path.stat().st_size
            if size > MAX_DATASET_JSON:  # checked before reading: parsing costs many times the file's size
                return None, [Problem(f"dataset.json is {size / 1024**2:.0f} MiB, more than the "
                                      f"{MAX_DATASET_JSON // 1024**2} MiB a dataset description needs", str(meta_path))]
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except RecursionError:
            return None, [Problem("cannot read dataset.json (nested too deeply)", str(meta_path))]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return None, [Problem(f"cannot read dataset.json ({e})", str(meta_path))]
        if not isinstance(meta, dict):
            return None, [Problem("dataset.json must hold a JSON object", str(meta_path))]
    labels, label_problems = _parse_labels(meta["labels"], str(meta_path)) if "labels" in meta else ({0: "background"}, [])
    if label_problems:  # every label check depends on them: checking cases against none would list every case
        return None, label_problems
    if isinstance(meta.get("training"), list) and meta["training"]:
        cases, found = _from_entries(root, meta["training"], str(meta_path))
    else:
        cases, found = _from_folders(root)
    problems += found
    special = {id(c): _special_file_problems(c) for c in cases}
    problems += [p for found in special.values() for p in found]
    cases = [c for c in cases if not special[id(c)]]  # never opened again: reading a FIFO or a device can block forever
    seen: dict[str, Path] = {}
    for case in cases:
        if case.name in seen:
            problems.append(Problem(f"case name {case.name} appears twice (also {seen[case.name]})", str(case.images[0])))
        seen[case.name] = case.images[0]
        if require_labels and case.label is None:
            problems.append(Problem(f"no label for case {case.name} (expected labelsTr/{case.name}.nii.gz)", str(case.images[0])))
    if not cases and not problems:
        problems.append(Problem("no cases found (imagesTr/ has no .nii or .nii.gz files)", str(root)))
    modality = meta.get("modality") or meta.get("channel_names") or {"0": "MRI"}
    modality = {str(k): str(v) for k, v in modality.items()} if isinstance(modality, dict) else {"0": str(modality)}
    name = str(meta.get("name") or root.name)
    return Dataset(root, name, labels, modality, cases, [], labels_declared="labels" in meta), problems
