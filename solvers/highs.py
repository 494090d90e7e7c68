"""HiGHS backend (highspy): the CSR arrays go straight into a ``HighsLp``, no per-element Python.

Status mapping (``HighsModelStatus`` → raw status; ``solvers.registry.checked_solve`` settles doubtful
claims and ``finalize_solution`` checks the gap):

    kOptimal                                   → optimal (HiGHS stops at mip_rel_gap = mip_gap)
    kTimeLimit / kIterationLimit / kSolutionLimit / kInterrupt / kObjectiveBound / kObjectiveTarget
    / kMemoryLimit / kUnknown                  → feasible if a primal solution is feasible, else error
    kInfeasible                                → infeasible (re-checked when the problem may be
                                                 unbounded: HiGHS 1.15 called a feasible,
                                                 unbounded MILP infeasible)
    kUnbounded                                 → unbounded (checked)
    kUnboundedOrInfeasible                     → ambiguous (settled)
    kModelEmpty                                → optimal at x = lower bounds
    load / model / presolve / solve / postsolve errors, kNotset → error

HiGHS' best bound is ``getInfo().mip_dual_bound``; for an LP it is the objective. A MIP start
(``SolveOptions.start``, possibly partial) is passed with the sparse ``setSolution``; HiGHS completes a partial one
by a sub-MIP with the given integer values fixed, and keeps it only if it is feasible.

Threads (``pooled``): HiGHS runs every instance of a process on one task scheduler, started by the first ``run``
with that run's ``threads`` option (0, the default: an automatic count that grows with the machine's cores); a
later run that asks for another count ends at once with model status ``kNotset`` (HiGHS 1.15 and 1.16). So every
run here asks for the count the scheduler has, and ``SolveOptions.threads`` = N > 1 turns on HiGHS' parallel tree search
(``parallel = "on"``) with the scheduler restarted at N when no other run of this process is in flight. A serial
run on an N-thread scheduler (``parallel = "off"``) searches exactly as on one thread (M-4: the same 411 nodes).
A forked child inherits the scheduler without its worker threads and would wait for them forever: before a fork, a
scheduler with workers is shut down when no run is in flight (``_before_fork``), and a child that inherits one anyway
refuses to run HiGHS (status error) rather than hang (``_after_fork_in_child``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from planner.problem import Problem, ProblemArrays, Solution, SolveOptions, zero_gap
from solvers.registry import RawResult, checked_solve

NAME = "highs"

_LIMITS = ("kTimeLimit", "kIterationLimit", "kSolutionLimit", "kInterrupt", "kObjectiveBound",
           "kObjectiveTarget", "kMemoryLimit", "kUnknown", "kHighsInterrupt")
_SOLUTION_FEASIBLE = 2  # HighsSolutionStatus kSolutionStatusFeasible
# From this many columns a solve with a time limit runs in a child process with a hard deadline
# (``solvers.highs_guard``): L (23-280 k columns) and XL; M (4.5 k) and below run in-process, where the child's
# ~0.3 s start would be a tenth of a short solve. (At 100 k, L-3's 33 k columns ran in-process: HiGHS overran a 5.5 s
# limit by 4 s in a cut round, and plan solve --time-limit 10 returned after 13.4-13.6 s; guarded, 9.2-9.7 s.)
GUARD_MIN_COLUMNS = 10_000


_POOL_LOCK = threading.Lock()
# the scheduler's count as this process started it (0: not yet); our runs in flight; lost: inherited by fork, unusable
_POOL = {"threads": 0, "running": 0, "lost": False}


@contextmanager
def pooled(h, threads: int = 1):
    """Set ``h``'s (a ``highspy.Highs``) threads to the process scheduler's count and, for ``threads`` > 1,
    parallel search on; yield while ``h`` may run (``h.run()`` in the body). The first run of the process starts the
    scheduler at ``threads`` (restarting one that other code started); a run asking for parallel search with another
    count restarts it when nothing else of this process is running, and otherwise searches with the count there is.
    See the module docstring."""
    import highspy  # noqa: PLC0415

    with _POOL_LOCK:
        have = _POOL["threads"]
        if have == 0 or (threads > 1 and threads != have and _POOL["running"] == 0):
            # also on this module's first run: a scheduler another library's HiGHS started has a count we do not know
            highspy.Highs.resetGlobalScheduler(True)
            have = _POOL["threads"] = max(1, int(threads))
        _POOL["running"] += 1
    h.setOptionValue("threads", have)
    h.setOptionValue("parallel", "on" if threads > 1 and have > 1 else "off")
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL["running"] -= 1


def _before_fork() -> None:
    """``os.fork`` hook: a forked child inherits HiGHS' scheduler without its worker threads, and its first run waits
    for them forever (a ``plan whatif`` worker forked after a solve on two threads). With no run in flight, a scheduler
    that has workers is shut down first; the parent's next run starts another. One thread has no workers to lose."""
    hs = sys.modules.get("highspy")
    if hs is None or not _POOL_LOCK.acquire(blocking=False):
        return
    try:
        if _POOL["threads"] > 1 and _POOL["running"] == 0:
            hs.Highs.resetGlobalScheduler(True)
            _POOL["threads"] = 0
    finally:
        _POOL_LOCK.release()


def _after_fork_in_child() -> None:
    """The child has none of the parent's runs in flight, nor its lock's holder; a scheduler with workers that could
    not be shut down before the fork (a run was in flight) cannot run here: ``run_pooled`` refuses it."""
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    _POOL.update(running=0, lost=_POOL["threads"] > 1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def run_pooled(h, threads: int = 1):
    """``h.run()`` inside ``pooled``. If the run ends at once with ``kNotset`` while it is this process's only
    run (code outside this module restarted the scheduler with another thread count since), the scheduler is
    restarted at this module's count and the run tried once more. Returns ``h.run()``'s status; ``kError`` without
    running in a forked child whose scheduler lost its workers (``_after_fork_in_child``)."""
    import highspy  # noqa: PLC0415

    if _POOL.get("lost"):
        return highspy.HighsStatus.kError
    with pooled(h, threads):
        status = h.run()
        if status != highspy.HighsStatus.kError or h.getModelStatus() != highspy.HighsModelStatus.kNotset:
            return status
        with _POOL_LOCK:
            alone = _POOL["running"] == 1
            if alone:
                highspy.Highs.resetGlobalScheduler(True)
        return h.run() if alone else status


def installed() -> bool:
    """True when highspy can be imported."""
    return importlib.util.find_spec("highspy") is not None


def new_highs():
    """A ``highspy.Highs`` object, made with fd 1 and 2 redirected (``solvers.quiet``): HiGHS 1.16 prints a two-line
    banner on stdout when a process makes its first one, and not every caller runs inside ``backend_call`` (the
    workloads' own programs, ``planner.fleet.workload_programs``)."""
    import highspy

    from solvers.quiet import quiet_fds  # noqa: PLC0415

    with quiet_fds():
        return highspy.Highs()


def highs_lp(arr: ProblemArrays, offset: float, integer: bool):
    """The arrays as a ``highspy.HighsLp`` (row-wise matrix); with ``integer`` the integrality marks too."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = arr.A.shape[1], arr.A.shape[0]
    lp.col_cost_ = np.ascontiguousarray(arr.c, dtype=np.float64)
    lp.col_lower_ = np.ascontiguousarray(arr.col_lower, dtype=np.float64)
    lp.col_upper_ = np.ascontiguousarray(arr.col_upper, dtype=np.float64)
    lp.row_lower_ = np.ascontiguousarray(arr.row_lower, dtype=np.float64)
    lp.row_upper_ = np.ascontiguousarray(arr.row_upper, dtype=np.float64)
    lp.offset_ = float(offset)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = arr.A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = arr.A.indices.astype(np.int32)
    lp.a_matrix_.value_ = arr.A.data.astype(np.float64)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in arr.integrality]
    return lp


def _run(arr: ProblemArrays, offset: float, options: SolveOptions, rewritten: bool = False,
         report=None, bounds: bool = True) -> RawResult:
    """One HiGHS solve. Returns (raw status, x, bound, message); raw status may be 'ambiguous'.

    ``report(kind, bound, x)``, when given, hears each improving solution (``"x"``, HiGHS' dual bound then, the
    point) and, with ``bounds``, each rise of the dual bound (``"bound"``, the bound, None) as they come
    (``solvers.highs_guard``; ``_telling``)."""
    import time  # noqa: PLC0415

    import highspy

    entered = time.perf_counter()
    h = new_highs()
    h.setOptionValue("output_flag", bool(options.msg))
    h.setOptionValue("log_to_console", bool(options.msg))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    h.setOptionValue("random_seed", 0)
    # mip_lifting_for_probing stays at HiGHS' default (off): on in HiGHS 1.16 it "proved" M-2 optimal at 57.2013 USD/h,
    # against a verified plan of 54.8013 (docs/BENCHMARKS.md, "Forty-first pass")

    is_mip = bool(arr.integrality.any())
    lp = highs_lp(arr, offset, integer=is_mip)
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        return "error", None, None, "HiGHS rejected the model (passModel)"
    if is_mip and options.start is not None and not rewritten:  # columns shift when free integers were rewritten
        cols, vals = options.start
        cols = np.ascontiguousarray(cols, dtype=np.int32)
        vals = np.ascontiguousarray(vals, dtype=np.float64)
        if cols.size == lp.num_col_ and np.array_equal(cols, np.arange(lp.num_col_)):  # whole: checked, not re-solved
            whole = highspy.HighsSolution()
            whole.col_value = vals.tolist()
            whole.value_valid = True
            h.setSolution(whole)
        elif cols.size and cols.size == vals.size and 0 <= cols.min() and cols.max() < lp.num_col_:
            h.setSolution(int(cols.size), cols, vals)
    if options.time_limit_s is not None:  # the limit covers this call: passing a large model takes seconds
        h.setOptionValue("time_limit", max(float(options.time_limit_s) - (time.perf_counter() - entered), 0.01))
    if report is not None and is_mip:
        _subscribe(h, report, bounds)
    run_pooled(h, int(options.threads) if is_mip else 1)
    ms = h.getModelStatus()
    name = ms.name if hasattr(ms, "name") else str(ms).split(".")[-1]
    info = h.getInfo()
    has_x = info.primal_solution_status == _SOLUTION_FEASIBLE
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_x else None
    bound = float(info.mip_dual_bound) if is_mip else (float(info.objective_function_value) if has_x else None)
    if name == "kOptimal":
        if is_mip and has_x and options.start is not None and _stale_start(arr, offset, x, info):
            # HiGHS 1.16 hands back the start it was given when presolve solves the model outright (0 nodes) though
            # its reported optimum is better: solve again without the start, in the time left
            left = None if options.time_limit_s is None else \
                max(float(options.time_limit_s) - (time.perf_counter() - entered), 0.01)
            return _run(arr, offset, replace(options, start=None, time_limit_s=left), rewritten, report, bounds)
        return "optimal", x, bound, ""
    if name == "kInfeasible":
        return "infeasible", None, None, "HiGHS reported infeasible"
    if name == "kUnbounded":
        return "unbounded", None, None, "HiGHS reported unbounded"
    if name == "kUnboundedOrInfeasible":
        return "ambiguous", None, None, "HiGHS reported infeasible or unbounded"
    if name == "kModelEmpty":
        return "optimal", np.asarray(arr.col_lower, dtype=float), None, ""
    if name in _LIMITS:
        if has_x:
            return "feasible", x, bound, f"HiGHS stopped: {name[1:]}"
        return "error", None, (bound if is_mip and np.isfinite(bound) else None), \
            f"HiGHS stopped ({name[1:]}) before finding a feasible solution"
    if name == "kNotset":  # e.g. run_pooled refused: a thread scheduler inherited by fork during a run
        return "error", None, None, ("HiGHS stopped before solving (model status Notset; e.g. a thread scheduler "
                                     "inherited by fork while a run was in flight: solvers.highs, 'Threads')")
    return "error", None, None, f"HiGHS model status {name}"


def _stale_start(arr: ProblemArrays, offset: float, x: np.ndarray, info) -> bool:
    """Whether HiGHS' returned point costs more than the optimum it reports, beyond the zero-gap tolerance of
    ``planner.problem`` (found on a tiny fleet program, ``tests/test_solvers.py``)."""
    reported = float(info.objective_function_value)
    return float(arr.c @ x) + offset - reported > zero_gap(reported)


def _subscribe(h, report, bounds: bool = True) -> None:
    """Pass HiGHS' improving solutions and, with ``bounds``, its dual-bound rises to ``report`` (see ``_run``)."""
    best = [-np.inf]

    def improving(e) -> None:
        best[0] = max(best[0], float(e.data_out.mip_dual_bound))
        report("x", best[0], np.array(e.data_out.mip_solution, dtype=float))

    def interrupt(e) -> None:  # called often: only a higher bound is passed on
        bound = float(e.data_out.mip_dual_bound)
        if np.isfinite(bound) and bound > best[0]:
            best[0] = bound
            report("bound", bound, None)

    h.cbMipImprovingSolution.subscribe(improving)
    if bounds:
        h.cbMipInterrupt.subscribe(interrupt)


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """Solve with HiGHS; never raises for solver failures (status 'error' instead). Programs of at least
    ``GUARD_MIN_COLUMNS`` columns with a time limit run in a child process stopped at a hard deadline
    (``solvers.highs_guard``: HiGHS does not always check its limit)."""
    options = options or SolveOptions()
    run = _run
    if options.time_limit_s is not None and problem.n_vars >= GUARD_MIN_COLUMNS:
        from solvers.highs_guard import run_guarded as run  # noqa: PLC0415
    if options.on_incumbent is not None:
        run = _telling(run, options.on_incumbent)
    return checked_solve(problem, options, NAME, "HiGHS", run)


def _telling(run, hook):
    """``run`` that passes each improving point HiGHS finds to ``hook`` (``SolveOptions.on_incumbent``). In this
    process only HiGHS' improving-solution callback is set (its interrupt callback, called far more often, would take
    the GIL from the caller's other threads each time); a guarded child sends its points as it does anyway. Not for a
    program whose free integers were rewritten: its columns are not the caller's."""

    def tell(kind: str, bound, x) -> None:  # noqa: ARG001
        if kind == "x":
            try:
                hook(x)
            except Exception:  # noqa: BLE001 - a listener's failure is its own; the solve goes on
                pass

    def telling(arr: ProblemArrays, offset: float, options: SolveOptions, rewritten: bool = False) -> RawResult:
        if rewritten:
            return run(arr, offset, options, rewritten)
        return run(arr, offset, options, rewritten, report=tell, bounds=False)

    return telling
