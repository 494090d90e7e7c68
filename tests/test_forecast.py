"""plan forecast: hand-checked budgets (the arithmetic is in each test), totals that add up, the JSON contract.

Every scenario comes from ``tests.forecast_helpers``: one L40S replica serves 100 req/min, 80 at 80 % utilisation,
so 80 req/min need one node and 160 need two; a month is 730 h; on-demand costs 1.00 USD per node-hour.
"""

from __future__ import annotations

import math

import pytest

from planner.errors import InfeasibleError, ScenarioError
from planner.forecast.run import forecast_horizon, month_names, price_multipliers, with_overrides
from tests.forecast_helpers import HOURS, commitments, forecast, forecast_scenario, option

PEAK_4_OF_24 = [1.0] * 20 + [2.0] * 4  # x 80 req/min: one node for 20 h, two nodes for the 4 peak hours


def test_flat_workload_below_on_demand_rate_is_all_reserved():
    # 160 req/min flat = 2 nodes every hour. A 12-month term at 0.60 < 1.00: commit both in month 1.
    # 2 x 0.60 x 8,760 h = 10,512 USD, against 2 x 1.00 x 8,760 = 17,520 on demand.
    r = forecast(forecast_scenario(options=[option(12, 0.6)]))
    assert r["status"] == "optimal" and r["verified"]
    assert commitments(r) == [(2, "2027-01", 12)]
    assert r["total_usd"] == pytest.approx(10_512.0)
    assert r["all_on_demand_total_usd"] == pytest.approx(17_520.0)
    assert r["no_commitment_total_usd"] == pytest.approx(17_520.0)
    assert r["tail_usd"] == 0.0
    for m in r["months"]:
        assert (m["usd"], m["reserved_usd"], m["on_demand_usd"]) == pytest.approx((876.0, 876.0, 0.0))  # 2 x 0.6 x 730
        assert m["nodes"] == {"res": 2} and m["reserved_utilization_pct"] == pytest.approx(100.0)
    assert r["commitments"][0]["usd"] == pytest.approx(10_512.0)
    words = r["commitments"][0]["description"]
    assert words == "commit 2 × 1×L40S nodes for 12 months in 2027-01", words


@pytest.mark.parametrize("rate, reserved_nodes, month_usd", [
    # Break-even u* = rate / on-demand: the peak node runs 4 h of 24, so it is reserved only below 4/24 = 0.1667.
    (0.50, 1, 0.50 * 730 + 1.0 * 730 * 4 / 24),  # base node reserved, peak node on demand 4 h a day: 486.67
    (0.20, 1, 0.20 * 730 + 1.0 * 730 * 4 / 24),  # 0.20 > 1/6 still: 267.67 (two reserved would be 292)
    (0.15, 2, 2 * 0.15 * 730),                  # 0.15 < 1/6: both reserved, 219 (one would be 231.17)
])
def test_short_peak_stays_on_demand_above_break_even(rate, reserved_nodes, month_usd):
    r = forecast(forecast_scenario(rpm=80, profile=PEAK_4_OF_24, months=3, options=[option(3, rate)]))
    assert r["status"] == "optimal" and r["verified"]
    assert commitments(r) == [(reserved_nodes, "2027-01", 3)]
    for m in r["months"]:
        assert m["usd"] == pytest.approx(month_usd)
        assert m["nodes"].get("od", 0) == 2 - reserved_nodes  # the peak's on-demand node
    assert r["total_usd"] == pytest.approx(3 * month_usd)
    # Load on reserved GPUs at the 80 % target: one reserved node is full all day (at the peak the on-demand replica
    # can take only 80 of 160); two carry 80 of 160 for 20 h and 160 of 160 in the 4 peak hours.
    util = 1.0 if reserved_nodes == 1 else (20 * 0.5 + 4 * 1.0) / 24
    assert r["months"][0]["reserved_utilization_pct"] == pytest.approx(100 * util, abs=1e-4)


def test_growth_makes_a_later_commitment_when_cheaper():
    # 80 req/min (1 node) for 6 months, then 160 (2 nodes). A 12-month term at 0.60 covers the base from month 1;
    # the second node is needed for 6 months only: a 12-month term signed in July would cost 12 x 730 x 0.60 =
    # 5,256 (half of it after the horizon) > 6 x 730 x 1.00 = 4,380 on demand > a 6-month term at 0.80 = 3,504.
    r = forecast(forecast_scenario(rpm=80, growth={"multipliers": [1] * 6 + [2] * 6},
                                   options=[option(12, 0.6), option(6, 0.8)]))
    assert commitments(r) == [(1, "2027-01", 12), (1, "2027-07", 6)]
    assert r["total_usd"] == pytest.approx(5_256.0 + 3_504.0)
    assert r["all_on_demand_total_usd"] == pytest.approx(8_760.0 + 4_380.0)
    # Without the 6-month option the second node stays on demand.
    r = forecast(forecast_scenario(rpm=80, growth={"multipliers": [1] * 6 + [2] * 6}, options=[option(12, 0.6)]))
    assert commitments(r) == [(1, "2027-01", 12)]
    assert r["total_usd"] == pytest.approx(5_256.0 + 4_380.0)
    assert [m["on_demand_usd"] for m in r["months"]] == pytest.approx([0.0] * 6 + [730.0] * 6)


def test_commitment_past_the_horizon_pays_its_tail():
    # 6-month horizon, 12-month term: the whole term counts. At 0.40: 12 x 730 x 0.40 = 3,504 < 6 x 730 x 1.00 =
    # 4,380, so it is signed; 1,752 falls in the horizon and 1,752 after it. At 0.60 (5,256 > 4,380) it is not.
    r = forecast(forecast_scenario(rpm=80, months=6, options=[option(12, 0.4)]))
    assert commitments(r) == [(1, "2027-01", 12)]
    assert (r["total_usd"], r["tail_usd"]) == pytest.approx((1_752.0, 1_752.0))
    assert r["commitments"][0]["usd"] == pytest.approx(3_504.0)
    r = forecast(forecast_scenario(rpm=80, months=6, options=[option(12, 0.6)]))
    assert commitments(r) == [] and r["total_usd"] == pytest.approx(4_380.0) and r["tail_usd"] == 0.0


def test_upfront_fee_is_paid_in_the_signing_month():
    # 3-month term at 0.30/h + 500 upfront per node: 3 x 219 + 500 = 1,157 < 3 x 730 = 2,190 on demand.
    r = forecast(forecast_scenario(rpm=80, months=3, options=[option(3, 0.3, upfront_usd_per_node=500)]))
    assert commitments(r) == [(1, "2027-01", 3)]
    assert [m["reserved_usd"] for m in r["months"]] == pytest.approx([219.0 + 500.0, 219.0, 219.0])
    assert r["commitments"][0]["usd"] == pytest.approx(1_157.0)


def test_price_trends_compound_and_lock_at_signing():
    # On-demand falls 10 %/month: month m costs 730 x 0.9^m. The reserved rate falls 10 %/month too (same GPU),
    # and a 1-month term signed in month m is locked at 0.95 x 0.9^m: always cheaper, signed every month.
    trends = [{"gpu": "l40s", "price_change_pct_per_month": -10}]
    loaded = with_overrides(forecast_scenario(rpm=80, months=3, trends=trends, options=[option(1, 0.95)]))
    assert price_multipliers(loaded)["od"] == pytest.approx((1.0, 0.9, 0.81))
    r = forecast(loaded)
    assert commitments(r) == [(1, "2027-01", 1), (1, "2027-02", 1), (1, "2027-03", 1)]
    assert [c["usd_per_node_hour"] for c in r["commitments"]] == pytest.approx([0.95, 0.855, 0.7695])
    assert r["all_on_demand_total_usd"] == pytest.approx(730 * (1 + 0.9 + 0.81))
    assert r["total_usd"] == pytest.approx(730 * 0.95 * (1 + 0.9 + 0.81))
    assert r["verified"]


def test_owned_nodes_are_free_and_options_default_to_reserved_offers():
    # One owned node carries the base for free; with reserved_options omitted, the reserved offer's own 12-month
    # term at 0.60 may be signed: the second node (160 req/min) is reserved too.
    r = forecast(forecast_scenario(owned=1, months=12, reserved_options_default=True))
    assert commitments(r) == [(1, "2027-01", 12)]
    assert r["total_usd"] == pytest.approx(0.6 * 8_760)
    assert r["no_commitment_total_usd"] == pytest.approx(8_760.0)  # the owned node stays, the second on demand
    assert r["all_on_demand_total_usd"] == pytest.approx(17_520.0)  # on-demand offers only: owned nodes unused
    assert any("owned" in n for n in r["notes"])


def test_totals_add_up():
    # Daily profile, growth, a price trend, spot, two options: whatever the plan, the money adds up.
    trends = [{"offer": "od", "price_change_pct_per_month": -3}]
    r = forecast(forecast_scenario(rpm=200, profile=[0.3] * 8 + [1.0] * 12 + [0.6] * 4, months=3, trends=trends,
                                   growth={"growth_pct_per_month": 25}, spot_rate=0.7,
                                   options=[option(3, 0.55), option(2, 0.7, upfront_usd_per_node=50)]))
    assert r["verified"] and r["status"] == "optimal"
    assert r["commitments"] and any(m["spot_usd"] > 0 for m in r["months"])  # every market is exercised
    od_trend, names = [0.97 ** m for m in range(3)], month_names("2027-01", 3)
    cumulative = 0.0
    for m, month in enumerate(r["months"]):
        assert month["usd"] == pytest.approx(month["reserved_usd"] + month["on_demand_usd"] + month["spot_usd"])
        # on-demand and spot: node-hours x the month's price
        assert month["on_demand_usd"] == pytest.approx(month["node_hours"].get("od", 0.0) * 1.0 * od_trend[m])
        assert month["spot_usd"] == pytest.approx(month["node_hours"].get("spot", 0.0) * 0.7)
        # reserved: the active commitments' locked rates x 730 h, plus the upfront fees signed this month
        active = [c for c in r["commitments"] if names.index(c["start_month"]) <= m
                  < names.index(c["start_month"]) + c["term_months"]]
        fees = sum(c["nodes"] * c["upfront_usd_per_node"] for c in r["commitments"]
                   if c["start_month"] == month["month"])
        hourly = sum(c["nodes"] * c["usd_per_node_hour"] * HOURS for c in active)
        assert month["reserved_usd"] == pytest.approx(hourly + fees)
        assert month["node_hours"].get("res", 0.0) == pytest.approx(sum(c["nodes"] for c in active) * HOURS)
        cumulative += month["usd"]
        assert month["cumulative_usd"] == pytest.approx(cumulative)
        # demand: hour-weighted mean of 200 x profile x 1.25^m
        mean = 200 * (8 * 0.3 + 12 * 1.0 + 4 * 0.6) / 24 * 1.25 ** m
        assert month["demand_requests_per_min"]["chat"] == pytest.approx(mean)
    assert r["total_usd"] == pytest.approx(sum(m["usd"] for m in r["months"]))
    assert r["tail_usd"] == pytest.approx(sum(c["tail_usd"] for c in r["commitments"]))
    assert r["all_on_demand_total_usd"] >= r["no_commitment_total_usd"] - 1e-6  # spot only ever helps
    assert r["no_commitment_total_usd"] >= r["total_usd"] + r["tail_usd"] - 1e-6  # committing is optional


def test_json_keys():
    r = forecast(forecast_scenario(rpm=80, months=2, options=[option(2, 0.5)]))
    assert {"months", "total_usd", "all_on_demand_total_usd", "no_commitment_total_usd", "commitments",
            "tail_usd", "status", "gap", "solver", "solve_seconds"} <= set(r)
    assert {"month", "demand_requests_per_min", "nodes", "usd", "reserved_usd", "on_demand_usd", "spot_usd",
            "cumulative_usd", "reserved_utilization_pct"} <= set(r["months"][0])
    assert {"offer", "nodes", "start_month", "term_months", "usd"} <= set(r["commitments"][0])


def test_horizon_shape():
    # 24 hourly periods a month with a daily profile, each 730 / 24 h; month names roll over the year end.
    loaded = with_overrides(forecast_scenario(profile=PEAK_4_OF_24, months=3), start="2026-11")
    h = forecast_horizon(loaded)
    assert len(h.periods) == 72 and h.epoch_names == ("2026-11", "2026-12", "2027-01")
    assert h.periods[25].name == "2026-12 h01" and h.periods[25].epoch == 1
    assert all(math.isclose(p.hours, 730 / 24) for p in h.periods)
    assert h.epoch_hours == pytest.approx((730.0,) * 3)
    flat = forecast_horizon(with_overrides(forecast_scenario(months=2)))
    assert [p.name for p in flat.periods] == ["2027-01", "2027-02"] and flat.periods[0].hours == 730.0


def test_weekly_profile_keeps_168_hours():
    week = [1.0] * 24 + [0.5] * 144  # a Monday peak: kept, not averaged away
    h = forecast_horizon(with_overrides(forecast_scenario(profile=week, months=1)))
    assert len(h.periods) == 168 and max(p.demand_rpm["chat"] for p in h.periods) == 160.0


def test_bad_inputs_are_scenario_errors():
    with pytest.raises(ScenarioError, match="multipliers"):
        forecast(forecast_scenario(growth={"multipliers": [1, 2]}, months=3))
    with pytest.raises(ScenarioError, match="forecast"):
        with_overrides(forecast_scenario(), start="2027-13")


def test_infeasible_month_is_named():
    # Growth to 10 x 80 req/min needs 10 nodes; the on-demand offer allows 4 and nothing may be reserved.
    loaded = forecast_scenario(rpm=80, months=3, growth={"multipliers": [1, 1, 10]}, options=[])
    data = loaded.raw
    data["offers"][0]["max_nodes"] = 4
    data["offers"][1]["max_nodes"] = 0
    from planner.scenario.io import scenario_from_dict

    with pytest.raises(InfeasibleError) as exc:
        forecast(scenario_from_dict(data))
    assert any("2027-03" in r for r in exc.value.reasons), exc.value.reasons
