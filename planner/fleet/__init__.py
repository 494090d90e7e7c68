"""The fleet program: deployment options, the horizon, the formulation and its spot-hedge blocks, the solve (with its
restricted programs, the searches beside it, bounds and baselines), and the decoding of a solution into a Plan (with
the infeasibility diagnosis when there is none)."""

from planner.fleet.solve import SolveSettings, solve_scenario

__all__ = ["SolveSettings", "solve_scenario"]
