"""The full solve's incumbents as they come (``SolveOptions.on_incumbent``, ``planner.fleet.incumbents``) and the
neighbourhood search beside it on programs the ladder skips (``planner.fleet.beside``)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import planner.fleet.beside as beside_mod
import planner.fleet.neighbourhood as nb
import planner.fleet.restricted as restricted_mod
import planner.fleet.solve as solve_mod
import solvers.highs as highs
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import horizon_for
from planner.fleet.incumbents import Incumbents
from planner.fleet.solve import SolveSettings
from planner.fleet.start import greedy_start
from planner.problem import SolveOptions
from tests.solve_helpers import bench_medium
from tests.test_solvers import KNAPSACK_40_5_OPT, knapsack


@pytest.mark.parametrize("guarded", [False, True])
def test_the_hook_hears_every_improving_point_and_the_last_is_the_answer(monkeypatch, guarded):
    # in this process (HiGHS' improving-solution callback) and from the guarded child (its messages): each point is
    # feasible, each is cheaper than the one before, and the last is the optimum the solve returns
    monkeypatch.setattr(highs, "GUARD_MIN_COLUMNS", 0 if guarded else 10**9)
    p = knapsack(40, 5, seed=0)
    heard = []
    sol = highs.solve(p, SolveOptions(time_limit_s=60.0, on_incumbent=heard.append))
    assert sol.status == "optimal" and sol.objective == KNAPSACK_40_5_OPT
    objs = [p.objective_value(x) for x in heard]
    assert heard and all(p.violations(x) == [] for x in heard)
    assert objs == sorted(objs, reverse=True) and len(set(objs)) == len(objs)
    assert objs[-1] == pytest.approx(KNAPSACK_40_5_OPT)


def test_a_hook_that_fails_does_not_stop_the_solve():
    def broken(x):
        raise RuntimeError("listener failed")

    sol = highs.solve(knapsack(40, 5, seed=0), SolveOptions(time_limit_s=60.0, on_incumbent=broken))
    assert sol.status == "optimal" and sol.objective == KNAPSACK_40_5_OPT


def _full_program():
    m = bench_medium()
    s = m["loaded"].scenario
    f = solve_mod._build_cost(s, m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s))
    return m, f


def test_incumbents_keep_the_cheapest_point_and_hand_it_over_checked():
    m, f = _full_program()
    oracle = solve_mod._run(f, "highs", 60.0, 0.0)
    assert oracle.status == "optimal"
    inc = Incumbents(f)
    assert inc.take(math.inf) is None   # nothing posted yet
    dearer = solve_mod._complete_start(f, "highs", greedy_start(f), 30.0, 0.0).values   # the constructive start
    assert f.problem.violations(dearer) == [] and f.problem.objective_value(dearer) > oracle.objective + 1.0
    inc.post(dearer)
    inc.post(np.zeros(3))                        # wrong length: ignored
    inc.post(np.full(f.problem.n_vars, np.nan))  # not finite: ignored
    got = inc.take(math.inf)
    assert got is not None and got[0] is f
    assert got[1].objective == pytest.approx(f.problem.objective_value(dearer))
    inc.post(oracle.values)
    inc.post(dearer)   # dearer than what is kept: not kept
    assert inc.posted == 2
    _, best = inc.take(math.inf)
    assert best.objective == pytest.approx(oracle.objective, rel=1e-12) and best.status == "feasible"
    assert inc.take(oracle.objective) is None                    # not cheaper than what the taker has
    assert inc.take(oracle.objective + 1.0) is not None          # cheaper
    assert inc.taken == 3


def test_a_point_that_breaks_a_row_is_never_handed_over():
    _, f = _full_program()
    inc = Incumbents(f)
    empty = np.zeros(f.problem.n_vars)   # no fleet: every demand row is broken, and it costs 0, the least
    assert f.problem.violations(empty)
    inc.post(empty)
    assert inc.take(math.inf) is None


def test_the_search_continues_from_a_cheaper_incumbent_found_elsewhere(monkeypatch):
    # the search starts from the k = 1 rung's plan; before its first step it is offered the full program's optimum
    # (an oracle: the full program solved alone) and every step must then start from that point; none can improve
    # on an optimum, so the search ends with nothing better than what it was given
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    m, f = _full_program()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    rung = restricted_mod._rung(s, m["options"], horizon, SolveSettings(), hedge_blocks(s), "highs", 1,
                                time.perf_counter() + 60.0)
    oracle = solve_mod._run(f, "highs", 60.0, 0.0)
    assert rung.sol.objective > oracle.objective + 1.0
    inc = Incumbents(f)
    inc.post(oracle.values)
    asked, started_from = [], []
    step = nb._step

    def spy(s_, options, horizon_, settings, extra_blocks, solver, incumbent, *rest):
        started_from.append(incumbent[1].objective)
        return step(s_, options, horizon_, settings, extra_blocks, solver, incumbent, *rest)

    def fresher(objective):
        asked.append(objective)
        return inc.take(objective)

    monkeypatch.setattr(nb, "_step", spy)
    deadline = time.perf_counter() + 4.0
    out = nb.search(s, m["options"], horizon, SolveSettings(), hedge_blocks(s), "highs", (rung.f, rung.sol),
                    lambda: deadline, fresher=fresher)
    assert asked[0] == rung.sol.objective and len(asked) == len(started_from) >= 1
    assert all(v == pytest.approx(oracle.objective, rel=1e-12) for v in started_from)
    assert out is None and inc.taken == 1


def test_it_does_not_run_where_the_ladder_does_or_on_small_or_merged_programs(monkeypatch):
    m, f = _full_program()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    now = time.perf_counter()

    def start(**changes):
        args = dict(loaded=m["loaded"], options=m["options"], horizon=horizon, settings=SolveSettings(),
                    extra_blocks=hedge_blocks(s), solver="highs")
        args.update(changes)
        fs = beside_mod.FullSearch(*args.values())
        hook = fs.start(f, now + 60.0, now + 120.0)
        fs.stop()
        fs.plan()
        return hook

    assert start(solver="cbc") is None
    monkeypatch.setattr(beside_mod, "MIN_OPTIONS", len(m["options"].deployments) + 1)
    assert start() is None   # a program this small is proven before a search could help (S, Mélange-format)
    monkeypatch.setattr(beside_mod, "MIN_OPTIONS", 1)
    monkeypatch.setattr(beside_mod, "RESTRICT_MIN_OPTIONS", len(m["options"].deployments))
    assert start() is None   # the ladder's size: its own search runs there
    monkeypatch.setattr(beside_mod, "RESTRICT_MIN_OPTIONS", 10**9)
    assert start() is not None
    monkeypatch.setattr(f, "merge", object())
    assert start() is None   # a merged program's deployments are not the scenario's options


@pytest.mark.parametrize("found, proven, decoded", [
    (95.0, None, True),        # the full solve stopped at its limit: the searched plan may be the cheaper one
    (95.0, 100.0, True),       # below a claimed optimum: the claim is wrong, and the plan must reach the printer
    (100.0, 100.0, False),     # at the claimed optimum: nothing to gain, not decoded
    (100.0 - 5e-5, 100.0, False),   # within the zero-gap tolerance of it
])
def test_a_searched_plan_is_decoded_after_a_claimed_optimum_only_where_it_is_cheaper(monkeypatch, found, proven,
                                                                                     decoded):
    import threading
    from types import SimpleNamespace

    m, f = _full_program()
    s = m["loaded"].scenario
    monkeypatch.setattr(beside_mod, "RESTRICT_MIN_OPTIONS", 10**9)
    entered, release, calls = threading.Event(), threading.Event(), []

    def search(*args, **kwargs):   # the search's result once the full solve is over
        entered.set()
        release.wait(30.0)
        return f, SimpleNamespace(objective=found), 3

    monkeypatch.setattr(beside_mod, "search", search)
    monkeypatch.setattr(beside_mod, "plan_of", lambda *args: calls.append(args) or "plan")
    fs = beside_mod.FullSearch(m["loaded"], m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s), "highs")
    start = solve_mod._complete_start(f, "highs", greedy_start(f), 30.0, 0.0).values
    now = time.perf_counter()
    hook = fs.start(f, now, now + 60.0)
    assert hook is not None
    hook(start)
    assert entered.wait(30.0)   # the search runs; the full solve ends while it does
    fs.stop(proven=proven)
    release.set()
    assert (fs.plan() == "plan") == decoded and len(calls) == int(decoded)


def test_solve_scenario_with_the_search_beside_from_the_start(monkeypatch):
    # M-1 (710 deployments, below the ladder's size) with the search started at once: it runs beside the full solve,
    # which proves the optimum (100.707 USD/h); the search is stopped then and the plan is the full solve's, verified
    posted = []
    post = Incumbents.post

    def spy(self, x):
        posted.append(self.f.problem.objective_value(np.asarray(x, dtype=float)))
        post(self, x)

    monkeypatch.setattr(Incumbents, "post", spy)
    monkeypatch.setattr(beside_mod, "AFTER_SHARE", 0.0)
    monkeypatch.setattr(solve_mod, "AFTER_SHARE", 0.0)
    m = bench_medium()
    t0 = time.perf_counter()
    plan = solve_mod.solve_scenario(m["loaded"], SolveSettings(time_limit_s=90.0, baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.verification.ok
    assert plan.objective_usd_per_hour == pytest.approx(100.707, abs=1e-3)
    assert posted and min(posted) == pytest.approx(100.707, abs=1e-3)
    assert time.perf_counter() - t0 < 60.0   # the search ended with the proof, not at the budget's end


def test_a_background_failure_is_raised_once_in_the_collecting_thread():
    import threading

    from planner.fleet.background import Background

    class Worker(Background):
        def __init__(self):
            def work():
                try:
                    raise ValueError("in the worker")
                except ValueError as exc:
                    self._error = exc

            self._thread = threading.Thread(target=work)
            self._thread.start()

    w = Worker()
    with pytest.raises(ValueError, match="in the worker"):
        w._collect()
    w._collect()   # raised once: the error is the caller's now
    assert w._thread is None and w._error is None
