"""SCIP through OR-Tools' ``model_builder`` (SCIP ships inside the ortools wheel).

Why SCIP rather than CP-SAT: our fleet problem has continuous load variables (the fraction of a
workload's demand served by a deployment); CP-SAT accepts integer variables only. SCIP is a full
MILP branch-and-cut solver and reports a proven dual bound.

The model goes in as arrays (``fill_model_from_sparse_data``: bounds, c, row bounds, CSR matrix);
only the integrality flags are set one column at a time. SCIP parameters are passed as a SCIP
parameter string: ``limits/gap`` = mip_gap (set explicitly, so no wrapper default applies),
``randomization/randomseedshift = 0``. SCIP's branch-and-bound is single-threaded, so
``threads`` has no effect here.

Status mapping (``SolveStatus`` → raw status; ``solvers.registry.checked_solve`` settles doubtful
claims and ``finalize_solution`` checks the gap):

    OPTIMAL                        → optimal (SCIP stops at limits/gap)
    FEASIBLE                       → feasible (time limit hit with an incumbent)
    INFEASIBLE                     → ambiguous with SCIP_STATUS_INFORUNBD, else infeasible (re-checked
                                     when the problem may be unbounded: SCIP 10 called a feasible,
                                     unbounded MILP infeasible, and an infeasible one unbounded)
    UNBOUNDED                      → unbounded (checked)
    NOT_SOLVED / UNKNOWN / CANCELLED → feasible if a solution exists, else error (limit hit)
    ABNORMAL / MODEL_INVALID / …   → error
"""

from __future__ import annotations

import importlib.util

import numpy as np

from planner.problem import Problem, ProblemArrays, Solution, SolveOptions
from solvers.registry import RawResult, checked_solve

NAME = "scip"


def installed() -> bool:
    """True when ortools is importable (checked without loading its native libraries)."""
    return importlib.util.find_spec("ortools") is not None


def _run(arr: ProblemArrays, offset: float, options: SolveOptions, rewritten: bool = False) -> RawResult:
    from ortools.linear_solver.python import model_builder_helper as mbh

    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(
        np.ascontiguousarray(arr.col_lower, dtype=np.float64), np.ascontiguousarray(arr.col_upper, dtype=np.float64),
        np.ascontiguousarray(arr.c, dtype=np.float64), np.ascontiguousarray(arr.row_lower, dtype=np.float64),
        np.ascontiguousarray(arr.row_upper, dtype=np.float64), arr.A.to_scipy().astype(np.float64))
    for j in np.flatnonzero(arr.integrality):
        model.set_var_integrality(int(j), True)
    model.set_objective_offset(float(offset))

    solver = mbh.ModelSolverHelper("scip")
    if not solver.solver_is_supported():
        return "error", None, None, "this ortools build has no SCIP"
    solver.enable_output(bool(options.msg))
    solver.set_solver_specific_parameters(
        f"limits/gap = {float(options.mip_gap)!r}\nrandomization/randomseedshift = 0\n")
    if options.time_limit_s is not None:
        solver.set_time_limit_in_seconds(float(options.time_limit_s))
    solver.solve(model)
    status = solver.status().name
    detail = solver.status_string()
    has_x = solver.has_solution()
    x = np.asarray(solver.variable_values(), dtype=float) if has_x else None
    bound = float(solver.best_objective_bound()) if has_x else None
    if bound is not None and abs(bound) >= 1e20:  # SCIP's infinity: no bound proven
        bound = None if status == "OPTIMAL" else -np.inf
    if status == "OPTIMAL":
        return "optimal", x, bound, ""
    if status == "FEASIBLE":
        return "feasible", x, bound, f"SCIP stopped early: {detail}".strip(": ")
    if status == "INFEASIBLE":
        if "INFORUNBD" in detail or "unbounded" in detail.lower():
            return "ambiguous", None, None, "SCIP reported infeasible or unbounded"
        return "infeasible", None, None, "SCIP reported infeasible"
    if status == "UNBOUNDED":
        return "unbounded", None, None, "SCIP reported unbounded"
    if status in ("NOT_SOLVED", "UNKNOWN_STATUS", "CANCELLED_BY_USER"):
        if has_x:
            return "feasible", x, bound, f"SCIP stopped early ({status})"
        return "error", None, None, f"SCIP stopped ({status}) before finding a feasible solution. {detail}".strip()
    return "error", None, None, f"SCIP status {status}: {detail}".strip()


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """Solve with SCIP; never raises for solver failures (status 'error' instead)."""
    return checked_solve(problem, options, NAME, "SCIP", _run)
