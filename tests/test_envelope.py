"""The peak envelope (``planner.fleet.envelope``) and the ladder's rungs on a horizon of several periods
(``planner.fleet.restricted``): worked by hand on two workloads whose peaks alternate."""

from __future__ import annotations

import time

import pytest

import planner.fleet.restricted as restricted_mod
from planner.fleet.envelope import envelope_horizon
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import Horizon, PeriodSpec, horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload


def test_the_envelope_takes_each_workloads_busiest_demand_over_all_hours():
    periods = (PeriodSpec("h0", 1.0, 0, {"a": 1.0, "b": 5.0}, {"o": 1.0}),
               PeriodSpec("h1", 2.0, 0, {"a": 3.0, "b": 1.0}, {"o": 2.0}),
               PeriodSpec("h2", 1.0, 0, {"a": 2.0, "b": 1.0}))
    peak = envelope_horizon(Horizon(periods=periods))
    (e,) = peak.periods
    assert e.demand_rpm == {"a": 3.0, "b": 5.0} and e.hours == 4.0 and e.epoch == 0
    assert e.price_multiplier("o") == pytest.approx((1 * 1.0 + 2 * 2.0 + 1 * 1.0) / 4)   # hours-weighted: 1.5
    assert envelope_horizon(Horizon(periods=periods[:1])) is None   # one period: nothing to do
    two_epochs = (periods[0], PeriodSpec("m1", 1.0, 1, {"a": 1.0, "b": 1.0}))
    assert envelope_horizon(Horizon(periods=two_epochs, epoch_names=("m0", "m1"))) is None


def _alternating():
    """w1 busy in the first 12 hours (100 req/min), quiet after (25); w2 the other way round. One L40S replica
    carries 30 req/min, 24 at rho 0.8: a workload at 100 needs ceil(100/24) = 5 replicas, at 25 ceil(25/24) = 2.
    Every hour: 5 + 2 = 7 GPUs; the envelope (both at 100): 10."""
    day = [1.0] * 12 + [0.25] * 12
    night = [0.25] * 12 + [1.0] * 12
    w = [workload("w1", 100, profile={"hourly": day}), workload("w2", 100, profile={"hourly": night})]
    o = [offer("od", "l40s", 1.0), offer("od2", "l40s", 1.3)]
    return scenario(w, o, [override("w1", "l40s", 30.0), override("w2", "l40s", 30.0)])


def test_the_envelope_rung_runs_the_peak_fleet_in_every_hour_and_by_period_sizes_each_hour(monkeypatch):
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    loaded = _alternating()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert len(horizon.periods) == 24
    args = (s, options, horizon, SolveSettings(), hedge_blocks(s), "highs")
    env = restricted_mod._rung(*args, 3, time.perf_counter() + 60.0)
    assert env is not None and env.env is not None
    assert env.env[1].objective == pytest.approx(10.0)            # 10 GPUs of od at 1 USD/h
    assert env.sol.objective == pytest.approx(10.0)               # ... in every hour
    until = time.perf_counter() + 60.0
    per = restricted_mod._by_period(*args[:1], horizon, *args[3:], lambda: until, env)
    assert per is not None and per.by_period and per.sol.objective == pytest.approx(7.0)
    plan = restricted_mod.plan_of(loaded, options, horizon, SolveSettings(), per)
    assert plan.verification.ok and "each period's own program" in plan.message
    # the full program's optimum, the oracle: 7 GPUs every hour
    full = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert full.status == "optimal" and full.objective_usd_per_hour == pytest.approx(7.0)


def test_a_period_whose_first_solve_stops_before_improving_is_solved_again_in_the_second_pass(monkeypatch):
    """Hours 3 and 17's first solves end with nothing (as a solver stopped by its limit before its first improvement
    does): the second pass gives them the time the first left, each more than its first share, and every hour ends at
    7 GPUs as in the test above. Without the second pass those two hours keep the envelope's 10: 7 + 3 * 2 / 24."""
    import planner.fleet.envelope as envelope_mod
    from planner.problem import Solution

    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    loaded = _alternating()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    args = (s, options, horizon, SolveSettings(), hedge_blocks(s), "highs")
    env = restricted_mod._rung(*args, 3, time.perf_counter() + 60.0)
    real, calls = envelope_mod.get_backend, []

    class StopsEarly:
        def __init__(self, backend):
            self.backend = backend

        def solve(self, problem, options):
            calls.append(options.time_limit_s)
            if len(calls) - 1 in (3, 17):
                return Solution("feasible", None, None, None, None, "highs", 0.0, "stopped", problem)
            return self.backend.solve(problem, options)

    monkeypatch.setattr(envelope_mod, "get_backend", lambda *a, **k: StopsEarly(real(*a, **k)))
    until = time.perf_counter() + 60.0
    per = restricted_mod._by_period(*args[:1], horizon, *args[3:], lambda: until, env)
    assert per is not None and per.sol.objective == pytest.approx(7.0)
    assert len(calls) == 24 + 2   # every hour once, the two stopped ones again (the others were solved to optimality)
    assert min(calls[24:]) > max(calls[3], calls[17])


def test_on_several_periods_the_search_deadline_is_the_by_period_rungs_and_ends_with_the_full_solve():
    """``Ladder.search_until`` and ``extend`` move the ``BY_PERIOD`` rung's deadline on a horizon of several periods
    (the full program is not solved in time there), not the earlier rungs' (``extend`` moves theirs on one period);
    ``stop_search`` ends them all (the full program was solved)."""
    day = _alternating()
    one = day.scenario.model_copy(update={"workloads": [w.model_copy(update={"profile": None})
                                                        for w in day.scenario.workloads]})
    for s, periods in ((day.scenario, 24), (one, 1)):
        options, horizon = enumerate_options(day), horizon_for(s)
        assert len(horizon.periods) == periods
        ladder = restricted_mod.Ladder(day, options, horizon, SolveSettings(), (), "highs", lambda *a: None)
        later = time.perf_counter() + 100.0
        ladder.start_next(30.0, min_s=0.0)   # no first rung: nothing starts, the deadlines stay as set
        ladder._until = time.perf_counter() + 30.0
        ladder.extend(later - 50.0)   # the full program left unbuilt: on several periods BY_PERIOD's time alone
        assert ladder._periods_until() == later - 50.0 and (ladder._until < later - 50.0) == (periods > 1)
        ladder.search_until(later)
        assert ladder._periods_until() == later and ladder._until < later
        ladder.stop_search()
        now = time.perf_counter()
        assert ladder._search_until <= now and (ladder._until <= now) == (periods > 1)
