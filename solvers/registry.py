"""Capabilities as data: which backends exist, what they can do, whether they are installed.

The backend test matrix and the CLI's ``--solver`` choices are generated from ``CAPABILITIES``.
``get_backend`` refuses, with a reason and the alternatives, a name it does not know ("did you
mean"), a backend that is not installed, or one that cannot take the problem (CP-SAT and
continuous variables). ``solve`` is the one entry point the planner calls.

Native-library clash (why some solves run in a worker process): highspy and ortools each bundle
their own, different ``libhighs.so.1``. The dynamic loader keeps the first library loaded under a
SONAME, so whichever package loads second fails with "undefined symbol" (``import pulp`` alone
imports highspy when it is installed). A backend whose library is already shadowed in this process
(checked in ``/proc/self/maps``, or by a failed import) runs in a persistent worker subprocess
instead: same code, same answer, ``solve_seconds`` measured inside the worker.
"""

from __future__ import annotations

import atexit
import difflib
import importlib
import importlib.util
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from planner.errors import SolverError
from planner.problem import Problem, Solution, SolveOptions, finalize_solution

BACKEND_NAMES = ("cbc", "scip", "highs", "cpsat")
DEFAULT_BACKEND = "cbc"
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
            if self._must_isolate():
                return _isolated_solve(self, problem, options)
            return importlib.import_module(self.module).solve(problem, options)
        except Exception as exc:  # status that cannot lie: report, never raise
            return fail("error", f"{self.name} backend failed: {exc!r}")

    def _must_isolate(self) -> bool:
        if _shadowed_libs(self.native_libs):
            return True
        try:
            importlib.import_module(self.native_module)
        except ImportError as exc:
            if "undefined symbol" in str(exc) or "symbol not found" in str(exc).lower():
                return True
            raise
        return False


CAPABILITIES: dict[str, Capabilities] = {c.name: c for c in (
    Capabilities("cbc", "COIN-OR CBC through pulp's bundled binary (default; MILP; bound parsed from CBC's log)",
                 "solvers.pulp_cbc", "pulp", continuous_vars=True, reports_bound=True, proves_unbounded=True,
                 native_module="pulp"),
    Capabilities("scip", "SCIP through OR-Tools model_builder (MILP, proven dual bound)",
                 "solvers.ortools_scip", "ortools", continuous_vars=True, reports_bound=True, proves_unbounded=True,
                 native_module="ortools.linear_solver.python.model_builder_helper",
                 native_libs={"libhighs": "ortools"}),
    Capabilities("highs", "HiGHS through highspy (MILP, arrays passed directly, mip_dual_bound)",
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
        raise SolverError(f"unknown solver backend {name!r}{hint} (known: {', '.join(BACKEND_NAMES)})")
    cap = CAPABILITIES[key]
    if not cap.installed():
        have = ", ".join(available_backends()) or "none"
        raise SolverError(f"solver backend {cap.name!r} is not installed (pip install {cap.requires}); "
                          f"installed: {have}")
    if problem is not None and (reason := cap.unsupported_reason(problem)):
        raise SolverError(reason)
    return cap


def solve(problem: Problem, backend: str = DEFAULT_BACKEND, options: SolveOptions | None = None) -> Solution:
    """Solve ``problem`` with the named backend (SolverError only for a bad backend choice)."""
    return get_backend(backend, problem).solve(problem, options)


# ------------------------------------------------------------------ isolation (see module docstring)
def _shadowed_libs(native_libs: dict[str, str]) -> list[str]:
    """Mapped libraries named like ours but owned by another package (Linux only; else [])."""
    if not native_libs:
        return []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "/" in line}
    except OSError:
        return []
    bad = []
    for prefix, package in native_libs.items():
        spec = importlib.util.find_spec(package)
        dirs = [os.path.realpath(d) for d in (spec.submodule_search_locations or [])] if spec else []
        for p in paths:
            if os.path.basename(p).startswith(prefix) and not any(os.path.realpath(p).startswith(d) for d in dirs):
                bad.append(p)
    return bad


class _Worker:
    """A persistent ``python -c`` subprocess speaking pickles over its stdin/stdout."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen([sys.executable, "-c", "from solvers.registry import _worker_main; _worker_main()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.lock = threading.Lock()

    def call(self, request: tuple, timeout_s: float | None) -> tuple:
        pickle.dump(request, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"isolated worker gave no answer within {timeout_s:.0f} s")
        return pickle.load(self.proc.stdout)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


_WORKERS: dict[str, _Worker] = {}


@atexit.register
def _close_workers() -> None:
    while _WORKERS:
        _WORKERS.popitem()[1].close()


def _isolated_solve(cap: Capabilities, problem: Problem, options: SolveOptions) -> Solution:
    worker = _WORKERS.get(cap.name)
    if worker is None or worker.proc.poll() is not None:
        worker = _WORKERS[cap.name] = _Worker()
    # generous: the limit, a repeat solve to settle infeasible-or-unbounded, and start-up
    timeout = None if options.time_limit_s is None else 3 * options.time_limit_s + 120
    with worker.lock:
        try:
            status, objective, bound, gap, x, seconds, message = worker.call((cap.module, problem, options), timeout)
        except BaseException as exc:
            worker.proc.kill()
            _WORKERS.pop(cap.name, None)
            return finalize_solution(problem, options, solver=cap.name, claimed="error",
                                     message=f"{cap.name} (isolated worker) failed: {exc!r}")
    note = "ran in a worker process (highspy and ortools ship clashing libhighs builds)"
    return Solution(status, objective, bound, gap, x, cap.name, seconds,
                    f"{message}; {note}" if message else note, problem)


def _worker_main() -> None:
    """Worker loop: read (module, problem, options), answer with the Solution's fields."""
    proto_in = sys.stdin.buffer
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # solver logs must not corrupt the pickle stream
    while True:
        try:
            module, problem, options = pickle.load(proto_in)
        except EOFError:
            return
        try:
            sol = importlib.import_module(module).solve(problem, options)
            answer = (sol.status, sol.objective, sol.bound, sol.gap, sol.values, sol.solve_seconds, sol.message)
        except BaseException as exc:
            answer = ("error", None, None, None, None, 0.0, f"worker failed: {exc!r}")
        pickle.dump(answer, proto_out, protocol=pickle.HIGHEST_PROTOCOL)
        proto_out.flush()
