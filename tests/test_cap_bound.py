"""The workloads' programs with the offers' node caps priced in (``planner.fleet.cap_bound``): by hand, never above a
proven optimum, never below the workload bound it starts from."""

from __future__ import annotations

import time

import pytest

import planner.fleet.workload_bound as wb
from bench import generate
from planner.fleet.cap_bound import cap_bound
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload


def _two_on_one_cheap_node():
    """Two workloads of one replica each (10 req/min, 24 a replica at rho 0.8); one node of 1 USD/h that holds one
    replica (max_nodes 1), and nodes of 3 USD/h without a cap. The optimum is 1 + 3 = 4 USD/h; each workload alone
    takes the cheap node (the workload bound: 2)."""
    wls = [workload("a", 10.0), workload("b", 10.0)]
    offs = [offer("cheap", "l40s", 1.0, max_nodes=1), offer("dear", "a100-80gb", 3.0)]
    ovs = [override(w, g, 24.0) for w in ("a", "b") for g in ("l40s", "a100-80gb")]
    return scenario(wls, offs, ovs)


def test_by_hand_the_cap_priced_at_the_price_difference_closes_the_gap():
    # L(nu) = 2 min(1 + nu, 3) - nu: 2 at nu = 0 (both on the cheap node), 4 at nu = 2 (each indifferent), the
    # optimum; Polyak's step towards the optimum lands there in one step
    loaded = _two_on_one_cheap_node()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0) == pytest.approx(2.0)
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, upper=4.0, trace=trace) == pytest.approx(4.0)
    assert [round(v, 9) for _, v in trace] == [2.0, 4.0]
    # a looser target oscillates around nu = 2 and closes in; never above the optimum (to HiGHS' tolerances: each
    # program's proven bound at its optimum can read a few 1e-9 high)
    loose = cap_bound(s, options, horizon, time.perf_counter() + 60.0, upper=5.0, steps=40)
    assert 3.9 <= loose <= 4.0 * (1 + 1e-8)
    # no time: the workload bound (nu = 0)
    assert cap_bound(s, options, horizon, time.perf_counter() - 1.0, upper=5.0) == pytest.approx(2.0)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(4.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_between_the_workload_bound_and_the_proven_optimum(seed):
    loaded = generate.load("S", seed)
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    opt = plan.objective_usd_per_hour
    base = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0)
    bound = cap_bound(s, options, horizon, time.perf_counter() + 60.0, upper=opt * 1.05, steps=12)
    assert base - 1e-6 <= bound <= opt * (1 + 1e-8)


def test_with_the_spot_hedge_above_the_workload_bound_and_below_the_proven_optimum():
    # M-1: 23 of its 30 offers capped, their caps priced; four steps lift the workload bound from 87.7 to 91.1
    # USD/h (the optimum: 100.7), with the pool-loss routing in every program
    from tests.solve_helpers import bench_medium  # noqa: PLC0415

    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    assert s.policy.spot.hedge and sum(o.max_nodes is not None for o in s.offers) >= 10
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    opt = plan.objective_usd_per_hour
    base = wb.workload_bound(s, m["options"], horizon, time.perf_counter() + 60.0)
    bound = cap_bound(s, m["options"], horizon, time.perf_counter() + 60.0, upper=opt * 1.02, steps=4)
    assert base + 2.0 < bound <= opt * (1 + 1e-8)


def test_on_many_hours_the_hours_weighted_mean_of_the_periods():
    # the workload bound's 24-hour case (tests/test_workload_bound.py): each hour one workload at 100 req/min and one
    # at 25, 7 USD/h every hour, the optimum; no caps, so every hour's bound is its nu = 0 step
    from tests.test_envelope import _alternating  # noqa: PLC0415

    loaded = _alternating()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert len(horizon.periods) == 24
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, upper=8.0, trace=trace) == pytest.approx(7.0)
    assert sorted({t for t, _ in trace}) == list(range(24))


def test_not_given_where_the_workload_bound_is_not():
    loaded = _two_on_one_cheap_node()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, upper=5.0, allow_unmet=True) is None
