"""The forecast decomposition's prices for the month levels it has not evaluated (``planner.forecast.decompose``).

Every price is a lower bound on F_e(R) (worked out by hand here; the decomposition's optimum against the whole
program is ``tests/test_forecast_properties.py``): the LP relaxation's, raised to the proven bound of an evaluated
level above it, and no level below one proven infeasible.
"""

from __future__ import annotations

import math

import pytest

from planner.fleet.level_bound import relaxation_bound
from planner.forecast.decompose import _Levels, _prices
from planner.problem import Problem


def _levels(values, lp, infeasible=(), zero=None, cap=5):
    return _Levels(values=[values], zero_from=[zero], cap=cap, lp=[lp], infeasible=[set(infeasible)])


def test_a_level_not_evaluated_costs_at_least_every_evaluated_level_above_it():
    # F_e(1) = 30 and F_e(4) = 12 evaluated (bound, value); LP prices 25, 24, 20, 11, 3 for levels 1..5
    lv = _levels({0: (50.0, 50.0), 1: (30.0, 30.0), 4: (12.0, 12.0)}, {1: 25.0, 2: 24.0, 3: 20.0, 4: 11.0, 5: 3.0})
    assert _prices(lv, 0) == {0: 50.0, 1: 30.0, 2: 24.0, 3: 20.0, 4: 12.0, 5: 3.0}
    # level 2's relaxation below level 4's proven 12: raised to it
    lv = _levels({0: (50.0, 50.0), 4: (22.0, 22.0)}, {1: 25.0, 2: 21.0, 3: 20.0, 4: 11.0, 5: 3.0})
    assert _prices(lv, 0) == {0: 50.0, 1: 25.0, 2: 22.0, 3: 22.0, 4: 22.0, 5: 3.0}


def test_levels_below_an_infeasible_one_and_from_the_first_free_one_are_not_priced():
    lv = _levels({3: (9.0, 9.0)}, {1: 40.0, 2: math.inf, 3: 8.0, 4: 2.0, 5: 0.0}, infeasible={0, 1})
    assert _prices(lv, 0) == {3: 9.0, 4: 2.0, 5: 0.0}    # 2: its relaxation is infeasible
    lv = _levels({0: (50.0, 50.0), 3: (0.0, 0.0)}, {1: 25.0, 2: 10.0, 3: 0.0, 4: 0.0, 5: 0.0}, zero=3)
    assert _prices(lv, 0) == {0: 50.0, 1: 25.0, 2: 10.0}   # from R_e^0 = 3 on: the master's z^0


def test_the_relaxation_bounds_the_integer_optimum_and_sees_infeasibility():
    # min 2 x0 + 3 x1, 3 x0 + 5 x1 >= 7.5, x integer in [0, 10]: LP 4.5 (x1 = 1.5), integer optimum 5
    p = Problem("cover")
    cols = p.add_vars("x", [0, 1], 0, 10, integer=True)
    p.add_cost("c", cols, [2.0, 3.0])
    p.add_rows("cover", [(0,)], [0, 0], cols, [3.0, 5.0], ">=", 7.5)
    assert relaxation_bound(p) == pytest.approx(4.5, rel=1e-5) and relaxation_bound(p) <= 4.5
    p.add_rows("too_much", [(0,)], [0, 0], cols, [1.0, 1.0], ">=", 21.0)   # x0 + x1 <= 20 at most
    assert relaxation_bound(p) == math.inf


def test_a_level_found_infeasible_takes_every_level_below_it_out_of_the_master(monkeypatch):
    import dataclasses  # noqa: PLC0415

    import planner.forecast.decompose as decompose  # noqa: PLC0415
    from planner.fleet.solve import SolveSettings  # noqa: PLC0415
    from planner.forecast.run import forecast_horizon, with_overrides  # noqa: PLC0415
    from tests.forecast_helpers import forecast_scenario, option  # noqa: PLC0415

    # 160 req/min: two nodes at 80 each; a 2-month term at 0.3 USD/node-hour beats on-demand at 1.0, so the optimum
    # commits 2 nodes in month 0. Month 0's level 2 is made to read infeasible: the master must then hold 3 or more.
    loaded = with_overrides(forecast_scenario(rpm=160.0, months=2, options=[option(2, 0.3)]))
    horizon = forecast_horizon(loaded)
    settings = SolveSettings(baselines=False, tie_break=False)
    honest, _ = decompose.solve_forecast(loaded, horizon, settings)
    real, masters = decompose._month_problem, []

    def lying(loaded_, options, horizon_, month, offer, level, settings_):
        f, sol = real(loaded_, options, horizon_, month, offer, level, settings_)
        if (month, level) == (0, 2):
            sol = dataclasses.replace(sol, status="infeasible", values=None, objective=None, bound=None)
        return f, sol

    real_master = decompose._master
    monkeypatch.setattr(decompose, "_month_problem", lying)
    monkeypatch.setattr(decompose, "_master", lambda *a: masters.append(real_master(*a)) or masters[-1])
    plan, how = decompose.solve_forecast(loaded, horizon, settings)
    assert decompose._chosen(horizon, masters[0])[0] == 2          # it first asked for the level it then lost
    assert decompose._chosen(horizon, masters[-1])[0] >= 3         # and ended above it
    assert plan.verification.ok and how["method"] == "decomposition"
    assert plan.objective_usd_per_hour > honest.objective_usd_per_hour
