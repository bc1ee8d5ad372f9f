"""`python -m heartseg <command>`: dispatch to command modules, turn errors into exit codes and events.

Each command lives in `heartseg/commands/<name>.py` with `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `config --defaults` does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from heartseg.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput

COMMANDS: dict[str, str] = {
    "config": "Print the default config (--defaults) or check a config file (--check FILE).",
    "synth": "Write a synthetic cardiac-MRI-like dataset in Decathlon layout.",
    "preprocess": "Validate a dataset and fill the preprocessed-case cache.",
    "analyze": "The engine's own dataset analysis (JSON), for cross-checks with the front.",
    "train": "Train a model into a run folder.",
    "evaluate": "Evaluate a model on a dataset: metrics, summary and figures.",
    "predict": "Predict label maps for image files or a folder.",
    "score": "Score predicted label maps against references (no model needed).",
    "inspect": "Describe a checkpoint: architecture, parameters, per-block shapes, metrics.",
    "export": "Write a model as a raw state_dict the classic UNet3D loads, with a JSON sidecar of its preprocessing.",
    "doctor": "Report Python, torch, CUDA and packages as one JSON line.",
    "tbread": "Read the scalars of a TensorBoard log folder as JSON.",
    "plan": "Propose spacing, patch, batch, network and iterations for a dataset and device.",
    "estimate": "Parameters, memory and time of a config from the cost model (JSON).",
    "bench": "Engine-side benchmarks (used by `heartseg bench`).",
    "schema": "Write the contract files (config and event JSON Schemas, run-folder names) the front derives from.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m heartseg", description="heartseg engine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=f"heartseg.commands.{name}")
        # argument setup lives with the command; importing it is cheap (heavy imports stay inside run()).
        importlib.import_module(f"heartseg.commands.{name}").add_arguments(p)
    return parser




def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 with a usage line on bad flags
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    module = importlib.import_module(args._module)
    # preemption (SIGTERM) and a closed terminal (SIGHUP) outside the training loop clean up like Ctrl-C; the loop
    # installs its own handler
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return int(module.run(args) or 0)
    except BadInput as e:
        print(f"heartseg: {e.summary()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader went away (e.g. `analyze --json | head`): nothing left to say to it
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("heartseg: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: keep the traceback for engine.log, one line for people
        if os.environ.get("HEARTSEG_DEBUG"):
            raise
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"heartseg: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED
