"""A vanished front is a stop request (issue 13, item 2).

The front reads the engine's events on a pipe (HEARTSEG_EVENT_FD) and its stdout/stderr on two more. When the
terminal closes (SIGHUP) or the front dies (every pipe loses its reader), the engine finishes the step in flight,
writes last.pt, records exactly one `run_end: interrupted` in events.jsonl, and exits 130; --resume then ends with
the uninterrupted run's metrics and weights. The real engine is paused by reliability_hooks.py at a known step.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from heartseg import events as ev
from heartseg.event_writer import EventWriter
from heartseg.train.runfolder import LAST
from heartseg.train.signals import FRONT_GONE, StopRequest
from reliability_engine import (HOOKS, PY_ROOT, assert_same_training, events, leftovers, load_weights_only,
                                run_engine)
from test_train_helpers import tiny_config_dict, tiny_dataset

EPOCHS, ITERS = 3, 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SimpleNamespace:
    home = tmp_path_factory.mktemp("front")
    root = tiny_dataset(home / "data")
    cfg = home / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(root, home / "cache", epochs=EPOCHS, iters_per_epoch=ITERS,
                                               tb_image_every=100)), encoding="utf-8")
    baseline = home / "baseline"
    rc, _, err = run_engine(["train", "--config", str(cfg), "--run", str(baseline)], home / "markers")
    assert rc == 0, err
    return SimpleNamespace(home=home, cfg=cfg, baseline=baseline)


class FrontedEngine:
    """The engine as the front starts it: events on a pipe named by HEARTSEG_EVENT_FD, stdout/stderr on pipes."""

    def __init__(self, args: list[str], markers: Path, pause: str):
        markers.mkdir(parents=True)
        self.markers = markers
        self.read_fd, write_fd = os.pipe()
        env = dict(os.environ, PYTHONPATH=str(PY_ROOT), OMP_NUM_THREADS="1", HEARTSEG_TEST_DIR=str(markers),
                   HEARTSEG_TEST_PAUSE=pause, HEARTSEG_EVENT_FD=str(write_fd))
        env.pop("HEARTSEG_DEBUG", None)
        self.proc = subprocess.Popen([sys.executable, str(HOOKS), *args], cwd=markers, env=env, pass_fds=(write_fd,),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(write_fd)
        self.events = io.FileIO(self.read_fd, "r", closefd=True)

    def wait_paused(self, point: str, timeout: float = 240) -> None:
        import time

        end = time.monotonic() + timeout
        while not (self.markers / f"paused-{point}").exists():
            assert self.proc.poll() is None, f"engine exited ({self.proc.returncode}) before pausing at {point}"
            assert time.monotonic() < end, f"engine never paused at {point}"
            time.sleep(0.02)

    def close_front(self, outputs: bool) -> None:
        """The front goes away: its end of the event pipe closes (and of stdout/stderr when `outputs`)."""
        self.events.close()
        if outputs:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def release(self) -> None:
        (self.markers / "release").write_text("go", encoding="utf-8")

    def wait(self, timeout: float = 300) -> int:
        return self.proc.wait(timeout=timeout)


def run_ends(run: Path) -> list[dict]:
    return [e for e in events(run) if e["type"] == "run_end"]


def assert_one_interrupted_end(run: Path, reason: str, global_step: int) -> None:
    ends = run_ends(run)
    assert [(e["status"], e["reason"], e["exit_code"]) for e in ends] == [("interrupted", reason, 130)]
    assert events(run)[-1]["type"] == "run_end"  # nothing after it
    last = load_weights_only(run / LAST)
    assert last["global_step"] == global_step  # the step in flight finished, then the state was saved
    assert leftovers(run) == []


def resume_and_compare(run: Path, tiny: SimpleNamespace, markers: Path) -> None:
    rc, _, err = run_engine(["train", "--run", str(run), "--resume"], markers)
    assert rc == 0, err
    assert_same_training(run, tiny.baseline)
    assert [e["status"] for e in run_ends(run)] == ["interrupted", "completed"]


def test_the_front_closing_its_event_pipe_mid_epoch_stops_the_run_and_resume_completes_it(tiny, tmp_path):
    run = tmp_path / "run"
    engine = FrontedEngine(["train", "--config", str(tiny.cfg), "--run", str(run)], tmp_path / "m", "step:2")
    engine.wait_paused("step")
    engine.close_front(outputs=False)
    engine.release()
    assert engine.wait() == 130
    assert_one_interrupted_end(run, FRONT_GONE, global_step=2)
    resume_and_compare(run, tiny, tmp_path / "m2")


def test_a_dead_front_with_every_pipe_closed_still_gets_one_run_end_and_the_log_goes_to_engine_log(tiny, tmp_path):
    run = tmp_path / "run"
    engine = FrontedEngine(["train", "--config", str(tiny.cfg), "--run", str(run)], tmp_path / "m", f"step:{ITERS + 1}")
    engine.wait_paused("step")
    engine.close_front(outputs=True)
    engine.release()
    assert engine.wait() == 130
    assert_one_interrupted_end(run, FRONT_GONE, global_step=ITERS + 1)
    # the engine's last words went to the run's log instead of a pipe nobody reads
    assert "heartseg: interrupted (front closed) after epoch 1" in (run / "engine.log").read_text(encoding="utf-8")


def test_sigterm_forwarded_by_a_front_that_then_exits_ends_interrupted_not_failed(tiny, tmp_path):
    """The reported defect: the front forwards SIGTERM and exits; the engine's final print hit EPIPE and appended
    `run_end: failed` (BrokenPipeError) after `run_end: interrupted`."""
    run = tmp_path / "run"
    engine = FrontedEngine(["train", "--config", str(tiny.cfg), "--run", str(run)], tmp_path / "m", "step:2")
    engine.wait_paused("step")
    engine.proc.send_signal(signal.SIGTERM)
    engine.close_front(outputs=True)
    engine.release()
    assert engine.wait() == 130
    assert_one_interrupted_end(run, "SIGTERM", global_step=2)


@pytest.mark.parametrize("pause,global_step", [(f"step:{ITERS + 2}", ITERS + 2), ("save:1", ITERS)],
                         ids=["mid-step", "inside-a-checkpoint-write"])
def test_sighup_finishes_the_step_or_write_checkpoints_and_resume_completes(tiny, tmp_path, pause, global_step):
    run = tmp_path / "run"
    engine = FrontedEngine(["train", "--config", str(tiny.cfg), "--run", str(run)], tmp_path / "m", pause)
    engine.wait_paused(pause.split(":")[0])
    engine.proc.send_signal(signal.SIGHUP)
    engine.release()
    assert engine.wait() == 130
    assert_one_interrupted_end(run, "SIGHUP", global_step=global_step)
    resume_and_compare(run, tiny, tmp_path / "m2")


def test_sighup_during_data_preparation_leaves_no_run_folder(tiny, tmp_path):
    cfg = json.loads(tiny.cfg.read_text(encoding="utf-8"))
    cfg["data"]["cache_dir"] = str(tmp_path / "cache")  # empty: preparation has work to do
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    run = tmp_path / "run"
    engine = FrontedEngine(["train", "--config", str(path), "--run", str(run)], tmp_path / "m", "prepare:1")
    engine.wait_paused("prepare")
    engine.proc.send_signal(signal.SIGHUP)
    engine.release()
    assert engine.wait() == 130
    assert not run.exists()
    assert list((tmp_path / "cache").glob("cases/.tmp-*")) == []


# --- the pieces, without an engine ---------------------------------------------------------------------------------

def test_a_record_ends_at_its_first_run_end(tmp_path):
    writer = EventWriter(tmp_path)
    writer.emit(ev.RunStart(command="train"))
    writer.emit(ev.RunEnd(status="interrupted", reason="SIGTERM", exit_code=130))
    writer.emit(ev.Error(message="BrokenPipeError: [Errno 32] Broken pipe", kind="internal"))
    writer.emit(ev.RunEnd(status="failed", reason="BrokenPipeError", exit_code=1))
    writer.close()
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(x["type"], x.get("status")) for x in lines] == [("run_start", None), ("run_end", "interrupted")]


def test_the_writer_notices_a_closed_front_without_writing_and_keeps_the_file(tmp_path):
    r, w = os.pipe()
    try:
        writer = EventWriter(tmp_path, fd=w)
        assert not writer.front_closed()
        os.close(r)
        assert writer.front_closed() and writer.front_gone
        writer.emit(ev.Warning(message="still recorded"))
        writer.close()
        assert "still recorded" in (tmp_path / "events.jsonl").read_text()
    finally:
        os.close(w)


def test_stop_request_watches_sighup_and_checks():
    stop = StopRequest()
    assert signal.SIGHUP in stop.SIGNALS
    gone = []
    stop.watch(lambda: FRONT_GONE if gone else None)
    assert not stop.requested
    gone.append(1)
    assert stop.requested and stop.signal_name == FRONT_GONE


def test_output_guard_turns_a_broken_stdout_into_a_log_and_a_stop_reason(tmp_path):
    """A child whose stdout reader is gone: print() must not raise, the text lands in the fallback file."""
    code = (
        "import os, sys\n"
        "from heartseg.train.signals import OutputGuard\n"
        f"g = OutputGuard(lambda: __import__('pathlib').Path({str(tmp_path / 'log')!r}))\n"
        "g.__enter__()\n"
        "sys.stdin.read()\n"  # the parent closes stdout's reader, then stdin
        "print('after the front left', flush=True)\n"
        "print('reason', g.check(), file=sys.stderr, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(PY_ROOT)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    proc.stderr.close()
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    text = (tmp_path / "log").read_text()
    assert "after the front left" in text and f"reason {FRONT_GONE}" in text
