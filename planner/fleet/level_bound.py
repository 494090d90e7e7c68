r"""Lower bounds from LP relaxations: one reserved level's total cost, the program's relaxation with the reserved
columns fixed (``LevelBounds``), and a whole program's (``relaxation_bound``: the forecast's month-level programs).

For a level vector m of the reserved columns (``planner.fleet.by_period``), with x the other columns,

    LP(m) = min { c.x + c_r.m : A (x, m) within the row bounds, bounds on x, x continuous }
          <= c_r.m + sum_t F_t(m)

because the relaxation of a program with m fixed drops only integrality. The walk over levels uses it twice: a
level whose LP(m) reaches the best plan in hand is not solved (its integer program cannot beat it), and the levels
are solved in increasing LP(m), so that the best plan comes early and prunes the rest. LP(m) = +inf (the relaxation
is infeasible) means the level cannot serve every period, and it is never solved.

One HiGHS object holds the relaxation; a level changes only the reserved columns' bounds, so each LP is re-solved from
the last basis (a few milliseconds on the generator's forecast days, 3,600-5,800 columns, against ~70 ms cold). The LP's
optimum is met only to HiGHS' tolerances, so the bound returned is ``SLACK`` (relative) below it: a bound may be weak,
never too high. Without HiGHS installed, or when a solve ends without an optimum, the bound is None and the caller
keeps the level's reserved cost alone as its floor.
"""

from __future__ import annotations

import math

import numpy as np

from planner.problem import Problem

SLACK = 1e-6  # relative: the LP optimum's tolerance, taken off every bound


def _relaxed(problem: Problem, **options):
    """A quiet HiGHS object holding ``problem``'s LP relaxation, with ``options`` set; None without HiGHS."""
    from solvers.highs import highs_lp, installed, new_highs  # noqa: PLC0415

    if not installed():
        return None
    arr = problem.to_arrays()
    h = new_highs()
    for key, value in {"output_flag": False, "random_seed": 0, **options}.items():
        h.setOptionValue(key, value)
    h.passModel(highs_lp(arr._replace(integrality=np.zeros_like(arr.integrality)), problem.objective_constant, False))
    return h


def _run_bound(h) -> float | None:
    """Run ``h`` (one thread, the process's HiGHS scheduler): its LP optimum less ``SLACK``; +inf when infeasible;
    None when it ended without an optimum."""
    import highspy  # noqa: PLC0415

    from solvers.highs import run_pooled  # noqa: PLC0415

    run_pooled(h)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return math.inf
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    value = float(h.getInfo().objective_function_value)
    return value - SLACK * max(1.0, abs(value))


def relaxation_bound(problem: Problem, limit_s: float | None = None) -> float | None:
    """The LP relaxation's optimum of ``problem`` less ``SLACK``, a lower bound on its integer optimum; +inf when the
    relaxation is infeasible (so is the program); None when not known (no HiGHS, the time limit, a failure). One cold
    solve: for many levels of one program, ``LevelBounds``."""
    h = _relaxed(problem, time_limit=float(limit_s or math.inf))
    return None if h is None else _run_bound(h)


class LevelBounds:
    """LP(m) of ``problem`` at reserved level vectors m of the columns ``reserved`` (module docstring)."""

    def __init__(self, problem: Problem, reserved: np.ndarray):
        self._cols = np.asarray(reserved, dtype=np.int32)
        self._c = problem.to_arrays().c
        self._h = _relaxed(problem, presolve="off")   # re-solved warm from the last basis

    def __call__(self, m: np.ndarray, limit_s: float) -> tuple[float | None, np.ndarray | None]:
        """(LP(m) less ``SLACK``, each column's cost at the LP's optimum, c_j x*_j); (+inf, None) when the
        relaxation at m is infeasible; (None, None) when it is not known (no HiGHS, the time limit, a numerical
        failure). The columns' costs split the bound among the blocks of level m (``solve_split``'s ``floors``): the
        relaxation with m fixed falls apart into the same blocks, so each block's part is its own LP optimum."""
        if self._h is None or limit_s <= 0:
            return None, None
        h = self._h
        m = np.asarray(m, dtype=np.float64)
        h.changeColsBounds(len(self._cols), self._cols, m, m)
        h.setOptionValue("time_limit", float(limit_s))
        bound = _run_bound(h)
        if bound is None or bound == math.inf:
            return bound, None
        return bound, self._c * np.asarray(h.getSolution().col_value)
