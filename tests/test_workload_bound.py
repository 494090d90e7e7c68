"""The lower bound from each workload's own program (``planner.fleet.workload_bound``): by hand, between the
closed-form share bound and the proven optimum, weaker, never stronger, when cut short or given fewer demand levels,
and the same again from its memo."""

from __future__ import annotations

import time

import pytest

import planner.fleet.workload_bound as wb
from bench import generate
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.share_bound import share_bound
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload
from tests.test_envelope import _alternating


def test_by_hand_each_hour_pays_whole_replicas():
    # every hour one workload at 100 req/min (5 replicas of 24 at rho) and one at 25 (2 replicas): 7 USD/h, the
    # optimum; the share bound prices fractions, (100 + 25) / 24 = 5.21 USD/h
    loaded = _alternating()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert share_bound(s, options, horizon) == pytest.approx(125 / 24)
    assert wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0) == pytest.approx(7.0)
    # no time at all: the share bound, never less
    assert wb.workload_bound(s, options, horizon, time.perf_counter() - 1.0) == pytest.approx(125 / 24)


def test_fewer_levels_give_a_weaker_bound_never_a_stronger_one(monkeypatch):
    loaded = generate.load("XL", 1)
    s = loaded.scenario
    options = enumerate_options(loaded)
    horizon = horizon_for(s)
    horizon = type(horizon)(periods=horizon.periods[:6])   # six hours: a smaller test
    keep = [w.id for w in s.workloads[:8]]
    s = s.model_copy(update={"workloads": tuple(w for w in s.workloads if w.id in keep)})
    options = type(options)(deployments=[d for d in options.deployments if d.workload in keep], rejected=[],
                            mig_profiles=options.mig_profiles)
    exact = wb.workload_bound(s, options, horizon, time.perf_counter() + 120.0)
    monkeypatch.setattr(wb, "LEVELS", 2)
    coarse = wb.workload_bound(s, options, horizon, time.perf_counter() + 120.0)
    assert share_bound(s, options, horizon) <= coarse + 1e-9 and coarse <= exact + 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_between_the_share_bound_and_the_proven_optimum(seed):
    loaded = generate.load("S", seed)
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    bound = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    assert share_bound(s, options, horizon) - 1e-9 <= bound <= plan.objective_usd_per_hour * (1 + 1e-9)


def test_with_the_spot_hedge_between_the_share_bound_and_the_proven_optimum():
    # M-1: spot pools, the pool-loss routing in every workload's program (86.9 against the optimum 99.8 USD/h)
    from tests.solve_helpers import bench_medium  # noqa: PLC0415

    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    assert any(o.market == "spot" for o in s.offers) and s.policy.spot.hedge
    bound = wb.workload_bound(s, m["options"], horizon, time.perf_counter() + 60.0)
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    assert share_bound(s, m["options"], horizon) + 5.0 < bound <= plan.objective_usd_per_hour * (1 + 1e-9)


def _ramp():
    """One workload whose demand climbs 10, 20, ..., 240 req/min over the 24 hours; one L40S replica carries 24
    req/min at rho (30 x 0.8) for 1 USD/h. Hour k needs ceil(10k / 24) replicas: 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5,
    6, 6, 7, 7, 8, 8, 8, 9, 9, 10, 10, 10 = 136 GPU-hours, 136 / 24 USD/h, the optimum (the hours share nothing)."""
    w = workload("w", 240, profile={"hourly": [(k + 1) / 24 for k in range(24)]})
    return scenario([w], [offer("od", "l40s", 1.0)], [override("w", "l40s", 30.0)])


def test_levels_by_hand():
    demand = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert wb._levels(demand, 4) == [7.0, 5.0, 3.0, 1.0]   # sorted positions 0, 2, 4, 6
    assert wb._levels(demand, None) == demand[::-1]
    assert wb._levels(demand, 1) == [7.0]
    assert wb._levels([2.0, 5.0], 4) == [5.0, 2.0]


def test_every_level_by_hand_is_the_optimum_and_four_levels_are_weaker():
    # four levels: the demands at sorted positions 0, 8, 15, 23 (10, 90, 160, 240 req/min: 1, 4, 7, 10 replicas);
    # each hour takes the largest at or below its demand, or its share 10k / 24 where higher:
    # hours 1-8: 1, 1, 1.25, 5/3, 25/12, 2.5, 35/12, 10/3 (sum 15.75); hours 9-15: 4, 25/6, 55/12, 5, 65/12, 35/6,
    # 6.25 (35.25); hours 16-23: 7, 85/12, 7.5, 95/12, 25/3, 8.75, 55/6, 115/12 (196/3); hour 24: 10
    loaded = _ramp()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert len(horizon.periods) == 24
    memo: dict = {}
    four = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0, memo=memo)
    assert four == pytest.approx((15.75 + 35.25 + 196 / 3 + 10) / 24)
    assert len(memo) == 4
    every = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0, all_levels=True, memo=memo)
    assert every == pytest.approx(136 / 24)
    assert len(memo) == 24   # the four already solved were not solved again
    # no time left: everything from the memo, the same bound
    assert wb.workload_bound(s, options, horizon, time.perf_counter() - 1.0, all_levels=True, memo=memo) == every
    # the oracle: the full program's optimum
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(136 / 24)


def test_a_program_the_deadline_cut_short_is_not_kept_in_the_memo(monkeypatch):
    # every program's limit is the time to the deadline (less than PROGRAM_LIMIT_S): solved, used, not kept
    monkeypatch.setattr(wb, "PROGRAM_LIMIT_S", 1e6)
    loaded = _ramp()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    memo: dict = {}
    four = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0, memo=memo)
    assert four == pytest.approx((15.75 + 35.25 + 196 / 3 + 10) / 24) and memo == {}
