"""``SolveSettings.threads`` / ``plan solve --threads``: which solves get the threads, and the optimum unchanged.

The scenario is test_tie_break's (two ways to pay $4.00/h); the CLI run is the chatbot example's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import planner.fleet.restricted as restricted_mod
import planner.fleet.solve as solve_mod
from planner.cli import app
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.problem import SolveOptions
from tests.test_tie_break import _loaded


@pytest.fixture(autouse=True)
def one_thread_after():
    """Leave HiGHS' scheduler unstarted for the tests after these (as tests/test_highs_threads does)."""
    yield
    from tests.test_highs_threads import _fresh_pool

    _fresh_pool()


def _spy(monkeypatch):
    """Record (is the tie-break, threads) of every solve through ``planner.fleet.solve._run``."""
    calls, real = [], solve_mod._run

    def run(f, solver, time_limit, mip_gap, start=None, threads=1, on_incumbent=None):
        calls.append((f.cost_cap is not None, threads))
        return real(f, solver, time_limit, mip_gap, start, threads, on_incumbent)

    monkeypatch.setattr(solve_mod, "_run", run)
    return calls


def test_the_cost_solve_and_the_tie_break_get_the_threads(monkeypatch):
    calls = _spy(monkeypatch)
    plan = solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, threads=3))
    assert calls == [(False, 3), (True, 3)]
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(4.0)


def test_one_thread_fewer_while_the_restricted_programs_run_beside(monkeypatch):
    calls = _spy(monkeypatch)
    monkeypatch.setattr(restricted_mod.Ladder, "beside", property(lambda self: True))
    solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, tie_break=False, threads=3))
    assert calls == [(False, 2)]
    calls.clear()
    solve_scenario(_loaded(), SolveSettings(solver="highs", baselines=False, tie_break=False, threads=1))
    assert calls == [(False, 1)]   # never below one


def test_the_api_passes_the_threads_on(monkeypatch):
    from planner import api  # noqa: PLC0415

    calls = _spy(monkeypatch)
    plan = api.solve(_loaded(), solver="highs", baselines=False, threads=2)
    assert calls[0] == (False, 2) and plan.objective_usd_per_hour == pytest.approx(4.0)


def test_the_api_takes_a_numpy_integer(monkeypatch):
    import numpy as np  # noqa: PLC0415

    from planner import api  # noqa: PLC0415

    calls = _spy(monkeypatch)
    api.solve(_loaded(), solver="highs", baselines=False, threads=np.int64(2))
    assert calls[0] == (False, 2)


def test_plan_solve_threads_gives_the_same_optimum():
    runner = CliRunner()
    plans = []
    for threads in ("1", "2"):
        res = runner.invoke(app, ["solve", "scenarios/chatbot.yaml", "--no-baselines", "--format", "json",
                                  "--threads", threads])
        assert res.exit_code == 0, res.output
        plans.append(json.loads(res.stdout))
    assert [p["status"] for p in plans] == ["optimal", "optimal"]
    assert plans[0]["objective_usd_per_hour"] == pytest.approx(plans[1]["objective_usd_per_hour"], rel=1e-9)


@pytest.mark.parametrize("bad", [0, -1, 257, 2.5, True, "2"])
def test_the_api_refuses_bad_threads_with_an_input_error(bad):
    from planner import api  # noqa: PLC0415
    from planner.errors import InputError  # noqa: PLC0415

    with pytest.raises(InputError, match="threads: must be a whole number from 1 to 256"):
        api.solve(_loaded(), solver="highs", baselines=False, threads=bad)


def test_plan_solve_refuses_zero_threads():
    res = CliRunner().invoke(app, ["solve", "scenarios/chatbot.yaml", "--threads", "0"])
    assert res.exit_code == 2 and "--threads" in res.output


def test_cbc_on_one_thread_gets_no_thread_option():
    # "-threads 1" takes CBC's threaded search with one worker, which stalled 10 s at random (docs/BENCHMARKS.md,
    # thirty-third pass); one thread is CBC's serial search, asked for by giving no option
    from solvers.pulp_cbc import _cmd  # noqa: PLC0415

    one = _cmd(SolveOptions(time_limit_s=10, threads=1), None).getOptions()
    two = _cmd(SolveOptions(time_limit_s=10, threads=2), None).getOptions()
    assert not any(o.startswith("threads") for o in one)
    assert "threads 2" in two
