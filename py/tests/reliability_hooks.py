"""The engine with test-only hooks, for the reliability tests: `python reliability_hooks.py <heartseg args...>`.

It also stands in for the interpreter the CLI starts (`HOOKED -m heartseg ARGS`): a test writes an executable
file whose shebang is the real interpreter and which calls main(), and points HEARTSEG_PYTHON at it.

The engine itself has no test switches; this wrapper patches a few functions before `heartseg.cli.main` runs, so
a test can stop the real engine at a known point (no timing guesses) or make a write fail.

    HEARTSEG_TEST_PAUSE=POINT:N   at the N-th arrival at POINT, create $HEARTSEG_TEST_DIR/paused-POINT and wait until
                                  $HEARTSEG_TEST_DIR/release exists. POINTs: prepare (a cache entry is being written),
                                  step (a training step), validate (a validation pass), save (inside a checkpoint
                                  write, with half of its bytes on disk). Paused in step or validate, it also
                                  writes $HEARTSEG_TEST_DIR/stop-requested once SIGINT/SIGTERM has reached the loop.
    HEARTSEG_TEST_FAIL=save:ENOSPC:N   the N-th checkpoint write fails with OSError(ENOSPC) after half of its bytes
    HEARTSEG_TEST_FAIL=step:OOM:N      the N-th training step raises torch.cuda.OutOfMemoryError
    HEARTSEG_TEST_FAIL_RANK=R          under torchrun, only rank R (its RANK) fails; the others run normally
"""

from __future__ import annotations

import errno
import functools
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path

_arrivals: Counter[str] = Counter()


def _spec(name: str) -> tuple[str, str, int] | None:
    """('point', 'kind', n) from 'point:n' or 'point:kind:n'."""
    text = os.environ.get(name, "")
    if not text:
        return None
    parts = text.split(":")
    return parts[0], (parts[1] if len(parts) == 3 else ""), int(parts[-1])


def _arrive(point: str) -> tuple[bool, str | None]:
    """(pause here?, failure kind to raise here or None), counting this arrival."""
    _arrivals[point] += 1
    pause, fail = _spec("HEARTSEG_TEST_PAUSE"), _spec("HEARTSEG_TEST_FAIL")
    if os.environ.get("HEARTSEG_TEST_FAIL_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
        fail = None
    here = lambda s: s is not None and s[0] == point and s[2] == _arrivals[point]  # noqa: E731
    return here(pause), (fail[1] if here(fail) else None)


def _pause(point: str, trainer=None) -> None:
    """Wait for the release file; a paused Trainer also reports the moment its stop request arrives."""
    folder = Path(os.environ["HEARTSEG_TEST_DIR"])
    (folder / f"paused-{point}").write_text(str(os.getpid()), encoding="utf-8")
    reported = False
    while not (folder / "release").exists():
        if trainer is not None and trainer.stop.requested and not reported:
            (folder / "stop-requested").write_text(trainer.stop.signal_name, encoding="utf-8")
            reported = True
        time.sleep(0.02)


def _wrap(owner, name: str, point: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def hooked(*args, **kwargs):
        pause, fail = _arrive(point)
        if fail == "OOM":
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total "
                                              "capacity of 7.79 GiB of which 301.56 MiB is free.")
        if pause:
            _pause(point, trainer=args[0] if args and hasattr(args[0], "stop") else None)
        return original(*args, **kwargs)

    setattr(owner, name, hooked)


def _hook_torch_save() -> None:
    import torch

    original = torch.save

    @functools.wraps(original)
    def save(obj, f, *args, **kwargs):
        pause, fail = _arrive("save")
        if not (pause or fail) or isinstance(f, (str, os.PathLike)):
            return original(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        original(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        if fail == "ENOSPC":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _pause("save")
        f.write(data[len(data) // 2:])

    torch.save = save


def install() -> None:
    from heartseg.data import cache
    from heartseg.train.loop import Trainer

    _wrap(cache, "write_entry", "prepare")
    _wrap(Trainer, "train_step", "step")
    _wrap(Trainer, "validate", "validate")
    _hook_torch_save()


def main(argv: list[str]) -> int:
    if argv[:2] == ["-m", "heartseg"]:
        argv = argv[2:]
    install()
    from heartseg.cli import main as engine_main

    return engine_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
