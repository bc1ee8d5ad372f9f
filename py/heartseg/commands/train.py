"""`train --config CFG --run RUN [--resume] [--init CKPT]`: check everything, then create and fill the run folder.

Under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set) every rank runs this; only rank 0 writes the run folder,
events and TensorBoard. A failure on any rank ends every rank within seconds, each with exit 1 and that rank's
message (train/distributed.py: fail, PeerWatch). Exit codes: 0 done, 1 failed, 2 bad input, 130 interrupted
(SIGINT/SIGTERM).
"""

from __future__ import annotations

import errno
import sys
import traceback
from pathlib import Path
from typing import Any

from heartseg.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput


def add_arguments(p) -> None:
    p.add_argument("--config", metavar="CFG", help="JSON config (partial is fine: defaults fill the rest)")
    # --run-dir: torchrun's own parser takes a bare --run for an abbreviation of its --run-path
    p.add_argument("--run", "--run-dir", dest="run", metavar="RUN", required=True,
                   help="run folder to create (or continue with --resume); spell it --run-dir under torchrun")
    p.add_argument("--resume", action="store_true", help="continue RUN from RUN/checkpoints/last.pt")
    p.add_argument("--init", metavar="CKPT", help="start from the weights of a compatible checkpoint")
    p.add_argument("--preset", metavar="NAME", help="start from a preset partial config (demo, cpu, gpu)")


DISK_HINTS = {errno.ENOSPC: "the disk is full: free some space, then continue with --resume",
              errno.EDQUOT: "the disk quota is used up: free some space, then continue with --resume",
              errno.EROFS: "the file system is read-only", errno.EACCES: "no permission to write there"}
"""Errors of the machine, not of heartseg: one line and a hint, no stack."""


def _log(msg: str) -> None:
    print(msg, flush=True)


def run(args) -> int:
    import torch

    from heartseg.train import folds

    every = folds.every_fold_config(args)  # data.folds >= 2 without data.fold: one sub-run per fold, then cv/
    if every is not None:
        return folds.run_every_fold(args, every, run, _log)
    from heartseg import events as ev
    from heartseg.event_writer import EventWriter
    from heartseg import layout
    from heartseg.train import distributed
    from heartseg.train.signals import OutputGuard

    info = distributed.from_env()
    events = EventWriter(None, enabled=info.is_main)
    # a vanished front (its pipes closed) must not turn a print into a crash: output then goes to engine.log
    guard = OutputGuard(lambda: Path(args.run) / layout.ENGINE_LOG if info.is_main and events.path is not None else None)
    guard.__enter__()
    try:
        return _train(args, info, events, guard)
    except BadInput as e:
        distributed.fail(distributed.Failure(info.rank, e.summary(), "bad_input"))  # the other ranks end too
        for p in e.problems:
            events.emit(ev.Error(message=p.message, file=p.file, hint=p.hint, kind="bad_input"))
        events.emit(ev.RunEnd(status="failed", reason="bad input", exit_code=EXIT_BAD_INPUT))
        raise
    except Exception as e:  # noqa: BLE001 - report it as an event too, then one line (+ the stack for a bug)
        from heartseg.train.memory import OutOfMemory

        oom = isinstance(e, (OutOfMemory, torch.cuda.OutOfMemoryError, MemoryError))
        kind = "out_of_memory" if oom else ("io" if isinstance(e, OSError) else "internal")
        hint = getattr(e, "hint", None) or ("lower data.batch or data.patch" if oom else
                                            DISK_HINTS.get(getattr(e, "errno", None)))
        # tell the other ranks at once (they would wait in their next collective); when another rank failed first,
        # ours is the broken collective that followed, and theirs is the one to report
        cause = distributed.fail(distributed.Failure(info.rank, f"{type(e).__name__}: {e}", kind, hint))
        if cause.rank != info.rank:
            _report_peer_failure(events, cause)
            return EXIT_FAILED
        events.emit(ev.Error(message=f"{type(e).__name__}: {e}", kind=kind, hint=hint))
        events.emit(ev.RunEnd(status="failed", reason=f"{type(e).__name__}: {str(e)[:200]}", exit_code=EXIT_FAILED))
        if not (isinstance(e, OutOfMemory) or getattr(e, "errno", None) in DISK_HINTS):
            traceback.print_exc(file=sys.stderr)  # a bug: keep the stack for engine.log
        where = f" on rank {info.rank}" if info.enabled else ""
        print(f"heartseg: training failed{where}: {e}" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return EXIT_FAILED
    finally:
        events.close()
        distributed.cleanup()
        guard.check()  # a reader that left without our noticing: the caller's last line must not raise
        guard.__exit__()


def _train(args, info, events, guard=None) -> int:
    import torch

    from heartseg import config as cfgmod
    from heartseg import data, layout
    from heartseg.fsutil import atomic_write_json
    from heartseg import events as ev
    from heartseg.checkpoint import load_checkpoint
    from heartseg.train import distributed, runfolder, setup
    from heartseg.train.loop import Trainer
    from heartseg.train.memory import OutOfMemory
    from heartseg.train import signals
    from heartseg.train.signals import StopRequest

    run_dir = Path(args.run)
    runfolder.check_run_dir(run_dir, args.resume)
    cfg, user = setup.load_config(args.config, args.preset, run_dir, args.resume)
    resume = load_checkpoint(run_dir / runfolder.LAST) if args.resume else None
    if resume is not None and resume.kind != "heartseg":
        raise BadInput("cannot resume: last.pt is not a full heartseg checkpoint", file=resume.path)
    init = load_checkpoint(args.init) if args.init else None
    # the network and its preprocessing come with the weights unless the config says otherwise
    init_notes = []
    if init is not None and not args.resume:
        from heartseg import presets

        init_notes = setup.apply_init(cfg, user, init, presets.load(args.preset) if args.preset else None,
                                      args.preset or "")
    for note in init_notes:
        _log(f"heartseg: {note}")
    device = distributed.resolve_device(cfg.train.device, info)
    distributed.init(info, device)
    distributed.watch_peers(info.rank, on_stuck=lambda failure: _report_peer_failure(events, failure))

    # rank 0 fills the cache first; the others then read it (and hear about rank 0's bad input instead of hanging)
    prepared, failure = None, None
    if info.is_main:
        try:
            prepared = data.prepare(cfg.data, events)
        except BadInput as e:
            failure = e.summary()
            raise
        finally:
            distributed.broadcast_object(failure)
    else:
        failure = distributed.broadcast_object(None)
        if failure:
            raise BadInput(f"rank 0 reported: {failure}")
        prepared = data.prepare(cfg.data, None)
    train_names, val_names = prepared.split()
    if not train_names or (not val_names and cfg.data.fold != "all"):  # --fold all: every case trains, none validates
        raise BadInput(f"need at least one training and one validation case, got {len(train_names)} and "
                       f"{len(val_names)}", file=cfg.data.root, hint="add cases or set data.val_fraction")
    out_channels = setup.check_channels(cfg, prepared.labels, prepared.channels, cfg.data.root)
    patch_notes = setup.check_patch_fits(cfg.data.patch, cfg.model.features, prepared, cfg.data.root)
    for note in patch_notes:
        _log(f"heartseg: warning: {note}")
    if resume is not None and resume.architecture["out_channels"] != out_channels:
        raise BadInput(f"the run's model has {resume.architecture['out_channels']} output channel(s), the dataset "
                       f"needs {out_channels}", file=resume.path)
    cfg.model.out_channels = out_channels
    if cfg.data.spacing != "native":  # resolved: evaluate/predict reuse the training grid ('native' stays per image)
        cfg.data.spacing = [float(s) for s in prepared.spacing]

    lock = runfolder.create_run_dir(run_dir, args.resume) if info.is_main else None
    trainer = None
    try:
        if info.is_main:
            runfolder.write_config(run_dir, cfgmod.to_dict(cfg))
            # the split is part of the result: evaluation and comparisons must use the same held-out cases
            atomic_write_json(run_dir / layout.SPLIT, {"train": list(train_names), "val": list(val_names)})
            events.attach_run_dir(run_dir)
        distributed.barrier()
        events.emit(ev.RunStart(command="train", run_dir=str(run_dir), config=cfgmod.to_dict(cfg),
                                torch=torch.__version__, device=str(device), world_size=info.world_size,
                                resumed_from_epoch=resume.epoch if resume else None))
        events.emit(ev.DataSummary(cases=len(prepared.case_names), train_cases=len(train_names),
                                   val_cases=len(val_names), labels={str(k): v for k, v in prepared.labels.items()},
                                   spacing=list(prepared.spacing), patch=list(cfg.data.patch),
                                   cache_dir=str(prepared.cache_dir), cache_hits=prepared.cache_hits,
                                   cache_misses=prepared.cache_misses))
        for note in patch_notes:
            events.emit(ev.Warning(message=note, file=cfg.data.root))
        for note in init_notes:
            events.emit(ev.Warning(message=note, file=str(Path(init.path).resolve())))
        with StopRequest() as stop:
            # a front that went away (fd 3 or our output pipes without a reader) is a stop request, like SIGHUP
            stop.watch(lambda: signals.FRONT_GONE if events.front_closed() else None)
            if guard is not None:
                stop.watch(guard.check)
            trainer = Trainer(cfg, in_channels=cfg.model.in_channels, out_channels=out_channels, run_dir=run_dir,
                              events=events, info=info, stop=stop, log=_log)
            report = trainer.start(resume=resume, init=init)
            _report_init(init, report, events)
            trainer.label_values = sorted(int(k) for k in prepared.labels)
            reason = trainer.write_graph()
            if reason:
                events.emit(ev.Warning(message=reason))
            sampler = data.PatchSampler(prepared, train_names, cfg.data, cfg.augment, cfg.train.seed, info.rank)

            def batches(start_step: int, count: int):
                return data.make_train_loader(sampler, start_step, count, cfg.data.workers)

            _log(f"heartseg: training {len(train_names)} cases ({len(val_names)} validation) on {device}, "
                 f"world size {info.world_size}, run {run_dir}")
            distributed.set_timeout(distributed.TRAINING_TIMEOUT_MINUTES)  # ranks now wait on each other briefly
            try:
                outcome = trainer.fit(prepared, val_names, batches)
            except torch.cuda.OutOfMemoryError:
                total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
                raise OutOfMemory(cfg.data.batch, cfg.data.patch, cfg.model.features,
                                  trainer.amp_dtype is not None, total) from None
        events.emit(ev.RunEnd(status=outcome.status, reason=outcome.reason, exit_code=outcome.exit_code,
                              best_dice=outcome.best_dice, epoch=outcome.epoch))
        _log(f"heartseg: {outcome.status} ({outcome.reason}) after epoch {outcome.epoch}, best Dice {outcome.best_dice}")
        return outcome.exit_code
    except KeyboardInterrupt:  # a second Ctrl-C mid-step: the state may be half-updated, so keep the last last.pt
        events.emit(ev.RunEnd(status="interrupted", reason="SIGINT", exit_code=130,
                              epoch=trainer.epoch if trainer else None))
        return 130
    finally:
        if trainer is not None:
            trainer.close()
        if lock is not None:
            lock.release()


def _report_peer_failure(events: Any, failure: Any) -> None:
    """Another rank's failure ended this one: its message (rank 0 records it in the run folder), one line."""
    from heartseg import events as ev

    events.emit(ev.Error(message=failure.describe(), kind=failure.kind, hint=failure.hint))  # kind: set by run()
    events.emit(ev.RunEnd(status="failed", reason=failure.describe()[:200], exit_code=EXIT_FAILED))
    print(f"heartseg: training failed on {failure.describe()}" + (f" ({failure.hint})" if failure.hint else ""),
          file=sys.stderr, flush=True)


def _report_init(init: Any, report: dict[str, list[str]], events: Any) -> None:
    from heartseg import events as ev

    if init is None:
        return
    skipped = {k: v for k, v in report.items() if v}
    if not skipped:
        _log(f"heartseg: initialised from {init.path} (all keys matched)")
        return
    parts = [f"{len(v)} {k}" + (f" ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})") for k, v in skipped.items()]
    message = f"--init {init.path}: " + "; ".join(parts) + "; those weights keep their fresh initialisation"
    events.emit(ev.Warning(message=message, file=init.path,
                           hint="expected when the number of output channels or the widths differ"))
    _log(f"heartseg: {message}")

