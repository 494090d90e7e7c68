"""Capabilities as data: which backends exist, what they can do, whether they are installed.

The backend test matrix and the CLI's ``--solver`` choices are generated from ``CAPABILITIES``.
``get_backend`` refuses, with a reason and the alternatives, a name it does not know ("did you
mean"), a backend that is not installed, or one that cannot take the problem (CP-SAT and
continuous variables). ``solve`` is the one entry point the planner calls.

Shared checks (``checked_solve``): each backend only translates arrays and maps its status; the
registry settles doubtful infeasible/unbounded claims, cross-checks claimed optima of problems that
may be unbounded against the LP relaxation, and rewrites integer columns unbounded below (fuzzing
against a brute-force oracle and across backends caught CBC 2.10.3, HiGHS 1.15 and SCIP 10 each
giving wrong answers on tiny MILPs with such columns or with unbounded relaxations).

Native-library clash (why some solves run in a worker process): ``solvers.isolation``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from planner.errors import BackendChoiceError
from planner.problem import (INTEGRALITY_TOL, CsrMatrix, Problem, ProblemArrays, Solution, SolveOptions,
                             finalize_solution)
from solvers.isolation import isolated_solve, shadowed_libs
from solvers.quiet import backend_call

RawResult = tuple[str, "np.ndarray | None", "float | None", str]  # raw status, x, bound, message
# (arrays, objective offset, options, free integers were rewritten) → raw result; raw status is one of
# optimal, feasible, infeasible, unbounded, ambiguous ("infeasible or unbounded"), error
RunArrays = Callable[[ProblemArrays, float, SolveOptions, bool], RawResult]

BACKEND_NAMES = ("cbc", "scip", "highs", "cpsat")
DEFAULT_BACKEND = "highs"
_ALIASES = {"pulp": "cbc", "coin": "cbc", "highspy": "highs", "ortools": "scip", "sat": "cpsat"}


@dataclass(frozen=True)
class Capabilities:
    """What one backend can do, and how to reach it (imports happen only when used)."""

    name: str
    description: str
    module: str  # the backend module in this package
    requires: str  # pip package that provides the solver
    continuous_vars: bool
    reports_bound: bool
    proves_unbounded: bool
    native_module: str  # imported in-process to check that the native library loads
    native_libs: dict[str, str] = field(default_factory=dict)  # library name prefix → package that must own it

    def installed(self) -> bool:
        """True when the solver package is present (no native library is loaded to check)."""
        if importlib.util.find_spec(self.requires) is None:
            return False
        try:
            return bool(importlib.import_module(self.module).installed())
        except Exception:
            return False

    def unsupported_reason(self, problem: Problem) -> str | None:
        """Why this backend cannot solve ``problem`` exactly, or None."""
        if not self.continuous_vars and problem.has_continuous:
            n_cont = problem.n_vars - sum(b.n_integer for b in problem.blocks.values())
            others = [c.name for c in CAPABILITIES.values() if c.continuous_vars and c.installed()]
            return (f"backend {self.name!r} takes integer variables only, and this problem has {n_cont} "
                    f"continuous variable(s); use one of: {', '.join(others) or 'cbc, scip, highs (none installed)'}")
        hook = getattr(importlib.import_module(self.module), "unsupported_reason", None)
        return hook(problem) if hook else None

    def solve(self, problem: Problem, options: SolveOptions | None = None) -> Solution:
        """Solve; never raises for solver trouble (status 'error' with the reason instead)."""
        options = options or SolveOptions()
        t0 = time.perf_counter()

        def fail(status: str, message: str) -> Solution:
            return finalize_solution(problem, options, solver=self.name, claimed=status,
                                     seconds=time.perf_counter() - t0, message=message)

        try:
            if conflicts := problem.empty_row_conflicts():
                return fail("infeasible", f"row {conflicts[0]!r} has no variables and its bounds exclude 0")
            if problem.n_vars == 0:
                return finalize_solution(problem, options, solver=self.name, claimed="optimal", x=[],
                                         seconds=time.perf_counter() - t0, message="empty problem")
            if reason := self.unsupported_reason(problem):
                return fail("error", reason)
            with backend_call(show_output=bool(options.msg)):  # no native output on fd 1/2; scratch cleaned
                if self._must_isolate():
                    return isolated_solve(self.name, self.module, problem, options)
                return importlib.import_module(self.module).solve(problem, options)
        except Exception as exc:  # status that cannot lie: report, never raise
            return fail("error", f"{self.name} backend failed: {exc!r}")

    def runs_in_process(self) -> bool:
        """Whether ``solve`` runs the backend in this process (not in the worker a clash of native libraries calls
        for; that worker has one pipe, so concurrent solves through it run one after the other)."""
        return not self._must_isolate()

    def _must_isolate(self) -> bool:
        if shadowed_libs(self.native_libs):
            return True
        try:
            importlib.import_module(self.native_module)
        except ImportError as exc:
            if "undefined symbol" in str(exc) or "symbol not found" in str(exc).lower():
                return True
            raise
        return False


CAPABILITIES: dict[str, Capabilities] = {c.name: c for c in (
    Capabilities("cbc", "COIN-OR CBC through pulp's bundled binary (MILP; bound parsed from CBC's log)",
                 "solvers.pulp_cbc", "pulp", continuous_vars=True, reports_bound=True, proves_unbounded=True,
                 native_module="pulp"),
    Capabilities("scip", "SCIP through OR-Tools model_builder (MILP, proven dual bound)",
                 "solvers.ortools_scip", "ortools", continuous_vars=True, reports_bound=True, proves_unbounded=True,
                 native_module="ortools.linear_solver.python.model_builder_helper",
                 native_libs={"libhighs": "ortools"}),
    Capabilities("highs", "HiGHS through highspy (default; MILP, arrays passed directly, mip_dual_bound, MIP start)",
                 "solvers.highs", "highspy", continuous_vars=True, reports_bound=True, proves_unbounded=True,
                 native_module="highspy", native_libs={"libhighs": "highspy"}),
    Capabilities("cpsat", "OR-Tools CP-SAT (pure-integer problems only; coefficients scaled to integers exactly)",
                 "solvers.ortools_cpsat", "ortools", continuous_vars=False, reports_bound=True,
                 proves_unbounded=False, native_module="ortools.sat.python.cp_model",
                 native_libs={"libhighs": "ortools"}),
)}


def all_backends() -> tuple[Capabilities, ...]:
    """Every known backend, installed or not, in ``BACKEND_NAMES`` order."""
    return tuple(CAPABILITIES[n] for n in BACKEND_NAMES)


def available_backends(problem: Problem | None = None) -> tuple[str, ...]:
    """Names of installed backends (that can also solve ``problem``, when given)."""
    names = [c.name for c in all_backends() if c.installed()]
    if problem is not None:
        names = [n for n in names if CAPABILITIES[n].unsupported_reason(problem) is None]
    return tuple(names)


def get_backend(name: str, problem: Problem | None = None) -> Capabilities:
    """The backend called ``name``; SolverError if unknown, not installed, or unable to take ``problem``."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in CAPABILITIES:
        close = difflib.get_close_matches(key, [*BACKEND_NAMES, *_ALIASES], n=1, cutoff=0.5)
        hint = f"; did you mean {_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise BackendChoiceError(f"unknown solver backend {name!r}{hint} (known: {', '.join(BACKEND_NAMES)})")
    cap = CAPABILITIES[key]
    if not cap.installed():
        have = ", ".join(available_backends()) or "none"
        raise BackendChoiceError(f"solver backend {cap.name!r} is not installed (pip install {cap.requires}); "
                          f"installed: {have}")
    if problem is not None and (reason := cap.unsupported_reason(problem)):
        raise BackendChoiceError(reason)
    return cap


def solve(problem: Problem, backend: str = DEFAULT_BACKEND, options: SolveOptions | None = None) -> Solution:
    """Solve ``problem`` with the named backend (SolverError only for a bad backend choice)."""
    return get_backend(backend, problem).solve(problem, options)


# ------------------------------------------------------------------ checks every backend shares
def without_free_integers(arr: ProblemArrays, offset: float):
    """Rewrite x = T·y + t₀ so that no integer column lacks a lower bound (solver-bug workaround).

    Fuzzing found CBC 2.10.3, HiGHS 1.15 and SCIP 10 each giving wrong answers (wrong optimum,
    "infeasible" for a feasible problem) on tiny MILPs with integer columns unbounded below; the
    backends solve this equivalent form instead.

    An integer x ≤ U with no lower bound becomes x = ⌊U⌋ − y; a free integer x becomes
    x = y⁺ − y⁻; y, y⁺, y⁻ ≥ 0 integer. Rows shift by A·t₀, the objective by c·t₀.
    Returns (arrays, offset, T, t₀), T None when nothing needed rewriting.
    """
    free = arr.integrality & ~np.isfinite(arr.col_lower)
    if not free.any():
        return arr, offset, None, None
    import scipy.sparse as sp  # noqa: PLC0415 - rare (fleet columns are >= 0); scipy costs ~0.15 s to import

    n = arr.c.size
    flip = free & np.isfinite(arr.col_upper)
    split = np.flatnonzero(free & ~np.isfinite(arr.col_upper))
    rows = np.concatenate([np.arange(n), split])
    cols = np.concatenate([np.arange(n), n + np.arange(split.size)])
    vals = np.concatenate([np.where(flip, -1.0, 1.0), -np.ones(split.size)])
    T = sp.csr_matrix((vals, (rows, cols)), shape=(n, n + split.size))
    t0 = np.zeros(n)
    t0[flip] = np.floor(arr.col_upper[flip] + 1e-9)
    shift = arr.A @ t0
    zeros = np.zeros(split.size)
    new = ProblemArrays(
        c=T.T @ arr.c, A=CsrMatrix.from_scipy(arr.A.to_scipy() @ T), row_lower=arr.row_lower - shift,
        row_upper=arr.row_upper - shift,
        col_lower=np.concatenate([np.where(free, 0.0, arr.col_lower), zeros]),
        col_upper=np.concatenate([np.where(flip, np.inf, arr.col_upper), zeros + np.inf]),
        integrality=np.concatenate([arr.integrality, np.ones(split.size, dtype=bool)]))
    return new, offset + float(arr.c @ t0), T, t0


def relaxation_verdict(problem: Problem, claimed: str, x, relaxation_status: Callable[[], str]) -> str | None:
    """Cross-check a claimed MILP solution x against the LP relaxation; None when consistent.

    "unbounded": x is feasible and the relaxation is unbounded, so the MILP is unbounded (Meyer's
    theorem, rational data), whatever the solver said. "contradiction": x is feasible but the
    solver calls the relaxation infeasible. Fuzzing caught HiGHS 1.15 and CBC 2.10 returning
    "optimal" points of unbounded MILPs, and HiGHS calling a feasible LP infeasible. Only checked
    when ``may_be_unbounded``: fleet problems (c ≥ 0, x ≥ 0) never pay for the extra LP.
    """
    if claimed not in ("optimal", "feasible") or x is None or not problem.has_integer or not problem.may_be_unbounded():
        return None
    if problem.violations(np.asarray(x, dtype=float)):
        return None  # finalize_solution reports the bad point
    status = relaxation_status()
    if status in ("unbounded", "ambiguous"):  # the LP is feasible, so "or infeasible" is ruled out
        return "unbounded"
    return "contradiction" if status == "infeasible" else None


def resolve_ambiguous(problem: Problem, what: str, feasibility_status: str, x: Iterable[float] | None,
                      relaxation_unbounded: Callable[[], bool]) -> tuple[str, str]:
    """Settle a doubted "infeasible" / "unbounded" / "infeasible or unbounded" claim.

    ``feasibility_status`` and ``x`` come from the same problem solved with c = 0 (which cannot be
    unbounded). Infeasible there → infeasible. A point that passes ``Problem.violations`` plus an
    unbounded LP relaxation → unbounded (Meyer's theorem: a feasible MILP with rational data and an
    unbounded relaxation is unbounded). A feasible point with a relaxation that is not unbounded
    contradicts the claim → error. Anything else → error, the question left open.
    """
    if feasibility_status == "infeasible":
        return "infeasible", f"{what}; a zero-objective solve confirmed infeasibility"
    if feasibility_status in ("optimal", "feasible") and x is not None:
        vals = np.array(x, dtype=float).ravel()
        arr = problem.to_arrays()
        vals = np.where(arr.integrality & (np.abs(vals - np.round(vals)) <= INTEGRALITY_TOL), np.round(vals), vals)
        if not (vals.shape == (problem.n_vars,) and np.isfinite(vals).all() and not problem.violations(vals)):
            return "error", f"{what}; the zero-objective solve returned a point that fails verification"
        if relaxation_unbounded():
            return "unbounded", f"{what}; feasible (zero-objective solve) with an unbounded LP relaxation: unbounded"
        return "error", f"{what}, but a feasible point exists and the LP relaxation is not unbounded: answer rejected"
    return "error", f"{what}; could not tell infeasible from unbounded (zero-objective solve: {feasibility_status})"


def checked_solve(problem: Problem, options: SolveOptions | None, name: str, label: str, run: RunArrays) -> Solution:
    """A backend's ``solve``: its array-level ``run`` wrapped in the checks every backend shares.

    1. Integer columns unbounded below are rewritten (``without_free_integers``).
    2. "unbounded" / "infeasible or unbounded" claims, and "infeasible" claims on a problem that
       ``may_be_unbounded``, are settled by ``resolve_ambiguous`` (extra solves get a time limit,
       max(10 s, twice the first solve), even when the caller set none: CBC was seen to loop).
    3. A claimed solution of a problem that ``may_be_unbounded`` is checked against the LP
       relaxation (``relaxation_verdict``).
    4. ``finalize_solution`` recomputes the objective, judges the gap and verifies the point.
    Fleet problems (c ≥ 0, x ≥ 0) skip 2 and 3 for infeasible and optimal answers.
    """
    options = options or SolveOptions()
    t0 = time.perf_counter()
    try:
        arr = problem.to_arrays()

        def solve_arrays(a: ProblemArrays, offset: float, opts: SolveOptions) -> RawResult:
            a2, off2, T, t = without_free_integers(a, offset)
            raw, y, bound, msg = run(a2, off2, opts, T is not None)
            return raw, (y if T is None or y is None else T @ y + t), bound, msg

        raw, x, bound, msg = solve_arrays(arr, problem.objective_constant, options)
        limited = replace(options, time_limit_s=options.time_limit_s or max(10.0, 2 * (time.perf_counter() - t0)))
        relaxed = arr._replace(integrality=np.zeros_like(arr.integrality))

        def relaxation_status() -> str:
            return solve_arrays(relaxed, problem.objective_constant, limited)[0]

        if raw == "ambiguous" and not problem.may_be_unbounded():
            raw, msg = "infeasible", f"{msg}; the bounds rule out unboundedness"
        if raw in ("unbounded", "ambiguous") or (raw == "infeasible" and problem.may_be_unbounded()):
            if arr.c.any():
                feas, x0, _, _ = solve_arrays(arr._replace(c=np.zeros_like(arr.c)), 0.0, limited)
                feas = {"ambiguous": "infeasible", "unbounded": "error"}.get(feas, feas)  # c = 0 is never unbounded
            else:
                feas, x0 = ("error" if raw == "unbounded" else "infeasible"), None
            raw, msg = resolve_ambiguous(problem, msg, feas, x0,
                                         lambda: relaxation_status() in ("unbounded", "ambiguous"))
            x = None
        verdict = relaxation_verdict(problem, raw, x, relaxation_status)
        if verdict == "unbounded":
            raw, x, msg = "unbounded", None, f"{label} returned a point, but the LP relaxation is unbounded (Meyer)"
        elif verdict == "contradiction":
            raw, x, msg = "error", None, f"{label} returned a feasible point but calls the LP relaxation infeasible"
    except Exception as exc:  # a backend never lets a solver exception escape
        return finalize_solution(problem, options, solver=name, claimed="error",
                                 seconds=time.perf_counter() - t0, message=f"{label} failed: {exc!r}")
    return finalize_solution(problem, options, solver=name, claimed=raw, x=x, bound=bound,
                             seconds=time.perf_counter() - t0, message=msg)
