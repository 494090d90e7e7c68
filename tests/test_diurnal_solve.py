"""Diurnal profiles in ``plan solve``: reserved nodes fixed over the day, on-demand/spot nodes per hour, the objective
weighted by hours. The single-period solve is the one-period case of the same code (same build, same decoder).

Capacities from overrides: one L40S replica serves 100 req/min, 80 at the 80 % target.
"""

from __future__ import annotations

import json

import pytest

from planner.fleet.horizon import horizon_for
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload

PEAK_4_OF_24 = [1.0] * 20 + [2.0] * 4


def solve(loaded):
    return solve_scenario(loaded, SolveSettings(solver="highs", baselines=False))


def _offers(reserved_rate=None):
    out = [offer("od", "l40s", 1.0)]
    if reserved_rate is not None:
        out.append(offer("res", "l40s", reserved_rate, market="reserved", term_months=12))
    return out


def test_peak_hours_autoscale_on_demand_and_reserved_stays_fixed():
    # 80 req/min for 20 h, 160 for 4 h. Reserved at 0.50/h beats on-demand for the base node (used 24 h) but not
    # for the peak node (used 4 h: break-even 4/24 = 0.167): 0.50 + 1.00 x 4/24 = 0.6667 USD/h on average.
    s = scenario([workload("chat", 80, profile={"hourly": PEAK_4_OF_24})], _offers(0.5), [override("chat", "l40s", 100)])
    plan = solve(s)
    assert plan.status == "optimal" and plan.verification.ok
    assert plan.objective_usd_per_hour == pytest.approx(0.5 + 4 / 24)
    assert len(plan.periods) == 24 and [p.name for p in plan.periods[:2]] == ["h00", "h01"]
    counts = [{n.offer: n.count for n in p.nodes} for p in plan.periods]
    assert all(c.get("res") == 1 for c in counts)  # reserved: the same every hour
    assert [c.get("od", 0) for c in counts] == [0] * 20 + [1] * 4
    assert [p.usd_per_hour for p in plan.periods] == pytest.approx([0.5] * 20 + [1.5] * 4)
    assert plan.cost.reserved_usd_per_hour == pytest.approx(0.5)
    assert plan.cost.on_demand_usd_per_hour == pytest.approx(4 / 24)
    assert {n.offer: n.count for n in plan.nodes} == {"res": 1, "od": 1}  # top level = the peak-cost period
    data = json.loads(plan.model_dump_json())
    assert len(data["periods"]) == 24 and data["periods"][23]["usd_per_hour"] == pytest.approx(1.5)


def test_cheap_reserved_covers_the_peak_too():
    # At 0.15/h < 1/6 a reserved node that idles 20 h a day still beats 4 on-demand hours: 2 x 0.15 = 0.30 USD/h.
    s = scenario([workload("chat", 80, profile={"hourly": PEAK_4_OF_24})], _offers(0.15), [override("chat", "l40s", 100)])
    plan = solve(s)
    assert plan.objective_usd_per_hour == pytest.approx(0.30)
    assert all({n.offer: n.count for n in p.nodes} == {"res": 2} for p in plan.periods)


def test_flat_profile_is_the_single_period_solve():
    # A profile of ones plans 24 identical hours; without a profile the same scenario is one period. Same build,
    # same decoder: the same fleet and cost, and the one-period plan's top level is its only period.
    base = dict(wid="chat", rpm=150)
    flat = scenario([workload(base["wid"], base["rpm"])], _offers(0.7), [override("chat", "l40s", 100)])
    ones = scenario([workload(base["wid"], base["rpm"], profile={"hourly": [1.0] * 24})], _offers(0.7),
                    [override("chat", "l40s", 100)])
    assert len(horizon_for(flat.scenario).periods) == 1 and len(horizon_for(ones.scenario).periods) == 24
    p1, p24 = solve(flat), solve(ones)
    assert p1.objective_usd_per_hour == pytest.approx(p24.objective_usd_per_hour) == pytest.approx(2 * 0.7)
    assert len(p1.periods) == 1 and p1.periods[0].name == "all" and p1.problem_size["periods"] == 1
    assert [(n.offer, n.count) for n in p1.nodes] == [(n.offer, n.count) for n in p24.nodes] == [("res", 2)]


def test_explicit_periods_are_hour_weighted():
    # Day 16 h at 160 req/min (2 nodes), night 8 h at 80 (1 node), on-demand only: (16 x 2 + 8 x 1) / 24 USD/h.
    periods = [{"name": "day", "hours": 16, "requests_per_min": 160}, {"name": "night", "hours": 8, "requests_per_min": 80}]
    s = scenario([workload("chat", 160, periods=periods)], _offers(), [override("chat", "l40s", 100)])
    plan = solve(s)
    assert plan.objective_usd_per_hour == pytest.approx((16 * 2 + 8 * 1) / 24)
    assert [(p.name, p.hours, p.usd_per_hour) for p in plan.periods] == [("day", 16, 2.0), ("night", 8, 1.0)]
    assert plan.workloads[0].demand_requests_per_min == pytest.approx((16 * 160 + 8 * 80) / 24)


def test_weekly_profile_plans_168_hours():
    # Monday's 24 hours at 160 req/min, the rest of the week at 80: (24 x 2 + 144 x 1) / 168 on-demand nodes.
    week = [2.0] * 24 + [1.0] * 144
    s = scenario([workload("chat", 80, profile={"hourly": week})], _offers(), [override("chat", "l40s", 100)])
    plan = solve(s)
    assert len(plan.periods) == 168 and plan.periods[0].name == "h000"
    assert plan.objective_usd_per_hour == pytest.approx((24 * 2 + 144) / 168)
