"""One side of one benchmark line in a fresh interpreter: `python -m heartseg.bench.child LINE SIDE SETTINGS_JSON`.

Prints one line `HEARTSEG_BENCH_RESULT {json}` with the side's values (one per repeat), extra numbers and this
process's peak RSS, or {"skipped": reason} when a piece it needs is missing or fails.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

from heartseg.bench.runner import CHILD_MARK, peak_rss_mb


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m heartseg.bench.child LINE SIDE SETTINGS_JSON", file=sys.stderr)
        return 2
    line, side, settings = argv[0], argv[1], json.loads(argv[2])
    try:
        module = importlib.import_module(f"heartseg.bench.{line}")
        body = dict(getattr(module, side)(settings))
    except (ImportError, AttributeError) as e:
        traceback.print_exc(file=sys.stderr)
        body = {"skipped": f"{side}: a piece is missing ({type(e).__name__}: {e})"}
    except Exception as e:  # noqa: BLE001 - a failing side is reported in the results, never crashes the suite
        traceback.print_exc(file=sys.stderr)
        body = {"skipped": f"{side} failed: {type(e).__name__}: {str(e)[:300]}"}
    body["peak_rss_mb"] = peak_rss_mb()
    print(CHILD_MARK + json.dumps(body, allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
