"""requirements.py: requirements.txt parsed once, the interpreter checked from package metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heartseg import requirements

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, want", [
    ("torch>=2.4\nnumpy>=1.24\n", {"torch": "2.4", "numpy": "1.24"}),
    ("# comment\n-r other.txt\n\nscikit-image>=0.21  # why\n", {"scikit-image": "0.21"}),
    ("pydantic\n", {"pydantic": None}),
])
def test_required_reads_names_and_minimums(tmp_path, text, want):
    f = tmp_path / "requirements.txt"
    f.write_text(text)
    assert requirements.required(f) == want


def test_check_names_missing_and_old_packages(tmp_path):
    f = tmp_path / "requirements.txt"
    f.write_text("no-such-distribution-xyz>=1.0\npytest>=999.0\n")
    answer = requirements.check(f)
    assert answer["packages"]["no-such-distribution-xyz"] is None
    assert "no-such-distribution-xyz is not installed" in answer["problems"]
    assert any(p.startswith("pytest ") and p.endswith("is older than 999.0") for p in answer["problems"])


def test_the_module_prints_one_json_line_for_the_repository_requirements():
    out = subprocess.run([sys.executable, "-m", "heartseg.requirements"], capture_output=True, text=True,
                         cwd=ROOT / "py", check=True).stdout.strip().splitlines()
    assert len(out) == 1
    answer = json.loads(out[0])
    assert set(answer["packages"]) == set(requirements.required(ROOT / "requirements.txt"))
    assert answer["problems"] == [] and answer["python_ok"] is True
