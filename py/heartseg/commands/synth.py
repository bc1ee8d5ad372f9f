"""`python -m heartseg synth OUT --cases N --seed S [--shape Z Y X] [--spacing Z Y X]`: a synthetic dataset."""

from __future__ import annotations

import sys

from heartseg.errors import EXIT_OK, BadInput


def add_arguments(p) -> None:
    from heartseg.synth import DEFAULT_SHAPE, DEFAULT_SPACING

    p.add_argument("out", metavar="OUT", help="folder to create (must be absent or empty)")
    p.add_argument("--cases", type=int, default=20, help="number of cases (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed writes the same volumes (default 0)")
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"), default=list(DEFAULT_SHAPE),
                   help=f"voxels per case (default {' '.join(map(str, DEFAULT_SHAPE))})")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("Z", "Y", "X"), default=list(DEFAULT_SPACING),
                   help=f"voxel size in mm (default {' '.join(map(str, DEFAULT_SPACING))})")
    p.add_argument("--prefix", default="synth", help="case name prefix (default synth)")


def run(args) -> int:
    from heartseg.synth import write_dataset

    try:
        out = write_dataset(args.out, args.cases, args.seed, args.shape, args.spacing,
                            log=lambda line: print(line, file=sys.stderr, flush=True), prefix=args.prefix)
    except FileExistsError as e:
        raise BadInput(str(e).split(": ", 1)[-1], args.out, "choose a new folder or empty this one") from None
    except ValueError as e:
        raise BadInput(str(e)) from None
    print(out)
    return EXIT_OK
