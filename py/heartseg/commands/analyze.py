"""`python -m heartseg analyze DATA [--json]`: per-case statistics read directly from the NIfTI files."""

from __future__ import annotations

import json

from heartseg.errors import EXIT_OK


def add_arguments(p) -> None:
    p.add_argument("data", metavar="DATA", help="dataset folder (Decathlon layout)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args) -> int:
    from heartseg.data.analysis import analyze

    result = analyze(args.data)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return EXIT_OK
    print(f"{result['name']}: {result['summary']['cases']} cases, labels "
          + ", ".join(f"{k}={v}" for k, v in result["labels"].items()))
    print(f"{'case':<24}{'shape (x,y,z)':<18}{'spacing mm':<22}{'min':>9}{'max':>9}{'mean':>9}  label mL")
    for c in result["cases"]:
        vols = " ".join(f"{k}:{v['ml']:.1f}" for k, v in c.get("labelVolumes", {}).items() if k != "0")
        print(f"{c['name']:<24}{'x'.join(map(str, c['shape'])):<18}{'x'.join(f'{s:g}' for s in c['spacing']):<22}"
              f"{c['intensity']['min']:>9.3g}{c['intensity']['max']:>9.3g}{c['intensity']['mean']:>9.3g}  {vols}")
    return EXIT_OK
