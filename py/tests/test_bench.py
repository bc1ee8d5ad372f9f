"""The benchmark harness: ratio arithmetic, result records, merging, timing helpers, and a --smoke run end to end.

Timings are never asserted: only that the harness produces well-formed results whose ratios match their numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartseg import machine
from heartseg.bench import LINES, ON_REQUEST, results, runner, suite, time_to_dice, time_to_dice_la2018

PY_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ours,baseline,unit,expected", [
    (100.0, 10.0, "patches/s", 10.0),     # rates: ours / baseline
    (5.0, 10.0, "voxels/s", 0.5),
    (2.0, 6.0, "s", 3.0),                 # durations: baseline / ours
    (8.0, 2.0, "s", 0.25),
    (None, 2.0, "s", None),
    (2.0, None, "voxels/s", None),
    (0.0, 2.0, "s", None),
    (float("inf"), 2.0, "s", None),
])
def test_speed_ratio(ours, baseline, unit, expected):
    got = results.speed_ratio(ours, baseline, unit)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("unit", ["", "ms", "patches"])
def test_speed_ratio_bad_unit(unit):
    with pytest.raises(ValueError, match="unit"):
        results.speed_ratio(1.0, 2.0, unit)


def test_result_record_is_well_formed_and_rounded():
    r = results.result("train_step", 123456.789, 61728.39, "voxels/s", 3, 812.5, "a note", extra_field=1)
    assert results.check(r) == []
    assert r["ratio"] == 2.0 and r["ours"] == 123500.0 and r["extra_field"] == 1
    assert list(r)[:8] == list(results.FIELDS)


@pytest.mark.parametrize("change,problem", [
    ({"ratio": 5.0}, "does not match"),
    ({"ours": -1.0}, "non-negative"),
    ({"repeats": -1}, "repeats"),
    ({"unit": "ms"}, "unit"),
    ({"note": "", "ours": None}, "note"),
])
def test_check_finds_problems(change, problem):
    r = results.result("inference", 2.0, 4.0, "s", 2, None, "x")
    r.update(change)
    assert any(problem in p for p in results.check(r))


def test_skipped_record():
    r = results.skipped("inference", "s", "MONAI is not installed")
    assert results.check(r) == [] and r["note"] == "skipped: MONAI is not installed" and r["ratio"] is None


def test_merge_replaces_by_name_keeps_order_appends_new():
    old = [{"name": "a", "v": 1}, {"name": "b", "v": 1}]
    new = [{"name": "c", "v": 2}, {"name": "a", "v": 2}]
    assert results.merge(old, new) == [{"name": "a", "v": 2}, {"name": "b", "v": 1}, {"name": "c", "v": 2}]


def test_write_merges_with_the_earlier_file(tmp_path):
    out = tmp_path / "bench" / "results.json"
    results.write(out, {"cpu": "x"}, [results.result("analyze", 1.0, 2.0, "s", 1, None, "n")])
    results.write(out, {"cpu": "y"}, [results.result("inference", 1.0, 3.0, "s", 1, None, "n")])
    body = json.loads(out.read_text())
    assert body["machine"] == {"cpu": "y"} and [r["name"] for r in body["results"]] == ["analyze", "inference"]
    assert not list(out.parent.glob(".*.tmp"))


def test_table_lists_every_line():
    rows = [results.result("analyze", 1.0, 2.0, "s", 1, 10.0, "n"), results.skipped("inference", "s", "why")]
    text = results.table(rows)
    assert "2.00x" in text and "skipped: why" in text and text.splitlines()[0].startswith("line")


@pytest.mark.parametrize("values,expected", [([3.0, 1.0, 2.0], 2.0), ([4.0, 1.0], 2.5), ([7.0], 7.0)])
def test_median(values, expected):
    assert runner.median(values) == expected


def test_time_repeats_calls_warmup_plus_repeats():
    calls = []
    seconds = runner.time_repeats(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(seconds) == 3 and all(s >= 0 for s in seconds)
    with pytest.raises(ValueError):
        runner.time_repeats(lambda: None, repeats=0)


def test_run_process_reports_exit_code_output_and_its_own_peak_rss():
    big = bytearray(300 * 1024 * 1024)  # this process is large: a forked child must not inherit its peak
    big[::4096] = b"x" * len(big[::4096])
    code = "import sys, time; b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('hi'); " \
           "time.sleep(0.3); sys.exit(3)"
    r = runner.run_process([sys.executable, "-c", code])
    assert r["code"] == 3 and r["stdout"].strip() == "hi" and not r["timed_out"]
    if r["peak_rss_mb"] is not None:  # /proc present: the child's own 64 MB plus an interpreter, not ours
        assert 64 <= r["peak_rss_mb"] < 250
    del big
    slow = runner.run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow["timed_out"] and slow["code"] is None


def test_rounds_pool_values_peaks_and_extras():
    bodies = [{"values": [1.0, 2.0], "peak_rss_mb": 10.0, "extra": {"cpu": 1.0, "tag": "a"}},
              {"skipped": "ours failed: boom"},
              {"values": [3.0], "peak_rss_mb": 30.0, "extra": {"cpu": 3.0, "tag": "b"}}]
    pooled = runner._pool(bodies)
    assert pooled["values"] == [1.0, 2.0, 3.0] and pooled["peak_rss_mb"] == 30.0
    assert pooled["extra"] == {"cpu": 2.0, "tag": "b"}
    assert pooled["note"] == "1 of 3 rounds failed: ours failed: boom"
    assert runner._pool([{"skipped": "x"}]) == {"skipped": "x"}


def test_a_side_with_a_missing_piece_is_skipped_with_the_reason():
    body = runner.run_side("no_such_line", "ours", {})
    assert "a piece is missing" in body["skipped"] and "no_such_line" in body["skipped"]


@pytest.mark.parametrize("name,amp,expected", [
    ("NVIDIA H100 80GB HBM3", True, 989.0), ("NVIDIA H100 PCIe", True, 756.0), ("NVIDIA H100 80GB HBM3", False, 494.0),
    ("NVIDIA A100-SXM4-40GB", True, 312.0), ("Some Future GPU", True, None),
])
def test_gpu_peak(name, amp, expected):
    assert machine.gpu_peak_tflops(name, amp) == expected


def test_machine_description():
    info = machine.describe(with_gpus=False)
    assert info["cores"] >= 1 and info["cpu"] and info["gpus"] == []


def test_quick_time_to_dice_reuses_only_a_full_measurement():
    full = results.result("time_to_dice", 100.0, 400.0, "s", 1, None, "demo", mode="full", measured="2026-01-01")
    kept = time_to_dice._reuse({"previous": {"results": [full]}})
    assert kept["ratio"] == 4.0 and kept["note"].startswith("from the full run of 2026-01-01")
    smoke = dict(full, mode="smoke")
    assert time_to_dice._reuse({"previous": {"results": [smoke]}})["skipped"]
    assert time_to_dice._reuse({})["skipped"]


def _rec(ratio, ours=None):
    return results.result("x", ours or ratio * 10.0, 10.0 if ratio else None, "patches/s", 1, None, "n")


@pytest.mark.parametrize("ratios,chosen", [
    ([2.0], 2.0),
    ([3.0, 1.0, 2.0], 2.0),  # the middle one, with its own ours and baseline
    ([4.0, 1.0, 3.0, 2.0], 2.0),  # even: the lower middle (the cautious claim)
])
def test_median_record_keeps_one_consistent_run(ratios, chosen):
    out = suite.median_record([_rec(r) for r in ratios])
    assert out["ratio"] == chosen and out["ours"] == chosen * 10.0
    assert results.check(out) == []
    if len(ratios) > 1:
        assert out["ratios"] == ratios and out["note"].startswith(f"median of {len(ratios)} runs")


def test_median_record_skips_runs_without_numbers():
    skipped = results.skipped("x", "patches/s", "no data")
    assert suite.median_record([skipped, _rec(1.5)])["ratio"] == 1.5
    assert suite.median_record([skipped, skipped])["skipped"] == "no data"


def test_suite_repeat_runs_every_line_n_times(tmp_path, monkeypatch):
    calls = []

    def fake(name, ctx):
        calls.append(name)
        return [results.result(name, float(len(calls)), 1.0, "patches/s", 1, None, "fake")]

    monkeypatch.setattr(suite, "run_line", fake)
    body = suite.run_suite(["train_step", "data_sampling"], {"mode": "smoke"}, tmp_path / "r.json",
                           log=lambda m: None, repeat=3)
    assert calls == ["data_sampling", "train_step"] * 3
    by_name = {r["name"]: r for r in body["results"]}
    assert by_name["data_sampling"]["ratios"] == [1.0, 3.0, 5.0] and by_name["data_sampling"]["ratio"] == 3.0
    assert by_name["train_step"]["ratio"] == 4.0
    assert json.loads((tmp_path / "r.json").read_text())["results"] == body["results"]
    with pytest.raises(ValueError, match="repeat"):
        suite.run_suite(["train_step"], {"mode": "smoke"}, None, repeat=0)


def _engine(args, tmp_path, timeout=900):
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HEARTSEG_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "heartseg", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["--lines", "bogus"], "unknown line 'bogus'"),
    (["--skip", "train_step,nope"], "unknown line 'nope'"),
    (["--data", "/no/such/folder"], "not a Decathlon-style dataset"),
    (["--repeat", "0"], "--repeat: expected a whole number >= 1"),
])
def test_bench_command_bad_input(tmp_path, args, message):
    done = _engine([*args, "--out", str(tmp_path / "r.json")], tmp_path)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_smoke_run_writes_well_formed_results(tmp_path):
    out = tmp_path / "bench" / "results.json"
    done = _engine(["--smoke", "--gpu", "--out", str(out), "--work", str(tmp_path / "work"), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(out.read_text())
    assert json.loads(done.stdout) == body
    assert body["machine"]["cores"] >= 1 and body["machine"]["mode"] == "smoke"
    names = [r["name"] for r in body["results"]]
    assert all(n in names for n in LINES if n not in ON_REQUEST)
    assert not any(n in names for n in ON_REQUEST)  # minutes of training: only when named
    for r in body["results"]:
        assert results.check(r) == [], (r["name"], results.check(r))
        if r["name"].endswith("_cuda") or "_cuda_" in r["name"]:
            assert r["ratio"] is not None or r["note"].startswith("skipped")
    measured = [r for r in body["results"] if r["ratio"] is not None]
    assert measured, "a smoke run on this machine measures at least one line"
    for r in measured:
        assert r["repeats"] >= 1 and r["ours"] > 0 and r["baseline"] > 0
        assert r["ratio"] == pytest.approx(results.speed_ratio(r["ours"], r["baseline"], r["unit"]), rel=0.01)


def test_time_to_dice_la2018_smoke_plans_trains_both_sides(tmp_path):
    # tiny synthetic data and a target of 0: the planned config, the watched training and the classic loop run
    out = tmp_path / "r.json"
    done = _engine(["--smoke", "--lines", "time_to_dice_la2018", "--out", str(out), "--work", str(tmp_path / "w")],
                   tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (r,) = json.loads(out.read_text())["results"]
    assert r["name"] == "time_to_dice_la2018" and results.check(r) == []
    assert r["ours"] is not None and r["baseline"] is not None, r["note"]
    assert r["ours"] > 0 and r["baseline"] > 0, r["note"]
    assert "ours: the plan for 1 min" in r["note"] and "target validation Dice 0.0" in r["note"]


def test_quick_time_to_dice_la2018_reuses_only_a_full_measurement():
    full = results.result("time_to_dice_la2018", 600.0, 1200.0, "s", 1, None, "la2018", mode="full",
                          measured="2026-12-02")
    assert time_to_dice_la2018._reuse({"previous": {"results": [full]}})["ratio"] == 2.0
    assert time_to_dice_la2018._reuse({"previous": {"results": [dict(full, name="time_to_dice")]}})["skipped"]


@pytest.mark.parametrize("mine, base, ours, theirs, says", [
    ({"values": [10.0], "best": 0.9}, {"values": [40.0], "extra": {"best_dice": 0.88}}, 10.0, 40.0, "best 0.88"),
    ({"values": [10.0]}, {"values": [60.0], "extra": {"best_dice": 0.5, "capped": True}}, 10.0, 60.0,
     "stopped at the 60 s cap: the ratio is a lower bound"),
    ({"skipped": "crashed (exit 1)"}, {"values": [40.0], "extra": {}}, None, 40.0, "ours crashed (exit 1); "),
    ({"values": [10.0]}, {"skipped": "timed out"}, 10.0, None, "baseline timed out; "),
])
def test_race_names_a_side_that_did_not_finish(monkeypatch, tmp_path, mine, base, ours, theirs, says):
    seen = {}
    monkeypatch.setattr(runner, "run_side", lambda name, side, s, timeout: seen.update(s=s, timeout=timeout) or base)
    cfg = {"data": {"patch": [16, 32, 32], "batch": 2}, "model": {"features": [4, 8]}, "train": {"iters_per_epoch": 5}}
    r = time_to_dice.race({"mode": "full"}, "time_to_dice", mine, cfg, tmp_path, {"target": 0.85, "cap_s": 60},
                          timeout=99, note=lambda best: f"best {best}")
    assert (r["ours"], r["baseline"]) == (ours, theirs)
    assert says in r["note"]
    assert seen["timeout"] == 99 and seen["s"]["patch"] == [16, 32, 32] and seen["s"]["target"] == 0.85
