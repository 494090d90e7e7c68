r"""A lower bound on the cheapest fleet from each workload's own integer program: node packing priced away.

``planner.fleet.share_bound`` prices every request at the cheapest GPU share, with no integrality, minimum
replicas beyond the first, or spot hedge. This bound keeps all of those that concern one workload and drops only
what couples workloads. Symbols as in ``planner.fleet.formulation`` and ``planner.fleet.hedge``.

Relax the node packing rows sum_{d on o} g_d r_{d,t} <= G_o N_{o,t} (with MIG: each partitioned GPU holds at most 7
compute slices, so its instances' c_q / 7 add up to at most 1; ``share_bound``) with multipliers
mu_{o,t} = h_t p_{o,t} / (H G_o) >= 0: the node columns' reduced costs h_t p_{o,t} / H - G_o mu_{o,t} are 0, so they
drop out, and every replica costs pi_{d,t} g_d (pi the price of one GPU of its offer per hour; 0 on an offer with
owned nodes, whose nodes cost nothing up to R_o: its multiplier is 0). Also drop the caps, the budget and the
availability target's node-loss states (they couple workloads through the spot node count) — a relaxation only
removes rows. What is left separates by workload and period: for each (w, t) with demand,

    LB_{w,t} = min sum_{d in D_w} pi_{d,t} g_d r_d  over w's rows in t: demand and capacity (loads x), min replicas,
               the non-spot floor, the pool-loss routing of every pool set; r integer

(``planner.fleet.workload_programs.program_rows`` with no room rows), and

    bound = (1/H) sum_t h_t sum_w max(LB_{w,t}, share term_{w,t})

(the share term bounds the same (w, t) program from below, so the max is valid; it is what a workload gets whose
program was not solved in time). Each LB is the solver's proven bound of its program (its optimum when solved):
any feasible point of the scenario restricted to (w, t) is a point of w's program, so the bound is valid however
early the solver stopped.

Monotone in demand: every row of w's program in t is a share of lambda_{w,t} on its right-hand side, or
independent of it, so LB_{w}(lambda) does not decrease with lambda (prices equal). On a horizon of many periods
each workload's program is solved only at a few demand levels (``LEVELS``, the smallest and largest among them)
and each period takes the LB of the largest level at or below its demand: valid, a little weaker. Given more time
(``all_levels``: every period's own demand level), each period gets its own LB; a ``memo`` shared between calls
keeps the levels already solved (XL-2: 194.7 USD/h from four levels in 29 s, 204.5 from all of them in 78 s;
docs/BENCHMARKS.md, thirty-fifth pass).

Not given (None) where ``share_bound`` is not: unmet demand allowed, commitments.
"""

from __future__ import annotations

import math
import time

from planner.fleet.dominance import Dominance
from planner.fleet.horizon import Horizon
from planner.fleet.options import Deployment, OptionSet
from planner.fleet.share_bound import gpu_price, hourly_mean, share_terms
from planner.fleet.workload_programs import program_inputs, program_rows, solve_rows
from planner.scenario.model import Scenario

LEVELS = 4  # demand levels per workload on a horizon of several periods
PROGRAM_LIMIT_S = 1.0  # each program's time; its proven bound is used whenever it stops


def workload_bound(s: Scenario, options: OptionSet, horizon: Horizon, deadline: float,
                   allow_unmet: bool = False, all_levels: bool = False, memo: dict | None = None) -> float | None:
    """The bound of the module docstring, USD/hour; None where it is not given or some workload cannot be served
    (the program is then infeasible). Workloads not reached by ``deadline`` (``time.perf_counter``) keep their
    share term. ``all_levels``: every period's demand level, not ``LEVELS`` of them per workload and prices;
    ``memo``: the proven LB of each (workload, prices, level) solved with its whole ``PROGRAM_LIMIT_S``, read and
    added to (one scenario, options and horizon only)."""
    terms = share_terms(s, options, horizon, allow_unmet)
    if terms is None:
        return None
    offers = {o.id: o for o in s.offers}
    sets, by_w = program_inputs(s, options)
    best = dict(terms)
    for w in s.workloads:
        deps = by_w.get(w.id, [])
        dominance = Dominance(s, deps)
        # periods with the same prices share one demand curve LB(lambda)
        groups: dict[tuple, list[int]] = {}
        for t, per in enumerate(horizon.periods):
            if (w.id, t) in terms:
                key = tuple(sorted((d.offer, gpu_price(offers[d.offer], per)) for d in deps))
                groups.setdefault(key, []).append(t)
        for key, ts in groups.items():
            per0 = horizon.periods[ts[0]]
            prices = [gpu_price(offers[d.offer], per0) * d.gpu_share for d in deps]
            off = dominance.dominated(prices)
            demand = sorted({horizon.periods[t].demand_rpm[w.id] for t in ts})
            floor: dict[float, float] = {}
            for lam in _levels(demand, None if all_levels else LEVELS):
                known = memo.get((w.id, key, lam)) if memo is not None else None
                if known is None:
                    if time.perf_counter() >= deadline:
                        break
                    limit = min(PROGRAM_LIMIT_S, deadline - time.perf_counter())
                    known = _floor(s, w, deps, lam, prices, sets, limit, off)
                    if known is None:
                        return None
                    if memo is not None and limit >= PROGRAM_LIMIT_S:   # one the deadline cut short is tried again
                        memo[(w.id, key, lam)] = known
                floor[lam] = known
            for t in ts:
                lam = horizon.periods[t].demand_rpm[w.id]
                below = [floor[x] for x in floor if x <= lam]
                if below:
                    best[(w.id, t)] = max(best[(w.id, t)], max(below))
    return hourly_mean(best, horizon)


def _levels(demand: list[float], levels: int | None) -> list[float]:
    """The demand levels to solve at (``demand`` sorted ascending): all of them up to ``levels`` (None: all), else the
    largest, the smallest and evenly spaced ones between; largest first (the bound's weight is at the peak)."""
    if levels is None or len(demand) <= levels:
        return demand[::-1]
    if levels == 1:
        return [demand[-1]]
    step = (len(demand) - 1) / (levels - 1)
    return sorted({demand[round(k * step)] for k in range(levels)}, reverse=True)


def _floor(s: Scenario, w, deps: list[Deployment], lam: float, prices: list[float], sets,
           limit_s: float, off=None) -> float | None:
    """The proven lower bound of w's program at demand ``lam`` (the solver's dual bound: its optimum when solved, 0
    when it proved nothing); None when the program is infeasible. ``off``: the dominated deployments at ``prices``
    (``planner.fleet.dominance``), fixed to 0: the same optimum, sooner."""
    return proven_bound(solve_rows(program_rows(s, w, deps, lam, prices, {}, sets), max(limit_s, 0.01), 0.0, off))


def proven_bound(h) -> float | None:
    """The proven lower bound of a workload's program that HiGHS ``h`` ran (``workload_programs.solve_rows``): its
    dual bound, the optimum when solved, 0 when it proved nothing (prices are >= 0); None when it is infeasible."""
    import highspy  # noqa: PLC0415

    if h.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return None
    bound = float(h.getInfo().mip_dual_bound)   # at its optimum too: never above it, whatever the tolerances
    return bound if math.isfinite(bound) else 0.0
