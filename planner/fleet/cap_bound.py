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
each at least the share term of ``workload_bound`` (nu = 0 is that bound without its demand levels).

The nus come from column generation (Dantzig–Wolfe) with Wentges' smoothing: every program's solution is a column
of the master LP (``planner.fleet.cap_master``), whose caps' duals nu^M are the prices the master would pay; the
next prices tried are nu = ALPHA nu^c + (1 − ALPHA) nu^M, nu^c the best prices so far (the stability centre), or
nu^M itself after a step that added no column (the smoothed point taught the master nothing). Seeded with a plan's
replicas (``seed``: each workload's replicas are a point of its program, and together they fit the caps), the
master's duals mean something from the first step. It stops when the master's value, with no excess, is within
``CONVERGED`` of the best L (the master's value is at least the Lagrangian dual, the LP over the convex hulls of the
workloads' programs intersected with the caps, so little is left to gain), when pricing the master's own duals adds
no column, or at the deadline.

Each program is solved with its dominated deployments fixed to 0 at the step's prices (``planner.fleet.dominance``:
the same optimum; on L-2 about seven in eight of them, and the steps three times as fast).

Measured (docs/BENCHMARKS.md, forty-ninth and fiftieth passes; ``python -m bench.cap_bound``): seeded with the
restricted ladder's first plan, 388.8 USD/h on L-1, 323.3 on L-2 and 347.2 on L-3 in 7–9 steps (16–26 s of one core
beside the ladder), where the projected subgradient steps this module took first reached 318.2 on L-2 in 60 s and
323.05 in 420 s, and HiGHS' own bound on the whole program after 60 s is 384.9, 308.0 and 346.1. ``plan solve``
computes it on one-period programs where the restricted ladder runs, when it has 10 s or more (``planner.fleet.solve``,
``CAP_MIN_S``).

Not given (None) where ``workload_bound`` is not: unmet demand allowed, commitments; or where a workload's program is
infeasible.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor

from planner.fleet.cap_master import Master
from planner.fleet.dominance import Dominance
from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.fleet.share_bound import gpu_price, hourly_mean, share_terms
from planner.fleet.workload_bound import proven_bound
from planner.fleet.workload_programs import program_inputs, program_rows, solve_again, solve_rows
from planner.plan import Plan
from planner.scenario.model import Scenario

ALPHA = 0.5  # Wentges' smoothing: the weight of the best prices so far in the next prices tried
CONVERGED = 1e-3  # the master's value within this share of the best L: stop
PENALTY = 4.0  # the caps' excess in the master, per GPU share: this many times the period's dearest GPU price
PROGRAM_LIMIT_S = 5.0  # each workload's program per step; its proven bound is used whenever it stops
MIN_PROGRAM_S = 0.01  # a program is not built or solved with less time left: its share term stands in for its LB


def cap_bound(s: Scenario, options: OptionSet, horizon: Horizon, deadline: float, allow_unmet: bool = False,
              seed: Plan | None = None, steps: int | None = None, trace: list | None = None,
              threads: int = 1, cuts: list | None = None) -> float | None:
    """The bound of the module docstring, USD/hour, from the steps made by ``deadline`` (``time.perf_counter``; at
    least the first, nu = 0, of each period, its programs' time cut to what is left: a program cut short still gives
    a valid bound, and one not reached by the deadline its share term, a bound of its program at every nu >= 0, the
    prices only raised) and at most ``steps`` per period. ``seed``: a plan of the scenario (its replicas seed the
    master); ``trace``: each step's (period, L) appended, when given; ``threads``: the programs of a step are
    solved on this many threads (the same bound, sooner: L-2's nine steps 91.4 → 47.2 s on two, before the dominated
    deployments were fixed); ``cuts``: each period's workload cuts appended, when given (``Prices.cuts``: the first
    step's and the best step's, rows for the full program, ``planner.fleet.workload_cuts``)."""
    terms = share_terms(s, options, horizon, allow_unmet)
    if terms is None:
        return None
    sets, by_w = program_inputs(s, options)
    cap = {o.id: float(o.gpus_per_node * o.max_nodes) for o in s.offers
           if o.max_nodes is not None and not o.owned_nodes}
    per_period = {}
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        for t, per in enumerate(horizon.periods):
            work = [(w, per.demand_rpm.get(w.id, 0.0)) for w in s.workloads if (w.id, t) in terms and w.id in by_w]
            if not work:
                continue
            prices = _Prices(s, per, work, by_w, sets, cap, [terms[(w.id, t)] for w, _ in work],
                             map if pool is None else pool.map)
            if seed is not None and t < len(seed.periods):
                prices.seed(seed.periods[t].replicas)
            value = prices.climb(deadline, steps, lambda v, t=t: trace.append((t, v)) if trace is not None else None)
            if value is None:
                return None
            if cuts is not None:
                cuts.extend(prices.cuts(t))
            per_period[t] = value
    # periods whose workloads have no programs keep their share terms (none: a period without demand)
    solved = set(per_period)
    for (_, t), c in terms.items():
        if t not in solved:
            per_period[t] = per_period.get(t, 0.0) + c
    return hourly_mean({("", t): v for t, v in per_period.items()}, horizon)


class _Prices:
    """One period's workload programs, solved at the prices the master asks for (their HiGHS objects kept, only
    the replicas' costs changed between steps), and the master fed with their solutions."""

    def __init__(self, s: Scenario, per, work, by_w, sets, cap: dict[str, float], terms: list[float], mapper=map):
        self._s, self._work, self._by_w, self._sets, self._cap = s, work, by_w, sets, cap
        self._map = mapper   # map, or a thread pool's: the programs of a step, in order
        self._terms = terms   # each workload's share term, a bound of its program at nu = 0
        offers = {o.id: o for o in s.offers}
        # pi_d s_d of each workload's deployments at the offers' own prices
        self._base = {w.id: [gpu_price(offers[d.offer], per) * d.gpu_share for d in by_w[w.id]] for w, _ in work}
        self.master = Master(len(work), cap, PENALTY * max(gpu_price(o, per) for o in s.offers))
        self._programs: dict[str, object] = {}
        self._dominance: dict[str, Dominance] = {}
        self._proved: list[tuple[dict, list[float]]] = []   # (nu, each workload's LB there): the first and best steps

    def cuts(self, t: int) -> list[tuple[int, str, dict[tuple, float], float]]:
        """(t, workload, its replicas' prices by deployment key, the LB proven at them) of the first step (each LB
        at least its share term) and of the best one: the rows of ``planner.fleet.workload_cuts``."""
        out = []
        for nu, lbs in self._proved:
            for (w, _), lb in zip(self._work, lbs):
                out.append((t, w.id, dict(zip((d.key for d in self._by_w[w.id]), self._costs(w.id, nu))), lb))
        return out

    def _costs(self, wid: str, nu: dict[str, float]) -> list[float]:
        """(pi_d + nu_o) s_d of each of workload ``wid``'s deployments: its program's replica prices at ``nu``."""
        return [b + nu.get(d.offer, 0.0) * d.gpu_share for d, b in zip(self._by_w[wid], self._base[wid])]

    def seed(self, replicas) -> None:
        """A plan's replica lines of this period, as one column per workload whose every line is one of its
        deployments."""
        at = {w.id: i for i, (w, _) in enumerate(self._work)}
        lines: dict[str, list] = {}
        for line in replicas:
            if line.count > 0 and line.workload in at:
                lines.setdefault(line.workload, []).append(line)
        for wid, ls in lines.items():
            deps = {d.key: (d, b) for d, b in zip(self._by_w[wid], self._base[wid])}
            if all(x.key in deps for x in ls):
                self._add(at[wid], [(*deps[x.key], x.count) for x in ls])

    def _add(self, i: int, chosen) -> int:
        """Workload i's point (deployment, pi_d s_d, replicas) as a master column; 1 when it is new."""
        use: dict[str, float] = {}
        for d, _, r in chosen:
            if d.offer in self._cap:
                use[d.offer] = use.get(d.offer, 0.0) + r * d.gpu_share
        return int(self.master.add(i, sum(b * r for _, b, r in chosen), use))

    def climb(self, deadline: float, steps: int | None, tell) -> float | None:
        """The best L_t over the steps of the module docstring (``tell(L)`` after each), at least the first step's
        (nu = 0) with each workload's LB raised to its share term; None when a workload's program is infeasible."""
        nu = dict.fromkeys(self._cap, 0.0)
        centre, top, k, smooth, floor = nu, -math.inf, 0, True, -math.inf
        while k == 0 or (time.perf_counter() < deadline and (steps is None or k < steps)):
            step = self._price(nu, deadline)
            if step is None:
                return None
            value, new, lbs = step
            if k == 0:
                raised = [max(lb, term) for lb, term in zip(lbs, self._terms)]
                floor, self._proved = sum(raised), [(nu, raised)]
            tell(value)
            if value > top:
                top, centre = value, nu
                if k > 0:
                    self._proved[1:] = [(nu, lbs)]
            k += 1
            if not self._cap or (new == 0 and not smooth):   # nothing to price, or the master's duals taught nothing
                break
            solved = self.master.solve()
            if solved is None:
                break
            bound, duals, excess = solved
            if excess <= 1e-9 and bound - top <= CONVERGED * max(abs(top), 1e-9):
                break
            smooth = new > 0
            a = ALPHA if smooth else 0.0
            nu = {o: a * centre[o] + (1.0 - a) * duals[o] for o in self._cap}
        return max(top, floor)

    def _price(self, nu: dict[str, float], deadline: float) -> tuple[float, int, list[float]] | None:
        """(L_t(nu), the columns it added, each workload's LB); None when a workload's program is infeasible. The
        programs are solved through the mapper (on ``cap_bound``'s threads: HiGHS releases the GIL), their columns
        added in workload order: the same steps as on one thread."""
        total, new, lbs = 0.0, 0, []
        solve = functools.partial(self._solve, nu=nu, deadline=deadline)
        for i, (lb, chosen) in enumerate(self._map(solve, range(len(self._work)))):
            if lb is None:
                return None
            total += lb
            lbs.append(lb)
            if chosen is not None:
                new += self._add(i, chosen)
        return total - sum(nu[o] * self._cap[o] for o in self._cap), new, lbs

    def _solve(self, i: int, nu: dict[str, float], deadline: float) -> tuple[float | None, list | None]:
        """Workload i's program at prices nu: (its proven LB, its solution's (deployment, pi_d s_d, replicas) or
        None); past the deadline its share term, a bound of its program at any nu >= 0, and no solution."""
        limit = min(PROGRAM_LIMIT_S, deadline - time.perf_counter())
        if limit < MIN_PROGRAM_S:
            return self._terms[i], None
        w, lam = self._work[i]
        deps, base = self._by_w[w.id], self._base[w.id]
        cost = self._costs(w.id, nu)
        if w.id not in self._dominance:
            self._dominance[w.id] = Dominance(self._s, deps)
        off = self._dominance[w.id].dominated(cost)   # never needed at these prices: fixed to 0, the optimum kept
        h = self._programs.get(w.id)
        h = (solve_rows(program_rows(self._s, w, deps, lam, cost, {}, self._sets), limit, 0.0, off) if h is None
             else solve_again(h, cost, limit, off))
        self._programs[w.id] = h
        lb = proven_bound(h)
        if lb is None or h.getInfo().primal_solution_status != 2:   # infeasible, or no solution: no column
            return lb, None
        values = h.getSolution().col_value
        return lb, [(d, b, round(values[j])) for j, (d, b) in enumerate(zip(deps, base)) if values[j] > 0.5]
