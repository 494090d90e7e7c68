"""CP-SAT (OR-Tools) for pure-integer problems: ``continuous_vars=False`` in the registry.

CP-SAT solves over integers with integer coefficients. The translation is exact or refused:

- every variable must be integer (the registry refuses problems with continuous variables and names
  the MILP backends instead); bounds become ⌈lb⌉, ⌊ub⌋;
- each row is multiplied by the smallest 10^k (k ≤ 9) that makes all its coefficients integers.
  Then Σ aᵢⱼxⱼ is an integer, so ``lo ≤ Σ aᵢⱼxⱼ ≤ hi`` is exactly ``⌈lo⌉ ≤ … ≤ ⌊hi⌋`` and the
  right-hand sides need no scaling;
- the objective is scaled the same way (one 10^k for all of c); the constant c₀ stays outside;
- a coefficient that is not a decimal with ≤ 9 places (say 1/3) is refused with a message.

CP-SAT needs finite domains. An infinite bound becomes ±cap with cap = min(2⁴⁰, 2⁶¹ / L), L the
largest scaled row or objective 1-norm, so no sum can overflow int64. If a solution comes within
cap/2 of an artificial cap, CP-SAT's answer says nothing sure about the real problem: status
``error``, saying so. Why cap/2 and not the cap itself: if the problem is unbounded along an integer
ray d, the capped optimum can only stop where a step along d would cross a cap, i.e. within |dⱼ| of
it, and the rays of small problems have small components (fuzzing found optima at cap − 3). CP-SAT
cannot prove unboundedness, so an unbounded problem ends there (``proves_unbounded`` is False).

Status mapping: OPTIMAL → optimal (CP-SAT also says OPTIMAL when it stops at relative_gap_limit;
``finalize_solution`` checks the gap), FEASIBLE → feasible, INFEASIBLE → infeasible (within the
artificial caps, noted when caps were used), MODEL_INVALID / UNKNOWN → error.
"""

from __future__ import annotations

import importlib.util
import math
import time
from typing import NamedTuple

import numpy as np

from planner.problem import Problem, Solution, SolveOptions, finalize_solution

NAME = "cpsat"
MAX_DECIMALS = 9
CAP_MAX = 2**40


class _Scaled(NamedTuple):
    indptr: np.ndarray
    indices: np.ndarray
    coeffs: np.ndarray  # int64, row-scaled
    row_lo: list[int | None]
    row_hi: list[int | None]
    col_lo: np.ndarray  # int64, caps applied
    col_hi: np.ndarray
    capped: np.ndarray  # bool: which columns had an infinite bound replaced by ±cap
    c_int: np.ndarray
    c_scale: float
    cap: int


def installed() -> bool:
    """True when ortools is importable (checked without loading its native libraries)."""
    return importlib.util.find_spec("ortools") is not None


def _decimal_exponent(values: np.ndarray, what: str) -> int:
    """Smallest k ≤ MAX_DECIMALS with values·10^k all integers; ValueError if none."""
    for k in range(MAX_DECIMALS + 1):
        v = values * 10.0**k
        if np.all(np.abs(v - np.round(v)) <= np.maximum(1e-6, 1e-15 * np.abs(v))):  # float noise only
            return k
    v = values * 10.0**MAX_DECIMALS
    bad = float(values[np.argmax(np.abs(v - np.round(v)) > np.maximum(1e-6, 1e-15 * np.abs(v)))])
    raise ValueError(f"{what} has coefficient {bad!r}, not a decimal with ≤ {MAX_DECIMALS} places; "
                     f"CP-SAT needs coefficients it can scale to integers exactly")


def _scale(problem: Problem) -> _Scaled:
    """Exact integer translation (see module docstring); ValueError with a reason if impossible."""
    arr = problem.to_arrays()
    if not arr.integrality.all():
        j = int(np.flatnonzero(~arr.integrality)[0])
        raise ValueError(f"CP-SAT takes integer variables only; {problem.var_key(j)!r} is continuous")
    A = arr.A
    row_k = np.zeros(A.shape[0], dtype=np.int64)
    for i in range(A.shape[0]):  # the loop is over rows only; CP-SAT problems here are small
        s, e = A.indptr[i], A.indptr[i + 1]
        if e > s:
            row_k[i] = _decimal_exponent(A.data[s:e], f"row {problem.row_key(i)!r}")
    nnz_scale = np.repeat(10.0**row_k, np.diff(A.indptr))
    coeffs = np.round(A.data * nnz_scale).astype(np.int64)
    k_obj = _decimal_exponent(arr.c[arr.c != 0], "the objective") if np.any(arr.c != 0) else 0
    c_int = np.round(arr.c * 10.0**k_obj).astype(np.int64)

    row_l1 = np.zeros(A.shape[0], dtype=np.int64)
    np.add.at(row_l1, np.repeat(np.arange(A.shape[0]), np.diff(A.indptr)), np.abs(coeffs))
    biggest = max(1, int(row_l1.max(initial=0)), int(np.abs(c_int).sum()))
    cap = max(1, min(CAP_MAX, 2**61 // biggest))
    lo = np.where(np.isfinite(arr.col_lower), np.ceil(arr.col_lower - 1e-9), -cap)
    hi = np.where(np.isfinite(arr.col_upper), np.floor(arr.col_upper + 1e-9), cap)
    capped = ~np.isfinite(arr.col_lower) | ~np.isfinite(arr.col_upper)

    scales = 10.0**row_k

    def side(v: float, scale: float, upper: bool) -> int | None:
        if not math.isfinite(v):
            return None
        w = v * scale
        slack = 1e-9 * max(1.0, abs(w))  # a right-hand side that is an integer up to rounding noise
        return int(math.floor(w + slack)) if upper else int(math.ceil(w - slack))

    row_lo = [side(v, s, False) for v, s in zip(arr.row_lower, scales)]
    row_hi = [side(v, s, True) for v, s in zip(arr.row_upper, scales)]
    return _Scaled(A.indptr, A.indices, coeffs, row_lo, row_hi, lo.astype(np.int64), hi.astype(np.int64),
                   capped, c_int, 10.0**k_obj, cap)


def unsupported_reason(problem: Problem) -> str | None:
    """Why CP-SAT cannot take this problem exactly, or None."""
    try:
        _scale(problem)
    except ValueError as exc:
        return str(exc)
    return None


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """Solve a pure-integer problem with CP-SAT; never raises for solver failures."""
    options = options or SolveOptions()
    t0 = time.perf_counter()

    def done(claimed: str, x=None, bound=None, message: str = "") -> Solution:
        return finalize_solution(problem, options, solver=NAME, claimed=claimed, x=x, bound=bound,
                                 seconds=time.perf_counter() - t0, message=message)

    try:
        sc = _scale(problem)
    except ValueError as exc:
        return done("error", message=str(exc))
    try:
        from ortools.sat.python import cp_model

        model = cp_model.CpModel()
        xs = [model.new_int_var(int(a), int(b), f"x{j}") for j, (a, b) in enumerate(zip(sc.col_lo, sc.col_hi))]
        for i in range(len(sc.row_lo)):
            s, e = sc.indptr[i], sc.indptr[i + 1]
            lo = cp_model.INT_MIN if sc.row_lo[i] is None else sc.row_lo[i]
            hi = cp_model.INT_MAX if sc.row_hi[i] is None else sc.row_hi[i]
            if e == s:
                if lo > 0 or hi < 0:
                    return done("infeasible", message=f"row {problem.row_key(i)!r} has no variables and excludes 0")
                continue
            expr = cp_model.LinearExpr.weighted_sum([xs[j] for j in sc.indices[s:e]], sc.coeffs[s:e].tolist())
            model.add_linear_constraint(expr, lo, hi)
        nz = np.flatnonzero(sc.c_int)
        model.minimize(cp_model.LinearExpr.weighted_sum([xs[j] for j in nz], sc.c_int[nz].tolist()))

        invalid = model.validate()
        if invalid:
            return done("error", message=f"CP-SAT rejected the model: {invalid}")
        solver = cp_model.CpSolver()
        p = solver.parameters
        p.num_workers = int(options.threads)
        p.random_seed = 0
        p.relative_gap_limit = float(options.mip_gap)
        p.log_search_progress = bool(options.msg)
        if options.time_limit_s is not None:
            p.max_time_in_seconds = float(options.time_limit_s)
        status = solver.status_name(solver.solve(model))
    except Exception as exc:  # a backend never lets a solver exception escape
        return done("error", message=f"CP-SAT failed: {exc!r}")

    cap_note = f" (within CP-SAT's artificial bounds ±{sc.cap} on unbounded variables)" if sc.capped.any() else ""
    if status in ("OPTIMAL", "FEASIBLE"):
        x = np.asarray(list(solver.response_proto.solution), dtype=float)
        at_cap = sc.capped & (np.abs(x) >= sc.cap // 2)
        if at_cap.any():
            key = problem.var_key(int(np.flatnonzero(at_cap)[0]))
            return done("error", message=(
                f"{key!r} = {x[at_cap][0]:.0f} is near CP-SAT's artificial bound ±{sc.cap}: the problem is "
                f"probably unbounded (or its optimum lies beyond that bound); CP-SAT cannot prove which; "
                f"use highs, scip or cbc"))
        # bound is in scaled units (c_int / c_scale); the solver works without c₀, add it back
        bound = solver.best_objective_bound / sc.c_scale + problem.objective_constant
        return done("optimal" if status == "OPTIMAL" else "feasible", x, bound,
                    "" if status == "OPTIMAL" else "CP-SAT stopped early")
    if status == "INFEASIBLE":
        return done("infeasible", message=f"CP-SAT proved infeasibility{cap_note}")
    if status == "UNKNOWN":
        return done("error", message="CP-SAT stopped (limit) before finding a feasible solution")
    return done("error", message=f"CP-SAT status {status}")
