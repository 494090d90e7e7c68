r"""Independent checks of the spot rules (``policy.spot``), recomputed from the Scenario and the Plan only.

Like the rest of ``planner.verify`` (``run`` calls ``spot_checks``), this module never imports the formulation, the options,
the problem, the MIG pattern enumeration, the solvers or ``planner.fleet.hedge``/``planner.risk.tails``: the binomial
and pool tails, the re-routing and the node counts are recomputed here with their own arithmetic. Notation as
in ``planner.fleet.hedge``; per period, per workload w, the served demand of bucket b is L_b = sum of the plan's loads.

spot_non_spot_share       sum of loads on on-demand/reserved lines >= phi x sum_b L_b.
spot_pool_loss            for every set S of min(pool_failures, #pools) spot pools, and every workload with a line in
                          S: the lines outside S, at count x availability and up to 100 % of their capacity, can
                          carry delta x L_b of every bucket (max-flow share theta from an LP, theta >= delta).
spot_availability_target  j, the pool sets S (1..j pools) with p_S and the budget, node weights m_o and k(mu)
                          recomputed (mu = sum m_o n_o over the period's spot nodes). Every mix of k(mu) lost nodes
                          of the spot offers in use must leave each spot-using workload its full demand (lines keep
                          max(0, count - nu a_o) replicas, up to 100 %); a pool set S is survived when every
                          spot-using workload keeps its full demand with S lost; over the sets holding nodes,
                          sum of p_S (not survived) + sum of p_S (1 - exp(-mu)) (survived) <= the budget.
The checks are skipped (ok) without spot offers, for plans with no fleet, and, for the last two, with
``hedge: false``. Thresholds use a 1e-9 relative margin on the lenient side (the planner uses it on the strict
side), so a rounding difference between the two implementations can never fail a correct plan.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations, combinations_with_replacement
from typing import TYPE_CHECKING

import numpy as np

from planner.plan import Check, PeriodPlan, Plan, ReplicaLine
from planner.scenario.model import Offer, Scenario
from planner.verify.geometry import MIG_GEOMETRY, mig_class

if TYPE_CHECKING:
    from planner.scenario.io import LoadedScenario

SPOT_CHECKS = ("spot_non_spot_share", "spot_pool_loss", "spot_availability_target")
LENIENT = 1.0 + 1e-9
MAX_SHOWN = 3
MAX_MULTISETS = 5000  # node-loss mixes checked one by one; beyond, one state where every offer loses k


# --------------------------------------------------------------------------- the probabilities, recomputed


def _tail_poisson(k: int, mu: float) -> float:
    """P(Poisson(mu) > k) = 1 - sum_{i <= k} e^-mu mu^i / i!."""
    if mu <= 0:
        return 0.0
    term, cdf = math.exp(-mu), 0.0
    for i in range(k + 1):
        cdf += term
        term *= mu / (i + 1)
    return max(0.0, 1.0 - cdf)


def _tail_pools(j: int, probs: list[float]) -> float:
    """P(more than j of independent pools are in an event)."""
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for p in probs:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(dist[j + 1:].sum())


class _Risk:
    """j, the pool sets with their probabilities and budget, node weights and k(mu), recomputed."""

    def __init__(self, s: Scenario):
        spot = [o for o in s.offers if o.market == "spot"]
        share = s.policy.spot.pool_event_share
        self.pools = sorted({o.pool_effective for o in spot})
        rate = {p: share * min(o.interruption_rate_per_hour or 0.0 for o in spot if o.pool_effective == p)
                for p in self.pools}
        rec = {o.id: o.recovery_minutes_effective / 60.0 for o in spot}
        pi = {p: 1 - math.exp(-rate[p] * max(rec[o.id] for o in spot if o.pool_effective == p)) for p in self.pools}
        q = {o.id: min(1.0, max(0.0, (o.interruption_rate_per_hour or 0.0) - rate[o.pool_effective]) * rec[o.id])
             for o in spot}
        self.weight = {o: (math.inf if v >= 1 else -math.log1p(-v)) for o, v in q.items()}
        eps = 1 - s.policy.spot.availability_target
        has_pools, has_nodes = any(x > 0 for x in pi.values()), any(v > 0 for v in q.values())
        each = eps / max(1, int(has_pools) + int(has_nodes))
        self.eps_nodes = each if has_nodes else 0.0
        self.j, self.sets, self.budget = 0, [], math.inf
        if has_pools:
            probs = [pi[p] for p in self.pools]
            while self.j < len(self.pools) and _tail_pools(self.j, probs) > each / 2 * LENIENT:
                self.j += 1
            self.sets = [(c, math.prod(pi[p] for p in c)) for m in range(1, self.j + 1)
                         for c in combinations(self.pools, m)]
            self.budget = (each - _tail_pools(self.j, probs)) * LENIENT

    def k(self, mu: float) -> int:
        k = 0
        while self.eps_nodes > 0 and _tail_poisson(k, mu) > self.eps_nodes * LENIENT:
            k += 1
        return k


# --------------------------------------------------------------------------- re-routing


def _max_share(lines: list[tuple[list[float], float]], served: list[float]) -> float:
    """Largest theta such that theta x served[b] can be routed over lines (caps per bucket, replica budget)."""
    need = [b for b, v in enumerate(served) if v > 1e-12]
    if not need:
        return math.inf
    usable = [(caps, budget) for caps, budget in lines if budget > 0 and any(caps[b] > 0 for b in need)]
    if not usable:
        return 0.0
    if len(need) == 1:
        b = need[0]
        return sum(caps[b] * budget for caps, budget in usable) / served[b]
    # variables: y[l, b] for caps > 0, then theta; maximise theta
    cols = [(li, b) for li, (caps, _) in enumerate(usable) for b in need if caps[b] > 0]
    n = len(cols) + 1
    c = np.zeros(n)
    c[-1] = -1.0
    a_eq = np.zeros((len(need), n))
    a_ub = np.zeros((len(usable), n))
    for j, (li, b) in enumerate(cols):
        a_eq[need.index(b), j] = 1.0
        a_ub[li, j] = 1.0 / usable[li][0][b]
    for i, b in enumerate(need):
        a_eq[i, -1] = -served[b]
    from scipy.optimize import linprog  # noqa: PLC0415 - scipy.optimize costs ~0.3 s at start-up; spot plans only

    res = linprog(c, A_ub=a_ub, b_ub=[budget for _, budget in usable], A_eq=a_eq, b_eq=np.zeros(len(need)),
                  bounds=[(0, None)] * n, method="highs")
    return float(-res.fun) if res.status == 0 else 0.0


# --------------------------------------------------------------------------- the checks


def _periods(plan: Plan, s: Scenario) -> list[PeriodPlan]:
    if plan.periods:
        return list(plan.periods)
    demand = {wl.id: wl.demand_requests_per_min for wl in plan.workloads}
    return [PeriodPlan(name="(top level)", hours=1.0, demand_requests_per_min=demand, nodes=plan.nodes,
                       replicas=plan.replicas, mig_partitions=plan.mig_partitions, usd_per_hour=0.0)]


def _served(r: ReplicaLine, n_buckets: int) -> list[float]:
    return [bl.assigned_requests_per_min for bl in r.buckets][:n_buckets] or [r.assigned_requests_per_min]


def _caps(r: ReplicaLine) -> list[float]:
    return [bl.capacity_requests_per_min for bl in r.buckets] or [r.capacity_requests_per_min]


class _SpotVerifier:
    def __init__(self, loaded: "LoadedScenario", plan: Plan, tol: float):
        self.s, self.cat, self.plan, self.tol = loaded.scenario, loaded.catalog, plan, tol
        self.offers: dict[str, Offer] = {o.id: o for o in self.s.offers}
        self.fails: dict[str, list[str]] = defaultdict(list)
        self.notes: dict[str, list[str]] = defaultdict(list)
        self.periods = _periods(plan, self.s)

    def is_spot(self, r: ReplicaLine) -> bool:
        o = self.offers.get(r.offer)
        return o is not None and o.market == "spot"

    def pool(self, r: ReplicaLine) -> str | None:
        return self.offers[r.offer].pool_effective if self.is_spot(r) else None

    def served(self, per: PeriodPlan, wid: str) -> list[float]:
        nb = len(self.s.workload(wid).buckets)
        out = [0.0] * nb
        for r in per.replicas:
            if r.workload == wid:
                for b, v in enumerate(_served(r, nb)):
                    out[b] += v
        return out

    def non_spot_share(self) -> None:
        phi = self.s.policy.spot.min_non_spot_share
        if phi <= 0:
            self.notes["spot_non_spot_share"].append("min_non_spot_share is 0")
            return
        for per in self.periods:
            for w in self.s.workloads:
                total = sum(self.served(per, w.id))
                off = sum(r.assigned_requests_per_min for r in per.replicas
                          if r.workload == w.id and not self.is_spot(r))
                if off < phi * total - self.tol * max(1.0, total):
                    self.fails["spot_non_spot_share"].append(
                        f"period {per.name}: {w.id} has {off:.6g} of {total:.6g} req/min on on-demand/reserved "
                        f"(< {phi:g})")

    def _state(self, check: str, per: PeriodPlan, lost: tuple[str, ...], keep, share: float, what: str) -> float:
        """Worst served share over workloads touched by the state; records failures below ``share``."""
        worst = math.inf
        for w in self.s.workloads:
            mine = [r for r in per.replicas if r.workload == w.id]
            if not self._touched(check, mine, lost):
                continue
            served = self.served(per, w.id)
            lines = [(_caps(r), keep(r)) for r in mine if self.pool(r) not in lost]
            theta = _max_share(lines, served)
            worst = min(worst, theta)
            if theta < share * (1 - self.tol):
                self.fails[check].append(f"period {per.name}: {what}{', '.join(lost) or 'no pool'} lost, {w.id} keeps "
                                         f"{theta:.4g} of its demand (needs {share:g})")
        return worst

    def _touched(self, check: str, lines: list[ReplicaLine], lost: tuple[str, ...]) -> bool:
        if check == "spot_pool_loss":
            return any(self.pool(r) in lost for r in lines)
        return any(self.is_spot(r) for r in lines)

    def pool_loss(self) -> None:
        pol = self.s.policy.spot
        pools = sorted({o.pool_effective for o in self.offers.values() if o.market == "spot"})
        size = min(pol.pool_failures, len(pools))
        if size <= 0:
            self.notes["spot_pool_loss"].append("pool_failures is 0")
            return
        for per in self.periods:
            for lost in combinations(pools, size):
                self._state("spot_pool_loss", per, lost, lambda r: r.count * r.availability, pol.degraded_service,
                            "pools ")
        self.notes["spot_pool_loss"].append(f"every set of {size} of {len(pools)} pools lost: >= "
                                            f"{pol.degraded_service:g} of demand at up to 100 % utilisation")

    def nu(self, r: ReplicaLine) -> int:
        o = self.offers[r.offer]
        if r.mig_profile is None:
            return max(1, o.gpus_per_node // r.tp)

        cls = mig_class(self.cat.gpu(o.gpu), r.mig_profile)
        if cls is None:
            return o.gpus_per_node * 7  # an invalid profile is reported by deployment_valid
        size, starts = MIG_GEOMETRY[cls]
        placed, end = 0, 0
        for st in starts:
            if st >= end:
                placed, end = placed + 1, st + size
        return o.gpus_per_node * min(placed, 7 // int(cls[0]))

    def _survives(self, per: PeriodPlan, lost: tuple[str, ...], k: int, offers: list[str]) -> str | None:
        """None when every spot-using workload keeps its full demand with the pools ``lost`` gone and any k nodes
        of the other spot offers down; else what fails."""
        left = [o for o in offers if self.offers[o].pool_effective not in lost]
        combos = list(combinations_with_replacement(left, k)) if k and left else [()]
        if len(combos) > MAX_MULTISETS:
            combos = [tuple(o for o in left for _ in range(k))]  # every offer loses k: harder than any mix
        for combo in combos:
            for w in self.s.workloads:
                mine = [r for r in per.replicas if r.workload == w.id]
                if not any(self.is_spot(r) and (self.pool(r) in lost or r.offer in combo) for r in mine):
                    continue
                lines = [(_caps(r), float(max(0, r.count - self.nu(r) * combo.count(r.offer))) if self.is_spot(r)
                          else float(r.count)) for r in mine if self.pool(r) not in lost]
                theta = _max_share(lines, self.served(per, w.id))
                if theta < 1 - self.tol:
                    what = " and ".join(x for x in (f"pools {'+'.join(lost)} lost" if lost else "",
                                                    f"nodes of {'+'.join(combo)} down" if combo else "") if x)
                    return f"{what}: {w.id} keeps {theta:.4g} of its demand"
        return None

    def availability_target(self) -> None:
        c, risk = "spot_availability_target", _Risk(self.s)
        most_k, worst_left = 0, 0.0
        for per in self.periods:
            nodes = defaultdict(int)
            for n in per.nodes:
                if n.offer in risk.weight:
                    nodes[n.offer] += n.count
            mu = sum(risk.weight[o] * n for o, n in nodes.items() if n)
            k = risk.k(mu)
            most_k = max(most_k, k)
            offers = sorted(o for o, n in nodes.items() if n)
            why = self._survives(per, (), k, offers)
            if why:
                self.fails[c].append(f"period {per.name}: {k} spot node(s) may be down at once (mu {mu:.4g}); {why}")
            # a pool set is survived when the fleet carries full demand without it; the chance that one of its
            # events meets a node down on its own is charged at P(some node down) = 1 - exp(-mu)
            some_down = -math.expm1(-mu)
            used = {self.offers[o].pool_effective for o in offers}
            charge = sum(0.0 if not used & set(lost) else p_s if self._survives(per, lost, 0, offers)
                         else p_s * some_down for lost, p_s in risk.sets)
            worst_left = max(worst_left, charge)
            if charge > risk.budget + 1e-15:
                self.fails[c].append(f"period {per.name}: pool sets not survived, and survived ones meeting a node "
                                     f"reclaim, add up to {charge:.4g} > the budget {risk.budget:.4g}")
        self.notes[c].append(f"target {self.s.policy.spot.availability_target:g}: up to {most_k} spot node(s) down "
                             f"at once; pool sets up to {risk.j} at a time, charged probability "
                             f"{worst_left:.3g} (budget {risk.budget:.3g})")

    def run(self) -> tuple[Check, ...]:
        pol = self.s.policy.spot
        skipped: dict[str, str] = {}
        if self.plan.status not in ("optimal", "feasible"):
            skipped = {c: f"status is {self.plan.status} (no fleet to check)" for c in SPOT_CHECKS}
        else:
            self.non_spot_share()
            if pol.hedge:
                self.pool_loss()
                self.availability_target()
            else:
                skipped = {c: "policy.spot.hedge is false" for c in SPOT_CHECKS[1:]}
        out = []
        for name in SPOT_CHECKS:
            out.append(Check.from_findings(name, self.fails.get(name, []), skipped.get(name),
                                           self.notes.get(name, []), MAX_SHOWN))
        return tuple(out)


def spot_checks(loaded: "LoadedScenario", plan: Plan, *, tol: float = 1e-6) -> tuple[Check, ...]:
    """The spot checks of ``plan`` (``SPOT_CHECKS``); () when the scenario has no spot offers."""
    if not any(o.market == "spot" for o in loaded.scenario.offers):
        return ()
    return _SpotVerifier(loaded, plan, tol).run()
