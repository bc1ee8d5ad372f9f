"""`config --defaults` prints the complete default config; `config --check FILE` validates one."""

from __future__ import annotations

import json

from heartseg import config as cfgmod
from heartseg.errors import BadInput


def add_arguments(p) -> None:
    p.add_argument("--defaults", action="store_true", help="print the complete default config as JSON")
    p.add_argument("--check", metavar="FILE", help="validate a config file and print it with defaults filled in")


def run(args) -> int:
    if args.check:
        try:
            cfg = cfgmod.load(args.check)
        except ValueError as e:
            raise BadInput(str(e)) from e
        print(json.dumps(cfgmod.to_dict(cfg), indent=2))
        return 0
    print(json.dumps(cfgmod.defaults(), indent=2))
    return 0
