"""``offers_from_catalog``: selectors expand deterministically into concrete offers (table-driven, on a small
hand-written catalog), errors name the nearest rows, and scenarios built this way validate, dump and solve."""

from __future__ import annotations

import re

import itertools
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.catalog.offers import parse_offers
from planner.cli import app
from planner.scenario.from_catalog import OfferSelector, SelectionError, expand_selector
from planner.scenario.io import load_scenario, scenario_from_dict
from planner.scenario.model import Scenario

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

CSV = """provider,instance_type,gpu,gpus_per_node,nvlink_group,market,term_months,price_usd_per_node_hour,interruption_bucket,interruption_source,regions,source,as_of,confidence
aws,p5,h100-sxm,8,8,on_demand,,96.0,,,us-east-1;eu-west-1,page A read on a day,2025-06,high
aws,p5,h100-sxm,8,8,spot,,24.0,5-10%,advisor page,us-east-1,page A read on a day,2025-06,medium
aws,p5,h100-sxm,8,8,reserved,12,64.0,,,us-east-1,page B read on a day,2025-06,low
aws,g6e,l40s,1,1,on_demand,,1.8,,,us-east-1,page A read on a day,2025-06,high
lambda,h100x1,h100-sxm,1,1,on_demand,,3.0,,,us-west-1;us-east-1,page C read on a day,2026-01,medium
lambda,h100x8,h100-sxm,8,8,on_demand,,24.0,,,us-west-1,page C read on a day,2026-01,medium
"""
ROWS = parse_offers(CSV, "mini.csv")


def ids(sel: dict, rows=ROWS) -> list[str]:
    return [o["id"] for o in expand_selector(OfferSelector.model_validate(sel), "offers_from_catalog[0]", rows)]


# Per-GPU-hour prices: aws p5 od 12, spot 3, reserved 8; g6e 1.8; lambda h100x1 3.0, h100x8 3.0.
# Order: cheapest per GPU-hour, then offer id (string order): the p5 spot (3.0) sorts before lambda's (3.0), and
# the p5 on-demand in eu-west-1 before the one in us-east-1, although the row lists us-east-1 first.
@pytest.mark.parametrize(("sel", "expected"), [
    ({}, ["aws/g6e/on_demand/us-east-1", "aws/p5/spot/us-east-1", "lambda/h100x1/on_demand/us-east-1",
          "lambda/h100x1/on_demand/us-west-1", "lambda/h100x8/on_demand/us-west-1", "aws/p5/reserved-12mo/us-east-1",
          "aws/p5/on_demand/eu-west-1", "aws/p5/on_demand/us-east-1"]),
    ({"providers": ["lambda"]}, ["lambda/h100x1/on_demand/us-east-1", "lambda/h100x1/on_demand/us-west-1",
                                 "lambda/h100x8/on_demand/us-west-1"]),
    ({"regions": ["us-west-*"]}, ["lambda/h100x1/on_demand/us-west-1", "lambda/h100x8/on_demand/us-west-1"]),
    ({"regions": ["EU-*"]}, ["aws/p5/on_demand/eu-west-1"]),                      # globs ignore case
    ({"gpus": ["l40s"]}, ["aws/g6e/on_demand/us-east-1"]),
    ({"gpus": ["H100"], "markets": ["spot", "reserved"]}, ["aws/p5/spot/us-east-1", "aws/p5/reserved-12mo/us-east-1"]),
    ({"gpus_per_node": [8], "providers": ["lambda"]}, ["lambda/h100x8/on_demand/us-west-1"]),
    ({"min_confidence": "high"}, ["aws/g6e/on_demand/us-east-1", "aws/p5/on_demand/eu-west-1",
                                  "aws/p5/on_demand/us-east-1"]),
    ({"providers": ["lambda"], "exclude": ["*/us-east-1"]}, ["lambda/h100x1/on_demand/us-west-1",
                                                             "lambda/h100x8/on_demand/us-west-1"]),
])
def test_expansion_table(sel, expected):
    assert ids(sel) == expected


def test_order_does_not_depend_on_the_file_order():
    lines = CSV.strip().splitlines()
    for perm in itertools.islice(itertools.permutations(lines[1:]), 0, 720, 97):
        rows = parse_offers("\n".join([lines[0], *perm]) + "\n", "shuffled.csv")
        assert ids({}, rows) == ids({})


def test_offer_fields_by_market():
    sel = OfferSelector.model_validate({"providers": ["aws"], "gpus": ["h100-sxm"], "max_nodes": 3,
                                        "recovery_minutes": 12})
    by_id = {o["id"]: o for o in expand_selector(sel, "x", ROWS)}
    spot = by_id["aws/p5/spot/us-east-1"]
    assert spot["interruption_rate_per_hour"] == pytest.approx(-math.log(1 - 0.075) / 730)  # 5-10 % bucket
    assert (spot["pool"], spot["recovery_minutes"], spot["max_nodes"]) == ("aws/us-east-1", 12, 3)
    assert (spot["price_usd_per_node_hour"], spot["gpus_per_node"], spot["as_of"]) == (24.0, 8, "2025-06")
    assert spot["source"] == "page A read on a day; confidence medium"
    res = by_id["aws/p5/reserved-12mo/us-east-1"]
    assert res["term_months"] == 12 and "interruption_rate_per_hour" not in res and "recovery_minutes" not in res
    assert "term_months" not in by_id["aws/p5/on_demand/us-east-1"]
    fixed = OfferSelector.model_validate({"providers": ["aws"], "markets": ["spot"], "interruption_rate_per_hour": 0.02})
    assert [o["interruption_rate_per_hour"] for o in expand_selector(fixed, "x", ROWS)] == [0.02]


def test_overrides_by_id():
    sel = OfferSelector.model_validate({"providers": ["aws"], "gpus": ["h100-sxm"], "overrides": [
        {"id": "aws/p5/reserved-12mo/us-east-1", "price_usd_per_node_hour": 50.0, "max_nodes": 2, "owned_nodes": 1},
        {"id": "aws/p5/spot/us-east-1", "max_nodes": 0}]})
    by_id = {o["id"]: o for o in expand_selector(sel, "x", ROWS)}
    res = by_id["aws/p5/reserved-12mo/us-east-1"]
    assert (res["price_usd_per_node_hour"], res["max_nodes"], res["owned_nodes"]) == (50.0, 2, 1)
    assert res["source"].startswith("override in the scenario (catalog: page B") and res["as_of"] is None
    assert by_id["aws/p5/spot/us-east-1"]["max_nodes"] == 0
    assert by_id["aws/p5/on_demand/us-east-1"]["price_usd_per_node_hour"] == 96.0   # others untouched


@pytest.mark.parametrize(("sel", "path", "words"), [
    ({"providers": ["lambda"], "markets": ["spot"]}, "offers_from_catalog[0]",
     "nearest rows: aws/p5/spot/us-east-1 (gpu h100-sxm, 8 per node; differs in providers); "
     "lambda/h100x1/on_demand/us-west-1;us-east-1 (gpu h100-sxm, 1 per node; differs in markets); "
     "lambda/h100x8/on_demand/us-west-1 (gpu h100-sxm, 8 per node; differs in markets)"),
    ({"providers": ["lamda"]}, "offers_from_catalog[0].providers[0]", "did you mean 'lambda'?"),
    ({"gpus": ["h100-sxx"]}, "offers_from_catalog[0].gpus[0]", "unknown GPU 'h100-sxx'"),
    ({"providers": ["aws"], "overrides": [{"id": "aws/p5/spot/us-east-2", "max_nodes": 1}]},
     "offers_from_catalog[0].overrides[0].id", "did you mean 'aws/p5/spot/us-east-1'?"),
    ({"exclude": ["gcp/*"]}, "offers_from_catalog[0].exclude[0]", "matches none of the 8 offers"),
])
def test_errors_name_the_field_and_the_nearest(sel, path, words):
    with pytest.raises(SelectionError) as err:
        ids(sel)
    assert err.value.path == path
    assert words in str(err.value)


WORKLOAD = {"id": "chat", "model": "llama-3.1-8b", "requests_per_min": 120, "prompt_tokens": 500,
            "output_tokens": 100, "ttft_slo_ms": 1000}


def test_scenario_expands_a_single_mapping_and_keeps_explicit_offers():
    data = {"name": "t", "workloads": [WORKLOAD],
            "offers": [{"id": "mine", "gpu": "l4", "market": "on_demand", "price_usd_per_gpu_hour": 0.5}],
            "offers_from_catalog": {"providers": ["nebius"], "gpus": ["h100-sxm"], "markets": ["spot"]}}
    s = scenario_from_dict(data).scenario
    assert [o.id for o in s.offers] == ["mine", "nebius/gpu-h100-sxm_1gpu-16vcpu-200gb/spot/eu-north1",
                                        "nebius/gpu-h100-sxm_8gpu-128vcpu-1600gb/spot/eu-north1"]
    # A dump validates again to the same offers (the selectors are not dumped, so nothing is expanded twice).
    again = Scenario.model_validate(s.model_dump(exclude_unset=True))
    assert again.offers == s.offers
    assert data["offers_from_catalog"] == {"providers": ["nebius"], "gpus": ["h100-sxm"], "markets": ["spot"]}


def test_scenario_errors_are_one_line_each(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "workloads": [WORKLOAD], "offers_from_catalog": [
        {"providers": ["lambda"], "markets": ["spot"]}]}), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}: offers_from_catalog[0]: no catalog offer matches every criterion; nearest rows:" in result.output
    assert "Traceback" not in result.output
    path.write_text(yaml.safe_dump({"name": "t", "workloads": [WORKLOAD], "offers_from_catalog": [
        {"providers": ["lambda"], "max_nodes": -1}]}), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert re.search(re.escape(str(path)) + r"(:\d+:\d+)?: offers_from_catalog\[0\]\.max_nodes: must be >= 0 \(got -1\)",
                     result.output), result.output
    assert "offers: required field is missing" not in result.output  # a consequence, not a second problem


def test_from_catalog_example_validates_and_lists_expanded_ids():
    result = runner.invoke(app, ["validate", str(ROOT / "scenarios" / "from-catalog.yaml")])
    assert result.exit_code == 0, result.output
    assert "aws/p5.48xlarge/spot/us-east-2" in result.output
    loaded = load_scenario(ROOT / "scenarios" / "from-catalog.yaml")
    assert loaded.scenario.offer("aws/p5.48xlarge/spot/us-east-2").max_nodes == 1     # the override
    assert all(o.source and o.as_of for o in loaded.scenario.offers)
