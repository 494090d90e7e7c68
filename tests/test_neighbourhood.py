"""The neighbourhood search after the restricted ladder (``planner.fleet.neighbourhood``): each step holds the
replicas of the workloads it does not re-plan, never returns a dearer plan, and, re-planning every workload, is the
full program's optimum."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import planner.fleet.neighbourhood as nb
import planner.fleet.restricted as restricted_mod
import planner.fleet.solve as solve_mod
from planner.fleet.formulation import build
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import horizon_for
from planner.fleet.solve import SolveSettings
from planner.fleet.restrict import complete
from planner.fleet.start import carry_start, greedy_values, start_columns
from tests.solve_helpers import bench_medium


def _first(monkeypatch):
    """The medium instance's k = 1 restricted program, solved to optimality: the search's start."""
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    m = bench_medium()
    s = m["loaded"].scenario
    rung = restricted_mod._rung(s, m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s), "highs", 1,
                                time.perf_counter() + 60.0)
    return m, rung


def _replicas(f, values) -> dict:
    """{(deployment key, period): replicas} of a solution, the non-zero ones."""
    p = f.problem
    out = {}
    for j in p.block_columns("replicas").tolist():
        _, d, t = p.var_key(j)
        if values[j] > 0.5:
            out[(f.options.deployments[d].key, t)] = round(values[j])
    return out


def _search(m, rung, until_s, seed=0):
    s = m["loaded"].scenario
    deadline = time.perf_counter() + until_s
    return nb.search(s, m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s), "highs",
                     (rung.f, rung.sol), lambda: deadline, seed=seed)


def test_re_planning_every_workload_reaches_the_full_programs_optimum(monkeypatch):
    # oracle: the full program over every option, solved alone to optimality (M-1: 100.707 USD/h); the search with
    # a neighbourhood of all 20 workloads holds nothing, so its first step is that program, and it stops there
    m, rung = _first(monkeypatch)
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    oracle = solve_mod._run(build(s, m["options"], horizon, extra_blocks=hedge_blocks(s)), "highs", 60.0, 0.0)
    assert oracle.status == "optimal" and rung.sol.objective > oracle.objective + 1.0
    monkeypatch.setattr(nb, "WORKLOADS", len(s.workloads))
    monkeypatch.setattr(nb, "STEP_S", 60.0)
    t0 = time.perf_counter()
    f, sol, improved = _search(m, rung, 120.0)
    assert improved == 1 and sol.status == "optimal"
    assert sol.objective == pytest.approx(oracle.objective, rel=1e-9)
    assert time.perf_counter() - t0 < 60.0   # it stopped after that step, not at its deadline
    assert len(f.options.deployments) == len(m["options"].deployments)


def test_a_step_holds_the_other_workloads_replicas_and_its_plan_verifies():
    # the start: the share rule's constructive start (each workload on its least node share) completed in the k = 6
    # program, far from that program's optimum, so a step that held nothing would move the other workloads too (the
    # cheaper packing rule's start, which greedy_start keeps on M-1, is within 0.3 USD/h of it)
    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    f6 = build(s, restricted_mod.restricted_options(s, m["options"], horizon, 6), horizon,
               extra_blocks=hedge_blocks(s))
    share = start_columns(f6, greedy_values(s, f6.options, horizon, "share"))
    rung = restricted_mod.Rung(f6, complete(f6.problem, "highs", share, 30.0, 0.0), (6, False))
    by_w = {}
    for d in m["options"].deployments:
        by_w.setdefault(d.workload, []).append(d)
    base = {d.key for d in rung.f.options.deployments}
    before = _replicas(rung.f, rung.sol.values)
    for chosen in ({s.workloads[0].id, s.workloads[7].id}, {w.id for w in s.workloads[5:12]}):
        g, new = nb._step(s, m["options"], horizon, SolveSettings(), hedge_blocks(s), "highs", (rung.f, rung.sol),
                          base, chosen, 0.0, 30.0)
        assert new.status == "optimal" and new.objective < rung.sol.objective - 1.0
        assert not g.problem.violations(new.values)
        after = _replicas(g, new.values)
        held = lambda reps: {k: v for k, v in reps.items() if k[0][0] not in chosen}  # noqa: E731
        assert held(after) == held(before)
        # every option of the chosen workloads is in the step's program, the others' are the start's
        keys = {d.key for d in g.options.deployments}
        assert {d.key for w in chosen for d in by_w[w]} <= keys and base <= keys
        assert all(k in base or k[0] in chosen for k in keys)
    plan = restricted_mod.plan_of(m["loaded"], m["options"], horizon, SolveSettings(),
                                   restricted_mod.Rung(g, new, rung.kept, searched=1))
    assert plan is not None and plan.verification.ok and plan.status == "feasible"
    assert "1 steps of a neighbourhood search" in plan.message
    assert plan.objective_usd_per_hour == pytest.approx(new.objective, rel=1e-9)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), size=st.integers(1, 6))
def test_the_search_never_returns_a_dearer_plan_and_its_plan_holds(monkeypatch, seed, size):
    m, rung = _first(monkeypatch)
    monkeypatch.setattr(nb, "WORKLOADS", size)
    out = _search(m, rung, 3.0, seed=seed)
    if out is None:
        return
    f, sol, improved = out
    assert improved >= 1 and sol.objective < rung.sol.objective
    assert not f.problem.violations(sol.values)


def test_carry_start_drops_only_unused_deployments():
    # a program over fewer deployments takes a fleet whose replicas it holds; one it lacks must be unused
    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    sub = restricted_mod.restricted_options(s, m["options"], horizon, 2)
    small = restricted_mod.restricted_options(s, m["options"], horizon, 1)
    f_from = build(s, sub, horizon, extra_blocks=hedge_blocks(s))
    f_to = build(s, small, horizon, extra_blocks=hedge_blocks(s))
    lacking = next(d for d in f_from.options.deployments if d.key not in {e.key for e in small.deployments})
    values = [0.0] * f_from.problem.n_vars
    cols, vals = carry_start(f_from, values, f_to)
    assert len(cols) == len(vals) and not any(vals)
    values[f_from.problem.index(("replicas", lacking.index, 0))] = 1.0
    with pytest.raises(ValueError, match="has replicas but is not in the program"):
        carry_start(f_from, values, f_to)


def test_a_full_solve_that_ends_before_its_limit_ends_the_search(monkeypatch):
    # M-1's full program is solved to optimality in seconds: the search beside it is stopped then (its deadline moved
    # to that moment), not left to run to the budget's end while the answer waits for it
    m = bench_medium()
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    seen = []
    stop = restricted_mod.Ladder.stop_search

    def spy(ladder):
        stop(ladder)
        seen.append((ladder._search_until, time.perf_counter()))

    monkeypatch.setattr(restricted_mod.Ladder, "stop_search", spy)
    plan = solve_mod.solve_scenario(m["loaded"], SolveSettings(time_limit_s=60.0, baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.verification.ok
    assert plan.objective_usd_per_hour == pytest.approx(100.707, abs=1e-3)
    assert len(seen) == 1 and seen[0][0] <= seen[0][1]
