"""What an interpreter needs to run the engine, read from requirements.txt (the one list of packages).

`python -m heartseg.requirements` prints one JSON line: the Python version, each required distribution's
installed version (None when missing) and the problems. It imports nothing heavy (package metadata only), so the
front can check an interpreter in a fraction of a second before it trusts it with a command; `doctor` and
`heartseg setup` use the same answer.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

MIN_PYTHON = (3, 10)
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:>=\s*([0-9][0-9.]*))?")


def required(path: Path = REQUIREMENTS) -> dict[str, str | None]:
    """{distribution: minimum version or None} from a requirements file (comments and -r lines skipped)."""
    out: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _numbers(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split("+")[0].split("."):
        digits = re.match(r"\d+", p)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def check(path: Path = REQUIREMENTS) -> dict:
    """{python, python_ok, min_python, packages: {name: version|None}, problems: [...]}."""
    problems: list[str] = []
    python_ok = sys.version_info[:2] >= MIN_PYTHON
    if not python_ok:
        problems.append(f"Python {platform.python_version()} is older than {'.'.join(map(str, MIN_PYTHON))}")
    packages: dict[str, str | None] = {}
    for name, minimum in required(path).items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
            problems.append(f"{name} is not installed")
            continue
        packages[name] = version
        if minimum and _numbers(version) < _numbers(minimum):
            problems.append(f"{name} {version} is older than {minimum}")
    return {"python": platform.python_version(), "executable": sys.executable, "python_ok": python_ok,
            "min_python": ".".join(map(str, MIN_PYTHON)), "packages": packages, "problems": problems}


if __name__ == "__main__":
    print(json.dumps(check()), flush=True)
