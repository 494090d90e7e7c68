"""The shipped offer catalog (planner/catalog/offers.csv): every row sourced, dated and consistent; coverage;
the hazard and freshness arithmetic, checked against values worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from planner.catalog import Catalog
from planner.catalog.offers import (as_of_date, builtin_offers, filter_rows, max_age_days_from_env, parse_offers,
                                    price_age_warning, rate_per_hour, stale_prices)
from planner.cli import app
from planner.errors import CatalogError

ROWS = builtin_offers()
CAT = Catalog.builtin()
# Catalog GPUs for which no source we could cite publishes a rental price: GB300 NVL72 is "Contact sales/us" at
# CoreWeave and Nebius, and no MI355X list price was found (only ratios to other GPUs).
NO_SOURCED_PRICE = {"gb300", "mi355x"}
runner = CliRunner()


def test_every_row_is_sourced_dated_and_priced():
    for r in ROWS:
        assert len(r.source) >= 20, r.id
        assert as_of_date(r.as_of) is not None, (r.id, r.as_of)
        assert math.isfinite(r.price_usd_per_node_hour) and r.price_usd_per_node_hour > 0, r.id
        assert r.gpu in CAT.gpus, r.id                               # the catalog id itself, not an alias
        assert r.confidence in ("high", "medium", "low")
        if "recalled" in r.source:                                    # figures not read from a file or page today
            assert r.confidence == "low", r.id
        if r.market == "spot":
            assert r.interruption_bucket and r.interruption_source, r.id


def test_spot_never_above_on_demand_unless_the_row_says_why():
    od = {}
    for r in ROWS:
        if r.market == "on_demand":
            for reg in r.regions:
                od[(r.provider, r.instance_type, reg)] = r.price_usd_per_node_hour
    checked = 0
    for r in ROWS:
        if r.market != "spot":
            continue
        for reg in r.regions:
            base = od.get((r.provider, r.instance_type, reg))
            if base is None:
                assert r.price_note, f"{r.id}: spot without on-demand in {reg} and no note"
                continue
            checked += 1
            assert r.price_usd_per_node_hour <= base or "above on-demand" in r.price_note, (r.id, base)
    assert checked >= 15


def test_offer_ids_are_unique_and_follow_the_pattern():
    ids = [r.offer_id(reg) for r in ROWS for reg in r.regions]
    assert len(ids) == len(set(ids))
    assert "aws/p5.48xlarge/spot/us-east-2" in ids
    assert "aws/p5.48xlarge/reserved-1mo/us-east-1" in ids


def test_coverage():
    providers = {r.provider for r in ROWS}
    assert len(providers) >= 8, providers
    h100 = filter_rows(ROWS, gpus=["h100-sxm"])
    assert len(h100) >= 12
    assert len({r.provider for r in h100}) >= 5
    assert len({r.market for r in h100}) >= 2
    assert set(CAT.gpus) - {r.gpu for r in ROWS} <= NO_SOURCED_PRICE
    sizes = defaultdict(set)
    for r in ROWS:
        sizes[r.gpu].add(r.gpus_per_node)
    assert {1, 2, 4, 8} <= sizes["h100-sxm"]


def test_cli_offers_h100_json_sorted_by_gpu_hour():
    result = runner.invoke(app, ["catalog", "offers", "--gpu", "h100", "--format", "json"])  # an alias works
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert len(data) >= 12 and {d["gpu"] for d in data} == {"h100-sxm"}
    prices = [d["usd_per_gpu_hour"] for d in data]
    assert prices == sorted(prices)
    aws = next(d for d in data if d["id"] == "aws/p5.48xlarge/on_demand/us-east-1;us-east-2;us-west-2")
    assert aws["usd_per_gpu_hour"] == pytest.approx(98.32 / 8)


@pytest.mark.parametrize(("args", "expect"), [
    (["--provider", "lambda", "--market", "spot"], 0),               # Lambda sells no spot
    (["--provider", "nebius", "--market", "spot", "--gpu", "h200"], 2),
    (["--region", "eu-north*", "--gpu", "l40s"], 3),
])
def test_cli_offers_filters(args, expect):
    result = runner.invoke(app, ["catalog", "offers", *args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) - 1 == expect


def test_cli_offers_bad_provider_is_one_line():
    result = runner.invoke(app, ["catalog", "offers", "--provider", "lamda"])
    assert result.exit_code == 2
    assert "did you mean 'lambda'?" in result.output and "Traceback" not in result.output


def test_bucket_hazard_by_hand():
    # -ln(1 - 0.25) / 730 = 0.287682 / 730
    assert rate_per_hour(">20%") == pytest.approx(0.2876820724517809 / 730)
    assert rate_per_hour("<5%") == pytest.approx(0.025317807984289786 / 730)
    assert rate_per_hour("unknown") == rate_per_hour(">20%")


@pytest.mark.parametrize(("text", "day"), [
    ("2026-03-20", dt.date(2026, 3, 20)), ("2025-06", dt.date(2025, 6, 30)), ("2024-02", dt.date(2024, 2, 29)),
    ("2025-H1", dt.date(2025, 6, 30)), ("2025-H2", dt.date(2025, 12, 31)), ("2025-Q1", dt.date(2025, 3, 31)),
    ("2025", dt.date(2025, 12, 31)), ("2025-13", None), ("2025-02-30", None), ("soon", None), (None, None),
])
def test_as_of_dates(text, day):
    assert as_of_date(text) == day


def test_stale_prices_by_hand():
    today = dt.date(2026, 1, 10)
    offers = [("a", "2025-06-30"), ("b", "2025-07-14"), ("c", "2025-H1"), ("d", None), ("e", "2026-01")]
    # a: 194 days, b: 180 days (not older), c: 2025-06-30 -> 194, d: no date, e: 2026-01-31 -> in the future
    assert stale_prices(offers, today, 180) == [("a", "2025-06-30", 194), ("c", "2025-H1", 194)]
    line = price_age_warning(offers, today, 180)
    assert line.count("\n") == 0 and line.startswith("warning: 2 chosen offers priced more than 180 days ago: a ")
    assert price_age_warning(offers, today, 194) is None


@pytest.mark.parametrize(("raw", "days"), [(None, 180), ("", 180), ("30", 30), ("0", 0)])
def test_max_age_from_env(raw, days):
    env = {} if raw is None else {"FLEETPLAN_PRICE_MAX_AGE_DAYS": raw}
    assert max_age_days_from_env(env) == days


@pytest.mark.parametrize("raw", ["-1", "x", "1.5"])
def test_max_age_from_env_refuses(raw):
    with pytest.raises(CatalogError, match="FLEETPLAN_PRICE_MAX_AGE_DAYS"):
        max_age_days_from_env({"FLEETPLAN_PRICE_MAX_AGE_DAYS": raw})


HEADER = ("provider,instance_type,gpu,gpus_per_node,nvlink_group,market,term_months,price_usd_per_node_hour,"
          "interruption_bucket,interruption_source,regions,source,as_of,confidence\n")


@pytest.mark.parametrize(("row", "words"), [
    ("aws,x,l4,3,1,on_demand,,1.0,,,us-east-1,some page somewhere,2025,low", "power of two"),
    ("aws,x,l4,1,1,spot,,1.0,,,us-east-1,some page somewhere,2025,low", "interruption_bucket"),
    ("aws,x,l4,1,1,reserved,,1.0,,,us-east-1,some page somewhere,2025,low", "term_months"),
    ("aws,x,l4,1,1,on_demand,,-1,,,us-east-1,some page somewhere,2025,low", "price_usd_per_node_hour"),
    ("aws,x,l4,1,1,on_demand,,1.0,,,us-east-1,some page somewhere,last year,low", "as_of"),
    ("aws,x,l4,1,2,on_demand,,1.0,,,us-east-1,some page somewhere,2025,low", "nvlink_group"),
])
def test_bad_rows_name_the_line(row, words):
    with pytest.raises(CatalogError, match=r"offers\.csv: line 2") as err:
        parse_offers(HEADER + row + "\n", "offers.csv")
    assert words in str(err.value)


def test_overlapping_regions_are_refused():
    row = "aws,x,l4,1,1,on_demand,,{p},,,{r},some page somewhere,2025,low\n"
    text = HEADER + row.format(p=1.0, r="us-east-1;us-west-2") + row.format(p=2.0, r="us-west-2")
    with pytest.raises(CatalogError, match="aws/x/on_demand/us-west-2' is in two rows"):
        parse_offers(text, "offers.csv")
