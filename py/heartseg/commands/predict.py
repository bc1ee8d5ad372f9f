"""`python -m heartseg predict (--run RUN | --checkpoint CKPT) --input PATH... --out DIR [--probabilities]`.

Inputs are image files or folders of them (imagesTs-style; `NAME_0000`, `NAME_0001` are channels of case NAME).
Every input is decoded and checked before anything is written; each DIR/NAME.nii.gz then has exactly the input's
shape and affine. With --probabilities, DIR/NAME_probabilities.nii.gz holds float32 class probabilities
(x, y, z[, K]). The model, its config, spacing and label values are resolved by heartseg.evaluation.load_setup.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput, Problem


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run folder (its checkpoints/best.pt, else last.pt, and config.json)")
    p.add_argument("--checkpoint", help="checkpoint file (overrides the run's)")
    p.add_argument("--config", help="config JSON (wins over the run's config.json and the checkpoint's)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the config's train.device)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--input", nargs="+", required=True, help="image files or folders of .nii/.nii.gz images")
    p.add_argument("--out", required=True, help="folder for the predicted label maps")
    p.add_argument("--probabilities", action="store_true", help="also write probability maps")


def collect_cases(inputs: list[str]) -> dict[str, list[Path]]:
    """Case name -> channel files in channel order; BadInput lists every missing or duplicated input."""
    from heartseg.evaluation import case_name, is_nifti, nifti_files

    problems: list[Problem] = []
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = nifti_files(path)
            if not found:
                problems.append(Problem("folder has no .nii or .nii.gz files", str(path)))
            files += found
        elif path.is_file():
            if is_nifti(path):
                files.append(path)
            else:
                problems.append(Problem("not a .nii or .nii.gz file", str(path)))
        else:
            problems.append(Problem("input not found", str(path)))
    cases: dict[str, list[Path]] = {}
    for f in dict.fromkeys(p.resolve() for p in files):
        cases.setdefault(case_name(f), []).append(f)
    for name, paths in cases.items():
        paths.sort(key=lambda p: p.name)
        has_channel_suffix = {case_name(p) != p.name.split(".nii")[0] for p in paths}
        if len(paths) > 1 and has_channel_suffix != {True}:
            problems.append(Problem(f"case {name} is given by {len(paths)} files that are not _0000-style channels",
                                    str(paths[0]), ", ".join(p.name for p in paths)))
    if problems:
        raise BadInput(problems)
    return cases


def check_images(cases: dict[str, list[Path]], in_channels: int) -> None:
    """Decode every image once and check it (and its channels' geometry); BadInput lists every problem."""
    from heartseg.data.validate import check_case

    problems: list[Problem] = []
    for name, paths in cases.items():
        if len(paths) != in_channels:
            problems.append(Problem(f"case {name} has {len(paths)} channel file(s), the model expects {in_channels}",
                                    str(paths[0]), "give channels as NAME_0000, NAME_0001, ..."))
            continue
        _, _, found, _ = check_case(name, paths, None, None)
        problems += found
    if problems:
        raise BadInput(problems)


def save_nifti_like(data: Any, source: Path, path: Path) -> None:
    """Write `data` with the source image's affine and orientation codes, atomically (temp file, rename)."""
    import nibabel as nib
    import numpy as np

    from heartseg.fsutil import atomic_path

    src = nib.load(str(source))
    img = nib.Nifti1Image(np.asarray(data), src.affine)
    hdr = src.header
    if isinstance(hdr, (nib.Nifti1Header, nib.Nifti2Header)):
        qcode, scode = int(hdr["qform_code"]), int(hdr["sform_code"])
        img.set_qform(src.affine, code=qcode if qcode > 0 else (0 if scode > 0 else 1))
        img.set_sform(src.affine, code=scode if scode > 0 else (0 if qcode > 0 else 2))
        img.header.set_xyzt_units(*hdr.get_xyzt_units())
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from heartseg import events as ev
    from heartseg.data import preprocess_image, restore
    from heartseg.evaluation import command_events, load_setup
    from heartseg.inference import predict_volume

    run_dir = Path(args.run) if args.run and Path(args.run).is_dir() else None
    events = ev.EventWriter(run_dir)
    events.emit(ev.RunStart(command="predict", run_dir=str(run_dir) if run_dir else None))
    with command_events(events, "predict") as state:
        if not args.run and not args.checkpoint:
            raise BadInput("give --run RUN or --checkpoint CKPT")
        if args.run and run_dir is None:
            raise BadInput("run folder not found", file=args.run)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise BadInput("--out exists and is not a folder", file=str(out))
        cases = collect_cases(args.input)
        setup = load_setup(args.run, args.checkpoint, args.config, args.device)
        check_images(cases, setup.in_channels)
        for w in setup.warnings:
            events.emit(ev.Warning(message=w))
        values = np.asarray(setup.class_values, dtype=np.uint8)
        for i, (name, paths) in enumerate(cases.items(), 1):
            image, meta = preprocess_image(paths, setup.spacing, setup.cfg.data.normalization)
            classes, probs = predict_volume(setup.model, image, setup.cfg.data.patch, setup.cfg.infer,
                                            setup.out_channels, setup.device)
            labels = values[classes] if setup.out_channels > 1 else classes * values[-1]
            save_nifti_like(restore(labels, meta, is_label=True).astype(np.uint8), paths[0], out / f"{name}.nii.gz")
            if args.probabilities:
                p = probs[0] if setup.out_channels == 1 else probs
                save_nifti_like(restore(p, meta, is_label=False).astype(np.float32), paths[0],
                                out / f"{name}_probabilities.nii.gz")
            events.emit(ev.Progress(stage="predict", done=i, total=len(cases), item=name))
        state["reason"] = f"predicted {len(cases)} cases"
    print(f"heartseg: wrote {len(cases)} prediction(s) to {out}")
    return 0
