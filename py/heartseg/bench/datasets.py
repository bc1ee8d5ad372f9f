"""Data for the benchmark lines: la2018 from ../shared when present, else synthetic sets made once and reused."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"

LA2018_LIKE = {"shape": (88, 144, 192), "spacing": (0.625, 0.625, 0.625)}
"""A synthetic case of la2018's size (z, y, x) and spacing, for when the real data is absent."""


def la2018() -> Path | None:
    path = SHARED / "data" / "la2018"
    return path if (path / "dataset.json").is_file() else None


def work_dir(settings: dict) -> Path:
    """Where synthetic sets and scratch files go: settings['work'], else the engine cache's bench/ folder."""
    if settings.get("work"):
        return Path(settings["work"])
    from heartseg.data.cache import cache_root

    return cache_root(settings.get("cache_dir") or None) / "bench"


def synthetic(settings: dict, cases: int, shape, spacing, seed: int = 0) -> Path:
    """A synthetic Decathlon set from heartseg.synth, written once under the work folder (same name, same data)."""
    from heartseg.synth import write_dataset

    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    name = f"synth-{cases}x{'x'.join(map(str, shape))}-{'x'.join(f'{s:g}' for s in spacing)}-seed{seed}"
    out = work_dir(settings) / name
    if not (out / "dataset.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():  # an earlier write was cut off; write_dataset renames into place only when complete
            for p in sorted(out.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            out.rmdir()
        write_dataset(out, cases, seed, shape, spacing)
    return out


def real_or_synthetic(settings: dict, cases: int, shape=LA2018_LIKE["shape"],
                      spacing=LA2018_LIKE["spacing"]) -> tuple[Path, str]:
    """(dataset folder, words for the note): settings['data'], then la2018, then a synthetic set."""
    if settings.get("data"):
        return Path(settings["data"]), Path(settings["data"]).name
    real = la2018() if not settings.get("synthetic") else None
    if real is not None:
        return real, "la2018"
    path = synthetic(settings, cases, shape, spacing)
    return path, f"synthetic {cases} cases of {'x'.join(map(str, shape))}"

