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
    objectives, stopped = {}, {}
    for backend in BACKENDS:
        plan = solve_scenario(loaded, SolveSettings(solver=backend, baselines=False, tie_break=False))
        assert plan.verification.ok, (backend, [c for c in plan.verification.checks if not c.ok])
        if plan.status == "optimal":
            objectives[backend] = plan.objective_usd_per_hour
        else:
            # a backend may stop at the scenario's time limit (CBC on forecast-growth since the fitted capacities
            # of issue 12: 120 s are not enough to close its gap); it must then say so honestly
            assert plan.status == "feasible" and "limit" in plan.message, (backend, plan.status, plan.message)
            stopped[backend] = plan
    assert "highs" in objectives, "the default backend proves every example optimal within its time limit"
    lo, hi = min(objectives.values()), max(objectives.values())
    assert hi - lo <= 1e-6 * max(1.0, hi), objectives
    for backend, plan in stopped.items():   # a stopped search: its plan is no cheaper, its bound no higher
        assert plan.objective_usd_per_hour >= lo - 1e-6 * max(1.0, lo), (backend, plan.objective_usd_per_hour, lo)
        if plan.bound_usd_per_hour is not None:
            assert plan.bound_usd_per_hour <= lo + 1e-6 * max(1.0, lo), (backend, plan.bound_usd_per_hour, lo)


def test_plan_beats_or_ties_the_cheapest_single_offer():
    # The optimum over all offers can never cost more than the best fleet restricted to one offer. (seed-guide:
    # chatbot.yaml has no single offer that serves all of its workloads under the fitted capacities.)
    loaded = load_scenario(next(p for p in SCENARIOS if p.stem == "seed-guide"))
    plan = solve_scenario(loaded, SolveSettings())
    cheapest = min(b.usd_per_hour for b in plan.baselines if b.usd_per_hour is not None)
    assert plan.objective_usd_per_hour <= cheapest + 1e-9
