"""Every example in scenarios/ validates, and every id in it resolves in the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.scenario.io import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
REQUIRED = {"chatbot.yaml", "seed-guide.yaml", "mig-small-models.yaml", "spot-hedge.yaml", "forecast-growth.yaml"}

runner = CliRunner()


def test_the_required_examples_exist():
    assert REQUIRED <= {p.name for p in SCENARIOS}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_plan_validate_accepts(path: Path):
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_json_summary_resolves_ids(path: Path):
    result = runner.invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    loaded = load_scenario(path)
    assert data["valid"] is True
    assert [w["id"] for w in data["workloads"]] == [w.id for w in loaded.scenario.workloads]
    assert [o["id"] for o in data["offers"]] == [o.id for o in loaded.scenario.offers]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_id_resolves(path: Path):
    loaded = load_scenario(path)
    cat = loaded.catalog
    for w in loaded.scenario.workloads:
        assert cat.model(w.model).id in cat.models
    for o in loaded.scenario.offers:
        gpu = cat.gpu(o.gpu)
        assert gpu.id in cat.gpus
        assert not o.mig or gpu.mig_supported


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_offer_is_sourced(path: Path):
    """Prices drift: each example offer says where its price came from and when."""
    for o in load_scenario(path).scenario.offers:
        assert o.source and o.as_of, f"{path.name}: offer {o.id} lacks source/as_of"


def test_examples_cover_the_features():
    """The examples together exercise the markets, MIG, size mixes, profiles, spot policy and forecasts."""
    loaded = {p.name: load_scenario(p).scenario for p in SCENARIOS}
    markets = {o.market for s in loaded.values() for o in s.offers}
    assert markets == {"on_demand", "spot", "reserved"}
    assert any(o.mig for o in loaded["mig-small-models.yaml"].offers)
    assert any(o.owned_nodes for o in loaded["chatbot.yaml"].offers)
    assert any(w.size_mix for w in loaded["chatbot.yaml"].workloads)
    assert len({o.pool_effective for o in loaded["spot-hedge.yaml"].offers if o.market == "spot"}) >= 2
    forecast = loaded["forecast-growth.yaml"]
    assert forecast.forecast is not None and forecast.forecast.reserved_options
    assert any(w.profile is not None and len(w.profile.hourly) == 24 for w in forecast.workloads)
