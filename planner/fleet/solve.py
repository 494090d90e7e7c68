"""The solve pipeline: scenario -> options -> problem -> backend -> tie-break -> Plan -> baselines -> verify.

``solve_scenario`` is the library entry point of ``plan solve``. It never returns an unverified plan as a
success: the Plan carries its ``verification`` and the CLI refuses to print a failed one as a result.
Infeasible scenarios raise ``InfeasibleError`` with reasons per workload (unless ``allow_unmet``).

This module is longer than ~400 lines because each stage's share of the time budget (what it may take, what is kept
back for the stages after it) is decided here beside the stage, so that one reading shows the whole budget.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from planner.fleet.baselines import baselines
from planner.fleet.beside import AFTER_SHARE, FullSearch
from planner.fleet.by_period import applies, may_apply, solve_by_period
from planner.fleet.diagnose import explain_infeasible, joint_reason
from planner.errors import InfeasibleError, InputError, SolverError
from planner.fleet.formulation import BuildOutOfTime, Formulation, build, fleet_cost, fleet_size
from planner.fleet.horizon import Horizon, horizon_for
from planner.fleet.options import OptionSet, enumerate_options
from planner.plan import Plan
from planner.fleet.plan_build import build_plan, relist_options
from planner.problem import Solution, SolveOptions, finalize_solution
from planner.scenario.io import LoadedScenario
from planner.fleet.hedge import explain_hedge, hedge_blocks
from planner.fleet.merge import merge_offers
from planner.fleet.reduce import reduced_options
from planner.fleet.restrict import complete
from planner.fleet.cap_bound import cap_bound
from planner.fleet.workload_cuts import cut_block
from planner.fleet.incumbent import adopt_cheaper, bound_of, cheaper, with_bound, with_cap_bound, with_workload_bound
from planner.fleet.restricted import RESTRICT_SHARE, Ladder
from planner.fleet.share_bound import share_bound
from planner.fleet.start import greedy_start, start_options
from planner.verify import verify_plan
from solvers.registry import get_backend


TIE_BREAK_SHARE = 0.15  # of the time limit, at most, for the tie-break's second solve
# ... and at most TIE_BREAK_OF_COST x as long as the cost solve took (at least TIE_BREAK_MIN_S), from what the cost
# solve left: nothing is kept back for it. On the M generator seeds 1, 4-7 and 9-12 (M-2 and M-8 are not proven within
# 60 s; M-3 was not run) the second solve, run to its proof, never found a smaller fleet: GPU-hours and offers as the
# cost solution's on all nine, proven in 0.4-22 s, 0.45-2.5x the cost solve (docs/BENCHMARKS.md, twenty-eighth
# pass). At 1x it was half of M's end-to-end time; at 0.5x it still proves where the proof is quick (the examples,
# M-7: 0.4 s).
# (Before the twentieth pass 15 % of the budget was kept back for it: 9 s less for the cost solve of M-2.)
TIE_BREAK_OF_COST = 0.5
TIE_BREAK_MIN_S = 1.0
# Several periods that share only reserved nodes (planner.fleet.by_period): the whole program is tried this long before
# the reserved levels are solved one by one (the generator's forecast day, 3,003 columns: proven whole in 0.28 s, its
# 5 levels take 1.1 s; scenarios/forecast-growth.yaml: whole 15.6 s, its levels 2.1 s). 1 s until the levels were
# bounded by their LP relaxation; at 0.5 s the frozen hourly days and the generator's day take 22.2 CPU s together
# against 24.4-25.6 at 1 s (0.3 s: 21.3-21.5, but the generator's day, proven whole in 0.28 s, then sometimes
# misses: docs/BENCHMARKS.md, thirty-fourth pass)
WHOLE_FIRST_S = 0.5
BASELINE_SHARE = 0.15  # of the time limit kept back from the cost solve for the baselines
FINISH_SHARE = 0.03  # of the time limit kept back for decoding and verification
FINISH_S_PER_VAR = 1e-5  # and this many seconds per variable (decode and verify grow with the problem: L ~3 s)
COMPLETE_MIN_S = 10.0  # the least time given to completing the constructive start (an LP: 0.02 s on M, 2-13 s on XL)
COMPLETE_SHARE = 0.25  # ... or this share of the budget, if more
# With a completed start, the cost solve is skipped when less than SOLVE_MIN_S is left for it, or less than
# PASS_S_PER_VAR per column: handing a program of millions of columns to HiGHS and its presolve overrun any limit
# (XL-2, 3.0 M columns: 17 s at a 2 s limit, 52 s at 23 s; 6.8 M columns: 24 s at 0.01 s), so such a solve could only
# overrun the budget and return the start it was given. A small program passes in milliseconds: M-1 (1,196 columns)
# is proven optimal in 0.7 s from its start, and at --time-limit 2 had 0.6 s left (until 2026-12-04 the floor was
# SKIP_BELOW_S for every size, and M-1 at 2 s printed its start, 37 % above the optimum).
SOLVE_MIN_S = 0.2
PASS_S_PER_VAR = 1e-5
COMPLETE_S_PER_VAR = 2e-6  # completing the start in the full program (XL-2: 13.4 s for 6.8 M columns)
SKIP_BELOW_S = 1.0  # the least solve worth building the full program for after a first plan; the last resort's floor
# From this many deployments x periods (XL: ~220,000; L: ~9,000) a first plan is made before the full program is
# built (``_first_plan``): building XL-2's 6.8 M columns takes 20-30 s, its first plan's program ~1 s.
FIRST_PLAN_MIN = 50_000
# ... and at any size when less of the budget is left after the options stage than that stage took: the full
# program's build and solve rarely cost less than the capacities they are made from (L-1 at a 5 s limit: the
# options ended past the limit and the full path overran by 4.3 s; the first plan's own program takes ~0.5 s). When
# less is left after it than it took plus SKIP_BELOW_S, it is the answer without building the full program.
FIRST_PLAN_WHEN_SHORT = True
# With a first plan in hand the full build may take this share of what is left of the budget; the rest pays for
# discarding a program stopped midway and for the exit: XL-2 at a 30 s limit spent 3.2 s after its build stopped
# (16 % of 19.8 s of building) and ended at 29.6 s with 0.85, and at 32-34 s on slower moments of the machine
FIRST_BUILD_SHARE = 0.75
OUTPUT_MAX_SHARE = 0.5  # of the time limit, at most, kept back for the caller's output (``output_reserve``)
START = "the constructive start (one non-spot option per workload, the cheapest of five rules: planner.fleet.start)"
NO_TIME = "skipped: no time left in the budget"  # the tie-break's note when the budget is spent before it
# of what is left for the solver after the first rung, at most, for the caps' bound before the full program is built
# (where the ladder runs: planner.fleet.cap_bound; on an hourly profile since the fifty-first pass, each hour from the
# previous hour's prices: python -m bench.time_limit --only XL-1,XL-2 --limits 120, the printed gaps 41.3 / 39.1 % ->
# 17.8 / 31.2 %, the bounds ~202 / 206 -> 289 / 240 USD/h); it stops once more steps could lift it by at most
# 0.1 %, leaving the rest to the full program. On L at --time-limit 120 it gave 388.83 / 320.70 and 323.31 / 347.25
# USD/h on L-1..3 where HiGHS' bound on the full program in the same runs' place was 385.18 / 309.30 and 309.38 /
# 346.62; the printed plans come from the ladder's search either way (docs/BENCHMARKS.md, forty-ninth pass)
CAP_SHARE = 0.75
# ... only with this long for it. With the dominated deployments fixed (planner.fleet.dominance) a step on L takes
# 2-4 s beside the ladder and it needs 5-10: at --time-limit 30 (16 s for it) it gave 388.51 / 311.97 / 346.36 on L-1..3
# where HiGHS' bound is 383.95 / 191.51 / 340.00, and at 60 s 388.51 / 323.31 / 347.25 against 384.88 / 307.92 /
# 346.14; on M it converges in 0.5-4.4 s (docs/BENCHMARKS.md, fiftieth pass). With --threads N it prices on the N - 1
# threads the full solve would have beside the ladder, and this is divided by them (L-2's nine steps: 91.4 s on one
# thread, 47.2 s on two before the dominated deployments were fixed; more threads than two not measured, 2 cores)
CAP_MIN_S = 10.0


@dataclass(frozen=True)
class SolveSettings:
    solver: str | None = None  # None: policy.solver
    time_limit_s: float | None = None  # None: policy.time_limit_s; the whole call's wall-clock budget
    allow_unmet: bool = False
    baselines: bool = True
    tie_break: bool = True
    calibration: object | None = None
    started_at: float | None = None  # time.perf_counter() the budget counts from (the CLI: the process's start)
    # seconds the caller needs after the call, within the same budget (the CLI's output): fixed, per workload, per
    # deployment; kept back from the deadline once the options are known, at most OUTPUT_MAX_SHARE of the budget
    output_reserve: tuple[float, float, float] = (0.0, 0.0, 0.0)
    merge: str = "equal_price"  # interchangeable on-demand offers merged (exact): planner.fleet.merge.MERGE_POLICIES
    project_loads: bool = True  # single-bucket loads projected out (exact: planner.fleet.formulation, _demand_cover)
    # spot states: equal deployments share one routing (exact; planner.fleet.hedge._serve). On since the thirty-fifth
    # pass: with HiGHS 1.16, `plan solve --time-limit N` on M-1, L-1..3 and XL-1..2 returns as fast with it as without
    # (three interleaved runs each: the overruns of N + 10 % came in both, L-2 at 5 s and L-3 at 10 s), and it
    # proves more: L-1's gap at 10 s 16.5-18.9 % against 46.8-47.6 %, XL-1's at 120 s 19 % against 29-32 %
    # (docs/BENCHMARKS.md, thirty-fourth and thirty-fifth passes). Off, the program as first written.
    share_routing: bool = True
    threads: int = 1  # the full solve's and tie-break's (HiGHS' parallel search; N - 1 beside the ladder); 1: same plan

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not hasattr(self.threads, "__index__") or not 1 <= self.threads <= 256:
            raise InputError(f"threads: must be a whole number from 1 to 256 (got {self.threads!r})")


class _Budget:
    """The wall-clock budget of one ``solve_scenario`` call: every stage takes its time from the same clock."""

    def __init__(self, limit_s: float, started_at: float | None = None):
        self.limit_s = limit_s
        self.deadline = (time.perf_counter() if started_at is None else started_at) + limit_s
        self.finish_s = 0.0  # decode + verify, estimated from the problem's size once it is built

    def keep_back(self, seconds: float) -> None:
        """Keep ``seconds`` (at most OUTPUT_MAX_SHARE of the budget) for work after the call: the deadline moves."""
        self.deadline -= min(max(seconds, 0.0), OUTPUT_MAX_SHARE * self.limit_s)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def ladder_until(self, keep_share: float, finish_s: float = 0.0) -> float:
        """When the ladder's work must be over: the deadline less ``keep_share`` of the budget and two finishing
        reserves (decoding and verifying its plan, then the answer): each FINISH_SHARE of it, or finish_s if more."""
        return self.deadline - keep_share * self.limit_s - 2 * max(FINISH_SHARE * self.limit_s, finish_s)

    def solver_limit(self, keep_share: float = 0.0, cap_s: float | None = None) -> float:
        """Seconds a solve may take now: what is left, less ``keep_share`` of the budget kept for later stages and
        the finishing reserve, at most ``cap_s``; never below a token 0.01 s (the solver then stops at once)."""
        limit = self.left() - (keep_share + FINISH_SHARE) * self.limit_s - self.finish_s
        if cap_s is not None:
            limit = min(limit, cap_s)
        return max(limit, 0.01)


def _solve_takes_s(n_vars: int) -> float:
    """Seconds ``_solve_formulation`` needs left, with a first plan in hand, to hand a program of ``n_vars`` columns to
    the solver: passing it twice (the start's completion, then the solve; at least ``SOLVE_MIN_S`` each) and
    completing the start, g(n) = 2 max(SOLVE_MIN_S, PASS_S_PER_VAR n) + COMPLETE_S_PER_VAR n."""
    return 2 * max(SOLVE_MIN_S, PASS_S_PER_VAR * n_vars) + COMPLETE_S_PER_VAR * n_vars


def _solvable_columns(limit_s: float) -> int:
    """The most columns n with ``_solve_takes_s(n) <= limit_s``: the full build's cap with a first plan in hand, so
    that the build stops where the solve would be skipped anyway. g grows with n and is linear on each side of
    n0 = SOLVE_MIN_S / PASS_S_PER_VAR, so n = limit / (2 PASS + COMPLETE) where limit >= g(n0), else
    (limit - 2 SOLVE_MIN_S) / COMPLETE; 0 below g(0) = 2 SOLVE_MIN_S. (Until 2026-12-05 the cap was the first form
    alone: below g(n0), 0.44 s, it let a program be built that the solve then skipped.)"""
    if limit_s < 2 * SOLVE_MIN_S:
        return 0
    n0 = SOLVE_MIN_S / PASS_S_PER_VAR
    n = limit_s / (2 * PASS_S_PER_VAR + COMPLETE_S_PER_VAR) if limit_s >= _solve_takes_s(n0) \
        else (limit_s - 2 * SOLVE_MIN_S) / COMPLETE_S_PER_VAR
    n = int(n)
    while n > 0 and _solve_takes_s(n) > limit_s:  # the division's rounding, a step either way
        n -= 1
    while _solve_takes_s(n + 1) <= limit_s:
        n += 1
    return n


def _run(f: Formulation, solver: str, time_limit: float, mip_gap: float, start=None, threads: int = 1,
         on_incumbent=None) -> Solution:
    backend = get_backend(solver, f.problem)
    return backend.solve(f.problem, SolveOptions(time_limit_s=time_limit, mip_gap=mip_gap, start=start,
                                                 threads=threads, on_incumbent=on_incumbent))


def _complete_start(f: Formulation, solver: str, start, limit: float, mip_gap: float) -> Solution | None:
    """The constructive start, its integer columns fixed, completed by the solver (``planner.fleet.restrict.complete``);
    a verified solution of f, or None when the completion found nothing (e.g. a budget row the start breaks)."""
    return complete(f.problem, solver, start, limit, mip_gap)


def _last_resort(f: Formulation, solver: str, start, budget: _Budget, mip_gap: float) -> Solution | None:
    """The completion once more, with at least the whole budget: the only step allowed past it (the completion
    ran out of time in its share, e.g. on an overloaded machine)."""
    return _complete_start(f, solver, start, max(budget.limit_s, 30.0), mip_gap)


def _fallback(f: Formulation, completed: Solution, first: Solution, mip_gap: float) -> Solution:
    """The completed start, reported as ``feasible`` with the first solve's proven bound, if it had one, or the
    closed-form one (``share_bound``) where that is higher."""
    note = (f"the solver found no plan within its limit ({first.message or first.status}); this is {START}, "
            "completed by the solver")
    return finalize_solution(completed.problem, SolveOptions(mip_gap=mip_gap), solver=first.solver,
                             claimed="feasible", x=completed.values, bound=bound_of(f, first.bound),
                             seconds=first.solve_seconds + completed.solve_seconds, message=note)


def _solve_formulation(f: Formulation, solver: str, budget: _Budget, mip_gap: float, tie_break: bool,
                       extra_blocks=(), keep_share: float = 0.0, built_s: float = 0.0,
                       has_first: bool = False, threads: int = 1,
                       beside: Callable[[], Callable | None] | None = None) -> tuple[Formulation, Solution | None, str]:
    """Solve for cost (from the constructive start); then, if asked and the cost solve left time, a second,
    time-boxed solve among cost-optimal fleets for fewer GPUs and offers, started from the cost solution (at most
    ``TIE_BREAK_SHARE`` of the budget and ``TIE_BREAK_OF_COST`` of the cost solve's time; nothing is kept back for it,
    so a cost solve that runs to the limit leaves it none). A second solve stopped by its limit before it found a
    smaller fleet leaves the cost solution as it was, and says so.

    Returns the formulation whose columns the returned solution indexes (the tie-break problem has extra ones).
    ``has_first``: the caller holds a verified first plan (``_first_plan``), so nothing here may overrun the budget
    to make one: the start is completed only within what is left, there is no last resort, and the solution is
    None when no plan came out in time (the caller then prints its first plan). ``threads``: the cost solve's and
    the second solve's (``SolveSettings.threads``); completing the start takes one. ``beside``: called just before
    the cost solve is started (never where it is not), it starts the search beside it and returns the hook to tell
    the completed start and each improving point of the cost solve (``SolveOptions.on_incumbent``, ``fleet.beside``).
    """
    skipped = NO_TIME if tie_break else "off"
    pass_s = max(SOLVE_MIN_S, PASS_S_PER_VAR * f.problem.n_vars)
    if has_first and budget.solver_limit(keep_share) < _solve_takes_s(f.problem.n_vars):
        # completing the start costs the matrix form of the full program and its restriction (XL-2: ~13 s) before
        # the solver runs, which then needs a solve's passing time and as much again to search: with less left, the
        # first plan is as good as it gets from here, and the restricted programs beside get the rest (XL-2 at 120 s
        # spent 50 s of the main thread on it for nothing, holding the GIL from them)
        return f, None, skipped
    start, completed = greedy_start(f), None
    if start is not None:
        # completed first, so that the solver starts from a whole incumbent and a plan exists whatever it finds;
        # always a plan: without a first plan in hand this may overrun a budget that enumerating and building spent
        done_limit = budget.solver_limit(keep_share)
        if not has_first:
            done_limit = max(done_limit, COMPLETE_MIN_S, COMPLETE_SHARE * budget.limit_s)
        completed = _complete_start(f, solver, start, done_limit, mip_gap)
        if completed is not None:
            start = (np.arange(f.problem.n_vars), completed.values)
    limit = budget.solver_limit(keep_share)
    if has_first and completed is None and limit < pass_s:
        return f, None, skipped
    if limit < pass_s and start is not None:
        # the budget is spent (building and completing the start took it): passing a program of millions of
        # columns to the solver again costs tens of seconds whatever its limit (XL-2: 24 s at a 0.01 s limit),
        # so the completed start is the plan, reported feasible with the closed-form bound (share_bound); if the
        # completion found nothing in its share, the last resort comes now, not after a cost solve that cannot either
        if completed is None:
            completed = _last_resort(f, solver, start, budget, mip_gap)
        if completed is not None:
            note = (f"too little of the {budget.limit_s:g} s budget left after building and completing the start "
                    f"to hand the {f.problem.n_vars:,}-column program to the solver; this is {START}, completed "
                    "by the solver")
            return f, finalize_solution(completed.problem, SolveOptions(mip_gap=mip_gap), solver=completed.solver,
                                        claimed="feasible", x=completed.values, bound=bound_of(f),
                                        seconds=completed.solve_seconds, message=note), skipped
    tell = beside() if beside is not None else None
    if tell is not None and completed is not None:
        tell(completed.values)
    sol = _by_period(f, solver, budget, keep_share, mip_gap, start, threads) or _run(f, solver, limit, mip_gap, start,
                                                                                   threads, on_incumbent=tell)
    if has_first and not sol.has_values and completed is None and sol.status not in ("infeasible", "unbounded"):
        return f, None, skipped
    if not sol.has_values and completed is None and start is not None and sol.status not in ("infeasible",
                                                                                            "unbounded"):
        completed = _last_resort(f, solver, start, budget, mip_gap)
    if not sol.has_values and completed is not None:  # also against an "infeasible" claim: a verified point exists
        sol = _fallback(f, completed, sol, mip_gap)
    return _tie_break(f, sol, solver, budget, keep_share, tie_break, extra_blocks, built_s, threads)


def _by_period(f: Formulation, solver: str, budget: _Budget, keep_share: float, mip_gap: float, start,
               threads: int) -> Solution | None:
    """Several periods that share only reserved nodes (``planner.fleet.by_period``; None where the program has one
    period or is too large): the whole program for ``WHOLE_FIRST_S``; unproven, the reserved levels one by one from
    its incumbent where the program splits by period (``applies``); still unproven (it does not split, time, the level
    cap), the whole program again from the best plan, for what is left, its bound the better of the two."""
    if not may_apply(f):
        return None
    first = _run(f, solver, min(budget.solver_limit(keep_share), WHOLE_FIRST_S), mip_gap, start, threads)
    if first.status in ("optimal", "infeasible", "unbounded"):
        return first
    reserved = applies(f)   # the blocks are looked for only now: scipy's import and the graph cost ~0.2 s
    split = None if reserved is None else solve_by_period(f, solver, budget.solver_limit(keep_share), mip_gap,
                                                          first if first.has_values else None, reserved,
                                                          workers=threads)
    if split is not None:
        split = replace(split, solve_seconds=first.solve_seconds + split.solve_seconds)
        if split.status == "optimal" or budget.solver_limit(keep_share) < max(SOLVE_MIN_S,
                                                                              PASS_S_PER_VAR * f.problem.n_vars):
            return split   # proven; or the budget is spent: passing the whole program again would only overrun it
    best = split if split is not None else first
    again = _run(f, solver, budget.solver_limit(keep_share), mip_gap,
                 (np.arange(f.problem.n_vars), best.values) if best.has_values else start, threads)
    if not again.has_values or split is None or split.bound is None or (again.bound is not None
                                                                        and split.bound <= again.bound):
        return again
    return finalize_solution(f.problem, SolveOptions(mip_gap=mip_gap), solver=again.solver, claimed=again.status,
                             x=again.values, bound=split.bound, seconds=split.solve_seconds + again.solve_seconds,
                             message="; ".join(m for m in (split.message, again.message) if m))


def _tie_break(f: Formulation, sol: Solution, solver: str, budget: _Budget, keep_share: float, tie_break: bool,
               extra_blocks, built_s: float, threads: int) -> tuple[Formulation, Solution, str]:
    """The second, time-boxed solve of ``_solve_formulation`` (its docstring) from the cost solution ``sol``."""
    if not (sol.has_values and tie_break):
        return f, sol, "" if tie_break else "off"
    if budget.left() - (keep_share + FINISH_SHARE) * budget.limit_s - budget.finish_s < max(3 * built_s, 0.5):
        return f, sol, "skipped: too little of the time budget left for the second solve"
    cost = sum(fleet_cost(f, sol.values).values())
    cap = cost + 1e-6 * max(1.0, abs(cost))
    g = build(f.scenario, f.options, f.horizon, allow_unmet=f.allow_unmet, extra_blocks=extra_blocks, cost_cap=cap,
              merge=f.merge, project_loads=f.project_loads, share_routing=f.share_routing)
    # the cost problem's columns come first in g, in the same order: the cost solution is g's start
    limit = budget.solver_limit(keep_share, min(TIE_BREAK_SHARE * budget.limit_s,
                                                max(TIE_BREAK_MIN_S, TIE_BREAK_OF_COST * sol.solve_seconds)))
    second = _run(g, solver, limit, 0.0, (np.arange(f.problem.n_vars), sol.values), threads)
    if not second.has_values:
        return f, sol, f"skipped: the second solve ended {second.status} within its {limit:.2g} s"
    before, after = fleet_size(f, sol.values), fleet_size(g, second.values)
    if second.status != "optimal" and after >= before:
        return f, sol, (f"second solve stopped at its {limit:.2g} s limit without finding fewer GPU-hours or offers; "
                        "the cost solve's fleet is kept (not proven to have the fewest)")
    merged = Solution(status=sol.status, objective=sum(fleet_cost(g, second.values).values()), bound=sol.bound,
                      gap=sol.gap, values=second.values, solver=sol.solver,
                      solve_seconds=sol.solve_seconds + second.solve_seconds, message=sol.message, problem=g.problem)
    among = ("cost-optimal fleets" if sol.status == "optimal"
             else "fleets no dearer than the incumbent (cost optimality not proven)")
    note = (f"fewest GPU-hours, then fewest offers, among {among}" if second.status == "optimal"
            else f"second solve stopped at its {limit:.2g} s limit ({second.status}): "
                 f"{'fewer GPU-hours' if after[0] < before[0] else 'as many GPU-hours on fewer offers'} found "
                 f"({after[0]:g} against {before[0]:g} GPU-hours, {after[1]} against {before[1]} offers), not proven "
                 "the fewest")
    return g, merged, note


def _gpu_ids(loaded: LoadedScenario) -> dict[str, str]:
    return {o.id: loaded.catalog.gpu(o.gpu).id for o in loaded.scenario.offers}


def _build_cost(s, options: OptionSet, horizon: Horizon, settings: SolveSettings, extra_blocks,
                deadline: float | None = None, max_vars: int | None = None) -> Formulation:
    """The cost program after the exact reductions: dominated on-demand twins leave (``planner.fleet.reduce``),
    interchangeable ones merge (``planner.fleet.merge``). BuildOutOfTime past ``deadline`` or ``max_vars`` columns."""
    reduced = reduced_options(options, s, horizon)
    policy = settings.merge if horizon.commitments is None else "off"  # plan forecast: commitments, price trends
    merged_s, merged_options, merge = merge_offers(s, reduced, horizon, policy)
    return build(merged_s, merged_options, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
                 merge=merge, project_loads=settings.project_loads, share_routing=settings.share_routing,
                 deadline=deadline, max_vars=max_vars)


def _first_plan(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings: SolveSettings,
                extra_blocks, solver: str, budget: _Budget, emit) -> Plan | None:
    """A verified plan made before the full program is built: the program over the constructive start's own
    deployments (``planner.fleet.start.start_options``), its start completed by the solver, decoded with every
    option of the scenario listed, and verified (what it costs is paid once: the answer if the budget runs out
    later). None where there is no start or the completion found nothing.

    Exact as a plan, not as an optimum: every deployment it uses is an option of the scenario and the caller
    verifies it against the scenario (``planner.verify``), never against this program; its cost is the start's
    (15-50 % above the optimum on the benchmark instances), with the closed-form bound of
    ``planner.fleet.share_bound`` (every request on the GPU share it needs at the cheapest price per request;
    44-79 % below the plan on M-1 and L-1..3), where it is given."""
    s = loaded.scenario
    sub = start_options(s, options, horizon)
    if sub is None:
        return None
    f = build(s, sub, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
              project_loads=settings.project_loads)
    start = greedy_start(f, over=options)   # the rules over every option, mapped onto the program's
    if start is None:
        return None
    done = _complete_start(f, solver, start, max(budget.solver_limit(), SKIP_BELOW_S), s.policy.mip_gap)
    if done is None:
        return None
    bound = share_bound(s, options, horizon, settings.allow_unmet)
    note = (f"this is {START}, completed by the solver on its own deployments; "
            + ("no bound" if bound is None else "bound: every request on the GPU share it needs at the cheapest price "
               "per request (planner.fleet.share_bound)"))
    done = finalize_solution(f.problem, SolveOptions(mip_gap=s.policy.mip_gap), solver=done.solver,
                             claimed="feasible", x=done.values, bound=bound, seconds=done.solve_seconds)
    plan = build_plan(f, replace(done, message=note), gpu_ids=_gpu_ids(loaded),
                      tie_break=NO_TIME if settings.tie_break else "off")
    plan = relist_options(plan, f, options)
    emit("verification", {})
    verification = verify_plan(loaded, plan, allow_unmet=settings.allow_unmet, calibration=settings.calibration)
    # a first plan the verifier rejects is never the fallback: the full program's plan is verified on its own
    return plan.model_copy(update={"verification": verification}) if verification.ok else None


def build_cost_formulation(loaded: LoadedScenario, settings: SolveSettings = SolveSettings(),
                           horizon: Horizon | None = None) -> Formulation:
    """The cost program ``solve_scenario`` solves (for benchmarks: its size and bounds)."""
    s = loaded.scenario
    horizon = horizon or horizon_for(s)
    return _build_cost(s, enumerate_options(loaded, settings.calibration), horizon, settings, hedge_blocks(s))


def _print_first(first: Plan, emit, why: str) -> Plan:
    """The first plan (already verified) as the answer, ``why`` the full program gave none in the budget."""
    emit("done", {"status": first.status, "gap": first.gap, "objective_usd_per_hour": first.objective_usd_per_hour})
    return first.model_copy(update={"message": f"{why}; {first.message}"})


def _rest_of_ladder(ladder: Ladder, until: float, first: Plan | None, gap: float, emit, why: str,
                    caps: float | None = None) -> Plan:
    """The full program gives no plan: the next rungs run until ``until``, the ladder's end (``Ladder.hand_over``;
    now, if they did not beside it, ``Ladder.rest``), and the cheaper of their plan and the first plan is the answer.
    (Until 2026-12-05 a build stopped early took only what the rungs beside it had: L-2 at --time-limit 10 returned
    at 4.6 s once the build stopped at its columns' cap, with 5 s left for rungs that had not started. ``rest`` gets
    the ladder's end, as the rungs started beside the full solve do: their plan's decoding and verifying kept back.)"""
    ladder.hand_over(until)
    late = ladder.rest(until - time.perf_counter())
    plan = with_cap_bound(with_workload_bound(cheaper(first, late), ladder.bound(), gap), caps, gap)
    return _print_first(plan, emit, why)


def _caps_bound(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings: SolveSettings, solver: str,
                restricted: Plan | None, limit_s: float, threads: int, emit, cuts: list) -> float | None:
    """The caps' bound (``planner.fleet.cap_bound``, seeded with the first rung's plan) within ``limit_s`` on
    ``threads`` threads, where the ladder runs with HiGHS (``restricted`` its first rung's plan; one period or many) and
    ``limit_s`` is at least ``CAP_MIN_S`` / ``threads``; None elsewhere. Its workload cuts are appended to ``cuts``
    (rows of the full program: ``planner.fleet.workload_cuts``)."""
    if restricted is None or solver != "highs" or limit_s * threads < CAP_MIN_S:
        return None
    emit("bounding", {"workloads": len(loaded.scenario.workloads)})
    return cap_bound(loaded.scenario, options, horizon, time.perf_counter() + limit_s, settings.allow_unmet,
                     seed=restricted, threads=threads, cuts=cuts)


def solve_scenario(loaded: LoadedScenario, settings: SolveSettings = SolveSettings(),
                   horizon: Horizon | None = None, extra_blocks=(),
                   progress: Callable[[str, dict], None] | None = None) -> Plan:
    """Solve, tie-break, decode, add baselines and verify. Raises InfeasibleError when nothing can serve.

    The time limit is the call's wall-clock budget: enumerating options, building, the cost solve, the tie-break
    (what the cost solve left, at most ``TIE_BREAK_SHARE`` of it) and the baselines (what is left) all come out of
    it; ``FINISH_SHARE`` is kept for decoding and verification. A solve stopped by the limit returns its best
    verified plan as ``feasible`` with bound and gap; SolverError only when no plan was found and infeasibility was
    not proven.

    ``progress(stage, info)``, when given, hears each stage as it starts: ``options``, ``first plan`` (large
    programs, ``_first_plan``; its ``verification`` follows), ``restricted`` (``planner.fleet.restricted``'s first
    rung; its ``verification`` follows; the next rungs report nothing), ``bounding`` (after a first rung:
    ``_caps_bound``), ``building``, ``solving`` (solver,
    time_limit_s),
    ``baselines``, ``verification``, then ``done`` (status).
    """
    emit = progress or (lambda stage, info: None)
    s = loaded.scenario
    solver = settings.solver or s.policy.solver
    budget = _Budget(settings.time_limit_s or s.policy.time_limit_s, settings.started_at)
    emit("options", {"workloads": len(s.workloads), "offers": len(s.offers)})
    t_options = time.perf_counter()
    options = enumerate_options(loaded, settings.calibration)
    options_s = time.perf_counter() - t_options
    fixed_s, per_workload_s, per_deployment_s = settings.output_reserve
    budget.keep_back(fixed_s + per_workload_s * len(s.workloads) + per_deployment_s * len(options.deployments))
    horizon = horizon or horizon_for(s)
    extra_blocks = (*extra_blocks, *hedge_blocks(s))  # the spot hedge (policy.spot); () without spot offers
    if not settings.allow_unmet:
        reasons = explain_infeasible(s, options, loaded.catalog)
        if reasons:
            raise InfeasibleError("no fleet can serve the demand", reasons)
    first, first_s = None, 0.0
    short = FIRST_PLAN_WHEN_SHORT and budget.left() < options_s
    if short or len(options.deployments) * len(horizon.periods) >= FIRST_PLAN_MIN:
        emit("first plan", {"options": len(options.deployments), "periods": len(horizon.periods)})
        t_first = time.perf_counter()
        first = _first_plan(loaded, options, horizon, settings, extra_blocks, solver, budget, emit)
        first_s = time.perf_counter() - t_first
        # the full program's build costs at least what the first plan's did, and a solve under SKIP_BELOW_S is
        # never started: with less than both left, building it could only overrun the budget
        if first is not None and short and budget.left() < first_s + SKIP_BELOW_S:
            return _print_first(first, emit, f"the options stage took {options_s:.1f} s of the {budget.limit_s:g} s "
                                f"budget ({len(options.deployments):,} deployments), too little was left to build "
                                "the full program")
    keep = BASELINE_SHARE if settings.baselines else 0.0
    ladder = Ladder(loaded, options, horizon, settings, extra_blocks, solver, emit)  # planner.fleet.restricted
    # a rung builds, solves and verifies a smaller program, as the first plan did: what that took is kept for its
    # build and verification (XL at 5 s: a rung started with 1.4 s left overran the budget by a fifth)
    restricted = ladder.first(min(RESTRICT_SHARE * budget.limit_s, budget.solver_limit(keep) - first_s))
    first = cheaper(first, restricted)
    # beside the full solve: the next rungs and the search until the ladder's end (their plan's decoding and verifying
    # kept back: a rung given the whole solver limit ended ~1 s late, L-2 at --time-limit 10 at 11.1 s in 1 of 4 runs)
    until = budget.ladder_until(keep, ladder.finish_s)   # the same from here on: the first rung set finish_s
    ladder.start_next(min(ladder.next_share() * budget.limit_s, until - time.perf_counter()))
    ladder.search_until(until)
    # on the threads the full solve would have (one fewer beside the ladder's thread, as it)
    cuts: list = []
    caps = _caps_bound(loaded, options, horizon, settings, solver, restricted, CAP_SHARE * budget.solver_limit(keep),
                       max(1, settings.threads - 1) if ladder.beside else settings.threads, emit, cuts)
    emit("building", {"options": len(options.deployments)})
    t_build = time.perf_counter()
    deadline = max_vars = None
    if first is not None:  # stop in time to print the first plan, and past more columns than could be solved in time
        t0, max_vars = time.perf_counter(), _solvable_columns(budget.solver_limit(keep))
        deadline = t0 + FIRST_BUILD_SHARE * (budget.deadline - (keep + FINISH_SHARE) * budget.limit_s - t0)
    try:
        # the caps' bound's workload cuts start the full program's relaxation from that bound (workload_cuts)
        f = _build_cost(s, options, horizon, settings, (*extra_blocks, cut_block(cuts)) if cuts else extra_blocks,
                        deadline, max_vars)
    except BuildOutOfTime as stop:   # the next rungs have the rest (their plan's decoding and verification kept)
        return _rest_of_ladder(ladder, until, first, s.policy.mip_gap, emit, f"the {budget.limit_s:g} s budget ran "
                               f"out while building the full program ({stop})", caps)
    built_s = time.perf_counter() - t_build
    budget.finish_s = FINISH_S_PER_VAR * f.problem.n_vars
    # where the ladder does not run (M), the search beside the full solve from its own incumbents (planner.fleet.beside)
    beside = FullSearch(loaded, options, horizon, settings, extra_blocks, solver)
    begin = None if restricted is not None else functools.partial(
        beside.start, f, budget.deadline - (1 - AFTER_SHARE) * budget.limit_s, until)
    emit("solving", {"solver": solver, "time_limit_s": budget.limit_s})
    # one thread fewer while the restricted programs' thread runs beside it (on L and XL); the search beside (M) waits
    # a third of the budget first and takes none from the solve
    threads = max(1, settings.threads - 1) if ladder.beside else settings.threads
    f, sol, note = _solve_formulation(f, solver, budget, s.policy.mip_gap, settings.tie_break, extra_blocks, keep,
                                      built_s, has_first=first is not None, threads=threads, beside=begin)
    if sol is not None and sol.status != "feasible":
        ladder.stop_search()   # optimal (nothing can beat it) or no plan; a solve stopped by its limit ran as long
    if sol is None or sol.status != "feasible":
        beside.stop(proven=sol.objective if sol is not None and sol.status == "optimal" else None)
    if sol is None:  # the next rungs, now or on beside, with what the full program's solve cannot use
        beside.plan()
        return _rest_of_ladder(ladder, until, first, s.policy.mip_gap, emit, f"too little of the "
                               f"{budget.limit_s:g} s budget was left after building the full program "
                               f"({f.problem.n_vars:,} columns) to complete its start and solve it", caps)
    if sol.status in ("infeasible", "unbounded") or not sol.has_values:
        ladder.next_plan()  # its solves redirect fd 1/2 (solvers.quiet): over before an error is printed
        beside.plan()
        if sol.status == "infeasible":
            reasons = explain_infeasible(s, options, loaded.catalog)
            min_cost = None
            if s.policy.budget_usd_per_hour is not None:
                free = s.model_copy(update={"policy": s.policy.model_copy(update={"budget_usd_per_hour": None})})
                g = build(free, options, horizon, extra_blocks=extra_blocks)
                alt = _run(g, solver, max(budget.solver_limit(), 1.0), s.policy.mip_gap)
                min_cost = alt.objective if alt.has_values else None
            raise InfeasibleError("no fleet can serve the demand",
                                  reasons or explain_hedge(s, options, joint_reason(s, min_cost)))
        raise SolverError(f"{solver}: {sol.status}: {sol.message or 'no solution found within the time limit'}")
    plan = build_plan(f, sol, gpu_ids=_gpu_ids(loaded), tie_break=note)
    # a solver stopped before its root bound (XL at 120 s) has none: the closed-form one then, if higher
    plan = with_bound(plan, bound_of(f), s.policy.mip_gap)
    plan = adopt_cheaper(plan, cheaper(cheaper(restricted, ladder.next_plan()), beside.plan()), s.policy.mip_gap)
    plan = with_workload_bound(plan, ladder.bound(), s.policy.mip_gap)  # on several periods
    plan = with_cap_bound(plan, caps, s.policy.mip_gap)  # where the ladder runs
    if settings.baselines:
        emit("baselines", {"time_limit_s": budget.solver_limit()})
        plan = plan.model_copy(update={"baselines": tuple(baselines(loaded, options, horizon, solver,
                                                                    budget.solver_limit()))})
    emit("verification", {})
    verification = verify_plan(loaded, plan, allow_unmet=settings.allow_unmet, calibration=settings.calibration)
    emit("done", {"status": plan.status, "gap": plan.gap, "objective_usd_per_hour": plan.objective_usd_per_hour})
    return plan.model_copy(update={"verification": verification})
