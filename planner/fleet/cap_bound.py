r"""A lower bound on the cheapest fleet from the workloads' own programs, with the offers' node caps priced in.

``planner.fleet.workload_bound`` drops every row that couples workloads, among them the offers' caps
(``max_nodes``): each workload may then take the cheapest capped offer whole, and on the generator's L instances the
bound falls below the program's LP relaxation (L-2: 252.6 against 257.7 USD/h; the best plan known is 331.9).
Here the caps are kept in the Lagrangian way. Symbols as in ``planner.fleet.workload_bound``; for a period t and a
capped offer o (not owned), every plan satisfies

    sum_{d on o} s_d r_{d,t} <= G_o U_o          (s_d = d.gpu_share: tp, or c/7 of a GPU for a MIG instance)

(a node holds G_o GPUs and a partitioned GPU at most 7 compute slices, as ``planner.fleet.share_bound`` uses). For
any nu_{o,t} >= 0, adding nu_{o,t} times (left side − right side) <= 0 to the objective of the workload bound's
relaxation gives a relaxation too, and it separates by workload again:

    L_t(nu) = sum_w LB_{w,t}(pi + nu) − sum_o nu_{o,t} G_o U_o,
    LB_{w,t}(p) = min sum_d p_d s_d r_d over w's rows in t (``workload_programs.program_rows``), r integer

with p_d = pi_o + nu_o per GPU share. Every L_t(nu) is a valid bound of period t (each LB the solver's proven bound
of its program), and so is the best over the nus tried; the bound is the hours' weighted mean of the periods' best,
each at least the share term of ``workload_bound`` (nu = 0 is that bound without its demand levels). The nus are
found by projected subgradient ascent: g_o = sum_w sum_{d on o} s_d r_d(nu) − G_o U_o (the programs' solutions),
steps theta (UB − L) / |g|^2 over the components that can move (g_o > 0 or nu_o > 0; Polyak's step towards
``upper``, a plan's cost), theta halved after ``STALL`` steps without a better L. The best L converges to the
Lagrangian dual, the LP over the convex hulls of the workloads' integer programs intersected with the caps.

Measured (docs/BENCHMARKS.md, forty-eighth pass; ``python -m bench.cap_bound``): L-2 252.6 → 318.2 USD/h in eight
steps (68 s on one core), where HiGHS' own bound on the whole program after 60 s is 308.0 (best plan known 331.9); on
L-1 and L-3 HiGHS' is higher. Not yet used by ``plan solve``: a bound beside the solve competes with the restricted
ladder for the second core.

Not given (None) where ``workload_bound`` is not: unmet demand allowed, commitments; or where a workload's program is
infeasible.
"""

from __future__ import annotations

import math
import time

from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.fleet.share_bound import gpu_price, hourly_mean, share_terms
from planner.fleet.workload_bound import proven_bound
from planner.fleet.workload_programs import program_inputs, program_rows, solve_rows
from planner.scenario.model import Scenario

STALL = 4  # steps without a better bound before the step's factor is halved
MIN_THETA = 1.0 / 256  # the step's factor after eight halvings: the bound has stopped moving (M-1: 92.75 USD/h)
PROGRAM_LIMIT_S = 5.0  # each workload's program per step; its proven bound is used whenever it stops


def cap_bound(s: Scenario, options: OptionSet, horizon: Horizon, deadline: float, upper: float,
              allow_unmet: bool = False, steps: int | None = None, trace: list | None = None) -> float | None:
    """The bound of the module docstring, USD/hour, from the subgradient steps made by ``deadline``
    (``time.perf_counter``; at least the first, nu = 0, of each period, the first period's with its programs' whole
    time, the others' and a step under way when it passes with their time cut to what is left: a program cut short
    still gives a valid bound) and at most ``steps`` per period, until the step's factor falls below
    ``MIN_THETA``; ``upper``: the cost of a plan (USD/hour), the steps' target. ``trace``: each step's (period, L)
    appended, when given."""
    terms = share_terms(s, options, horizon, allow_unmet)
    if terms is None:
        return None
    offers = {o.id: o for o in s.offers}
    sets, by_w = program_inputs(s, options)
    cap = {o.id: float(o.gpus_per_node * o.max_nodes) for o in s.offers
           if o.max_nodes is not None and not o.owned_nodes}
    per_period = {}
    for t, per in enumerate(horizon.periods):
        work = [(w, per.demand_rpm.get(w.id, 0.0)) for w in s.workloads if (w.id, t) in terms and w.id in by_w]
        if not work:
            continue
        nu = dict.fromkeys(cap, 0.0)
        top, theta, since, k, floor = -math.inf, 1.0, 0, 0, 0.0
        while k == 0 or (time.perf_counter() < deadline and (steps is None or k < steps)):
            full = k == 0 and not per_period   # the first period's nu = 0 step: the workload bound, whatever the time
            limit = PROGRAM_LIMIT_S if full else min(PROGRAM_LIMIT_S, max(deadline - time.perf_counter(), 0.01))
            step = _step(s, work, by_w, offers, per, sets, cap, nu, limit)
            if step is None:
                return None
            value, lbs, used = step
            if k == 0:   # nu = 0: the workload bound's own terms, each at least its share term
                floor = sum(max(lbs[w.id], terms[(w.id, t)]) for w, _ in work)
            if trace is not None:
                trace.append((t, value))
            if value > top + 1e-9:
                top, since = value, 0
            else:
                since += 1
                if since >= STALL:
                    theta, since = theta / 2.0, 0
            g = {o: used[o] - cap[o] for o in cap}
            norm = sum(v * v for o, v in g.items() if v > 0 or nu[o] > 0)   # the components that can move
            k += 1
            if norm <= 0 or upper <= value or theta < MIN_THETA:
                break
            nu = {o: max(0.0, nu[o] + theta * (upper - value) / norm * g[o]) for o in cap}
        per_period[t] = max(top, floor)
    # periods whose workloads have no programs keep their share terms (none: a period without demand)
    solved = set(per_period)
    for (_, t), c in terms.items():
        if t not in solved:
            per_period[t] = per_period.get(t, 0.0) + c
    return hourly_mean({("", t): v for t, v in per_period.items()}, horizon)


def _step(s, work, by_w, offers, per, sets, cap, nu, limit_s: float):
    """(L_t(nu), each workload's proven LB at these prices, the capped offers' GPU shares its solution uses); None
    when a workload's program is infeasible. Each program gets ``limit_s``: one cut short still gives a valid L."""
    total, lbs, used = 0.0, {}, dict.fromkeys(cap, 0.0)
    for w, lam in work:
        deps = by_w[w.id]
        prices = [(gpu_price(offers[d.offer], per) + nu.get(d.offer, 0.0)) * d.gpu_share for d in deps]
        h = solve_rows(program_rows(s, w, deps, lam, prices, {}, sets), limit_s, 0.0)
        lb = proven_bound(h)
        if lb is None:
            return None
        lbs[w.id] = lb
        total += lb
        if h.getInfo().primal_solution_status == 2:   # a solution: what it uses of the capped offers
            vals = h.getSolution().col_value
            for i, d in enumerate(deps):
                if d.offer in used and vals[i] > 0.5:
                    used[d.offer] += round(vals[i]) * d.gpu_share
    return total - sum(nu[o] * cap[o] for o in cap), lbs, used
