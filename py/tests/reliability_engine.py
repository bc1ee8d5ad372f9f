"""Starting the real engine (through reliability_hooks.py) for the reliability tests, and reading what it left."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from heartseg.fsutil import is_temporary
from heartseg.train.runfolder import BEST, LAST

TESTS = Path(__file__).resolve().parent
PY_ROOT = TESTS.parent
HOOKS = TESTS / "reliability_hooks.py"
SETPRIV = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


class Engine:
    """One engine process with its own marker folder for the pause hook."""

    def __init__(self, args: list[str], markers: Path, pause: str = "", fail: str = "", prefix: list[str] | None = None):
        self.markers = markers
        shutil.rmtree(markers, ignore_errors=True)
        markers.mkdir(parents=True)
        env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   HEARTSEG_TEST_DIR=str(markers), HEARTSEG_TEST_PAUSE=pause, HEARTSEG_TEST_FAIL=fail)
        for key in ("HEARTSEG_EVENT_FD", "HEARTSEG_DEBUG"):
            env.pop(key, None)
        self.proc = subprocess.Popen([*(prefix or []), sys.executable, str(HOOKS), *args], cwd=markers, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_paused(self, point: str, timeout: float = 240) -> None:
        marker = self.markers / f"paused-{point}"
        end = time.monotonic() + timeout
        while not marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"engine exited ({self.proc.returncode}) before pausing at {point}:\n{out}\n{err}")
            if time.monotonic() > end:
                self.proc.kill()
                raise AssertionError(f"engine never paused at {point}")
            time.sleep(0.02)

    def release(self) -> None:
        (self.markers / "release").write_text("go", encoding="utf-8")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"engine did not finish in {timeout}s:\n{out}\n{err}") from None
        return self.proc.returncode, out, err


def run_engine(args: list[str], markers: Path, **kw: Any) -> tuple[int, str, str]:
    return Engine(args, markers, **kw).finish()


def interrupt_at(args: list[str], markers: Path, pause: str, sig: signal.Signals) -> tuple[int, str, str]:
    """Run until the hook pauses at `pause` ('point:n'), deliver `sig`, let the engine go on, wait for its end."""
    engine = Engine(args, markers, pause=pause)
    engine.wait_paused(pause.split(":")[0])
    engine.signal(sig)
    if sig != signal.SIGKILL:
        engine.release()
    return engine.finish()


def events(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def load_weights_only(path: Path) -> dict[str, Any]:
    """What any later command does with a checkpoint: torch.load(weights_only=True) must accept it."""
    return torch.load(path, map_location="cpu", weights_only=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Half-written files: temporary checkpoint/config names, and the lock."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if is_temporary(p.name) or p.name == ".lock")


def assert_same_training(done: Path, want: Path, tol: float = 1e-5) -> None:
    """The finished run equals the uninterrupted one: per-epoch losses, Dice and lr, step count and weights."""
    a, b = load_weights_only(want / LAST), load_weights_only(done / LAST)
    assert b["global_step"] == a["global_step"] and b["epoch"] == a["epoch"]
    assert [h["epoch"] for h in b["history"]] == [h["epoch"] for h in a["history"]]
    for x, y in zip(a["history"], b["history"]):
        for key in ("train_loss", "val_loss", "val_dice"):
            assert (x[key] is None) == (y[key] is None), key
            if x[key] is not None:
                assert abs(x[key] - y[key]) <= tol, (x["epoch"], key, x[key], y[key])
        assert y["lr"] == pytest.approx(x["lr"], rel=1e-9)
    for key, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][key].float(), atol=tol), key
    assert load_weights_only(done / BEST)["best"]["dice"] == pytest.approx(a["best"]["dice"], abs=tol)


def permission_prefix() -> list[str] | None:
    """[] when permission bits apply to us; as root the setpriv prefix that makes them apply; None when impossible."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"hs-perm-probe-{os.getpid()}"
    probe.write_text("x")
    probe.chmod(0)
    try:
        r = subprocess.run([*SETPRIV, "cat", str(probe)], capture_output=True, text=True)
        return SETPRIV if r.returncode != 0 and "denied" in r.stderr.lower() else None
    finally:
        probe.unlink()
