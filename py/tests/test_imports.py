"""The engine's module graph: no import cycles, and planning does not depend on the benchmark package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "heartseg"


def _graph() -> dict[str, set[str]]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for name, p in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("heartseg"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("heartseg"))
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_modules_form_no_cycle():
    graph = _graph()
    # a package's __init__ re-exports its modules; importing the package from inside is the same edge twice
    for pkg in [m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()]:
        graph[pkg] = set()
    assert _cycle(graph) is None


def test_planning_does_not_import_the_benchmarks():
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("heartseg.planning"):
            assert not [d for d in deps if d.startswith("heartseg.bench")], name
