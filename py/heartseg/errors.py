"""Errors the engine reports to people, as opposed to bugs."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


@dataclass
class Problem:
    """One thing wrong with one input: the file it concerns and what is wrong."""

    message: str
    file: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"


class BadInput(Exception):
    """Input that cannot be used (exit 2). Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str, file: str | None = None, hint: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, file, hint)]
        elif isinstance(problems, Problem):
            problems = [problems]
        if not problems:
            raise ValueError("BadInput needs at least one problem")
        self.problems: list[Problem] = list(problems)
        super().__init__(self.summary())

    def summary(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems:"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class Interrupted(Exception):
    """Raised inside long work when SIGINT/SIGTERM asked it to stop at the next safe point."""

    def __init__(self, signal_name: str = "SIGINT"):
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name}")
