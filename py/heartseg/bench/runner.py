"""Timing and memory for benchmark lines: median of repeats, peak resident memory, one child process per side.

Each side of a line (ours, baseline) runs in its own Python process so that its peak RSS is its own: the child
reads its VmHWM at the end (the whole process, imports included) and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHILD_MARK = "HEARTSEG_BENCH_RESULT "
"""Prefix of the child's result line on stdout (libraries may print other lines)."""


def median(values: list[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def time_repeats(fn: Callable[[], Any], repeats: int, warmup: int = 1,
                 cpu_seconds: list[float] | None = None) -> list[float]:
    """Wall seconds of `repeats` calls of fn after `warmup` untimed calls (first calls pay allocation and caches).

    cpu_seconds, when given, receives the process CPU time of each call (all threads): on a shared machine it
    moves less than wall time when other work competes for the cores.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
        if cpu_seconds is not None:
            cpu_seconds.append(time.process_time() - c0)
    return seconds


def rusage_mb(maxrss: int) -> float:
    """ru_maxrss is KiB on Linux and bytes on macOS."""
    return round(maxrss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far: VmHWM where /proc exists, else getrusage (which on Linux
    would include a forking parent's high-water mark, hence only the fallback)."""
    hwm = process_hwm_mb("self")
    return hwm if hwm is not None else rusage_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def process_hwm_mb(pid: int | str) -> float | None:
    """Peak resident memory so far of a running process (VmHWM in /proc); None where /proc is absent."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


def wait_exit(proc: subprocess.Popen, timeout: float | None = None) -> tuple[int | None, float | None, bool]:
    """Wait for the child: (exit code or None when killed at the timeout, peak RSS MB, timed out).

    The peak is VmHWM sampled while the child runs: ru_maxrss is no use here, because Linux carries the parent's
    high-water mark into a forked child across exec, so every child would look as large as this process.
    """
    deadline = None if timeout is None else time.perf_counter() + timeout
    peak: float | None = None
    while True:
        sample = process_hwm_mb(proc.pid)
        if sample is not None:
            peak = max(peak or 0.0, sample)
        if proc.poll() is not None:
            return proc.returncode, peak, False
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            return None, peak, True
        time.sleep(0.01)


def run_process(argv: list[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
                timeout: float | None = None) -> dict[str, Any]:
    """Run a whole process: wall seconds, exit code (None when killed at the timeout), output, its peak RSS."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out_f, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as err_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL)
        code, peak, timed_out = wait_exit(proc, timeout)
        seconds = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        return {"seconds": seconds, "code": code, "stdout": out_f.read(), "stderr": err_f.read(),
                "peak_rss_mb": peak, "timed_out": timed_out}


def engine_env(threads: int | None = None) -> dict[str, str]:
    """The environment for an engine child: this package importable, and the thread count fixed when asked."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    return env


def run_side(line: str, side: str, settings: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run one side of a line in a fresh interpreter (heartseg.bench.child); returns its result dict.

    The dict has 'values' (per repeat), 'peak_rss_mb' and optional 'extra', or 'skipped' with a reason.
    """
    argv = [sys.executable, "-m", "heartseg.bench.child", line, side, json.dumps(settings)]
    res = run_process(argv, env=engine_env(settings.get("threads")), timeout=timeout)
    if res["timed_out"]:
        return {"skipped": f"{side} ran past {timeout:.0f} s"}
    for text in reversed(res["stdout"].splitlines()):
        if text.startswith(CHILD_MARK):
            body = json.loads(text[len(CHILD_MARK):])
            if body.get("peak_rss_mb") is None:  # the child's own reading, taken last, is the better one
                body["peak_rss_mb"] = res["peak_rss_mb"]
            return body
    tail = (res["stderr"].strip().splitlines() or ["no output"])[-1]
    return {"skipped": f"{side} failed (exit {res['code']}): {tail[:300]}"}


def pair(name: str, line: str, unit: str, settings: dict[str, Any], *, ours: str = "ours",
         baseline: str = "baseline", note: str = "", timeout: float | None = None, rounds: int = 1,
         baseline_body: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Measure both sides of a line in their own processes; (result record, ours' body, baseline's body).

    rounds > 1 alternates the sides (ours, baseline, ours, ...) so that load from other work on a shared machine
    falls on both alike; the values of all rounds are pooled. baseline_body reuses a baseline measured already
    (several CUDA variants share one plain loop).
    """
    from heartseg.bench import results

    ours_bodies, base_bodies = [], []
    for _ in range(max(1, rounds)):
        ours_bodies.append(run_side(line, ours, settings, timeout))
        if baseline_body is None:
            base_bodies.append(run_side(line, baseline, settings, timeout))
    ours_body, base_body = _pool(ours_bodies), baseline_body if baseline_body is not None else _pool(base_bodies)
    reasons = [b["skipped"] for b in (ours_body, base_body) if b.get("skipped")]
    if ours_body.get("skipped") and base_body.get("skipped"):
        return results.skipped(name, unit, "; ".join(reasons)), ours_body, base_body
    o = median(ours_body["values"]) if ours_body.get("values") else None
    b = median(base_body["values"]) if base_body.get("values") else None
    notes = [n for n in (note, ours_body.get("note"), *(f"skipped {r}" for r in reasons)) if n]
    extra = {"baseline_peak_rss_mb": base_body.get("peak_rss_mb")}
    extra.update({f"ours_{k}": v for k, v in (ours_body.get("extra") or {}).items()})
    extra.update({f"baseline_{k}": v for k, v in (base_body.get("extra") or {}).items()})
    counts = [len(body.get("values") or []) for body in (ours_body, base_body)]
    repeats = min(counts) or max(counts)
    record = results.result(name, o, b, unit, repeats, ours_body.get("peak_rss_mb"), "; ".join(notes), **extra)
    return record, ours_body, base_body


def _pool(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """One body from several rounds: all values, the largest peak, each extra number's median."""
    good = [b for b in bodies if not b.get("skipped")]
    if not good:
        return bodies[0]
    pooled: dict[str, Any] = {"values": [v for b in good for v in b.get("values", [])]}
    peaks = [b["peak_rss_mb"] for b in good if b.get("peak_rss_mb") is not None]
    pooled["peak_rss_mb"] = max(peaks) if peaks else None
    extras: dict[str, list[Any]] = {}
    for b in good:
        for k, v in (b.get("extra") or {}).items():
            extras.setdefault(k, []).append(v)
    pooled["extra"] = {k: (float(f"{median(v):.4g}") if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                           else v[-1]) for k, v in extras.items()}
    if len(good) < len(bodies):
        failed = next(b["skipped"] for b in bodies if b.get("skipped"))
        pooled["note"] = f"{len(bodies) - len(good)} of {len(bodies)} rounds failed: {failed}"
    return pooled
