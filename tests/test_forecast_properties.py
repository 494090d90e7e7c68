"""Properties of the forecast on seeded random tiny instances (capacities fixed by overrides, see forecast_helpers).

- The decomposition over reserved levels finds the optimum of the whole integer program (solved directly).
- Offering a reserved option never raises the forecast's cost; higher growth never lowers it. The cost compared is
  the objective: spend within the horizon plus the commitments' tail after it (what signing obliges one to pay).
- Splitting a separable program into its blocks gives the same optimum.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.forecast.run import forecast_horizon, with_overrides
from planner.fleet.split import solve_split
from planner.forecast.decompose import solve_forecast
from planner.perf.workers import run_forked
from planner.problem import Problem, SolveOptions
from planner.fleet.solve import SolveSettings, solve_scenario
from solvers.registry import get_backend
from tests.forecast_helpers import forecast, forecast_scenario, option

SETTINGS = SolveSettings(baselines=False, tie_break=False)
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

rates = st.sampled_from([0.3, 0.45, 0.6, 0.75, 0.9, 1.1])
options = st.lists(st.builds(lambda term, rate, cap, fee: option(term, rate, max_nodes=cap, upfront_usd_per_node=fee),
                             st.integers(1, 4), rates, st.sampled_from([None, 1, 2]), st.sampled_from([0, 0, 100])),
                   min_size=1, max_size=2)
multipliers = st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=4, max_size=4)


def _instance(rpm, months, opts, growth, owned=0, profile=None, trend=0):
    trends = [{"offer": "res", "price_change_pct_per_month": trend}] if trend else []
    return forecast_scenario(rpm=rpm, months=months, options=opts, growth={"multipliers": growth}, owned=owned,
                             profile=profile, trends=trends)


def _objective(r: dict) -> float:
    return r["total_usd"] + r["tail_usd"]


@FAST
@given(rpm=st.sampled_from([50.0, 80.0, 130.0, 170.0]), months=st.integers(2, 4), opts=options, growth=multipliers,
       owned=st.integers(0, 1), daily=st.booleans(), trend=st.sampled_from([0, -5, 5]))
def test_decomposition_finds_the_optimum_of_the_whole_program(rpm, months, opts, growth, owned, daily, trend):
    profile = [0.5] * 12 + [1.0] * 12 if daily else None
    loaded = with_overrides(_instance(rpm, months, opts, growth[:months], owned, profile, trend))
    horizon = forecast_horizon(loaded)
    plan, how = solve_forecast(loaded, horizon, SETTINGS)
    direct = solve_scenario(loaded, SETTINGS, horizon=horizon)
    assert how["method"] == "decomposition"
    assert plan.status == direct.status == "optimal"
    assert plan.objective_usd_per_hour == pytest.approx(direct.objective_usd_per_hour, rel=1e-7, abs=1e-6)
    assert plan.verification.ok, [c for c in plan.verification.checks if not c.ok]


@FAST
@given(rpm=st.sampled_from([50.0, 80.0, 170.0]), opts=options, growth=multipliers)
def test_offering_a_reserved_option_never_raises_the_cost(rpm, opts, growth):
    without = forecast(_instance(rpm, 4, [], growth), variants=False)
    with_first = forecast(_instance(rpm, 4, opts[:1], growth), variants=False)
    with_all = forecast(_instance(rpm, 4, opts, growth), variants=False)
    assert _objective(with_first) <= _objective(without) + 1e-6
    assert _objective(with_all) <= _objective(with_first) + 1e-6


@FAST
@given(rpm=st.sampled_from([50.0, 80.0, 130.0]), opts=options, growth=multipliers,
       extra=st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=4, max_size=4))
def test_higher_growth_never_lowers_the_cost(rpm, opts, growth, extra):
    low = forecast(_instance(rpm, 4, opts, growth), variants=False)
    high = forecast(_instance(rpm, 4, opts, [g + x for g, x in zip(growth, extra)]), variants=False)
    assert _objective(high) >= _objective(low) - 1e-6


@settings(max_examples=25, deadline=None, derandomize=True)
@given(blocks=st.lists(st.tuples(st.integers(1, 9), st.integers(2, 5), st.floats(1.5, 17.0)), min_size=1, max_size=5))
def test_split_solve_equals_the_joint_solve(blocks):
    # Independent knapsack covers: min sum c_j x_j, sum a_j x_j >= b per block, x integer in 0..10; plus a variable
    # fixed by its bounds inside one block's row, and one free-standing variable (in no row).
    p = Problem("split")
    for i, (a, c, b) in enumerate(blocks):
        cols = p.add_vars("x", [(i, 0), (i, 1)], 0, 10, integer=True)
        p.add_cost("c", cols, [c, a + 0.5])
        p.add_rows("cover", [(i,)], [0, 0], cols, [a, c], ">=", b)
    fixed = p.add_var(("fixed", 0), 2, 2, integer=True)
    p.add_rows("with_fixed", [(0,)], [0, 0], [int(fixed), 0], [1.0, 1.0], ">=", 3.5)
    lonely = p.add_var(("lonely", 0), 1.2, 4, integer=True)
    p.add_cost("lonely", [lonely], [1.0])
    joint = get_backend("highs", p).solve(p, SolveOptions(time_limit_s=30))
    split = solve_split(p, "highs", SolveOptions(time_limit_s=30))
    assert split.status == joint.status == "optimal"
    assert split.objective == pytest.approx(joint.objective) and split.bound == pytest.approx(joint.objective)
    assert split.values[lonely] == 2.0  # ceil(1.2)
    threaded = solve_split(p, "highs", SolveOptions(time_limit_s=30), workers=3)   # blocks at once: the same answer
    assert threaded.status == "optimal" and list(threaded.values) == list(split.values)


def test_split_solve_reports_an_infeasible_block():
    p = Problem("split")
    x = p.add_vars("x", [0, 1], 0, 1, integer=True)
    p.add_rows("ok", [(0,)], [0], [x[0]], [1.0], ">=", 1.0)
    p.add_rows("bad", [(1,)], [0], [x[1]], [1.0], ">=", 2.0)
    assert solve_split(p, "highs", SolveOptions(time_limit_s=10)).status == "infeasible"


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # each run sets it anew
@given(rpm=st.sampled_from([80.0, 130.0, 170.0]), opts=options, growth=multipliers, daily=st.booleans())
def test_levels_in_forked_workers_give_the_in_process_plan(monkeypatch, rpm, opts, growth, daily):
    # the higher levels of each month in forked workers (forced: every forecast here takes well under the 2 s that
    # switches them on) are the same programs solved the same way: the same plan, and it verifies
    import planner.forecast.decompose as decompose  # noqa: PLC0415

    loaded = with_overrides(_instance(rpm, 4, opts, growth, 0, [0.5] * 12 + [1.0] * 12 if daily else None))
    horizon = forecast_horizon(loaded)
    monkeypatch.setattr(decompose, "PARALLEL_MIN_S", float("inf"))
    alone, _ = solve_forecast(loaded, horizon, SETTINGS)
    monkeypatch.setattr(decompose, "PARALLEL_MIN_S", 0.0)
    monkeypatch.setenv("FLEETPLAN_WORKERS", "2")
    forked = []
    monkeypatch.setattr(decompose, "run_forked", lambda *a: forked.append(a[2]) or run_forked(*a))
    spread, how = solve_forecast(loaded, horizon, SETTINGS)
    # months 1-3 at level 0 in workers, then the months' LP prices, then the levels each master round asks for
    assert forked[:2] == [2, 2] and set(forked) == {2}
    assert spread.objective_usd_per_hour == alone.objective_usd_per_hour
    assert spread.model_dump(exclude={"verification", "solve_seconds", "wall_seconds"}) == \
        alone.model_dump(exclude={"verification", "solve_seconds", "wall_seconds"})
    assert spread.verification.ok
