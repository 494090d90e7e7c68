r"""The fleet integer program, written out. Symbols match the code.

Sets
    W workloads; B_w request-size buckets of w with shares sigma_{w,b} (sum 1); O offers, split into
    O^flex (on-demand, spot: paid by use) and O^res (reserved: paid by commitment); O^mig the offers with
    ``mig: true``; D deployments (``planner.options``), d -> (w_d, o_d, precision, tp_d, MIG profile q_d or none);
    T periods with hours h_t and epoch e(t) (``planner.horizon``), H = sum_t h_t; K maximal MIG partition
    patterns (38 for the shared A100/H100/H200/B200 geometry, ``planner.mig``) with kappa_{k,q} instances of
    profile class q.

Data
    cap_{d,b}   requests/min one replica of d sustains at the SLOs for bucket b (perf model or override)
    a_d         expected availability of d's offer (1 off spot; 1 - rate x recovery on spot)
    rho         policy.target_utilization
    lambda_{w,t} demand of w in period t (requests/min)
    G_o         GPUs per node of o (a power of two); U_o max_nodes (may be absent); R_o owned reserved nodes
    p_{o,t}     price of a node-hour of o in period t (price trends multiply it; 1 in ``plan solve``)

Variables
    n_{o,t} in Z+     nodes of flex offer o used in period t                      ("nodes", o, t)
    m_{o,e} in Z+     reserved nodes of o committed beyond the owned R_o, epoch e ("reserved", o, e)
    r_{d,t} in Z+     replicas of deployment d in period t                         ("replicas", d, t)
    g_{o,k,t} in Z+   GPUs of MIG offer o partitioned with pattern k in period t   ("mig", o, k, t)
    x_{d,b,t} >= 0    requests/min of bucket b of w_d routed to d in period t     ("load", d, b, t)
    s_{w,b,t} >= 0    unmet demand (only with --allow-unmet)                        ("unmet", w, b, t)

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
    _mig_instances       sum_{d on o, q_d = q} r_{d,t} <= sum_k kappa_{k,q} g_{o,k,t}               all o in O^mig, q, t
        (each partitioned GPU carries one maximal valid pattern; unused instances are allowed, so maximal
        patterns lose nothing; never the surrogate sum compute <= 7n, sum memory <= 8n, which accepts three
        4g instances on two GPUs)
    _availability_caps   n_{o,t} <= U_o;  R_o + m_{o,e} <= U_o                                     (variable bounds)
    _min_replicas        sum_{d in D_w} r_{d,t} >= min_replicas_w                                   all w,t
    _budget              sum_{o in flex} p_{o,t} n_{o,t} + sum_{o in res} p_o m_{o,e(t)} <= budget  all t

Objective (USD per hour, hour-weighted over the horizon)
    min (1/H) sum_t h_t [ sum_{o in flex} p_{o,t} n_{o,t} + sum_{o in res} p_o m_{o,e(t)} ] + pi sum s
    Owned reserved nodes cost nothing here (sunk); new reserved nodes are paid every hour whether used or not.
    pi (the unmet penalty) is 10x the most expensive node-hour per request/min any option offers, so unmet
    demand is only ever chosen when no fleet can serve it.

Tie-break (``planner.solve``): lexicographic, in a second solve with the cost fixed at the optimum:
    min (|O| + 1) sum_t h_t sum_o G_o N_{o,t}  +  sum_o u_o,   N_{o,t} <= Ubar_o u_o,  u_o in {0, 1}
i.e. fewer GPU-hours first, then fewer distinct offers bought.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.errors import PlannerError
from planner.horizon import Horizon
from planner.mig import SLOT_NAMES, maximal_multisets
from planner.options import Deployment, OptionSet
from planner.problem import Problem
from planner.scenario import Offer, Scenario


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
    cost_cap: float | None = None  # set: second, tie-break solve (cost <= cap, minimise GPU-hours, offers)

    def flex(self) -> list[Offer]:
        return [o for o in self.scenario.offers if o.market != "reserved"]

    def reserved(self) -> list[Offer]:
        return [o for o in self.scenario.offers if o.market == "reserved"]


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
    for o in f.reserved():
        ub = None if o.max_nodes is None else o.max_nodes - o.owned_nodes
        p.add_vars("reserved", [(o.id, e) for e in range(f.horizon.n_epochs)], 0, ub, integer=True)
    deps = f.options.deployments
    p.add_vars("replicas", [(d.index, t) for d in deps for t in range(len(T))], 0, None, integer=True)
    mig_offers = {d.offer for d in deps if d.mig_profile}
    for o in s.offers:
        if o.id in mig_offers:
            p.add_vars("mig", [(o.id, k, t) for k in range(len(f.patterns)) for t in range(len(T))],
                       0, None, integer=True)
    keys = []
    for d in deps:
        for b, cap in enumerate(d.capacity_rpm):
            if cap > 0:
                keys += [(d.index, b, t) for t, per in enumerate(T) if per.demand_rpm[d.workload] > 0]
    p.add_vars("load", keys, 0, None, integer=False)
    if f.allow_unmet:
        p.add_vars("unmet", [(w.id, b, t) for w in s.workloads for b in range(len(w.buckets))
                             for t in range(len(T))], 0, None, integer=False)


def _demand_cover(f: Formulation) -> None:
    p, T = f.problem, f.horizon.periods
    by_w: dict[str, list[Deployment]] = {}
    for d in f.options.deployments:
        by_w.setdefault(d.workload, []).append(d)
    for w in f.scenario.workloads:
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


def _period_costs(f: Formulation) -> None:
    """Per-period USD/hour of the fleet (cols, coefficients), used by the objective, budget and tie-break."""
    p, T = f.problem, f.horizon.periods
    for t, per in enumerate(T):
        cols, vals = [], []
        for o in f.flex():
            cols.append(p.index(("nodes", o.id, t)))
            vals.append(o.price_usd_per_node_hour_effective * per.price_multiplier(o.id))
        for o in f.reserved():
            cols.append(p.index(("reserved", o.id, per.epoch)))
            vals.append(o.price_usd_per_node_hour_effective * per.price_multiplier(o.id))
        f.cost_cols.append(np.asarray(cols, dtype=np.int64))
        f.cost_vals.append(np.asarray(vals, dtype=float))


def _budget(f: Formulation) -> None:
    budget = f.scenario.policy.budget_usd_per_hour
    if budget is None:
        return
    for t, (cols, vals) in enumerate(zip(f.cost_cols, f.cost_vals)):
        f.problem.add_rows("budget", [(t,)], np.zeros(len(cols), dtype=np.int64), cols, vals, "<=", budget)


def _objective_terms(f: Formulation) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The cost objective as (term, columns, coefficients): market costs hour-weighted, plus the unmet penalty."""
    p, T, H = f.problem, f.horizon.periods, f.horizon.total_hours
    markets = {o.id: o.market for o in f.scenario.offers}
    terms = []
    for t, per in enumerate(T):
        for col, val in zip(f.cost_cols[t], f.cost_vals[t]):
            terms.append((markets[p.var_key(int(col))[1]], np.array([col]), np.array([val * per.hours / H])))
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


def _tie_break_objective(f: Formulation) -> None:
    """(|O|+1) x GPU-hours + offers bought; Ubar_o from max_nodes, else from the cost cap (p_o N h_t / H <= cap)."""
    p, T, H = f.problem, f.horizon.periods, f.horizon.total_hours
    offers = f.scenario.offers
    used = p.add_vars("offer_used", [o.id for o in offers], 0, 1, integer=True)
    weight = float(len(offers) + 1)
    for o, u in zip(offers, used):
        price = o.price_usd_per_node_hour_effective
        if o.market == "reserved":
            ubar = o.max_nodes - o.owned_nodes if o.max_nodes is not None else int(f.cost_cap / price) + 1
            keys = [("reserved", o.id, e) for e in range(f.horizon.n_epochs)]
            hours = [sum(per.hours for per in T if per.epoch == e) for e in range(f.horizon.n_epochs)]
        else:
            keys = [("nodes", o.id, t) for t in range(len(T))]
            hours = [per.hours for per in T]
            ubar = o.max_nodes if o.max_nodes is not None else int(f.cost_cap * H / (min(hours) * price)) + 1
        for key in keys:
            p.add_constraint("offer_used_link", key[1:], {key: 1.0, int(u): -float(max(ubar, 0))}, "<=", 0.0)
        p.add_cost("tie_break_gpu_hours", [p.index(k) for k in keys], [weight * o.gpus_per_node * h for h in hours])
    p.add_cost("tie_break_offers", used, np.ones(len(used)))


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
          _period_costs, _budget)


def build(scenario: Scenario, options: OptionSet, horizon: Horizon, *, allow_unmet: bool = False,
          extra_blocks=(), cost_cap: float | None = None) -> Formulation:
    """Build the problem from its named blocks (``BLOCKS`` then ``extra_blocks``, e.g. the spot hedge).

    ``cost_cap`` builds the tie-break problem instead: the same fleet constraints, total cost <= cost_cap,
    minimise GPU-hours then offers used.
    """
    offers = {o.id: o for o in scenario.offers}
    _check_power_of_two(options.deployments, offers)
    f = Formulation(problem=Problem(scenario.name), scenario=scenario, options=options, horizon=horizon,
                    allow_unmet=allow_unmet, patterns=[tuple(p) for p in maximal_multisets()],
                    cost_cap=cost_cap)
    if allow_unmet:
        f.unmet_penalty = unmet_penalty(options, scenario)
    for block in (*BLOCKS, *extra_blocks, _objective):
        block(f)
    return f
