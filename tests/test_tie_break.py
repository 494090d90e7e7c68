"""The tie-break's second solve: what it is given, and what a solve stopped by its limit leaves (planner.fleet.solve).

The scenario is test_solve_micro's: two ways to pay $4.00/h, 4 GPUs on offer a or 2 GPUs on offer b. HiGHS' cost
solve returns 4 x a; the second solve, among the $4.00 fleets, finds 2 x b. The last test draws such pairs of offers
(hypothesis) with the fewest GPUs worked out by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner.fleet.solve as solve_mod
from planner.fleet.formulation import build, fleet_size
from planner.fleet.options import enumerate_options
from planner.fleet.horizon import horizon_for
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload


def _loaded():
    offers = [offer("a", "l40s", 1.00), offer("b", "h100-sxm", 2.00)]
    ovs = [override("chat", "l40s", 25), override("chat", "h100-sxm", 50)]
    return scenario([workload("chat", 80)], offers, ovs)


def _spy(monkeypatch, second_as=None, cost_as=None):
    """Record every solve's (is the tie-break, time limit, result); ``second_as(result, start)`` rewrites the second
    solve's result, ``cost_as(result)`` the cost solve's."""
    calls, real = [], solve_mod._run

    def run(f, solver, time_limit, mip_gap, start=None, threads=1, on_incumbent=None):
        sol = real(f, solver, time_limit, mip_gap, start, threads, on_incumbent)
        second = f.cost_cap is not None
        if second and second_as is not None:
            sol = second_as(sol, start)
        if not second and cost_as is not None:
            sol = cost_as(sol)
        calls.append((second, time_limit, sol))
        return sol

    monkeypatch.setattr(solve_mod, "_run", run)
    return calls


def _nodes(plan):
    return [(n.offer, n.count) for n in plan.nodes if n.count]


def test_the_cost_solve_alone_returns_the_larger_fleet():
    # the premise of the tests below: without the tie-break HiGHS returns 4 x a (4 GPUs), not 2 x b
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.objective_usd_per_hour == pytest.approx(4.0) and _nodes(plan) == [("a", 4)]


def test_second_solve_stopped_without_a_smaller_fleet_keeps_the_cost_solution(monkeypatch):
    # the second solve "stops at its limit" holding only its start (the cost solution in its first columns): the
    # plan is the cost solve's, and the note does not claim fewer GPUs were found
    def stopped_at_start(sol, start):
        x = np.array(sol.values, dtype=float)
        cols, vals = start
        x[cols] = vals
        return dataclasses.replace(sol, status="feasible", values=x)

    calls = _spy(monkeypatch, stopped_at_start)
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, tie_break=True))
    assert [c[0] for c in calls].count(True) == 1
    assert _nodes(plan) == [("a", 4)] and plan.objective_usd_per_hour == pytest.approx(4.0)
    assert "without finding fewer GPU-hours or offers" in plan.tie_break and "found (" not in plan.tie_break
    assert plan.status == "optimal" and plan.verification.ok, plan.verification


def test_second_solve_stopped_after_a_smaller_fleet_uses_it(monkeypatch):
    calls = _spy(monkeypatch, lambda sol, start: dataclasses.replace(sol, status="feasible"))
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, tie_break=True))
    assert [c[0] for c in calls].count(True) == 1
    assert _nodes(plan) == [("b", 2)] and plan.objective_usd_per_hour == pytest.approx(4.0)
    # 4 x a (4 GPU-hours in the one 1 h period, 1 offer) against 2 x b (2 GPU-hours, 1 offer)
    assert "fewer GPU-hours found (2 against 4 GPU-hours, 1 against 1 offers), not proven the fewest" in plan.tie_break
    assert plan.status == "optimal" and plan.verification.ok, plan.verification


def test_tie_break_takes_only_what_the_cost_solve_left(monkeypatch):
    # nothing is kept back from the cost solve for the tie-break (before: 15 % of the budget, so a 20 s budget gave
    # the cost solve < 16.4 s); the second solve gets min(15 % of the budget, max(1 s, half the cost solve's seconds))
    calls = _spy(monkeypatch)
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", time_limit_s=20.0, baselines=False, tie_break=True))
    cost = [c for c in calls if not c[0]]
    second = [c for c in calls if c[0]]
    assert len(second) == 1 and cost
    assert cost[-1][1] > 18.0   # 20 s less the 3 % finishing reserve and the few ms spent before it
    expected = min(solve_mod.TIE_BREAK_SHARE * 20.0,
                   max(solve_mod.TIE_BREAK_MIN_S, 0.5 * cost[-1][2].solve_seconds))
    assert second[0][1] == pytest.approx(expected, abs=1e-9)
    assert "fewest GPU-hours" in plan.tie_break and _nodes(plan) == [("b", 2)]


def test_tie_break_gets_half_as_long_as_the_cost_solve_took(monkeypatch):
    # a cost solve that reports 4 s (its result rewritten) leaves the second solve min(15 % of 20 s, max(1 s, 4 s / 2))
    # = 2 s: half its time, where "as long as the cost solve took" (until 2026-12-05) gave 3 s, the 15 % cap
    calls = _spy(monkeypatch, cost_as=lambda sol: dataclasses.replace(sol, solve_seconds=4.0))
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", time_limit_s=20.0, baselines=False, tie_break=True))
    second = [c for c in calls if c[0]]
    assert len(second) == 1 and second[0][1] == pytest.approx(2.0, abs=1e-9)
    assert solve_mod.TIE_BREAK_OF_COST == 0.5
    assert "fewest GPU-hours" in plan.tie_break and _nodes(plan) == [("b", 2)]


def test_fleet_size_counts_gpu_hours_and_offers_by_hand():
    # one period of 1 h: 3 nodes of a (1 GPU each) and 1 node of b (1 GPU): 4 GPU-hours, 2 offers; then b alone
    loaded = _loaded()
    s = loaded.scenario
    f = build(s, enumerate_options(loaded), horizon_for(s))
    x = np.zeros(f.problem.n_vars)
    x[f.problem.index(("nodes", "a", 0))] = 3.0
    x[f.problem.index(("nodes", "b", 0))] = 1.0
    assert fleet_size(f, x) == (4.0, 2)
    x[f.problem.index(("nodes", "a", 0))] = 0.0
    assert fleet_size(f, x) == (1.0, 1)


def _gpu_hours_and_offers(plan) -> tuple[float, int]:
    """From the printed plan, independently of the formulation: GPUs x hours over the periods, offers with nodes."""
    periods = [(per.hours, per.nodes) for per in plan.periods] or [(1.0, plan.nodes)]
    gpu_hours = sum(n.gpus * hours for hours, nodes in periods for n in nodes)
    offers = len({n.offer for _, nodes in periods for n in nodes if n.count})
    return gpu_hours, offers


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 12), m=st.integers(2, 4), cents=st.integers(30, 300), cap=st.sampled_from([10, 25, 40, 60]))
def test_tie_break_takes_the_fewest_gpus_among_equal_costs(k, m, cents, cap):
    # offer a: one GPU at p serving cap per replica; offer b: one GPU at m x p serving m x cap. Demand needing k
    # replicas of a (k - 1/2 of them at 80 %) costs p x k however it is split (#a + m #b = k), so the optimum is
    # p x k, and the fewest GPUs are k // m of b and k % m of a (worked out by hand, whatever the solver returns
    # first: without the tie-break HiGHS may return any split)
    p = cents / 100
    loaded = scenario([workload("chat", (k - 0.5) * 0.8 * cap)],
                      [offer("a", "l40s", p), offer("b", "h100-sxm", round(m * p, 2))],
                      [override("chat", "l40s", cap), override("chat", "h100-sxm", m * cap)])
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=True))
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(p * k, abs=1e-6)
    expected = [(o, n) for o, n in (("a", k % m), ("b", k // m)) if n]
    assert sorted(_nodes(plan)) == expected, plan.tie_break
    assert _gpu_hours_and_offers(plan) == (float(k // m + k % m), len(expected))
    assert plan.tie_break.startswith("fewest GPU-hours") and plan.verification.ok, plan.verification
