"""The engine never starts a process through a shell, and never serves on all interfaces unless asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "heartseg"

SHELL = [
    (re.compile(r"shell\s*=(?!\s*False\b)"), "shell=... (a command line parsed by /bin/sh)"),
    (re.compile(r"\bos\.(system|popen)\s*\("), "os.system/os.popen (run a string through the shell)"),
    (re.compile(r"\bsubprocess\.(getoutput|getstatusoutput)\s*\("), "subprocess.getoutput (shell)"),
    (re.compile(r"\bpty\.spawn\s*\(|\bos\.exec\w*p\w*\s*\(\s*['\"](ba|z|)sh\b"), "a shell started by hand"),
]
ALL_INTERFACES = re.compile(r"""['"](0\.0\.0\.0|::)['"]|--bind_all|host\s*=\s*['"]['"]""")


def sources() -> list[tuple[Path, int, str]]:
    lines = []
    for path in sorted(ENGINE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if code.strip():
                lines.append((path, number, code))
    return lines


def test_the_engine_sources_are_scanned():
    files = {p for p, _, _ in sources()}
    assert len(files) > 30 and ENGINE / "commands" / "train.py" in files


@pytest.mark.parametrize("pattern, what", SHELL, ids=[w.split(" ")[0] for _, w in SHELL])
def test_no_shell_starts_a_process(pattern, what):
    hits = [f"{p.relative_to(ENGINE.parent)}:{n}: {code.strip()}" for p, n, code in sources() if pattern.search(code)]
    assert hits == [], f"{what}:\n" + "\n".join(hits)


def test_nothing_listens_on_all_interfaces():
    hits = [f"{p.relative_to(ENGINE.parent)}:{n}: {code.strip()}" for p, n, code in sources() if ALL_INTERFACES.search(code)]
    assert hits == [], "\n".join(hits)


@pytest.mark.parametrize("line, bad", [
    ("subprocess.run(cmd, shell=True)", True),
    ("subprocess.run(cmd, shell = flag)", True),
    ("subprocess.run([sys.executable, '-m', 'x'], shell=False)", False),
    ("subprocess.run(args, shell = False)", False),
    ("os.system('rm -rf x')", True),
    ("subprocess.run(['tensorboard', '--logdir', d])", False),
])
def test_the_shell_patterns_catch_what_they_should(line, bad):
    assert any(p.search(line) for p, _ in SHELL) == bad
