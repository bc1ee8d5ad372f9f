"""`python -m heartseg predict (--run RUN | --checkpoint CKPT) --input PATH... --out DIR [--probabilities]`.

Inputs are image files or folders of them (imagesTs-style; `NAME_0000`, `NAME_0001` are channels of case NAME).
Every input is decoded and checked before anything is written; each prediction DIR/NAME.EXT (EXT: the input's own,
.nii or .nii.gz) then has exactly the input's shape and affine. With --probabilities, DIR/NAME_probabilities.EXT
holds float32 class probabilities (x, y, z[, K]). DIR also gets heartseg-predict.json (checkpoint, preprocessing and
each input with its output) and the prediction's own events; nothing is written into a run. The model, its config,
spacing and label values are resolved by heartseg.model_setup.load_setup.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from heartseg.errors import BadInput, Problem


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run folder (its checkpoints/best.pt, else last.pt, and config.json)")
    p.add_argument("--checkpoint", help="checkpoint file (overrides the run's)")
    p.add_argument("--config", help="config JSON; the keys it sets win over what the checkpoint (or run) recorded")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the config's train.device)")
    from heartseg.model_setup import add_override_arguments

    add_override_arguments(p)


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


def output_names(cases: dict[str, list[Path]], out: Path) -> dict[str, tuple[Path, Path]]:
    """Case -> (label map, probability map) in OUT, named after the case with the first input's extension."""
    from heartseg import layout

    names = {}
    for name, paths in cases.items():
        ext = ".nii.gz" if paths[0].name.endswith(".nii.gz") else ".nii"
        names[name] = (out / f"{name}{layout.PREDICTION_SUFFIX}{ext}", out / f"{name}{layout.PROBABILITIES_SUFFIX}{ext}")
    return names


def check_out(out: Path, cases: dict[str, list[Path]], targets: dict[str, tuple[Path, Path]]) -> None:
    """--out must be (or become) a writable folder whose outputs overwrite no input; BadInput otherwise."""
    import os

    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise BadInput(f"--out: {probe} is a file, not a folder", file=str(out))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput("--out is not writable (read-only or no permission)", file=str(probe))
    inputs = {p.resolve() for paths in cases.values() for p in paths}
    clash = [t for pair in targets.values() for t in pair if t.resolve() in inputs]
    if clash:
        raise BadInput("the prediction would overwrite its own input", file=str(clash[0]),
                       hint="give --out another folder")


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np
    import torch

    from heartseg import config as cfgmod
    from heartseg import events as ev
    from heartseg.event_writer import EventWriter
    from heartseg import layout
    from heartseg.data import preprocess_image
    from heartseg.evaluation import command_events
    from heartseg.model_setup import load_setup, user_overrides
    from heartseg.fsutil import atomic_write_text
    from heartseg.inference import predict_volume, restore_prediction, tta_note

    # the prediction's own record lives in --out; a run folder is only read
    events = EventWriter(None, file_name=layout.PREDICT_EVENTS)
    written: list[Path] = []
    with command_events(events, "predict") as state:
        if not args.run and not args.checkpoint:
            raise BadInput("give --run RUN or --checkpoint CKPT")
        if args.run and not Path(args.run).is_dir():
            raise BadInput("run folder not found", file=str(Path(args.run).resolve()))
        out = Path(args.out).resolve()
        cases = collect_cases(args.input)
        targets = output_names(cases, out)
        check_out(out, cases, targets)
        overrides, _ = user_overrides(args)
        setup = load_setup(args.run, args.checkpoint, overrides, args.device)
        check_images(cases, setup.in_channels)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"--out cannot be created ({e.strerror or e})", file=str(out)) from None
        events.attach_run_dir(out)
        events.emit(ev.RunStart(command="predict", run_dir=str(out), config=cfgmod.to_dict(setup.cfg),
                                torch=torch.__version__, device=str(setup.device),
                                checkpoint=str(setup.checkpoint.resolve())))
        for w in setup.warnings:
            events.emit(ev.Warning(message=w))
            print(f"heartseg: {w}", flush=True)
        if tta_note(setup.cfg.infer.tta):
            print(f"heartseg: {tta_note(setup.cfg.infer.tta)}", flush=True)
        values = np.asarray(setup.class_values, dtype=np.uint8)
        manifest = {"checkpoint": str(setup.checkpoint.resolve()), "checkpoint_kind": setup.kind,
                    "preprocessing": setup.application.as_dict(), "config": cfgmod.to_dict(setup.cfg),
                    "labels": {str(v): n for v, n in setup.label_names.items()}, "cases": []}
        for i, (name, paths) in enumerate(cases.items(), 1):
            image, meta = preprocess_image(paths, setup.spacing, setup.cfg.data.normalization)
            classes, probs = predict_volume(setup.model, image, setup.cfg.data.patch, setup.cfg.infer,
                                            setup.out_channels, setup.device, precision=setup.cfg.train.precision,
                                            layout=setup.cfg.train.layout)
            # the label map is the thresholded, post-processed probability map on the input's own grid
            classes, restored = restore_prediction(probs, meta, setup.cfg.infer)
            labels = values[classes] if setup.out_channels > 1 else classes * values[-1]
            label_path, prob_path = targets[name]
            save_nifti_like(labels.astype(np.uint8), paths[0], label_path)
            written.append(label_path)
            entry = {"case": name, "inputs": [str(p) for p in paths], "output": str(label_path)}
            if args.probabilities:
                save_nifti_like(restored, paths[0], prob_path)
                written.append(prob_path)
                entry["probabilities"] = str(prob_path)
            manifest["cases"].append(entry)
            atomic_write_text(out / layout.PREDICT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
            events.emit(ev.Progress(stage="predict", done=i, total=len(cases), item=name))
        state["reason"] = f"predicted {len(cases)} cases into {out}"
    shown = ", ".join(p.name for p in written[:4]) + (", ..." if len(written) > 4 else "")
    print(f"heartseg: wrote {len(written)} file(s) to {out}: {shown}")
    return 0
