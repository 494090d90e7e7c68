"""Hourly plans solved level by level (``planner.fleet.by_period``) against the whole program solved at once.

- On seeded random 24-hour scenarios (capacities fixed by overrides; on-demand, reserved, spot and 4-GPU nodes that
  pack two workloads; an hourly budget on some) the decomposition's optimum is the whole program's, found by HiGHS
  on the same program with nothing split, and its bound is the optimum.
- The walk over reserved levels visits every level vector of a box once, cheapest first (against a sorted product).
- It stays out where it cannot help or would not be exact: one period, a block above the size cap, a negative cost.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner.fleet.by_period as by_period
import planner.fleet.solve as solve_module
from planner.fleet.by_period import _levels, applies, solve_by_period
from planner.fleet.solve import SolveSettings, build_cost_formulation, solve_scenario
from planner.problem import SolveOptions
from solvers.registry import get_backend
from tests.solve_helpers import offer, override, scenario, workload

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
DAY = [0.2, 0.2, 0.3, 0.5, 0.8, 1.0, 1.0, 0.9, 0.7, 0.6, 0.5, 0.4] * 2


def _scenario(rpm_a: float, rpm_b: float, reserved_rate: float, reserved_cap, spot: bool, budget, shift: int):
    profile_b = DAY[shift:] + DAY[:shift]
    workloads = [workload("a", rpm_a, profile={"hourly": DAY}),
                 workload("b", rpm_b, model="llama-3.1-8b", profile={"hourly": profile_b})]
    offers = [offer("l40s-od", "l40s", 1.0),
              offer("h100-od", "h100-sxm", 2.5, gpus_per_node=4, max_nodes=3),
              offer("h100-res", "h100-sxm", reserved_rate, market="reserved", gpus_per_node=4, term_months=12,
                    **({"max_nodes": reserved_cap} if reserved_cap is not None else {}))]
    if spot:
        offers.append(offer("l40s-spot", "l40s", 0.4, market="spot", interruption_rate_per_hour=0.05, max_nodes=2))
    overrides = [override("a", "l40s", 100.0), override("a", "h100-sxm", 260.0),
                 override("b", "l40s", 40.0), override("b", "h100-sxm", 150.0, tp=2)]
    policy = {"mip_gap": 0.0} | ({"budget_usd_per_hour": budget} if budget else {})
    return scenario(workloads, offers, overrides, **policy)


@FAST
@given(rpm_a=st.sampled_from([150.0, 400.0, 900.0]), rpm_b=st.sampled_from([60.0, 200.0, 500.0]),
       reserved_rate=st.sampled_from([1.2, 1.6, 2.2]), reserved_cap=st.sampled_from([None, 1, 2, 4]),
       spot=st.booleans(), budget=st.sampled_from([None, None, 40.0]), shift=st.integers(0, 11))
def test_the_levels_find_the_optimum_of_the_whole_program(rpm_a, rpm_b, reserved_rate, reserved_cap, spot, budget,
                                                          shift):
    loaded = _scenario(rpm_a, rpm_b, reserved_rate, reserved_cap, spot, budget, shift)
    f = build_cost_formulation(loaded, SolveSettings(baselines=False, tie_break=False))
    assert applies(f) is not None and len(applies(f)) == 1   # one reserved offer, one epoch
    split = solve_by_period(f, "highs", 60.0, 0.0)
    whole = get_backend("highs", f.problem).solve(f.problem, SolveOptions(time_limit_s=60.0, mip_gap=0.0))
    assert whole.status in ("optimal", "infeasible")
    if whole.status == "infeasible":   # the hourly budget too tight: no level serves every hour
        assert split is None
        return
    assert split.status == "optimal", split.message
    assert split.objective == pytest.approx(whole.objective, rel=1e-9, abs=1e-7)
    assert split.bound == pytest.approx(whole.objective, rel=1e-9, abs=1e-7)
    assert not f.problem.violations(split.values)
    two = solve_by_period(f, "highs", 60.0, 0.0, workers=2)   # two blocks at once, in threads: the same plan
    assert two.status == "optimal" and np.array_equal(two.values, split.values)


def test_plan_solve_takes_the_levels_and_verifies_the_plan(monkeypatch):
    # the whole program is tried first for WHOLE_FIRST_S and proves such a small one at once: given no time, it hands
    # the levels nothing but its start
    monkeypatch.setattr(solve_module, "WHOLE_FIRST_S", 1e-6)
    loaded = _scenario(900.0, 500.0, 1.6, 4, True, None, 5)
    plan = solve_scenario(loaded, SolveSettings(baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.gap == 0.0
    assert "exact decomposition by period" in plan.message
    assert plan.verification.ok


def test_an_incumbent_cuts_the_walk_and_the_answer_stays_the_optimum():
    loaded = _scenario(900.0, 500.0, 1.2, None, False, None, 3)
    f = build_cost_formulation(loaded, SolveSettings(baselines=False, tie_break=False))
    alone = solve_by_period(f, "highs", 60.0, 0.0)
    whole = get_backend("highs", f.problem).solve(f.problem, SolveOptions(time_limit_s=60.0, mip_gap=0.0))
    helped = solve_by_period(f, "highs", 60.0, 0.0, incumbent=whole)
    assert alone.status == helped.status == "optimal"
    assert alone.objective == pytest.approx(whole.objective) and helped.objective == pytest.approx(whole.objective)
    visited = [int(sol.message.split(" over ")[1].split()[0]) for sol in (alone, helped)]
    assert visited[1] <= visited[0] and visited[0] >= 2   # the unbounded level is cut by its cost either way


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(limit=st.sampled_from([0.3, 0.6, 1.5, 4.0]), shift=st.integers(0, 11))
def test_under_any_time_limit_the_plan_verifies_and_optimal_means_gap_zero(monkeypatch, limit, shift):
    monkeypatch.setattr(solve_module, "WHOLE_FIRST_S", 1e-6)
    loaded = _scenario(900.0, 500.0, 1.6, None, True, None, shift)
    plan = solve_scenario(loaded, SolveSettings(baselines=False, time_limit_s=limit))
    assert plan.verification.ok
    assert plan.status in ("optimal", "feasible")
    assert (plan.status == "optimal") == (plan.gap == 0.0)
    assert plan.bound_usd_per_hour <= plan.objective_usd_per_hour + 1e-9


@settings(max_examples=40, deadline=None, derandomize=True)
@given(upper=st.lists(st.integers(0, 3), min_size=1, max_size=3), lower=st.lists(st.integers(0, 1), min_size=3,
       max_size=3), cost=st.lists(st.sampled_from([0.5, 1.0, 1.5, 3.0]), min_size=3, max_size=3))
def test_the_walk_visits_every_level_once_cheapest_first(upper, lower, cost):
    k = len(upper)
    lo = np.array([min(a, b) for a, b in zip(lower[:k], upper)], dtype=float)
    hi, c = np.array(upper, dtype=float), np.array(cost[:k])
    walked = list(_levels(lo, hi, c))
    box = sorted(itertools.product(*[range(int(a), int(b) + 1) for a, b in zip(lo, hi)]))
    assert sorted(tuple(int(v) for v in m) for _, m in walked) == box          # each vector exactly once
    costs = [cm for cm, _ in walked]
    assert costs == sorted(costs)                                             # nondecreasing cost
    assert all(cm == pytest.approx(float(c @ m)) for cm, m in walked)


def test_an_unbounded_level_is_cut_by_its_cost():
    levels = _levels(np.zeros(1), np.array([np.inf]), np.array([2.0]))
    assert [cm for cm, _ in itertools.islice(levels, 4)] == [0.0, 2.0, 4.0, 6.0]


def test_it_stays_out_of_one_period_and_of_blocks_above_the_cap(monkeypatch):
    one_period = scenario([workload("a", 300.0)], [offer("od", "l40s", 1.0),
                                                   offer("res", "l40s", 0.6, market="reserved", term_months=12)],
                          [override("a", "l40s", 100.0)])
    assert applies(build_cost_formulation(one_period, SolveSettings())) is None
    f = build_cost_formulation(_scenario(400.0, 200.0, 1.6, 2, False, None, 0), SolveSettings())
    assert applies(f) is not None
    monkeypatch.setattr(by_period, "MAX_BLOCK_COLUMNS", 1)
    assert applies(f) is None


def test_a_negative_cost_keeps_it_out():
    f = build_cost_formulation(_scenario(400.0, 200.0, 1.6, 2, False, None, 0), SolveSettings())
    f.problem.add_cost("rebate", [0], [-1e6])
    assert applies(f) is None


def test_a_split_solve_without_a_floor_starts_no_block_past_its_limit():
    from planner.fleet.split import solve_split  # noqa: PLC0415

    p, _ = _four_blocks()
    late = solve_split(p, "highs", SolveOptions(time_limit_s=1e-9), min_block_s=None)
    assert late.status == "error" and not late.has_values and "time limit" in late.message
    floored = solve_split(p, "highs", SolveOptions(time_limit_s=1e-9))   # the forecast's 1 s floor: solved
    assert floored.status == "optimal" and floored.objective == pytest.approx(4 * 5.0)


def _four_blocks():
    """Four equal blocks, each min 2 x0 + 3 x1 s.t. 3 x0 + 5 x1 >= 7.5, x integer in [0, 10]: integer optimum 5
    (x0 = x1 = 1), LP optimum 4.5 (x1 = 1.5); the program's 20 and 18."""
    from planner.problem import Problem  # noqa: PLC0415

    p = Problem("split")
    for i in range(4):
        cols = p.add_vars("x", [(i, 0), (i, 1)], 0, 10, integer=True)
        p.add_cost("c", cols, [2.0, 3.0])
        p.add_rows("cover", [(i,)], [0, 0], cols, [3.0, 5.0], ">=", 7.5)
    return p, np.tile([0.0, 4.5], 4)   # c_j x_j at the LP optimum


def test_a_split_solve_is_left_midway_once_its_blocks_bounds_reach_the_cutoff():
    from planner.fleet.split import solve_split  # noqa: PLC0415

    p, parts = _four_blocks()
    opts = SolveOptions(time_limit_s=30.0, mip_gap=0.0)
    # after k blocks solved one by one the bound is 5 k + 4.5 (4 - k) = 18 + 0.5 k
    first = solve_split(p, "highs", opts, cutoff=18.4, floors=parts)
    assert first.status == "error" and not first.has_values and first.bound == pytest.approx(18.5)
    third = solve_split(p, "highs", opts, cutoff=19.4, floors=parts)
    assert third.status == "error" and third.bound == pytest.approx(19.5)
    whole = solve_split(p, "highs", opts, cutoff=19.6, floors=parts)   # never reached before the last block
    assert whole.status == "optimal" and whole.objective == pytest.approx(20.0)
    # no floors: a block's floor is its cheapest point, 0 here, so the bound after k blocks is 5 k
    bare = solve_split(p, "highs", opts, cutoff=10.0)
    assert bare.status == "error" and bare.bound == pytest.approx(10.0)
    for cutoff in (18.4, 19.4, 21.0):   # two blocks at once: stopped somewhere, with a valid bound, or solved
        two = solve_split(p, "highs", opts, workers=2, cutoff=cutoff, floors=parts)
        if two.has_values:
            assert two.status == "optimal" and two.objective == pytest.approx(20.0)
        else:
            assert cutoff <= two.bound <= 20.0 + 1e-9


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(rpm_a=st.sampled_from([400.0, 900.0]), spot=st.booleans(), budget=st.sampled_from([None, 40.0]),
       shift=st.integers(0, 11))
def test_a_levels_lp_bound_never_exceeds_its_integer_optimum(rpm_a, spot, budget, shift):
    from planner.fleet.level_bound import LevelBounds  # noqa: PLC0415
    from planner.fleet.split import solve_split  # noqa: PLC0415

    f = build_cost_formulation(_scenario(rpm_a, 300.0, 1.6, 3, spot, budget, shift),
                               SolveSettings(baselines=False, tie_break=False))
    res = applies(f)
    lp = LevelBounds(f.problem, res)
    for level in range(4):
        m = np.array([float(level)])
        bound, parts = lp(m, 30.0)
        exact = solve_split(f.problem.with_bounds(res, m, m), "highs", SolveOptions(time_limit_s=30.0, mip_gap=0.0))
        if exact.status == "infeasible":
            assert bound == math.inf or bound is not None   # an infeasible relaxation implies this; not the converse
            continue
        assert exact.status == "optimal"
        assert bound is not None and bound <= exact.objective + 1e-9
        # the columns' parts add up to the LP optimum (the bound plus its slack) less the program's constant
        assert float(parts.sum()) + f.problem.objective_constant == pytest.approx(bound, rel=1e-5)
    if budget is None:   # without a budget every level serves the demand
        assert lp(np.array([0.0]), 30.0)[0] != math.inf


def _fake_lp(extra):
    """A stand-in for ``LevelBounds``: the level's reserved cost plus ``extra(m)``."""
    cost = np.array([1.0, 1.5])
    return lambda m, limit_s: (float(cost @ m) + extra(m), None), cost


def test_the_walk_hands_out_the_least_bound_first_and_prunes_what_reaches_the_cut():
    # bound = c.m + max(0, 5 - 2 m0 - m1) on the box [0, 2]^2, c = (1, 1.5): (0,0) 5, (1,0) 4, (0,1) 5.5, (2,0) 3,
    # (1,1) 4.5, (0,2) 6, (2,1) 3.5, (1,2) 5, (2,2) 5; the floors c.m in the same order 0, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5
    lp, cost = _fake_lp(lambda m: max(0.0, 5 - 2 * m[0] - m[1]))
    walk = by_period._Walk(_levels(np.zeros(2), np.full(2, 2.0), cost), 0.0, lp)
    bound, m, _ = walk.next(math.inf, 10.0)
    assert (bound, tuple(m)) == (3.0, (2.0, 0.0))   # taken while the floors were below the least bound: 5 levels
    assert walk.taken == 5
    assert walk.next(3.0, 10.0) is None     # a plan of cost 3 in hand: every level left costs at least that
    assert walk.floor() == 3.0              # (0,2)'s reserved cost, not yet taken
    assert walk.pruned == 4                 # (0,0), (1,0), (0,1), (1,1): floors below 3, LP bounds above


@settings(max_examples=40, deadline=None, derandomize=True)
@given(extra=st.lists(st.sampled_from([0.0, 0.5, 2.0, 7.0, math.inf]), min_size=16, max_size=16))
def test_without_a_cut_the_walk_hands_out_every_feasible_level_once_in_bound_order(extra):
    table = {(a, b): extra[4 * a + b] for a in range(4) for b in range(4)}
    lp, cost = _fake_lp(lambda m: table[(int(m[0]), int(m[1]))])
    walk = by_period._Walk(_levels(np.zeros(2), np.full(2, 3.0), cost), 0.0, lp)
    out = []
    while (nxt := walk.next(math.inf, 10.0)) is not None:
        out.append((nxt[0], tuple(int(v) for v in nxt[1])))
    assert [b for b, _ in out] == sorted(b for b, _ in out)
    assert sorted(m for _, m in out) == sorted(k for k, v in table.items() if v != math.inf)
    assert walk.infeasible == sum(v == math.inf for v in table.values())


def test_a_walk_stopped_by_its_limit_or_its_cap_keeps_the_plan_in_hand_with_an_honest_bound(monkeypatch):
    f = build_cost_formulation(_scenario(900.0, 500.0, 1.2, None, False, None, 3),
                               SolveSettings(baselines=False, tie_break=False))
    whole = get_backend("highs", f.problem).solve(f.problem, SolveOptions(time_limit_s=60.0, mip_gap=0.0))
    late = solve_by_period(f, "highs", 1e-9, 0.0, incumbent=whole)   # the limit spent before any level
    assert late.status == "feasible" and "the time limit" in late.message
    assert late.objective == pytest.approx(whole.objective) and late.bound <= whole.objective
    assert solve_by_period(f, "highs", 1e-9, 0.0) is None             # no plan in hand, none found
    monkeypatch.setattr(by_period, "MAX_BOUNDED", 1)                   # one level bounded, then the cap
    capped = solve_by_period(f, "highs", 60.0, 0.0)
    assert "the level cap" in capped.message and not f.problem.violations(capped.values)
    assert capped.bound <= whole.objective + 1e-9 and capped.objective >= whole.objective - 1e-9
