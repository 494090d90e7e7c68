"""The lower bound from each workload's own program (``planner.fleet.workload_bound``): by hand, between the
closed-form share bound and the proven optimum, and weaker, never stronger, when cut short."""

from __future__ import annotations

import time

import pytest

import planner.fleet.workload_bound as wb
from bench import generate
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.share_bound import share_bound
from planner.fleet.solve import SolveSettings, solve_scenario
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
