"""`estimate`: the cost model on a config gives the numbers the planner expected, and the config's own problems."""

from __future__ import annotations

import json

import pytest

from heartseg import cost
from heartseg.commands.estimate import estimate
from heartseg.planning import Fingerprint, detect_device, make_plan
from test_train_helpers import engine


def _fingerprint(shape=(88, 320, 320), spacing=(1.25, 0.625, 0.625), cases=20) -> Fingerprint:
    return Fingerprint([list(spacing)] * cases, [list(shape)] * cases, label_fractions={0: 0.98, 1: 0.02})


@pytest.mark.parametrize("shape, spacing", [((88, 320, 320), (1.25, 0.625, 0.625)), ((32, 64, 64), (2.0, 1.25, 1.25))])
def test_a_plan_estimates_what_the_planner_expected(shape, spacing):
    plan = make_plan(_fingerprint(shape, spacing), detect_device("cpu"))
    got = estimate(plan.config)
    assert got["problems"] == []
    assert got["parameters"] == plan.estimates["parameters"]
    assert got["step_seconds"] == pytest.approx(plan.estimates["step_seconds"], rel=1e-3)
    assert got["memory_gb"] == pytest.approx(plan.estimates["memory_gb"], abs=0.01)
    assert got["total_minutes"] == pytest.approx(plan.estimates["train_minutes"], rel=1e-2)
    epochs, iters = plan.config["train"]["epochs"], plan.config["train"]["iters_per_epoch"]
    assert got["steps"] == epochs * iters
    assert got["device"].startswith("cpu: ")


def test_the_seed_network_has_its_known_parameter_count():
    got = estimate({"train": {"device": "cpu"}})
    assert got["parameters"] == 22_581_217  # heartseg.cost's docstring: checked against the built model
    assert got["memory_gb"] == pytest.approx(cost.training_memory_bytes([32, 64, 128, 256], [64, 128, 128], 2) / 1024**3,
                                             abs=1e-3)


def test_a_time_budget_caps_the_total():
    got = estimate({"train": {"device": "cpu", "minutes": 5.0}})
    assert got["total_minutes"] == 5.0


@pytest.mark.parametrize("config, problem", [
    ({"data": {"patch": [8, 8, 8]}}, "data.patch: got [8, 8, 8], expected sizes >= 16"),
    ({"train": {"epochs": 0}}, "train.epochs: got 0, expected"),
    ({"train": {"epoch": 3}}, "unknown config key train.epoch"),
    ([1, 2], "config: got [1, 2], expected a JSON object"),
])
def test_problems_are_the_configs_own_and_leave_no_numbers(config, problem):
    got = estimate(config)
    assert any(p.startswith(problem) for p in got["problems"]), got["problems"]
    assert got["parameters"] is None and got["step_seconds"] is None


def test_the_command_reads_stdin_and_refuses_an_unreadable_file(tmp_path):
    ok = engine("estimate", "--config", "-", input=json.dumps({"model": {"features": [4, 8]}, "data": {"patch": [16, 16, 16]},
                                                             "train": {"device": "cpu"}}))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["parameters"] == cost.parameters([4, 8])
    missing = engine("estimate", "--config", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr and "Traceback" not in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    bad = engine("estimate", "--config", str(broken))
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
