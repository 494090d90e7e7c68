"""CBC through pulp's bundled binary: the default backend (no extra install, any platform pulp supports).

Translation: one variable per column that appears in a row or in the objective (pulp's MPS
writer drops empty columns but keeps their bounds, which CBC rejects; an unused column takes the
bound nearest 0 instead). Each CSR row becomes one ``LpAffineExpression`` built from a list of
(variable, coefficient) pairs (no O(n²) ``+=``); a ranged row becomes a ≥ and a ≤ row. pulp's MPS
writer drops the objective constant, so a nonzero c₀ rides on a column fixed at 1, which also
keeps CBC's relative-gap test on the true objective.

Honest status: pulp's ``LpStatus`` says "Optimal" for a time-limited incumbent; the truth is in
``prob.sol_status`` (``LpSolutionOptimal`` vs ``LpSolutionIntegerFeasible``). CBC's best bound is not
exposed by pulp, so CBC's log goes to a temp file (``logPath``) and is parsed:

    "Partial search - best objective X (best possible B)"   stopped early: bound B
    "Exiting as integer gap of G less than …"               stopped at the gap: bound X − G
    "Lower bound: B"  (Result block, 3 decimals only)        fallback: B − 5e-4 (rounded down)
    none of these, search completed                          proven optimal: bound = objective

CBC 2.10.3 (the build pulp bundles) misjudged integer columns unbounded below (fuzzing: wrong
objectives, points violating rows by ~100); ``checked_solve`` rewrites them and this backend then
also turns CBC's pre-processing off. Its pre-processing also gave wrong optima on plain 3- and 4-column
integer programs, so every model is solved without it first (``_run``). CBC also crashes on a model
with no rows and free columns, so a trivial row is added then.

Status mapping: sol_status Optimal → optimal; IntegerFeasible → feasible; NoSolutionFound → error
(the time limit or a crash); Infeasible (in sol_status or, for CBC's "Integer infeasible" line, only
in ``prob.status``) → ambiguous (CBC's pre-processing says "infeasible or unbounded"); Unbounded →
unbounded. ``solvers.registry.checked_solve`` then settles both (a zero-objective solve and, for
unboundedness, the LP relaxation; fuzzing caught CBC calling a bounded MILP unbounded). pulp
exceptions (a CBC crash) → error.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import replace

import numpy as np

from planner.problem import Problem, ProblemArrays, Solution, SolveOptions
from solvers.registry import RawResult, checked_solve

NAME = "cbc"

_PARTIAL = re.compile(r"Partial search - best objective \S+ \(best possible (\S+?)\)")
_SEARCH_DONE = re.compile(r"Search completed - best objective (\S+?),")
_GAP_EXIT = re.compile(r"Exiting as integer gap of (\S+) less than")
_LOWER = re.compile(r"^Lower bound:\s+(\S+)", re.M)


def installed() -> bool:
    """True when pulp is importable and its bundled CBC (or a CBC on PATH) can run."""
    if importlib.util.find_spec("pulp") is None:
        return False
    try:
        return bool(_cmd(SolveOptions(), None).available())
    except Exception:
        return False


def _cmd(options: SolveOptions, log_path: str | None, extra: tuple[str, ...] = ()):
    import pulp

    # One thread: no -threads option at all. "-threads 1" takes CBC's threaded branch and bound with one worker, whose
    # hand-over stalls at random for 10 s in a timed wait (CbcThread::waitThread while the main thread joins it in
    # CbcBaseModel::waitForThreadsInTree; gdb on a stalled test solve): 7 of 100 runs of one small model on a loaded
    # 2-core machine, 0 of 200 without the option, which takes the serial search (docs/BENCHMARKS.md, thirty-third pass)
    threads = int(options.threads)
    kwargs = dict(msg=False, timeLimit=options.time_limit_s, gapRel=float(options.mip_gap),
                  threads=threads if threads > 1 else None, options=["randomCbcSeed 1", *extra])
    if log_path:
        kwargs["logPath"] = log_path
    with warnings.catch_warnings():  # PULP_CBC_CMD is marked deprecated in pulp 3; still the bundled CBC
        warnings.simplefilter("ignore")
        cmd = pulp.PULP_CBC_CMD(**kwargs)
        if not cmd.available():
            cmd = pulp.COIN_CMD(**kwargs)
    return cmd


def parse_cbc_bound(log: str) -> float | None:
    """Best proven lower bound from a CBC log, or None when the search completed (bound = objective)."""
    if m := _PARTIAL.findall(log):
        return float(m[-1])
    gap, done = _GAP_EXIT.findall(log), _SEARCH_DONE.findall(log)
    if gap and done:
        return float(done[-1]) - float(gap[-1])
    if m := _LOWER.findall(log):
        return float(m[-1]) - 5e-4  # printed with 3 decimals: round down so the bound stays valid
    return None


def _run_cbc(arr: ProblemArrays, offset: float, options: SolveOptions,
             extra: tuple[str, ...] = ()) -> RawResult:
    import pulp

    n = arr.A.shape[1]
    free_rows = ~np.isfinite(arr.row_lower) & ~np.isfinite(arr.row_upper)
    used = np.zeros(n, dtype=bool)
    used[arr.A.indices[~free_rows[arr.A.row_of_nonzeros()]]] = True
    used |= arr.c != 0
    if not used.any():  # nothing for CBC to decide (empty rows were checked by the caller)
        return "optimal", np.clip(0.0, arr.col_lower, arr.col_upper), None, ""
    lo, hi, integ = arr.col_lower.tolist(), arr.col_upper.tolist(), arr.integrality.tolist()
    prob = pulp.LpProblem("fleetplan", pulp.LpMinimize)
    # pulp ≥ 3.3 wants prob.add_variable (PuLP 4 attaches variables there); older pulp has only LpVariable
    new_var = getattr(prob, "add_variable", pulp.LpVariable)
    xs: list = [None] * n
    for j in np.flatnonzero(used).tolist():
        xs[j] = new_var(f"x{j}", None if lo[j] == -math.inf else lo[j], None if hi[j] == math.inf else hi[j],
                        pulp.LpInteger if integ[j] else pulp.LpContinuous)
    nz = np.flatnonzero(arr.c).tolist()
    terms = [(xs[j], float(arr.c[j])) for j in nz]
    if offset:
        terms.append((new_var("objective_constant", 1, 1), float(offset)))
    prob.setObjective(pulp.LpAffineExpression(terms))

    indptr, indices, data = arr.A.indptr, arr.A.indices.tolist(), arr.A.data.tolist()
    for i, (rl, ru) in enumerate(zip(arr.row_lower.tolist(), arr.row_upper.tolist())):
        s, e = int(indptr[i]), int(indptr[i + 1])
        if s == e or free_rows[i]:
            if rl > 0 or ru < 0:
                return "infeasible", None, None, f"row {i} has no variables and excludes 0"
            continue
        pairs = [(xs[j], v) for j, v in zip(indices[s:e], data[s:e])]
        if rl == ru:
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintEQ, rhs=rl), f"r{i}")
            continue
        if rl != -math.inf:
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintGE, rhs=rl), f"r{i}l")
        if ru != math.inf:
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintLE, rhs=ru), f"r{i}u")

    if not np.any((np.diff(indptr) > 0) & ~free_rows):  # CBC 2.10 crashes (malloc) with no rows and free columns
        prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(new_var("no_rows", 0, 0), 1.0)]),
                                             pulp.LpConstraintGE, rhs=0.0), "no_rows")
    fd, log_path = tempfile.mkstemp(prefix="fleetplan-cbc-", suffix=".log")
    os.close(fd)
    try:
        prob.solve(_cmd(options, log_path, extra))
        with open(log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
    finally:
        os.unlink(log_path)
    if options.msg:  # the caller asked for the solver's log
        sys.stdout.write(log)

    sol = prob.sol_status
    if sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        x = np.clip(0.0, arr.col_lower, arr.col_upper)  # unused columns: the bound nearest 0
        for j in np.flatnonzero(used).tolist():
            v = xs[j].varValue
            x[j] = np.nan if v is None else v
        bound = parse_cbc_bound(log)
        if sol == pulp.LpSolutionOptimal:
            return "optimal", x, bound, ""
        return "feasible", x, bound, "CBC stopped early (limit reached)"
    # "Integer infeasible" leaves sol_status at NoSolutionFound; prob.status still says Infeasible
    if sol == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
        return "ambiguous", None, None, "CBC reported infeasible (its pre-processing cannot tell it from unbounded)"
    if sol == pulp.LpSolutionUnbounded or prob.status == pulp.LpStatusUnbounded:
        return "unbounded", None, None, "CBC reported unbounded"
    if "Stopped on time" in log or "Exiting on maximum time" in log:
        return "error", None, None, "CBC hit the time limit before finding a feasible solution"
    return "error", None, None, f"CBC returned no solution (pulp status {pulp.LpStatus.get(prob.status)})"


def _run(arr: ProblemArrays, offset: float, options: SolveOptions, rewritten: bool = False) -> RawResult:
    # CBC's pre-processing (CglPreProcess) misjudged some rewritten free-integer models (fuzzing), and plain ones
    # too: min 2x0 - x3, x0 in {0, 1, 2}, x2, x3 in {0, 1}, x0 - x2 - x3 >= -1, 2x0 + x2 - 2x3 >= 2: optimum 2 at
    # (1, 0, 0), CBC "optimal" 3 (hypothesis found it, and a twin with negative bounds). So every model is solved
    # without it first; a rewritten one only so. Without it CBC crashes on infeasible models (no solution file):
    # those are solved again with it, within what is left of the time limit
    t0 = time.perf_counter()
    try:
        plain = _run_cbc(arr, offset, options, ("preprocess off",))
    except Exception:  # noqa: BLE001 - CBC stopped before writing a solution file: nothing was found or proven
        if rewritten:
            raise
        plain = ("error", None, None, "")
    if plain[1] is not None or rewritten:
        return plain
    left = None if options.time_limit_s is None else options.time_limit_s - (time.perf_counter() - t0)
    if left is not None and left <= 0:
        return "error", None, None, "CBC hit the time limit before finding a feasible solution"
    t1 = time.perf_counter()
    raw = _run_cbc(arr, offset, replace(options, time_limit_s=left), ())
    if raw[0] == "ambiguous":
        # pre-processing says "infeasible or unbounded" on feasible models: cut short by the time limit (seen at
        # 0.001 s), and on small bounded mixed-integer ones (min −x0 − x1, x0 ∈ {−1..3}, x1, x2 ∈ [−1.5, 2.5],
        # −x1/2 + x2/2 ≤ 0, x0/2 − x1/2 + x2/2 ≥ 0: optimum −5.5, CBC 2.10 "infeasible"). The claim stands only if
        # CBC repeats it without pre-processing (the run above, which found no solution)
        if left is None or time.perf_counter() - t1 < left:   # only a solution overturns the claim (the
            return raw                                       # registry settles "infeasible or unbounded")
        if plain[0] == "ambiguous":
            return raw
        if plain[0] == "error":
            return "error", None, None, ("CBC hit the time limit before finding a feasible solution (its "
                                         "pre-processing's infeasibility claim, cut short, was not confirmed)")
        return plain
    return raw


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """Solve with CBC; never raises for solver failures (status 'error' instead)."""
    return checked_solve(problem, options, NAME, "CBC", _run)
