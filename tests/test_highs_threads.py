"""HiGHS' process-wide thread pool: every run of this project asks for the count it has (``solvers.highs``,
"Threads"), and ``threads`` > 1 searches in parallel without changing the optimum."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from planner.fleet.workload_programs import _Rows, solve_rows
from planner.problem import Problem, SolveOptions
from solvers import highs as backend
from tests.test_solvers import assert_brute_force_answer, brute_force, build, small_integer_problems

highspy = pytest.importorskip("highspy")


def _fresh_pool() -> None:
    highspy.Highs.resetGlobalScheduler(True)
    backend._POOL.update(threads=0, running=0, lost=False)


@pytest.fixture(autouse=True)
def fresh_pool():
    """Each test starts and leaves HiGHS' scheduler unstarted, as a new process has it."""
    _fresh_pool()
    yield
    _fresh_pool()


def _foreign_run(threads: int) -> None:
    """A run by code outside ``solvers.highs`` that starts the scheduler at ``threads``: what HiGHS' automatic count
    ((cores + 1) // 2) does on a machine of three or more cores, or another library's HiGHS."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 1, 0
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.array([1.0]), np.zeros(1), np.ones(1)
    h.passModel(lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _opts(h) -> tuple[int, str]:
    """(threads, parallel) as set on ``h`` (highspy returns each option as (status, value))."""
    return tuple(v[1] if isinstance(v, tuple) else v for v in (h.getOptionValue("threads"),
                                                                   h.getOptionValue("parallel")))


def _knapsack_rows() -> _Rows:
    """min 3a + 5b s.t. 2a + 3b >= 7, a, b >= 0 integer. By hand: b = 0 needs a = 4 (12); b = 1, a = 2 (11);
    b = 2, a = 1 (13); b = 3 (15): the optimum is 11."""
    rows = _Rows(2, [3.0, 5.0])
    rows.row({0: 2.0, 1: 3.0}, 7.0, float("inf"))
    return rows


def _knapsack_problem() -> Problem:
    p = Problem("knapsack")
    x = p.add_vars("x", range(2), lb=0, ub=10, integer=True)
    p.add_rows("cover", [0], np.zeros(2, int), x, [2.0, 3.0], ">=", 7.0)
    p.add_cost("c", x, [3.0, 5.0])
    return p


def test_a_workload_program_solves_on_a_scheduler_started_with_another_count():
    # until this fix the workloads' own programs asked for one thread and ended at once with kNotset on such a
    # scheduler: on any machine of three or more cores, L and XL lost their workload bound and their "own" rung
    _foreign_run(2)
    h = solve_rows(_knapsack_rows(), 10.0, 0.0)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(11.0)


def test_the_first_run_restarts_a_scheduler_started_elsewhere_also_beside_another_run():
    _foreign_run(2)
    beside = highspy.Highs()
    with backend.pooled(beside, 1):  # a run of ours in flight (the restricted programs' thread): no retry then
        h = solve_rows(_knapsack_rows(), 10.0, 0.0)
        assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def test_serial_runs_after_a_parallel_one_use_its_scheduler():
    p = _knapsack_problem()
    par = backend.solve(p, SolveOptions(threads=2))
    assert (par.status, par.objective) == ("optimal", pytest.approx(11.0))
    assert backend._POOL["threads"] == 2
    ser = backend.solve(p, SolveOptions())
    assert (ser.status, ser.objective) == ("optimal", pytest.approx(11.0))
    h = solve_rows(_knapsack_rows(), 10.0, 0.0)
    assert h.getInfo().objective_function_value == pytest.approx(11.0)
    assert backend._POOL == {"threads": 2, "running": 0, "lost": False}


def test_options_each_run_gets():
    first, second, third = highspy.Highs(), highspy.Highs(), highspy.Highs()
    with backend.pooled(first, 2):
        assert _opts(first) == (2, "on")
        # while a run is in flight the scheduler is never restarted: a wish for 3 searches on the 2 there are
        with backend.pooled(second, 3):
            assert _opts(second) == (2, "on")
            assert backend._POOL["running"] == 2
    with backend.pooled(third, 1):  # a serial run on a 2-thread scheduler: its count, parallel search off
        assert _opts(third) == (2, "off")
    with backend.pooled(third, 4):  # nothing in flight: restarted at the count asked for
        assert _opts(third) == (4, "on")
    assert backend._POOL == {"threads": 4, "running": 0, "lost": False}


def test_a_run_restarts_a_scheduler_other_code_changed_meanwhile():
    assert backend.solve(_knapsack_problem(), SolveOptions()).objective == pytest.approx(11.0)  # ours: 1 thread
    highspy.Highs.resetGlobalScheduler(True)  # another library restarts it at 3 (HiGHS lets anyone reset it)
    _foreign_run(3)
    h = solve_rows(_knapsack_rows(), 10.0, 0.0)   # asks for 1, ends kNotset, is run again on a restarted one
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _in_forked_child(fn) -> int | None:
    """Exit code of ``fn()`` run in a forked child (0: it returned True), None if it had not ended after 30 s."""
    def main():
        raise SystemExit(0 if fn() else 1)

    child = multiprocessing.get_context("fork").Process(target=main)
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode


def test_a_forked_child_solves_after_a_parallel_run():
    # a plan whatif worker forked after a solve on two threads: the child inherited HiGHS' scheduler without its
    # worker thread and its first run waited for it forever (the test suite hung in tests/test_sweep.py)
    assert backend.solve(_knapsack_problem(), SolveOptions(threads=2)).objective == pytest.approx(11.0)
    assert _in_forked_child(lambda: backend.solve(_knapsack_problem(), SolveOptions()).objective == 11.0) == 0
    assert backend.solve(_knapsack_problem(), SolveOptions(threads=2)).objective == pytest.approx(11.0)  # parent


def test_a_child_forked_during_a_parallel_run_refuses_instead_of_hanging():
    assert backend.solve(_knapsack_problem(), SolveOptions(threads=2)).objective == pytest.approx(11.0)
    with backend.pooled(highspy.Highs(), 2):  # a run in flight: the scheduler cannot be shut down for the fork
        code = _in_forked_child(lambda: "inherited by fork" in backend.solve(_knapsack_problem()).message)
    assert code == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=small_integer_problems())
def test_parallel_search_finds_the_brute_force_optimum(data):
    p = build(*data)
    assert_brute_force_answer(p, backend.solve(p, SolveOptions(threads=2)), brute_force(*data))
