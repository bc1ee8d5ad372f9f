"""`bench [--quick|--smoke] [--gpu] [--lines a,b] [--skip a,b] [--out FILE]`: the engine's benchmark lines.

`heartseg bench` (src/commands/bench.ts) runs this for every line but `analyze`, which it measures itself
(that line compares the TypeScript front's analysis with this engine's), and merges both into results.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from heartseg.errors import EXIT_OK, BadInput


def add_arguments(p) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repeats and smaller settings (< 3 min on 2 cores)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, measures nothing useful")
    p.add_argument("--gpu", action="store_true", help="add the CUDA lines (skipped with a reason without CUDA)")
    p.add_argument("--lines", default="", help="comma-separated lines to run (default: all but time_to_dice_la2018)")
    p.add_argument("--skip", default="", help="comma-separated lines to leave out")
    p.add_argument("--out", default="bench/results.json", help="results file, merged with earlier lines (default %(default)s)")
    p.add_argument("--data", default="", help="dataset for data_sampling, analyze and time_to_dice_la2018 (default: ../shared la2018, "
                                              "else a synthetic set)")
    p.add_argument("--work", default="", help="folder for synthetic sets and scratch runs (default: the cache's bench/)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run the lines N times and keep each line's median-ratio run, with every ratio (default 1)")
    p.add_argument("--json", action="store_true", help="print the results JSON instead of the table")


def _names(text: str, flag: str) -> list[str]:
    from heartseg.bench import LINES

    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in LINES]
    if bad:
        raise BadInput(f"{flag}: unknown line {bad[0]!r} (lines: {', '.join(LINES)})")
    return names


def run(args) -> int:
    from heartseg.bench import LINES, ON_REQUEST, results
    from heartseg.bench.suite import run_suite

    lines = _names(args.lines, "--lines") or [n for n in LINES if n not in ON_REQUEST]
    skip = set(_names(args.skip, "--skip"))
    lines = [n for n in lines if n not in skip]
    if args.data and not Path(args.data, "dataset.json").is_file() and not Path(args.data, "imagesTr").is_dir():
        raise BadInput("not a Decathlon-style dataset (no dataset.json or imagesTr/)", args.data)
    if args.repeat < 1:  # before the smoke run's scratch folder is made
        raise BadInput(f"--repeat: expected a whole number >= 1, got {args.repeat}")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    work = args.work or (tempfile.mkdtemp(prefix="heartseg-bench-") if args.smoke else "")
    ctx = {"mode": mode, "gpu": bool(args.gpu), "data": os.path.abspath(args.data) if args.data else "",
           "work": work, "cache_dir": os.environ.get("HEARTSEG_CACHE", "")}
    body = run_suite(lines, ctx, args.out, repeat=args.repeat)
    if args.json:
        print(json.dumps(body, allow_nan=False))
    else:
        # this run's lines, each with the records it writes (inference_auto, the _cuda ones), not merged others
        shown = [r for r in body["results"] if any(r["name"] == n or r["name"].startswith(n + "_") for n in lines)]
        print(results.table(shown))
        print(f"written: {args.out}", file=sys.stderr)
    return EXIT_OK
