r"""Solve the forecast's integer program exactly and fast: a decomposition over the monthly reserved level.

The model is the one integer program of ``planner.fleet.formulation`` over the forecast horizon: commitments c_{k,s},
reserved nodes m_e = sum of the commitments active in month e, and the on-demand/spot fleet of every hour.
Solved as it stands, it is a sum of 12 x 24 small integer programs coupled only through m_e; branch and bound
proves such sums slowly (each hour's integrality gap multiplies the tree: HiGHS took 84 s on the example forecast
without its spot node, and was still 1.8 % from optimal after 600 s with it). Fixing the reserved level of a month
decouples it (about 25 s for the example, proven optimal):

    F_e(R)   = the least on-demand/spot USD of month e when R reserved nodes (beyond the owned ones) are held for
               free: the same formulation restricted to month e's periods, with R more owned nodes. F_e is
               non-increasing in R (idle nodes are allowed) and stays 0 from the first R_e^0 with F_e(R_e^0) = 0.
    K_{k,s}  = q_{k,s} x (every hour of the term, the tail too) + f_k: the whole cost of one node signed through k
               in month s (the formulation's objective coefficient of c_{k,s}, times H).

    master   min sum_{k,s} K_{k,s} c_{k,s} + sum_e sum_{R < R_e^0} F_e(R) z_{e,R}
             sum_R z_{e,R} + z^0_e = 1;  sum_{(k,s) active in e} c_{k,s} = sum_R R z_{e,R} + y_e;
             R_e^0 z^0_e <= y_e <= Ubar z^0_e;  sum_s c_{k,s} <= C_k;  z binary, c and y integer

    z_{e,R} picks month e's level below R_e^0 and z^0_e any level from R_e^0 on (F_e = 0 there); levels at which
    month e is infeasible get no z. Ubar bounds the level: max_nodes less the owned nodes, the option caps together,
    and the cost of committing nothing over the cheapest K (more nodes than that cost more than committing nothing).

1. Evaluate F_e(0) for every month; Ubar. Price every other level R <= Ubar of every month at a lower bound on
   F_e(R): its LP relaxation (``planner.fleet.level_bound.relaxation_bound``, milliseconds), raised to the proven
   bound of any level evaluated above it (F_e does not increase with R); a level below one proven infeasible, or
   whose relaxation is infeasible, cannot serve the month and gets no z.
2. Solve the master with each level at its price (the evaluated ones at their proven lower bound, = F_e(R) when
   solved to optimality): its optimum is a lower bound on the whole program. Evaluate the levels it chose that were
   not evaluated, and solve it again, until it chooses only evaluated levels: its optimum is then attained by
   step 3 (every price it pays is exact), so it is the optimum. On ``scenarios/forecast-growth.yaml`` 46 month-level
   programs and 4 masters instead of every level of every month (69 programs), 33-41 s instead of 47-52 s for
   ``plan forecast`` (docs/BENCHMARKS.md, thirty-fourth pass): the relaxation sits a near-constant 5-7 USD/h below
   F_e(R), so the master asks only for the levels near its choice.
   The months are independent: where month 0's level-0 program took ``PARALLEL_MIN_S`` / months or more, the other
   months' level 0, their LP prices and each round's levels are evaluated in forked workers, a month each
   (``planner.perf.workers``; the same programs solved the same way as in process, so the same numbers).
3. Put the master's commitments and, month by month, the fleet of the level it chose into one solution vector of
   the whole program (its period keys end with the period index), check every row of the whole program
   (``planner.problem.finalize_solution``), decode and verify it like any plan. Were a row violated, the whole
   program would be solved with the commitments fixed instead.

A horizon without commitments (the all-on-demand and no-commitment comparisons) decouples by month outright
(``monthly_usd``). The decomposition is used when one reserved offer has commitment options and no hourly budget
applies (the budget row charges the commitments' rates, which the level subproblems do not see); otherwise the
whole program is solved directly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np

from planner.errors import InfeasibleError, SolverError
from planner.fleet.formulation import Formulation, build
from planner.fleet.split import solve_split
from planner.fleet.horizon import CommitmentOption, Horizon
from planner.fleet.options import OptionSet, enumerate_options
from planner.plan import Plan
from planner.fleet.plan_build import build_plan
from planner.problem import Problem, Solution, SolveOptions, finalize_solution
from planner.scenario.io import LoadedScenario
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.fleet.hedge import hedge_blocks
from planner.fleet.level_bound import relaxation_bound
from planner.perf.workers import PARALLEL_MIN, run_forked, worker_count
from planner.verify import verify_plan
from solvers.registry import get_backend

ZERO_USD = 1e-6
PARALLEL_MIN_S = 2.0   # month 0's level-0 seconds x months, from which the rest goes to forked workers (the example
# forecast: ~0.8 s x 12, and ~50 s above level 0, on this machine; the property tests' forecasts: well under 1 s)


@dataclasses.dataclass
class _Levels:
    """F_e(R) per month: {R: (proven lower bound, value)} for the feasible levels evaluated; R_e^0 (None: not
    reached); the subproblems kept for step 3."""

    values: list[dict[int, tuple[float, float]]]
    zero_from: list[int | None]
    solved: dict[tuple[int, int], tuple[Formulation, Solution]] = dataclasses.field(default_factory=dict)
    cap: int = 0  # Ubar
    runs: int = 0
    seconds: float = 0.0
    all_optimal: bool = True
    lp: list[dict[int, float]] = dataclasses.field(default_factory=list)  # USD lower bounds of levels not evaluated
    infeasible: list[set[int]] = dataclasses.field(default_factory=list)  # levels whose program is infeasible
    workers: int = 1
    rounds: int = 0
    offer: str = ""


def _options(loaded: LoadedScenario, settings: SolveSettings) -> tuple[str, SolveOptions]:
    s = loaded.scenario
    return (settings.solver or s.policy.solver,
            SolveOptions(time_limit_s=settings.time_limit_s or s.policy.time_limit_s, mip_gap=s.policy.mip_gap))


def _month_formulation(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, month: int, offer: str | None,
                       level: int) -> Formulation:
    """Month ``month``'s periods alone, ``level`` more owned nodes of ``offer``, no commitments."""
    s = loaded.scenario
    offers = tuple(o.model_copy(update={"owned_nodes": o.owned_nodes + level}) if o.id == offer else o
                   for o in s.offers)
    sub = s.model_copy(update={"offers": offers})
    periods = tuple(dataclasses.replace(p, epoch=0) for p in horizon.periods if p.epoch == month)
    h = Horizon(periods=periods, epoch_names=(horizon.epoch_names[month],), commitments=())
    return build(sub, options, h, extra_blocks=hedge_blocks(sub))


def _month_problem(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, month: int, offer: str | None,
                   level: int, settings: SolveSettings) -> tuple[Formulation, Solution]:
    """``_month_formulation``, solved block by block."""
    f = _month_formulation(loaded, options, horizon, month, offer, level)
    solver, opts = _options(loaded, settings)
    return f, solve_split(f.problem, solver, opts)


def monthly_usd(loaded: LoadedScenario, horizon: Horizon, settings: SolveSettings,
                progress: Callable[[str, dict], None] | None = None) -> tuple[float | None, str]:
    """USD of a horizon without commitments, month by month (its months are independent), and the status."""
    options = enumerate_options(loaded, settings.calibration)
    total, statuses = 0.0, set()
    for e in range(horizon.n_epochs):
        if progress:
            progress("month", {"done": e, "total": horizon.n_epochs, "month": horizon.epoch_names[e]})
        f, sol = _month_problem(loaded, options, horizon, e, None, 0, settings)
        if not sol.has_values:
            return None, sol.status
        statuses.add(sol.status)
        total += sol.objective * f.horizon.total_hours
    return total, "optimal" if statuses == {"optimal"} else "feasible"


def _whole_cost(c: CommitmentOption, start: int, epoch_hours: tuple[float, ...]) -> float:
    """K_{k,s}: USD of one node signed through c at ``start``, its whole term (tail and upfront fee included)."""
    hours = sum(epoch_hours[start:start + c.term_epochs]) + c.tail_hours[start]
    return c.usd_per_node_hour[start] * hours + c.upfront_usd_per_node


def _level_cap(loaded: LoadedScenario, horizon: Horizon, offer: str, no_commit_usd: float | None) -> int | None:
    o = loaded.scenario.offer(offer)
    caps = [o.max_nodes - o.owned_nodes] if o.max_nodes is not None else []
    options = [c for c in horizon.commitments if c.offer == offer]
    if all(c.max_nodes is not None for c in options):
        caps.append(sum(c.max_nodes for c in options))
    if no_commit_usd is not None:
        cheapest = min(_whole_cost(c, s, horizon.epoch_hours) for c in options for s in range(horizon.n_epochs))
        caps.append(int(math.floor(no_commit_usd / cheapest + 1e-9)) if cheapest > 0 else 10**6)
    return min(caps) if caps else None


def _evaluate(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, offer: str,
              settings: SolveSettings, progress: Callable[[str, dict], None] | None = None) -> _Levels | None:
    """Step 1. None when the levels cannot be bounded or a subproblem ends without an answer (solve directly)."""
    E, hours = horizon.n_epochs, horizon.epoch_hours
    lv = _Levels(values=[{} for _ in range(E)], zero_from=[None] * E, infeasible=[set() for _ in range(E)])

    def solve(e: int, level: int) -> tuple[Formulation, Solution]:
        return _month_problem(loaded, options, horizon, e, offer, level, settings)

    def record(e: int, level: int, f: Formulation | None, sol: Solution) -> bool:
        return _record(lv, hours[e], e, level, f, sol)

    def level_0(months: tuple[int, int]) -> list[Solution]:
        return [dataclasses.replace(solve(e, 0)[1], problem=None) for e in range(*months)]

    t0 = time.perf_counter()
    if progress:
        progress("month", {"done": 0, "total": E, "month": horizon.epoch_names[0]})
    if not record(0, 0, *solve(0, 0)):
        return None
    # month 0 at level 0 tells what the rest will take: every month, every level in workers where it is enough
    workers = worker_count(PARALLEL_MIN) if (time.perf_counter() - t0) * E >= PARALLEL_MIN_S and E > 2 else 1
    firsts = run_forked(level_0, [(e, e + 1) for e in range(1, E)], workers) if workers > 1 else None
    for e in range(1, E):
        if progress:
            progress("month", {"done": e, "total": E, "month": horizon.epoch_names[e]})
        if not record(e, 0, *((None, firsts[e - 1][0]) if firsts is not None else solve(e, 0))):
            return None
    feasible = all(0 in v for v in lv.values)
    cap = _level_cap(loaded, horizon, offer, sum(v[0][1] for v in lv.values) if feasible else None)
    if cap is None:
        return None

    def lp_prices(months: tuple[int, int]) -> list[dict[int, float]]:
        """Each month's levels 1 .. Ubar priced at their LP relaxation (``level_bound.relaxation_bound``), USD."""
        return [{level: (relaxation_bound(_month_formulation(loaded, options, horizon, e, offer, level).problem)
                         or 0.0) * hours[e] for level in range(1, cap + 1)} for e in range(*months)]

    todo = [e for e in range(E) if lv.zero_from[e] is None]
    per_month = run_forked(lp_prices, [(e, e + 1) for e in todo], workers) if workers > 1 and len(todo) > 1 else None
    got = {e: (per_month[i][0] if per_month is not None else lp_prices((e, e + 1))[0]) for i, e in enumerate(todo)}
    lv.lp = [got.get(e, {}) for e in range(E)]
    lv.cap, lv.workers, lv.offer = cap, workers, offer
    return lv


def _record(lv: _Levels, hours: float, e: int, level: int, f: Formulation | None, sol: Solution) -> bool:
    """Enter month e's level program's answer in ``lv``; False when it ended without one (nor a proof of none)."""
    lv.runs += 1
    lv.seconds += sol.solve_seconds
    if sol.status == "infeasible":
        lv.infeasible[e].add(level)
        return True
    if not sol.has_values:
        return False
    bound = sol.bound if sol.bound is not None and math.isfinite(sol.bound) else 0.0
    lv.values[e][level] = (bound * hours, sol.objective * hours)
    lv.solved[(e, level)] = (f, sol)
    lv.all_optimal &= sol.status == "optimal"
    if sol.objective * hours <= ZERO_USD and (lv.zero_from[e] is None or level < lv.zero_from[e]):
        lv.zero_from[e] = level
    return True


def _chosen(horizon: Horizon, master: Solution) -> list[int]:
    """The reserved level of each month in the master's solution: the commitments active in it."""
    return [sum(int(round(master.value(("commit", k, s)))) for k, c in enumerate(horizon.commitments)
                for s in range(horizon.n_epochs) if c.active(s, e)) for e in range(horizon.n_epochs)]


def _refine(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, offer: str, settings: SolveSettings,
            lv: _Levels, progress: Callable[[str, dict], None] | None = None) -> Solution | None:
    """Steps 1 and 2 together: the master solved with every level not evaluated priced at its lower bound, the levels
    it chooses evaluated, until it chooses only evaluated ones (module docstring). None when a level program ends
    without an answer (the caller solves directly)."""
    hours = horizon.epoch_hours

    def level_of(pair: tuple[int, int]) -> Solution:
        sol = _month_problem(loaded, options, horizon, pair[0], offer, pair[1], settings)[1]
        return dataclasses.replace(sol, problem=None)   # rebuilt where step 3 needs it

    while True:
        master = _master(horizon, lv, loaded, settings)
        if not master.has_values:
            return master
        lv.rounds += 1
        todo = [(e, level) for e, level in enumerate(_chosen(horizon, master))
                if level not in lv.values[e] and (lv.zero_from[e] is None or level < lv.zero_from[e])]
        if not todo:
            return master
        done = run_forked(level_of, todo, lv.workers) if lv.workers > 1 and len(todo) > 1 else None
        for i, (e, level) in enumerate(todo):
            if progress:
                progress("levels", {"done": i, "total": len(todo), "month": horizon.epoch_names[e]})
            if not _record(lv, hours[e], e, level, None, done[i] if done is not None else level_of((e, level))):
                return None


def _prices(lv: _Levels, e: int) -> dict[int, float]:
    """Month e's levels below R_e^0 that may serve it, each at a lower bound on F_e (USD): its proven bound where
    evaluated; else the larger of its LP relaxation's and the evaluated levels' above it (F_e does not increase with
    the level). None below a level proven infeasible (fewer nodes cannot serve what more could not)."""
    zero, done = lv.zero_from[e], lv.values[e]
    top = lv.cap if zero is None else zero - 1
    low = max(lv.infeasible[e], default=-1) + 1
    out = {}
    for r in range(low, top + 1):
        if r in done:
            out[r] = done[r][0]
        elif math.isfinite(lp := lv.lp[e].get(r, math.inf)):
            out[r] = max([lp] + [done[s][0] for s in done if s > r])
    return out


def _master(horizon: Horizon, lv: _Levels, loaded: LoadedScenario, settings: SolveSettings) -> Solution:
    """Step 2: the master program over commitments and monthly levels (see the module docstring)."""
    E, H, cap = horizon.n_epochs, horizon.total_hours, lv.cap
    p = Problem("forecast-master")
    commits = list(enumerate(horizon.commitments))
    for k, c in commits:
        ub = cap if c.max_nodes is None else min(cap, c.max_nodes)
        cols = p.add_vars("commit", [(k, s) for s in range(E)], 0, ub, integer=True)
        p.add_cost("commitments", cols, [_whole_cost(c, s, horizon.epoch_hours) / H for s in range(E)])
    for e in range(E):
        zero, price = lv.zero_from[e], _prices(lv, e)
        levels = sorted(price)
        if not levels and zero is None:
            raise InfeasibleError(f"no fleet can serve month {horizon.epoch_names[e]} even with {cap} reserved "
                                  f"nodes of {lv.offer}")
        cols = p.add_vars("level", [(e, r) for r in levels], 0, 1, integer=True)
        p.add_cost("flex", cols, [price[r] / H for r in levels])
        one = {("level", e, r): 1.0 for r in levels}
        link = {("commit", k, s): 1.0 for k, c in commits for s in range(E) if c.active(s, e)}
        link.update({("level", e, r): -float(r) for r in levels if r})
        if zero is not None:
            z0 = p.add_var(("top_level", e), 0, 1, integer=True)
            y = p.add_var(("top_nodes", e), 0, cap, integer=True)
            one[z0], link[y] = 1.0, -1.0
            p.add_constraint("top_lo", (e,), {y: 1.0, z0: -float(zero)}, ">=", 0.0)
            p.add_constraint("top_hi", (e,), {y: 1.0, z0: -float(cap)}, "<=", 0.0)
        p.add_constraint("one_level", (e,), one, "==", 1.0)
        p.add_constraint("link", (e,), link, "==", 0.0)
    for k, c in commits:
        if c.max_nodes is not None:
            p.add_constraint("option_cap", (k,), {("commit", k, s): 1.0 for s in range(E)}, "<=", float(c.max_nodes))
    solver, opts = _options(loaded, settings)
    return get_backend(solver, p).solve(p, opts)


def _assemble(full: Formulation, lv: _Levels, levels: list[int], offer: str, fixed: tuple[CommitmentOption, ...],
              rebuild: Callable[[int, int], Formulation]) -> np.ndarray | None:
    """Step 3: the whole program's solution vector from the commitments and each month's level solution (its
    program rebuilt by ``rebuild(month, level)`` where a worker solved it: ``build`` is deterministic, so the same
    columns in the same order)."""
    p, x = full.problem, np.zeros(full.problem.n_vars)
    for k, c in enumerate(fixed):
        for s, n in enumerate(c.fixed_nodes):
            x[p.index(("commit", c.offer, k, s))] = n
    first = 0
    for e, level in enumerate(levels):
        x[p.index(("reserved", offer, e))] = level
        at = min(level, lv.zero_from[e]) if lv.zero_from[e] is not None else level
        sub, sol = lv.solved[(e, at)]
        sub = sub or rebuild(e, at)
        for col, key in enumerate(sub.problem.var_keys):
            if key[0] == "reserved":
                continue  # no new reserved nodes in a level subproblem: its level is owned
            if not isinstance(key[-1], int):
                return None
            try:
                x[p.index((*key[:-1], first + key[-1]))] = sol.values[col]
            except KeyError:
                return None
        first += len(sub.horizon.periods)
    return x


def solve_forecast(loaded: LoadedScenario, horizon: Horizon, settings: SolveSettings,
                   progress: Callable[[str, dict], None] | None = None) -> tuple[Plan, dict]:
    """The forecast's plan and how it was found: ``{"method": "decomposition" | "direct", "subproblems": n}``.

    ``progress(stage, info)`` hears ``month`` / ``levels`` (done, total), ``master`` and ``verification``, or the
    stages of ``solve_scenario`` when the whole program is solved directly."""
    s = loaded.scenario
    offers = {c.offer for c in horizon.commitments or ()}
    direct = {"method": "direct", "subproblems": 0}
    if len(offers) != 1 or s.policy.budget_usd_per_hour is not None:
        return solve_scenario(loaded, settings, horizon=horizon, progress=progress), direct
    (offer,) = offers
    options = enumerate_options(loaded, settings.calibration)
    lv = _evaluate(loaded, options, horizon, offer, settings, progress)
    if lv is None:
        return solve_scenario(loaded, settings, horizon=horizon, progress=progress), direct
    if progress:
        progress("master", {"subproblems": lv.runs})
    master = _refine(loaded, options, horizon, offer, settings, lv, progress)
    if master is None:
        return solve_scenario(loaded, settings, horizon=horizon, progress=progress), direct
    if not master.has_values:
        raise SolverError(f"forecast master program: {master.status}: {master.message}")
    E = horizon.n_epochs
    fixed = tuple(dataclasses.replace(c, fixed_nodes=tuple(int(round(master.value(("commit", k, st))))
                                                          for st in range(E)))
                  for k, c in enumerate(horizon.commitments))
    fixed_horizon = dataclasses.replace(horizon, commitments=fixed)
    levels = _chosen(horizon, master)
    info = {"method": "decomposition", "subproblems": lv.runs + lv.rounds,  # month-level programs and the masters
            "no_commitment_usd": sum(v[0][1] for v in lv.values) if all(0 in v for v in lv.values) else None,
            "no_commitment_status": "optimal" if lv.all_optimal else "feasible"}
    full = build(s, options, fixed_horizon, extra_blocks=hedge_blocks(s))
    x = _assemble(full, lv, levels, offer, fixed,
                  lambda e, level: _month_formulation(loaded, options, horizon, e, offer, level))
    solver, opts = _options(loaded, settings)
    seconds = lv.seconds + master.solve_seconds
    claimed = "optimal" if lv.all_optimal and master.status == "optimal" else "feasible"
    sol = None if x is None else finalize_solution(full.problem, opts, solver=solver, claimed=claimed, x=x,
                                                   bound=master.bound, seconds=seconds,
                                                   message=f"exact decomposition over {lv.cap + 1} reserved levels "
                                                           f"({lv.runs} month-level programs, {lv.rounds} masters)")
    if sol is None or full.problem.violations(sol.values):  # cannot happen unless a block couples months
        return solve_scenario(loaded, settings, horizon=fixed_horizon, progress=progress), direct
    plan = build_plan(full, sol, gpu_ids={o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}, tie_break="off")
    if progress:
        progress("verification", {})
    verification = verify_plan(loaded, plan, calibration=settings.calibration)
    return plan.model_copy(update={"verification": verification}), info
