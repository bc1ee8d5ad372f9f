"""Placeholder until the doctor command lands; see the issue that owns it."""

from heartseg.errors import EXIT_FAILED


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    print("heartseg: 'doctor' is not implemented yet")
    return EXIT_FAILED
