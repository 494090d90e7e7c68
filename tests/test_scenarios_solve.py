"""Every example scenario solves to a verified optimum, and every installed MILP backend agrees on its cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.scenario.io import load_scenario
from planner.fleet.solve import SolveSettings, solve_scenario
from solvers.registry import available_backends

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
BACKENDS = [b for b in available_backends() if b != "cpsat"]  # cpsat: pure-integer problems only


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_all_backends_agree(path):
    loaded = load_scenario(path)
    objectives = {}
    for backend in BACKENDS:
        plan = solve_scenario(loaded, SolveSettings(solver=backend, baselines=False, tie_break=False))
        assert plan.status == "optimal", (backend, plan.message)
        assert plan.verification.ok, (backend, [c for c in plan.verification.checks if not c.ok])
        objectives[backend] = plan.objective_usd_per_hour
    lo, hi = min(objectives.values()), max(objectives.values())
    assert hi - lo <= 1e-6 * max(1.0, hi), objectives


def test_plan_beats_or_ties_the_cheapest_single_offer():
    # The optimum over all offers can never cost more than the best fleet restricted to one offer.
    loaded = load_scenario(SCENARIOS[0])
    plan = solve_scenario(loaded, SolveSettings())
    cheapest = min(b.usd_per_hour for b in plan.baselines if b.usd_per_hour is not None)
    assert plan.objective_usd_per_hour <= cheapest + 1e-9
