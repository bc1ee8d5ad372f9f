"""schema/ holds what the engine's definitions generate: a change to a field, an event or a run-folder name that is
not regenerated (`npm run schema`) fails here."""

from __future__ import annotations

import pytest

from heartseg.commands import schema


@pytest.mark.parametrize("name", sorted(schema.documents()))
def test_schema_file_is_current(name):
    path = schema.DEFAULT_OUT / name
    assert path.is_file(), f"{path} is missing: run `npm run schema`"
    assert path.read_text(encoding="utf-8") == schema.render(schema.documents()[name]), (
        f"{path} is stale: run `npm run schema` and commit it")


def test_a_changed_field_makes_the_schema_stale(monkeypatch):
    from heartseg import config

    before = schema.render(schema.documents()["config.schema.json"])
    config.json_schema.cache_clear()
    monkeypatch.setitem(config.TrainConfig.model_fields["epochs"].json_schema_extra, "x-flag", "epochz")
    try:
        after = schema.render(schema.documents()["config.schema.json"])
    finally:
        config.json_schema.cache_clear()
    assert after != before


def test_the_default_plan_budgets_come_from_the_planner(monkeypatch):
    import argparse

    from heartseg.commands import plan as plan_cmd
    from heartseg.planning import rules

    monkeypatch.setitem(rules.DEFAULT_BUDGET_MINUTES, "cpu", 33.0)
    assert schema.documents()["contract.json"]["plan_budget_minutes"] == {"cpu": 33.0, "cuda": 120.0}
    parser = argparse.ArgumentParser()
    plan_cmd.add_arguments(parser)
    assert "default: 33 on a CPU, 120 on a GPU" in " ".join(parser.format_help().split())
