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

Several periods (an hourly profile). Nothing here couples the periods: the reserved nodes are priced per hour in each
period's programs (pi_o, as any other offer), a relaxation of paying them every hour, so each period's L_t is climbed
on its own, in order. Adjacent hours differ little, and both of the following only choose where L_t is evaluated:

- the second and later periods start from the previous period's best prices (any nu >= 0 gives a valid bound;
  ``climb``'s floor is then the first step's raised LBs less sum_o nu_o G_o U_o, and at least the share terms' sum);
- their masters start with the columns found in other periods at a demand at least theirs (``_Prices.carry``):
  those replicas are points of this period's program too, whose rows ask for sigma_b lambda, delta sigma_b lambda and
  phi lambda (the loads and routing scaled down fit) and a least count that does not depend on the demand.

Time. The first period may take ``FIRST_SHARE`` of the time left, but no step once what is left would not hold a
first step for each later period, each reckoned as long as its own first (``KEEP_MARGIN``); a later period takes its
first step, and steps on only where an even share of what is left holds ``EXTRA_MIN`` such steps. The first step of
every period is given until the deadline itself; a program still past it stands at its share term. Each workload's
program and dominance are kept from period to period, the program set to the period's demand
(``workload_programs.retarget``) rather than written again. Then every period takes the best of what the others
proved (``borrowed``): a period cut short by the deadline gets most of its bound back from the hours around it.

Measured: ``python -m bench.cap_bound --only XL-1,XL-2 --seconds 70`` (unseeded, one core) gives 289.12 and 248.20
USD/h against the workload bound's 232.19 and 196.54 (the best plans known: 326.63 and 307.43); every hour of XL-1
climbed from nu = 0 to its stopping rule gives 289.80, in 337 s. In scratch runs of ``plan solve XL-n.yaml
--time-limit 120`` (67 s for the bound, beside the ladder), a later period's first step from the previous prices takes
about twice the first period's at nu = 0 (fewer deployments dominated: ~2.7 s against ~1.3 on XL-2), so the last four
to six hours of XL-2 are cut short (92-103 USD/h at their share terms) and borrow back to 175-190, against 240-263 for
the hours reached (scratch ``borrow.py``, 45 s). Starting every hour that the projected time could not reach from its
prices at nu = 0 instead (about half the time, 203-211 USD/h each) gave a lower bound in all, 227.2 against 233.8
USD/h: the projection took 13 hours to nu = 0 where the prices reached 18.

Each program is solved with its dominated deployments fixed to 0 at the step's prices (``planner.fleet.dominance``:
the same optimum; on L-2 about seven in eight of them, and the steps three times as fast).

Measured (docs/BENCHMARKS.md, forty-ninth and fiftieth passes; ``python -m bench.cap_bound``): seeded with the
restricted ladder's first plan, 388.8 USD/h on L-1, 323.3 on L-2 and 347.2 on L-3 in 7–9 steps (16–26 s of one core
beside the ladder), where the projected subgradient steps this module took first reached 318.2 on L-2 in 60 s and
323.05 in 420 s, and HiGHS' own bound on the whole program after 60 s is 384.9, 308.0 and 346.1. ``plan solve``
computes it where the restricted ladder runs (L and XL sizes, one period or many), when it has 10 s or more
(``planner.fleet.solve``, ``CAP_MIN_S``).

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
from planner.fleet.workload_programs import program_inputs, program_rows, retarget, solve_again, solve_rows
from planner.plan import Plan
from planner.scenario.model import Scenario

ALPHA = 0.5  # Wentges' smoothing: the weight of the best prices so far in the next prices tried
CONVERGED = 1e-3  # the master's value within this share of the best L: stop
PENALTY = 4.0  # the caps' excess in the master, per GPU share: this many times the period's dearest GPU price
PROGRAM_LIMIT_S = 5.0  # each workload's program per step; its proven bound is used whenever it stops
MIN_PROGRAM_S = 0.01  # a program is not built or solved with less time left: its share term stands in for its LB
# several periods: the first one's steps may take this share of the time left (the later ones start from its prices
# and take an even share of what is left each; see the module docstring, "Several periods")
FIRST_SHARE = 0.25
KEEP_MARGIN = 1.1  # ... and stops stepping once what is left holds less than this many times its first step for each
# later period (a later period's first step, from the previous prices, takes longer: the module docstring, "Time")
EXTRA_MIN = 3  # a later period steps on from its prices only where its share of the time holds this many first steps
# (on XL-1 a second step alone, the master's smoothed prices, fell below the first in most hours; the third rose again)


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
    points: list[tuple[str, float, list]] = []   # every column so far: (workload, its demand there, (d, r) pairs)
    centre, first_s = None, 0.0   # the previous period's best prices (the next period's first) and its first step's s
    programs: dict[str, tuple] = {}   # each workload's program, set to each period's demand in turn
    dominance: dict[str, Dominance] = {}
    records: list = []   # each period's demands, share terms and proven LBs: ``borrowed``
    n = len(horizon.periods)
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        for t, per in enumerate(horizon.periods):
            work = [(w, per.demand_rpm.get(w.id, 0.0)) for w in s.workloads if (w.id, t) in terms and w.id in by_w]
            if not work:
                continue
            prices = _Prices(s, per, work, by_w, sets, cap, [terms[(w.id, t)] for w, _ in work],
                             map if pool is None else pool.map, programs, dominance)
            if seed is not None and t < len(seed.periods):
                prices.seed(seed.periods[t].replicas)
            prices.carry(points)
            now = time.perf_counter()
            share = (deadline - now) / (n - t)
            if centre is None:   # the first period: FIRST_SHARE, less what the later ones' first steps will take
                until = now + max(FIRST_SHARE * (deadline - now), share)
            else:   # a later one: its first step, and more only where its share holds EXTRA_MIN steps
                until = now + share if share >= EXTRA_MIN * first_s else now
            value = prices.climb(until, steps, lambda v, t=t: trace.append((t, v)) if trace is not None else None,
                                 start=centre, first_by=deadline, keep=n - 1 - t)
            if value is None:
                return None
            centre, first_s = prices.centre, prices.first_s
            points.extend(prices.points)
            if cuts is not None:
                cuts.extend(prices.cuts(t))
            per_period[t] = value
            records.append((t, {w.id: lam for w, lam in work}, dict(zip((w.id for w, _ in work), prices.terms)),
                            prices.proved()))
    for t, value in borrowed(records, cap).items():   # a period cut short by the deadline, mostly
        per_period[t] = max(per_period[t], value)
    # periods whose workloads have no programs keep their share terms (none: a period without demand)
    solved = set(per_period)
    for (_, t), c in terms.items():
        if t not in solved:
            per_period[t] = per_period.get(t, 0.0) + c
    return hourly_mean({("", t): v for t, v in per_period.items()}, horizon)


def _caps_value(nu: dict[str, float], cap: dict[str, float]) -> float:
    """sum_o nu_o G_o U_o: what the caps' term takes from L at the prices ``nu`` (``cap``: offer -> G_o U_o)."""
    return sum(nu.get(o, 0.0) * c for o, c in cap.items())


def borrowed(records, cap: dict[str, float]) -> dict[int, float]:
    """Each period's bound from the other periods' proven LBs (``records``: (t, demand by workload, share term by
    workload, [(nu, LB by workload)]), every period climbed).

    A workload's program at a demand lambda' <= lambda has every row of the one at lambda or a weaker one (sigma_b
    lambda', delta sigma_b lambda', phi lambda', the same least count), so at the same prices LB_w(lambda', nu) <=
    opt_w(lambda', nu) <= opt_w(lambda, nu). Period t at the prices nu proven in period t' is therefore bounded by

        sum_w [LB_{w,t'}(nu) where lambda_{w,t'} <= lambda_{w,t}, else w's share term in t] - sum_o nu_o G_o U_o

    (a share term bounds its program at every nu >= 0). Nothing is solved: on an hourly profile it is what a period
    cut short by the deadline (its programs past it at their share terms) gets from the hours around it where about
    half of the workloads were quieter."""
    out: dict[int, float] = {}
    for t, lam, terms, _ in records:
        best = -math.inf
        for t2, lam2, _, proved in records:
            if t2 == t:
                continue
            for nu, lbs in proved:
                total = sum(lbs[w] if w in lbs and lam2.get(w, math.inf) <= lam[w] else terms[w] for w in lam)
                best = max(best, total - _caps_value(nu, cap))
        if best > -math.inf:
            out[t] = best
    return out


class _Prices:
    """One period's workload programs, solved at the prices the master asks for (their HiGHS objects kept, only
    the replicas' costs changed between steps), and the master fed with their solutions."""

    def __init__(self, s: Scenario, per, work, by_w, sets, cap: dict[str, float], terms: list[float], mapper=map,
                 programs: dict | None = None, dominance: dict | None = None):
        self._s, self._work, self._by_w, self._sets, self._cap = s, work, by_w, sets, cap
        self._map = mapper   # map, or a thread pool's: the programs of a step, in order
        self._terms = terms   # each workload's share term, a bound of its program at nu = 0
        offers = {o.id: o for o in s.offers}
        # pi_d s_d of each workload's deployments at the offers' own prices
        self._base = {w.id: [gpu_price(offers[d.offer], per) * d.gpu_share for d in by_w[w.id]] for w, _ in work}
        self.master = Master(len(work), cap, PENALTY * max(gpu_price(o, per) for o in s.offers))
        # each workload's program and dominance, shared by the periods (``programs``, ``dominance``: one dict each for
        # all of them): a later period sets the program to its demand (``workload_programs.retarget``), no rebuild
        self._programs: dict[str, tuple] = {} if programs is None else programs
        self._dominance: dict[str, Dominance] = {} if dominance is None else dominance
        self._proved: list[tuple[dict, list[float]]] = []   # (nu, each workload's LB there): the first and best steps
        self.points: list[tuple[str, float, list]] = []   # the columns added: (workload, its demand, (d, r) pairs)
        self.centre: dict[str, float] | None = None   # the best prices, once climbed
        self.first_s = 0.0   # seconds the first step took (its programs written or set to this demand), once climbed

    @property
    def terms(self) -> list[float]:
        """Each workload's share term in this period (``work``'s order)."""
        return self._terms

    def proved(self) -> list[tuple[dict[str, float], dict[str, float]]]:
        """(nu, LB by workload) of the first step (each LB at least its share term) and of the best one."""
        return [(nu, {w.id: lb for (w, _), lb in zip(self._work, lbs)}) for nu, lbs in self._proved]

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
            deps = self._keyed(wid)
            if all(x.key in deps for x in ls):
                self._add(at[wid], [(*deps[x.key], x.count) for x in ls])

    def _keyed(self, wid: str) -> dict[tuple, tuple]:
        """Workload ``wid``'s deployments by key: (deployment, pi_d s_d)."""
        return {d.key: (d, b) for d, b in zip(self._by_w[wid], self._base[wid])}

    def carry(self, points) -> None:
        """The columns of other periods (``points``: (workload, its demand there, (d, r) pairs)) found at a demand at
        least this period's: points of this period's program too (its rows ask for sigma_b lambda, delta sigma_b lambda,
        phi lambda and a fixed least count of replicas: replicas that carry more carry less), so master columns."""
        at = {w.id: i for i, (w, _) in enumerate(self._work)}
        keyed: dict[str, dict] = {}
        for wid, lam, pairs in points:
            i = at.get(wid)
            if i is not None and lam >= self._work[i][1]:
                if wid not in keyed:
                    keyed[wid] = self._keyed(wid)
                self._add(i, [(*keyed[wid][d.key], r) for d, r in pairs], record=False)

    def _add(self, i: int, chosen, record: bool = True) -> int:
        """Workload i's point (deployment, pi_d s_d, replicas) as a master column; 1 when it is new. ``record``: kept
        in ``points`` for the later periods (``carry``)."""
        use: dict[str, float] = {}
        for d, _, r in chosen:
            if d.offer in self._cap:
                use[d.offer] = use.get(d.offer, 0.0) + r * d.gpu_share
        new = int(self.master.add(i, sum(b * r for _, b, r in chosen), use))
        if new and record:
            w, lam = self._work[i]
            self.points.append((w.id, lam, [(d, r) for d, _, r in chosen]))
        return new

    def climb(self, deadline: float, steps: int | None, tell, start: dict[str, float] | None = None,
              first_by: float | None = None, keep: int = 0) -> float | None:
        """The best L_t over the steps of the module docstring (``tell(L)`` after each), from the prices ``start`` (nu =
        0 when None), their programs given until ``first_by`` (``deadline`` when None), the later steps' until
        ``deadline`` and while ``keep`` more steps as long as the first (times ``KEEP_MARGIN``) still fit before
        ``first_by`` (the later periods' first steps; the first's seconds are left in ``first_s``); at least the first
        step's with each workload's LB raised to its share term (a bound of its program at every nu >= 0), and at
        least the share terms' sum (nu = 0: ``workload_bound``'s share term); None when a workload's program is
        infeasible. The best prices are left in ``centre``."""
        nu = dict.fromkeys(self._cap, 0.0) if start is None else {o: start.get(o, 0.0) for o in self._cap}
        centre, top, k, smooth, floor = nu, -math.inf, 0, True, sum(self._terms)
        end = deadline if first_by is None else first_by
        began = time.perf_counter()
        while k == 0 or (time.perf_counter() < deadline and (steps is None or k < steps)
                         and time.perf_counter() + KEEP_MARGIN * keep * self.first_s < end):
            step = self._price(nu, deadline if k > 0 else end)
            if k == 0:
                self.first_s = time.perf_counter() - began   # its programs built and solved: a later period's first
            if step is None:
                return None
            value, new, lbs = step
            if k == 0:
                raised = [max(lb, term) for lb, term in zip(lbs, self._terms)]
                floor = max(floor, sum(raised) - _caps_value(nu, self._cap))
                self._proved = [(nu, raised)]
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
        self.centre = centre
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
        return total - _caps_value(nu, self._cap), new, lbs

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
        kept = self._programs.get(w.id)   # (HiGHS object, its rows), from this period or an earlier one
        if kept is not None and retarget(*kept, lam):   # the same program at this period's demand
            h, rows = solve_again(kept[0], cost, limit, off), kept[1]
        else:
            rows = program_rows(self._s, w, deps, lam, cost, {}, self._sets)
            h = solve_rows(rows, limit, 0.0, off)
        self._programs[w.id] = (h, rows)
        lb = proven_bound(h)
        if lb is None or h.getInfo().primal_solution_status != 2:   # infeasible, or no solution: no column
            return lb, None
        values = h.getSolution().col_value
        return lb, [(d, b, round(values[j])) for j, (d, b) in enumerate(zip(deps, base)) if values[j] > 0.5]
