"""`python -m heartseg preprocess --config CFG [--run RUN]`: validate a dataset and fill the preprocessed cache.

Events go to $HEARTSEG_EVENT_FD while it runs; RUN/events.jsonl is written only once the dataset passed its
checks (bad input creates nothing), with every event of the run. One JSON summary line goes to stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from heartseg.errors import EXIT_OK, BadInput


def add_arguments(p) -> None:
    p.add_argument("--config", metavar="CFG", help="config JSON (data.* keys are used); defaults when omitted")
    p.add_argument("--run", metavar="RUN", help="run folder for events.jsonl (created only on success)")
    p.add_argument("--data", metavar="DIR", help="dataset folder (overrides data.root)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (overrides data.cache_dir)")
    p.add_argument("--workers", type=int, default=None, help="processes for new cases (default: up to 4)")


class _HeldWriter:
    """Wraps an EventWriter: lines for RUN/events.jsonl are held until the run folder may be created."""

    def __init__(self, writer):
        self.writer, self.held = writer, []

    def emit(self, event):
        self.held.append(self.writer.emit(event))

    def attach(self, run_dir) -> None:
        """Create RUN/ now that the inputs passed, write what was held, then let the writer append there."""
        path = Path(run_dir)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "events.jsonl", "a", encoding="utf-8") as f:
            for record in self.held:
                f.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")
        self.writer.attach_run_dir(path)


def run(args) -> int:
    from heartseg import config as config_mod
    from heartseg import events as ev
    from heartseg.event_writer import EventWriter
    from heartseg.data import prepare

    try:
        cfg = config_mod.load(args.config) if args.config else config_mod.Config()
    except ValueError as e:
        message = str(e).removeprefix(f"{args.config}: ")  # the Problem names the file itself
        raise BadInput(message, args.config) from None
    if args.data:
        cfg.data.root = args.data
    if args.cache_dir:
        cfg.data.cache_dir = args.cache_dir
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers: got {args.workers}, expected an integer >= 1")
    writer = _HeldWriter(EventWriter(None))
    writer.emit(ev.RunStart(command="preprocess", run_dir=args.run, config=config_mod.to_dict(cfg)))
    try:
        prepared = prepare(cfg.data, writer, workers=args.workers)
        train, val = prepared.split()
    except BadInput as e:
        for p in e.problems:
            writer.emit(ev.Error(message=p.message, file=p.file, hint=p.hint, kind="bad_input"))
        writer.emit(ev.RunEnd(status="failed", reason="bad_input", exit_code=2))
        raise
    except KeyboardInterrupt:
        writer.emit(ev.RunEnd(status="interrupted", reason="SIGINT", exit_code=130))
        raise
    summary = ev.DataSummary(
        cases=len(prepared.case_names), train_cases=len(train), val_cases=len(val),
        labels={str(k): v for k, v in prepared.labels.items()}, spacing=prepared.spacing, patch=list(cfg.data.patch),
        cache_dir=str(prepared.cache_dir), cache_hits=prepared.cache_hits, cache_misses=prepared.cache_misses)
    writer.emit(summary)
    writer.emit(ev.RunEnd(status="completed", reason="done", exit_code=0))
    if args.run:
        writer.attach(args.run)
    for w in prepared.warnings:
        print(f"heartseg: warning: {w}", file=sys.stderr)
    print(json.dumps(ev.jsonable(summary)))
    return EXIT_OK
