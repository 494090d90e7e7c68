"""solvers/highs_guard.py: HiGHS in a child process stopped at a hard deadline (large programs with a limit)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import solvers.highs as highs
import solvers.highs_guard as guard
from planner.problem import SolveOptions
from tests.test_solvers import KNAPSACK_40_5_OPT, knapsack, mixed_knapsack


def test_a_guarded_solve_is_the_in_process_solve(monkeypatch):
    # every program counts as large: the child's answer is the answer, to the bit where HiGHS is deterministic
    monkeypatch.setattr(highs, "GUARD_MIN_COLUMNS", 0)
    sol = highs.solve(mixed_knapsack(), SolveOptions(time_limit_s=30.0))
    assert sol.status == "optimal" and sol.objective == pytest.approx(-19.5)
    assert sol.value(("fill",)) == pytest.approx(1.5)
    p = knapsack(40, 5, seed=0)
    guarded = highs.solve(p, SolveOptions(time_limit_s=60.0))
    monkeypatch.setattr(highs, "GUARD_MIN_COLUMNS", 10**9)
    plain = highs.solve(p, SolveOptions(time_limit_s=60.0))
    assert guarded.status == plain.status == "optimal"
    assert guarded.objective == plain.objective == KNAPSACK_40_5_OPT
    assert np.array_equal(guarded.values, plain.values)


def test_the_child_reports_bounds_and_solutions_as_they_come():
    # what the child sends while HiGHS runs: improving solutions with the bound then, and bound rises; every
    # bound is a valid lower bound and never falls
    p = knapsack(40, 5, seed=0)
    sent = []
    arr = p.to_arrays()
    highs._run(arr, p.objective_constant, SolveOptions(time_limit_s=60.0),
               report=lambda kind, bound, x: sent.append((kind, bound, x)))
    assert any(kind == "x" for kind, _, _ in sent)
    bounds = [b for _, b, _ in sent if np.isfinite(b)]
    assert bounds == sorted(bounds) and all(b <= KNAPSACK_40_5_OPT + 1e-6 for b in bounds)
    for kind, _, x in sent:
        if kind == "x":
            assert p.violations(x) == []


def test_a_child_that_overruns_is_stopped_at_the_hard_deadline_with_its_last_bound(monkeypatch):
    # a stand-in child that sends a bound and a point, then never answers (as HiGHS inside a long cut round):
    # stopped at limit x (1 + GRACE_SHARE) + GRACE_S, the answer is its point, "feasible", with its bound
    child = ("import pickle, sys, time; from multiprocessing.connection import Connection; "
             "pickle.load(sys.stdin.buffer); pickle.load(sys.stdin.buffer); "
             "c = Connection(int(sys.argv[1]), readable=False); c.send(('bound', -5.0, None)); "
             "c.send(('x', -4.0, [1.0, 2.0])); time.sleep(600)")
    monkeypatch.setattr(guard, "_CHILD", child)
    arr = knapsack(5, 1, seed=0).to_arrays()
    t0 = time.perf_counter()
    raw, x, bound, msg = guard.run_guarded(arr, 0.0, SolveOptions(time_limit_s=0.5))
    took = time.perf_counter() - t0
    assert 0.5 * (1 + guard.GRACE_SHARE) + guard.GRACE_S - 0.05 <= took < 5.0
    assert raw == "feasible" and list(x) == [1.0, 2.0] and bound == -4.0
    assert "does not check it" in msg


def test_a_child_that_ends_without_an_answer_is_an_error(monkeypatch, capfd):
    # it fails before it can report (here: reads its input, then raises): an error naming the cause, and no
    # traceback on the user's stderr
    child = ("import pickle, sys; pickle.load(sys.stdin.buffer); pickle.load(sys.stdin.buffer); "
             "raise ImportError('no module named highspy')")
    monkeypatch.setattr(guard, "_CHILD", child)
    arr = knapsack(5, 1, seed=0).to_arrays()
    raw, x, bound, msg = guard.run_guarded(arr, 0.0, SolveOptions(time_limit_s=5.0))
    assert raw == "error" and x is None and bound is None
    assert "ended without an answer (exit code 1: ImportError: no module named highspy)" in msg
    assert "Traceback" not in capfd.readouterr().err
