r"""The fleet integer program, written out. Symbols match the code.

This module is longer than ~400 lines because ~85 of them are the model written out below, and the blocks
share one variable index that splitting would have to pass around.

Sets
    W workloads; B_w request-size buckets of w with shares sigma_{w,b} (sum 1); O offers, split into
    O^flex (on-demand, spot: paid by use) and O^res (reserved: paid by commitment); O^mig the offers with
    ``mig: true``; D deployments (``planner.fleet.options``), d -> (w_d, o_d, precision, tp_d, MIG profile q_d or none);
    T periods with hours h_t and epoch e(t) (``planner.fleet.horizon``), H = sum_t h_t; K dominant MIG partition
    patterns (28 for the shared A100/H100/H200/B200 geometry, ``planner.catalog.mig``) with kappa_{k,q} instances of
    profile class q.

Data
    cap_{d,b}   requests/min one replica of d sustains at the SLOs for bucket b (perf model or override)
    a_d         expected availability of d's offer (1 off spot; 1 - rate x recovery on spot)
    rho         policy.target_utilization
    lambda_{w,t} demand of w in period t (requests/min)
    G_o         GPUs per node of o (a power of two); U_o max_nodes (may be absent); R_o owned reserved nodes
    p_{o,t}     price of a node-hour of o in period t (price trends multiply it; 1 in ``plan solve``)
    k = (o_k, L_k, q_{k,s}, f_k, C_k)   commitment option (forecast): term L_k epochs, node-hour rate q_{k,s}
                locked when signed in epoch s (the price trend of month s applied), upfront f_k per node, at
                most C_k nodes signed in all; A(e) = {(k, s): s <= e < s + L_k} the commitments active in e;
                h^tail_{k,s} the hours of the term after the horizon

Variables
    n_{o,t} in Z+     nodes of flex offer o used in period t                      ("nodes", o, t)
    m_{o,e} in Z+     reserved nodes of o committed beyond the owned R_o, epoch e ("reserved", o, e)
    c_{k,s} in Z+     nodes signed through commitment option k at the start of epoch s   ("commit", o_k, k, s)
                      (``plan forecast`` only: ``horizon.commitments`` is a tuple; epochs are months)
    r_{d,t} in Z+     replicas of deployment d in period t                         ("replicas", d, t)
    g_{o,k,t} in Z+   GPUs of MIG offer o partitioned with pattern k in period t   ("mig", o, k, t)
    x_{d,b,t} >= 0    requests/min of bucket b of w_d routed to d in period t     ("load", d, b, t)
    s_{w,b,t} >= 0    unmet demand (only with --allow-unmet)                        ("unmet", w, b, t)
    s_{i,t} >= 0      nodes of real offer i of a merged group (continuous; ``planner.fleet.merge``: on-demand
                      twins share one n_{o,t}, sum_i s_{i,t} = n_{o,t}, each s priced at its own offer's rate)
                                                                                    ("segment", i, t)

Constraints (blocks, in build order)
    _demand_cover        sum_{d in D_w} x_{d,b,t} + s_{w,b,t} = sigma_{w,b} lambda_{w,t}            all w,b,t
    _replica_capacity    sum_b x_{d,b,t} / (a_d cap_{d,b}) <= rho r_{d,t}                          all d,t
        (a replica time-shares between buckets, so the bucket loads add up as fractions of its capacity;
        buckets with cap_{d,b} = 0 get no load variable on d)
    _node_packing        sum_{d on o, no MIG} tp_d r_{d,t} + sum_k g_{o,k,t} <= G_o N_{o,t}           all o,t
        where N_{o,t} = n_{o,t} on flex offers and R_o + m_{o,e(t)} on reserved ones.
        Exactness: a replica of TP degree t needs t GPUs inside one node. Every tp_d is a power of two that
        divides G_o (tp_d <= G_o, both powers of two, guarded by ``_check_power_of_two``); for item sizes that
        divide each other and the bin size, first-fit-decreasing packs any multiset whose total is at most
        N x G_o into N bins, so counting GPUs per offer is exact, not a relaxation.
        No cut on this row alone tightens the LP: {(r, N) >= 0 : sum_d tp_d r_d <= G_o N} is a cone whose
        extreme rays, N = 1 with one r_d = G_o / tp_d, are integer, so it is its own integer hull (the lifted
        "sum_d ceil(tp_d k / G_o) r_d <= k N" is invalid for k < G_o: eight 1-GPU replicas on one 8-GPU node;
        "replicas above half a node <= N" is this row, as such a replica takes the whole node). What the LP
        loses on node packing comes from this row together with the demand rows (bench/bound.py measures a
        per-workload knapsack cut there; docs/BENCHMARKS.md, "Where the bound is lost").
    _mig_instances       sum_{d on o, q_d = q} r_{d,t} <= sum_k kappa_{k,q} g_{o,k,t}               all o in O^mig, q, t
        (each partitioned GPU carries one dominant valid pattern, i.e. a valid multiset with no valid strict
        superset: 28 of them cover all 77 valid multisets of the geometry (a subset of the 38 maximal layouts);
        unused instances are allowed, so dominant
        patterns lose nothing; never the surrogate sum compute <= 7n, sum memory <= 8n, which accepts three
        4g instances on two GPUs)
    _availability_caps   n_{o,t} <= U_o;  R_o + m_{o,e} <= U_o                                     (variable bounds)
    _min_replicas        sum_{d in D_w} r_{d,t} >= min_replicas_w                                   all w,t
    _node_cuts           valid inequalities implied by the blocks above; they only tighten the LP relaxation:
                         sum_o phi_{w,o} N_{o,t} >= min_replicas_w                                   all w,t
                         sum_o psi_{w,o} N_{o,t} >= lambda_{w,t}            (not with --allow-unmet) all w,t
                         sum_{d in D_w} v_d r_{d,t} >= lambda_{w,t}          (not with --allow-unmet) all w,t
        phi_{w,o} = G_o x the most replicas of w per GPU of o: max of 1/tp_d over whole-GPU d and of
        sum_{q of w} kappa_{k,q} over MIG patterns k; psi_{w,o} = G_o x the most requests/min per GPU, with
        v_d = rho a_d max_b cap_{d,b} per replica: max of v_d / tp_d and of sum_q kappa_{k,q} max_{d in q} v_d.
        Valid because capacity adds up GPU by GPU and a replica serves at most v_d requests/min of any bucket
        mix (sum_b x_b <= max_b cap_b sum_b x_b / cap_b <= rho a_d max_b cap_b r). Without them the LP spreads
        fractions of an 8-GPU node over periods (a bound of 3/8 node where one is needed): a 12-month x 24-hour
        forecast served by one 8-GPU node stopped at CBC's 60 s limit with a 57 % gap; with them, optimal in 1.6 s.
    _reserved_commitments (forecast only)  m_{o,e} = sum_{(k,s) in A(e), o_k = o} c_{k,s}          all o in O^res, e
                         sum_s c_{k,s} <= C_k                                                        all k with C_k
        (a reserved offer without an option gets m_{o,e} = 0, also as a bound: only its owned nodes). Given the
        m_{o,e}, the months decouple; ``planner.forecast.decompose`` solves this program exactly by that decomposition.
    _period_costs        P_t = sum_{o in flex} p_{o,t} n_{o,t} + R_t, the fleet's USD/hour in period t, where
                         R_t = sum_{o in res} p_{o,t} m_{o,e(t)}                     (``plan solve``)
                         R_t = sum_{(k,s) in A(e(t))} q_{k,s} c_{k,s}                 (``plan forecast``)
    _budget              P_t <= budget                                                               all t

Loads projected out (``project_loads``, not with --allow-unmet)
    A workload w with one bucket needs no load variables. With v_d = rho a_d cap_{d,1} (cap 0: d carries nothing),
    its rows in period t are sum_d x_d = lambda and 0 <= x_d <= v_d r_d, and x appears in no other row (the spot
    hedge's floor below), nor in the objective. For given r the set of such x is non-empty iff
    sum_d v_d r_d >= lambda (=>: sum the bounds; <=: x_d = lambda v_d r_d / sum_d v_d r_d). So the program
    without these x, with the demand row replaced by
        sum_{d in D_w} v_d r_{d,t} >= lambda_{w,t}                                                  ("demand", w, 0, t)
    and no capacity rows for w's deployments (they would read -rho r <= 0), is the projection of the full one
    onto its other variables: the same feasible (n, r, ...) and the same optimum. The non-spot floor (c) of
    ``planner.fleet.hedge`` projects the same way: sum_{d not on spot} v_d r_{d,t} >= phi lambda_{w,t}. Decoding
    (``planner.fleet.plan_build``) puts the loads back: every replica of w at the same utilisation, lambda / sum_d
    v_d r_d x rho (<= rho), or, where the floor needs more on non-spot replicas, phi lambda spread over those and
    the rest over the spot ones; the independent verifier then checks the plan as any other. The row is the
    replica cut below, so the cut is not written twice.

Objective (USD per hour, hour-weighted over the horizon)
    min (1/H) [ sum_t h_t P_t + sum_{k,s} c_{k,s} (f_k + q_{k,s} h^tail_{k,s}) + sum_t h_t pi sum_{w,b} s_{w,b,t} ]
    Owned reserved nodes cost nothing here (sunk); new reserved nodes are paid every hour whether used or not.
    A commitment costs its whole term, also the part after the horizon (term ``reserved_tail``) and the upfront
    fee (``reserved_upfront``), so one is signed only when it pays for itself; the market terms ``on_demand``,
    ``spot``, ``reserved`` are the hour-weighted P_t split by market (``fleet_cost`` reads them all).
    pi (the unmet penalty) is 10x the most expensive node-hour per request/min any option offers, so unmet
    demand is only ever chosen when no fleet can serve it.

Tie-break (``planner.fleet.solve``): lexicographic, in a second solve with the cost fixed at the optimum:
    min (|O| + 1) sum_t h_t sum_o G_o N_{o,t}  +  sum_o u_o,   N_{o,t} <= Ubar_o u_o,  u_o in {0, 1}
i.e. fewer GPU-hours first, then fewer distinct offers bought (a real offer of a merged group links its segment
s_{i,t} instead of N_{o,t}: ``planner.fleet.merge``). Ubar_o is max_nodes, else implied by the cost cap:
every node (or commitment) costs at least its cheapest price x hours, and all costs are >= 0.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field

import numpy as np

from planner.errors import PlannerError
from planner.fleet.horizon import Horizon
from planner.catalog.mig import SLOT_NAMES, dominant_multisets
from planner.fleet.merge import OfferMerge, add_segments
from planner.fleet.options import Deployment, OptionSet
from planner.problem import Problem
from planner.scenario.model import Offer, Scenario


@dataclass
class Formulation:
    """The built problem plus the maps needed to read a solution back."""

    problem: Problem
    scenario: Scenario
    options: OptionSet
    horizon: Horizon
    allow_unmet: bool
    unmet_penalty: float = 0.0
    patterns: list[tuple[int, ...]] = field(default_factory=list)
    cost_cols: list[np.ndarray] = field(default_factory=list)  # one cost row per period (for tie-break/budget)
    cost_vals: list[np.ndarray] = field(default_factory=list)
    cost_offers: list[np.ndarray] = field(default_factory=list)  # offer id of each (col, val) entry
    cost_cap: float | None = None  # set: second, tie-break solve (cost <= cap, minimise GPU-hours, offers)
    merge: OfferMerge | None = None  # interchangeable offers merged (``planner.fleet.merge``)
    project_loads: bool = False  # one-bucket workloads carry no load variables (``_demand_cover``)
    share_routing: bool = False  # spot states: equal deployments share one routing (``planner.fleet.hedge._serve``)
    no_loads: frozenset[str] = frozenset()  # the workloads whose loads are projected out
    deadline: float | None = None  # time.perf_counter() the build must finish by (``check_deadline``)
    max_vars: int | None = None  # columns past which the build stops: too many to solve in time (``check_deadline``)

    def capacity_per_replica(self, d: Deployment) -> float:
        """v_d = rho a_d max_b cap_{d,b}: the most requests/min one replica of d carries at target utilisation."""
        return self.scenario.policy.target_utilization * d.availability * max(d.capacity_rpm)

    def unmerged(self) -> tuple[Scenario, OptionSet]:
        """Scenario and options before any merge (``planner.fleet.merge``): what bounds and penalties that must
        not change with a merge are computed from."""
        return (self.merge.scenario, self.merge.options) if self.merge else (self.scenario, self.options)

    def real_offers(self) -> tuple[Offer, ...]:
        """The scenario's offers before any merge (the plan, costs and tie-break speak of these)."""
        return self.unmerged()[0].offers

    def flex(self) -> list[Offer]:
        return [o for o in self.scenario.offers if o.market != "reserved"]

    def reserved(self) -> list[Offer]:
        return [o for o in self.scenario.offers if o.market == "reserved"]


class BuildOutOfTime(Exception):
    """``build(deadline=...)`` passed its deadline; what it wrote is discarded (``planner.fleet.solve`` then prints
    the plan it already has)."""


def check_deadline(f: Formulation, next_s: float = 0.0, pending: int = 0) -> None:
    """Raise BuildOutOfTime once the build is past ``f.deadline``, or would be after a step that cannot stop midway
    and is estimated at ``next_s`` seconds: called between blocks and, in the blocks that can take seconds (the spot
    hedge's states), once per workload and state and before adding what they collected. Also once the columns
    written and the ``pending`` ones collected for them exceed ``f.max_vars``: the caller set it where a program of
    that size could only be left unsolved (``planner.fleet.solve``), so the rest of its build would be time lost."""
    if f.deadline is not None and time.perf_counter() + next_s > f.deadline:
        raise BuildOutOfTime(f"building passed its deadline with {f.problem.n_vars:,} columns written"
                             + (f" (the next step, ~{next_s:.1f} s, would end past it)" if next_s else ""))
    if f.max_vars is not None and f.problem.n_vars + pending > f.max_vars:
        raise BuildOutOfTime(f"the program outgrew what the budget can solve: {f.problem.n_vars + pending:,} columns "
                             f"written or collected, more than {f.max_vars:,}")


def _check_power_of_two(deps: list[Deployment], offers: dict[str, Offer]) -> None:
    for d in deps:
        g = offers[d.offer].gpus_per_node
        if d.tp & (d.tp - 1) or g & (g - 1) or d.tp > g:
            raise PlannerError(f"internal: deployment {d.key} has tp {d.tp} on nodes of {g} GPUs; "
                               "GPU counting is exact only for power-of-two TP dividing the node size")


def _vars(f: Formulation) -> None:
    p, s, T = f.problem, f.scenario, f.horizon.periods
    for o in f.flex():
        p.add_vars("nodes", [(o.id, t) for t in range(len(T))], 0, o.max_nodes, integer=True)
    if f.merge is not None:
        add_segments(f)
    signable = {c.offer for c in f.horizon.commitments or ()}
    for o in f.reserved():
        ub = None if o.max_nodes is None else o.max_nodes - o.owned_nodes
        if f.horizon.commitments is not None and o.id not in signable:
            ub = 0  # forecast: no option to sign, so only the owned nodes (also implied by _reserved_commitments)
        p.add_vars("reserved", [(o.id, e) for e in range(f.horizon.n_epochs)], 0, ub, integer=True)
    offers = {o.id: o for o in s.offers}
    for k, c in enumerate(f.horizon.commitments or ()):
        o = offers[c.offer]
        caps = [x for x in (c.max_nodes, None if o.max_nodes is None else o.max_nodes - o.owned_nodes)
                if x is not None]
        if c.fixed_nodes is not None:  # a decision already taken: bounds lb = ub
            p.add_vars("commit", [(c.offer, k, e) for e in range(f.horizon.n_epochs)], c.fixed_nodes, c.fixed_nodes,
                       integer=True)
        else:
            p.add_vars("commit", [(c.offer, k, e) for e in range(f.horizon.n_epochs)], 0,
                       min(caps) if caps else None, integer=True)
    deps = f.options.deployments
    p.add_vars("replicas", [(d.index, t) for d in deps for t in range(len(T))], 0, None, integer=True)
    mig_offers = {d.offer for d in deps if d.mig_profile}
    for o in s.offers:
        if o.id in mig_offers:
            p.add_vars("mig", [(o.id, k, t) for k in range(len(f.patterns)) for t in range(len(T))],
                       0, None, integer=True)
    keys = []
    for d in deps:
        if d.workload in f.no_loads:
            continue
        for b, cap in enumerate(d.capacity_rpm):
            if cap > 0:
                keys += [(d.index, b, t) for t, per in enumerate(T) if per.demand_rpm[d.workload] > 0]
    p.add_vars("load", keys, 0, None, integer=False)
    if f.allow_unmet:
        p.add_vars("unmet", [(w.id, b, t) for w in s.workloads for b in range(len(w.buckets))
                             for t in range(len(T))], 0, None, integer=False)


def _demand_cover(f: Formulation) -> None:
    """The demand rows; a one-bucket workload's without loads: sum_d v_d r_{d,t} >= lambda_{w,t} (module docstring,
    "Loads projected out")."""
    p, T = f.problem, f.horizon.periods
    by_w: dict[str, list[Deployment]] = {}
    for d in f.options.deployments:
        by_w.setdefault(d.workload, []).append(d)
    for w in f.scenario.workloads:
        if w.id in f.no_loads:
            for t, per in enumerate(T):
                if per.demand_rpm[w.id] > 0:
                    coeffs = {("replicas", d.index, t): f.capacity_per_replica(d) for d in by_w.get(w.id, [])
                              if d.capacity_rpm[0] > 0}
                    p.add_constraint("demand", (w.id, 0, t), coeffs, ">=", per.demand_rpm[w.id])
            continue
        for b, bucket in enumerate(w.buckets):
            for t, per in enumerate(T):
                demand = per.demand_rpm[w.id] * bucket.share
                if demand <= 0:
                    continue
                coeffs = {("load", d.index, b, t): 1.0 for d in by_w.get(w.id, []) if d.capacity_rpm[b] > 0}
                if f.allow_unmet:
                    coeffs[("unmet", w.id, b, t)] = 1.0
                p.add_constraint("demand", (w.id, b, t), coeffs, "==", demand)


def _replica_capacity(f: Formulation) -> None:
    p, T, rho = f.problem, f.horizon.periods, f.scenario.policy.target_utilization
    rows, cols, vals, keys = [], [], [], []
    for d in f.options.deployments:
        if d.workload in f.no_loads:
            continue  # its row would read -rho r <= 0; the load bound is in the demand row (``_demand_cover``)
        for t, per in enumerate(T):
            r = len(keys)
            keys.append((d.index, t))
            rows.append(r); cols.append(p.index(("replicas", d.index, t))); vals.append(-rho)
            if per.demand_rpm[d.workload] <= 0:
                continue
            for b, cap in enumerate(d.capacity_rpm):
                if cap > 0:
                    rows.append(r); cols.append(p.index(("load", d.index, b, t)))
                    vals.append(1.0 / (d.availability * cap))
    if keys:
        p.add_rows("capacity", keys, rows, cols, vals, "<=", 0.0)


def _node_packing(f: Formulation) -> None:
    p, T, s = f.problem, f.horizon.periods, f.scenario
    by_o: dict[str, list[Deployment]] = {}
    for d in f.options.deployments:
        by_o.setdefault(d.offer, []).append(d)
    for o in s.offers:
        deps = by_o.get(o.id, [])
        for t, per in enumerate(T):
            coeffs: dict = {("replicas", d.index, t): float(d.tp) for d in deps if not d.mig_profile}
            if any(d.mig_profile for d in deps):
                coeffs.update({("mig", o.id, k, t): 1.0 for k in range(len(f.patterns))})
            if o.market == "reserved":
                coeffs[("reserved", o.id, per.epoch)] = -float(o.gpus_per_node)
                rhs = float(o.gpus_per_node * o.owned_nodes)
            else:
                coeffs[("nodes", o.id, t)] = -float(o.gpus_per_node)
                rhs = 0.0
            p.add_constraint("gpus", (o.id, t), coeffs, "<=", rhs)


def _mig_instances(f: Formulation) -> None:
    p, T = f.problem, f.horizon.periods
    classes = SLOT_NAMES
    by_offer: dict[str, list[Deployment]] = {}
    for d in f.options.deployments:
        if d.mig_profile:
            by_offer.setdefault(d.offer, []).append(d)
    for o_id, deps in by_offer.items():
        for q in sorted({d.mig_class for d in deps}):
            for t in range(len(T)):
                coeffs: dict = {("replicas", d.index, t): 1.0 for d in deps if d.mig_class == q}
                for k, pat in enumerate(f.patterns):
                    if pat[q]:
                        coeffs[("mig", o_id, k, t)] = -float(pat[q])
                p.add_constraint("mig_instances", (o_id, classes[q], t), coeffs, "<=", 0.0)


def _min_replicas(f: Formulation) -> None:
    p, T = f.problem, f.horizon.periods
    for w in f.scenario.workloads:
        if w.min_replicas <= 0:
            continue
        deps = f.options.for_workload(w.id)
        for t in range(len(T)):
            p.add_constraint("min_replicas", (w.id, t), {("replicas", d.index, t): 1.0 for d in deps},
                             ">=", float(w.min_replicas))


def _reserved_commitments(f: Formulation) -> None:
    """Forecast only: reserved nodes beyond the owned ones = the commitments active in the epoch; option caps."""
    commitments = f.horizon.commitments
    if commitments is None:
        return
    p, E = f.problem, f.horizon.n_epochs
    res = f.reserved()
    row_of = {(o.id, e): i for i, (o, e) in enumerate((o, e) for o in res for e in range(E))}
    rows = list(range(len(row_of)))
    cols = [p.index(("reserved", o.id, e)) for o in res for e in range(E)]
    vals = [1.0] * len(rows)
    for k, c in enumerate(commitments):
        for start in range(E):
            col = p.index(("commit", c.offer, k, start))
            for e in range(start, min(start + c.term_epochs, E)):
                rows.append(row_of[(c.offer, e)]); cols.append(col); vals.append(-1.0)
    p.add_rows("reserved_commit", list(row_of), rows, cols, vals, "==", 0.0)
    capped = [(k, c) for k, c in enumerate(commitments) if c.max_nodes is not None]
    if capped:
        rows = [i for i, _ in enumerate(capped) for _ in range(E)]
        cols = [p.index(("commit", c.offer, k, e)) for k, c in capped for e in range(E)]
        p.add_rows("commit_cap", [(k,) for k, _ in capped], rows, cols, np.ones(len(cols)), "<=",
                   [float(c.max_nodes) for _, c in capped])


def _node_cuts(f: Formulation) -> None:
    """Valid inequalities that the LP relaxation misses (see the module docstring): nodes enough for each workload."""
    p, T, s = f.problem, f.horizon.periods, f.scenario
    rho = s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    keys, rows, cols, vals, rhs = [], [], [], [], []
    for w in s.workloads:
        # Per GPU of o: the most replicas of w, and the most requests/min of w at rho, over whole-GPU deployments
        # (1 / tp_d of a replica) and over MIG patterns (sum_q kappa_{k,q} instances, each at its class's best).
        reps: dict[str, float] = {}  # phi_{w,o} / G_o
        caps: dict[str, float] = {}  # psi_{w,o} / G_o
        mig_best: dict[str, dict[int, float]] = {}
        for d in f.options.for_workload(w.id):
            best = rho * d.availability * max(d.capacity_rpm)
            if d.mig_profile:
                by_q = mig_best.setdefault(d.offer, {})
                by_q[d.mig_class] = max(by_q.get(d.mig_class, 0.0), best)
                continue
            reps[d.offer] = max(reps.get(d.offer, 0.0), 1.0 / d.tp)
            caps[d.offer] = max(caps.get(d.offer, 0.0), best / d.tp)
        for oid, by_q in mig_best.items():
            reps[oid] = max(reps.get(oid, 0.0), max(sum(pat[q] for q in by_q) for pat in f.patterns))
            caps[oid] = max(caps.get(oid, 0.0), max(sum(pat[q] * c for q, c in by_q.items()) for pat in f.patterns))
        reps = {o: a * offers[o].gpus_per_node for o, a in reps.items()}
        caps = {o: a * offers[o].gpus_per_node for o, a in caps.items()}
        for t, per in enumerate(T):
            need = {"min_replicas": float(w.min_replicas)}
            if not f.allow_unmet:
                need["demand"] = per.demand_rpm[w.id]
            for kind, coef in (("min_replicas", reps), ("demand", caps)):
                if need.get(kind, 0.0) <= 0:
                    continue
                owned = 0.0
                r = len(keys)
                for oid, a in coef.items():
                    o = offers[oid]
                    if o.market == "reserved":
                        cols.append(p.index(("reserved", oid, per.epoch)))
                        owned += a * o.owned_nodes
                    else:
                        cols.append(p.index(("nodes", oid, t)))
                    rows.append(r); vals.append(a)
                keys.append((kind, w.id, t))
                rhs.append(need[kind] - owned)
    if keys:
        p.add_rows("node_cuts", keys, rows, cols, vals, ">=", rhs)
    _replica_cuts(f)


def _replica_cuts(f: Formulation) -> None:
    """sum_{d in D_w} v_d r_{d,t} >= lambda_{w,t} (not with --allow-unmet): the demand as an integer row on
    replicas, v_d = rho a_d max_b cap_{d,b}. Valid by the same argument as the node cuts; for a one-bucket workload
    it is exactly the projection of _demand_cover + _replica_capacity onto r, which the LP otherwise only sees
    through continuous loads, so the solver can derive knapsack cover and MIR cuts from it."""
    if f.allow_unmet:
        return
    p, T, rho = f.problem, f.horizon.periods, f.scenario.policy.target_utilization
    keys, rows, cols, vals, rhs = [], [], [], [], []
    for w in f.scenario.workloads:
        if w.id in f.no_loads:
            continue  # this row is its demand row already (``_demand_cover``)
        deps = f.options.for_workload(w.id)
        for t, per in enumerate(T):
            if per.demand_rpm[w.id] <= 0 or not deps:
                continue
            r = len(keys)
            for d in deps:
                rows.append(r); cols.append(p.index(("replicas", d.index, t)))
                vals.append(rho * d.availability * max(d.capacity_rpm))
            keys.append((w.id, t))
            rhs.append(per.demand_rpm[w.id])
    if keys:
        p.add_rows("replica_cuts", keys, rows, cols, vals, ">=", rhs)


def _period_costs(f: Formulation) -> None:
    """Per-period USD/hour of the fleet P_t (cols, coefficients, offer of each), for objective, budget, tie-break."""
    p, T, commitments = f.problem, f.horizon.periods, f.horizon.commitments
    for t, per in enumerate(T):
        cols, vals, offers = [], [], []
        for o in f.flex():
            for m in (f.merge.groups.get(o.id) if f.merge else None) or (o,):  # a merged group: its segments
                cols.append(p.index(("segment", m.id, t) if m is not o else ("nodes", o.id, t)))
                vals.append(m.price_usd_per_node_hour_effective * per.price_multiplier(m.id))
                offers.append(m.id)
        if commitments is None:
            for o in f.reserved():
                cols.append(p.index(("reserved", o.id, per.epoch)))
                vals.append(o.price_usd_per_node_hour_effective * per.price_multiplier(o.id))
                offers.append(o.id)
        else:
            for k, c in enumerate(commitments):
                for start in range(per.epoch + 1):
                    if c.active(start, per.epoch):
                        cols.append(p.index(("commit", c.offer, k, start)))
                        vals.append(c.usd_per_node_hour[start])
                        offers.append(c.offer)
        f.cost_cols.append(np.asarray(cols, dtype=np.int64))
        f.cost_vals.append(np.asarray(vals, dtype=float))
        f.cost_offers.append(np.asarray(offers, dtype=object))


def offer_costs(f: Formulation, x: np.ndarray, t: int) -> dict[str, float]:
    """USD/hour of each offer in period t (the terms of P_t), from a solution vector."""
    out: dict[str, float] = {}
    for col, val, oid in zip(f.cost_cols[t], f.cost_vals[t], f.cost_offers[t]):
        out[oid] = out.get(oid, 0.0) + float(val * x[col])
    return out


def _budget(f: Formulation) -> None:
    budget = f.scenario.policy.budget_usd_per_hour
    if budget is None:
        return
    for t, (cols, vals) in enumerate(zip(f.cost_cols, f.cost_vals)):
        f.problem.add_rows("budget", [(t,)], np.zeros(len(cols), dtype=np.int64), cols, vals, "<=", budget)


def _objective_terms(f: Formulation) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The cost objective as (term, columns, coefficients): market costs hour-weighted, the commitments' upfront
    fees and post-horizon tail (forecast), plus the unmet penalty. All in USD per hour of the horizon."""
    p, T, H = f.problem, f.horizon.periods, f.horizon.total_hours
    market_of = {o.id: o.market for o in f.real_offers()}
    terms = []
    if T:
        cols = np.concatenate(f.cost_cols)
        vals = np.concatenate([v * (per.hours / H) for v, per in zip(f.cost_vals, T)])
        markets = np.array([market_of[o] for o in np.concatenate(f.cost_offers)], dtype=object)
        for market in dict.fromkeys(markets):
            mask = markets == market
            terms.append((market, cols[mask], vals[mask]))
    if f.horizon.commitments is not None:
        E = f.horizon.n_epochs
        cols, upfront, tail = [], [], []
        for k, c in enumerate(f.horizon.commitments):
            for start in range(E):
                cols.append(p.index(("commit", c.offer, k, start)))
                upfront.append(c.upfront_usd_per_node / H)
                tail.append(c.usd_per_node_hour[start] * c.tail_hours[start] / H)
        cols = np.asarray(cols, dtype=np.int64)
        terms += [("reserved_upfront", cols, np.asarray(upfront, dtype=float)),
                  ("reserved_tail", cols, np.asarray(tail, dtype=float))]
    if f.allow_unmet:
        cols = p.block_columns("unmet")
        weights = np.array([T[p.var_key(int(c))[3]].hours / H for c in cols])
        terms.append(("unmet_penalty", cols, f.unmet_penalty * weights))
    return terms


def _objective(f: Formulation) -> None:
    """Minimise USD/hour; or, with ``cost_cap`` set, keep cost <= cap and minimise the tie-break."""
    p = f.problem
    terms = _objective_terms(f)
    if f.cost_cap is None:
        for term, cols, vals in terms:
            p.add_cost(term, cols, vals)
        return
    cols = np.concatenate([c for _, c, _ in terms]) if terms else np.zeros(0, dtype=np.int64)
    vals = np.concatenate([v for _, _, v in terms]) if terms else np.zeros(0)
    p.add_rows("cost_cap", [("cost",)], np.zeros(cols.size, dtype=np.int64), cols, vals, "<=", f.cost_cap)
    _tie_break_objective(f)


def _node_bound(f: Formulation, o: Offer) -> int:
    """Ubar_o: max_nodes (less the owned ones on reserved offers), else implied by the cost cap, since every cost
    term is >= 0: a flex node in period t costs p_{o,t} h_t / H; a new reserved node in epoch e costs at least
    p_{o,t} h_e / H (``plan solve``) or, as part of a commitment (k, s), (q_{k,s} term hours + f_k) / H."""
    T, H, cap = f.horizon.periods, f.horizon.total_hours, f.cost_cap
    if o.max_nodes is not None:
        return o.max_nodes - (o.owned_nodes if o.market == "reserved" else 0)
    price = o.price_usd_per_node_hour_effective
    if o.market != "reserved":
        cheapest = min(price * per.price_multiplier(o.id) * per.hours for per in T)
    elif f.horizon.commitments is None:
        hours = f.horizon.epoch_hours
        cheapest = min(price * per.price_multiplier(o.id) * hours[per.epoch] for per in T)
    else:
        hours, E = f.horizon.epoch_hours, f.horizon.n_epochs
        cheapest = min((c.usd_per_node_hour[s] * (sum(hours[s:s + c.term_epochs]) + c.tail_hours[s])
                        + c.upfront_usd_per_node
                        for c in f.horizon.commitments if c.offer == o.id for s in range(E)), default=math.inf)
        if not math.isfinite(cheapest):
            return 0
    return int(cap * H / cheapest) + 1 if cheapest > 0 else 10**6


def _node_columns(f: Formulation):
    """Per real offer: the offer, the keys of its node columns (a merged member's segment, a reserved offer's epochs,
    else its nodes per period) and the hours each counts for."""
    T = f.horizon.periods
    merged = f.merge.group_of if f.merge else {}
    for o in f.real_offers():
        if o.id in merged:  # a member of a merged group: its segment (``planner.fleet.merge``)
            yield o, [("segment", o.id, t) for t in range(len(T))], [per.hours for per in T]
        elif o.market == "reserved":
            yield o, [("reserved", o.id, e) for e in range(f.horizon.n_epochs)], list(f.horizon.epoch_hours)
        else:
            yield o, [("nodes", o.id, t) for t in range(len(T))], [per.hours for per in T]


def _tie_break_objective(f: Formulation) -> None:
    """(|O|+1) x GPU-hours + offers bought; Ubar_o from ``_node_bound``."""
    p = f.problem
    columns = list(_node_columns(f))
    used = p.add_vars("offer_used", [o.id for o, _, _ in columns], 0, 1, integer=True)
    weight = float(len(columns) + 1)
    for (o, keys, hours), u in zip(columns, used):
        ubar = _node_bound(f, o)
        for key in keys:
            p.add_constraint("offer_used_link", key[1:], {key: 1.0, int(u): -float(max(ubar, 0))}, "<=", 0.0)
        p.add_cost("tie_break_gpu_hours", [p.index(k) for k in keys], [weight * o.gpus_per_node * h for h in hours])
    p.add_cost("tie_break_offers", used, np.ones(len(used)))


def fleet_size(f: Formulation, x: np.ndarray) -> tuple[float, int]:
    """(GPU-hours, offers bought) of a solution vector of f (or of its tie-break program, whose first columns are
    f's): what the tie-break minimises, in that order. Node counts are rounded to integers."""
    gpu_hours, offers = 0.0, 0
    for o, keys, hours in _node_columns(f):
        nodes = [round(float(x[f.problem.index(k)])) for k in keys]
        gpu_hours += sum(o.gpus_per_node * n * h for n, h in zip(nodes, hours))
        offers += any(nodes)
    return gpu_hours, offers


def fleet_cost(f: Formulation, x: np.ndarray) -> dict[str, float]:
    """USD/hour by cost term (markets and unmet penalty) of a solution vector, whatever was minimised."""
    out: dict[str, float] = {}
    for term, cols, vals in _objective_terms(f):
        out[term] = out.get(term, 0.0) + float(vals @ x[cols])
    return out


def unmet_penalty(options: OptionSet, scenario: Scenario) -> float:
    """10 x the dearest node-hour per request/min of any option (so serving always beats not serving)."""
    offers = {o.id: o for o in scenario.offers}
    worst = 1.0
    for d in options.deployments:
        per_rpm = offers[d.offer].price_usd_per_node_hour_effective / max(min(c for c in d.capacity_rpm if c > 0), 1e-9)
        worst = max(worst, per_rpm)
    return 10.0 * worst


BLOCKS = (_vars, _demand_cover, _replica_capacity, _node_packing, _mig_instances, _min_replicas,
          _node_cuts, _reserved_commitments, _period_costs, _budget)


def build(scenario: Scenario, options: OptionSet, horizon: Horizon, *, allow_unmet: bool = False,
          extra_blocks=(), cost_cap: float | None = None, merge: OfferMerge | None = None,
          project_loads: bool = True, share_routing: bool = False, deadline: float | None = None,
          max_vars: int | None = None) -> Formulation:
    """Build the problem from its named blocks (``BLOCKS`` then ``extra_blocks``, e.g. the spot hedge).

    ``cost_cap`` builds the tie-break problem instead: the same fleet constraints, total cost <= cost_cap,
    minimise GPU-hours then offers used. ``merge``: scenario and options are the merged ones of
    ``planner.fleet.merge.merge_offers`` and this is its record. ``project_loads``: one-bucket workloads get no
    load variables (exact, module docstring); off, the program as first written (the oracle tests compare the two).
    ``share_routing``: in the spot hedge's states, deployments of equal capacities share one routing (exact; off here,
    on in ``plan solve``: ``planner.fleet.hedge._serve``). ``deadline`` (a ``time.perf_counter()`` value): raise
    BuildOutOfTime once past it (``check_deadline``); None builds whatever it takes. ``max_vars``: BuildOutOfTime once
    the program has more columns (written or collected).
    """
    offers = {o.id: o for o in scenario.offers}
    _check_power_of_two(options.deployments, offers)
    f = Formulation(problem=Problem(scenario.name), scenario=scenario, options=options, horizon=horizon,
                    allow_unmet=allow_unmet, patterns=[tuple(p) for p in dominant_multisets()],
                    cost_cap=cost_cap, merge=merge, project_loads=project_loads, share_routing=share_routing,
                    deadline=deadline, max_vars=max_vars)
    if project_loads and not allow_unmet:
        f.no_loads = frozenset(w.id for w in scenario.workloads if len(w.buckets) == 1)
    if allow_unmet:  # from the unmerged offers, so the penalty is the same with or without a merge
        base_scenario, base_options = f.unmerged()
        f.unmet_penalty = unmet_penalty(base_options, base_scenario)
    # The blocks make millions of small tuples and lists (keys, coefficient lists) and no reference cycles; the
    # cyclic garbage collector would walk every live object again and again while they pile up (XL-2: 17 of 39
    # CPU s of the build). Paused for the build, on again after it (nothing is collected early or late but cycles).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for block in (*BLOCKS, *extra_blocks, _objective):
            check_deadline(f)
            block(f)
    finally:
        if was_enabled:
            gc.enable()
    return f
