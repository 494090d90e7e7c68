r"""Each workload's own program, solved in turn: which options a fleet would use if every workload priced its
GPUs by the share it takes and left the others the GPUs they had not yet taken.

Used to choose the columns of a restricted program (``planner.fleet.restricted``): nothing here is a plan or a
bound. Its choices enter a program the full formulation builds and the verifier checks, so a poor choice costs
only quality, never correctness. Symbols as in ``planner.fleet.formulation`` and ``planner.fleet.hedge``.

For one period t, workloads in turn (largest first: sigma-weighted demand times the least GPU price per request,
the ``planner.fleet.share_bound`` term), workload w solves

    min   sum_{d in D_w} pi_d g'_d r_d + sum_o pi_o z_o
    s.t.  sum_{d} x_{d,b} = sigma_b lambda                                    all b      (demand)
          sum_b x_{d,b} / (a_d cap_{d,b}) <= rho r_d                          all d      (capacity)
          sum_d r_d >= max(1, min_replicas_w)                                            (min replicas)
          sum_{d not on spot} sum_b x_{d,b} >= phi lambda                                (non-spot floor, phi > 0)
          sum_{d, pool(d) not in S} y^S_{d,b} >= delta sigma_b lambda         all S, b   (pool loss, with the hedge)
          sum_b y^S_{d,b} / (a_d cap_{d,b}) <= r_d                            all S, d
          sum_{d on o} g'_d r_d <= room_o                                     o with max_nodes
          sum_{d on o} g'_d r_d - z_o <= owned_o                              o with owned nodes
          r in Z+, x, y, z >= 0

with pi the price of one GPU of the offer per hour (0 on an offer with owned nodes, whose GPUs beyond the owned
ones cost pi_o through z_o), g'_d the GPUs a replica takes when packed (tp_d; a MIG instance 1 / (the most
instances of its profile one GPU holds), so that a MIG offer's room is never overdrawn), room_o = G_o U_o less
what the workloads before w took, owned_o = G_o R_o less the same; the sets S are the pool-loss sets of
``planner.fleet.hedge`` holding one of w's deployments. One bucket: the loads collapse to
sum_d rho a_d cap_d r_d >= lambda, and so on (as ``planner.fleet.formulation``, "Loads projected out").

Left out: node rounding (the GPUs are counted, not the nodes), the node-loss states of the availability target
and the budget, which couple workloads; the restricted program has them all.
"""

from __future__ import annotations

import math
import time

import numpy as np

from planner.fleet.hedge import pool_sets, replicas_per_node
from planner.fleet.horizon import Horizon
from planner.fleet.options import Deployment, OptionSet
from planner.risk.tails import spot_offers
from planner.scenario.model import Offer, Scenario, Workload

PROGRAM_LIMIT_S = 0.2  # each workload's program: a heuristic's choice, within 1 % of its optimum
PROGRAM_GAP = 0.01


def packed_gpus(d: Deployment, gpus_per_node: int) -> float:
    """g'_d: GPUs one replica of d takes when packed (tp; a MIG instance 1 / the most of its profile per GPU)."""
    return float(d.tp) if d.mig_profile is None else gpus_per_node / replicas_per_node(d, gpus_per_node)


class _Rows:
    """A small program's rows as coordinate lists, and its columns' costs and integrality."""

    def __init__(self, n_int: int, cost: list[float], lam: float = 0.0):
        self.cost, self.integer = list(cost), [True] * n_int
        self.r, self.c, self.v, self.lo, self.hi = [], [], [], [], []
        self.lam = lam   # the demand the rows were written for
        self.scaled: list[int] = []   # rows whose bounds are that demand times a constant (``retarget``)

    def col(self, cost: float = 0.0) -> int:
        self.cost.append(cost)
        self.integer.append(False)
        return len(self.cost) - 1

    def row(self, coeffs: dict[int, float], lo: float, hi: float, scaled: bool = False) -> None:
        k = len(self.lo)
        if scaled:
            self.scaled.append(k)
        self.r.extend([k] * len(coeffs))
        self.c.extend(coeffs)
        self.v.extend(coeffs.values())
        self.lo.append(lo)
        self.hi.append(hi)


def _serve(rows: _Rows, w: Workload, deps: list[Deployment], keep: list[int], lam: float, share: float,
           per_replica: float, exact: bool = False) -> dict:
    """Rows: the deployments ``keep`` carry ``share`` of each bucket of lambda (exactly, with ``exact``), a replica
    up to ``per_replica`` of its derated capacity; one bucket: one row on the replicas, sum_d per_replica a_d cap_d
    r_d >= share lambda; else loads per deployment and bucket, returned by (position, bucket)."""
    inf = float("inf")
    if len(w.buckets) == 1:
        rows.row({i: per_replica * deps[i].availability * deps[i].capacity_rpm[0] for i in keep
                  if deps[i].capacity_rpm[0] > 0}, share * lam, inf, scaled=True)
        return {}
    y = {(i, b): rows.col() for i in keep for b, cap in enumerate(deps[i].capacity_rpm) if cap > 0}
    for b, bucket in enumerate(w.buckets):
        need = share * bucket.share * lam
        rows.row({j: 1.0 for (_, bb), j in y.items() if bb == b}, need, need if exact else inf, scaled=True)
    by_dep: dict[int, dict[int, float]] = {}   # one pass over the loads (y holds keep's in order, buckets in order)
    for (i, b), j in y.items():
        by_dep.setdefault(i, {})[j] = 1.0 / (deps[i].availability * deps[i].capacity_rpm[b])
    for i in keep:
        coeffs = by_dep.get(i)
        if coeffs:
            rows.row({**coeffs, i: -per_replica}, -inf, 0.0)
    return y


def _non_spot_floor(rows: _Rows, w: Workload, deps: list[Deployment], lam: float, phi: float, loads: dict,
                    rho: float, spot: list[bool]) -> None:
    """sum_{d not on spot} sum_b x_{d,b} >= phi lambda (one bucket: sum_{d not on spot} rho a_d cap_d r_d)."""
    if loads:
        rows.row({j: 1.0 for (i, _), j in loads.items() if not spot[i]}, phi * lam, float("inf"), scaled=True)
    else:
        rows.row({i: rho * d.availability * d.capacity_rpm[0] for i, d in enumerate(deps)
                  if not spot[i] and d.capacity_rpm[0] > 0}, phi * lam, float("inf"), scaled=True)


def workload_program(s: Scenario, w: Workload, deps: list[Deployment], lam: float, prices: list[float],
                     room: dict[str, tuple[float | None, float, float]], sets: list[tuple[str, ...]],
                     limit_s: float = PROGRAM_LIMIT_S) -> dict[int, int] | None:
    """Replicas by position in ``deps`` of w's program above for demand ``lam`` (None: no solution in time).
    ``prices``: pi_d g'_d per deployment; ``room``: offer -> (room_o or None, owned_o, pi_o)."""
    h = solve_rows(program_rows(s, w, deps, lam, prices, room, sets), limit_s, PROGRAM_GAP)
    if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
        return None
    values = h.getSolution().col_value
    return {i: int(round(values[i])) for i in range(len(deps)) if values[i] > 0.5}


def program_rows(s: Scenario, w: Workload, deps: list[Deployment], lam: float, prices: list[float],
                 room: dict[str, tuple[float | None, float, float]], sets: list[tuple[str, ...]]) -> _Rows:
    """The rows and columns of w's program (``workload_program``'s arguments); replicas are columns 0..len(deps)."""
    inf = float("inf")
    pol, rho = s.policy.spot, s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    rows = _Rows(len(deps), prices, lam)
    every = list(range(len(deps)))
    rows.row({i: 1.0 for i in every}, float(max(1 if lam > 0 else 0, w.min_replicas)), inf)
    x = _serve(rows, w, deps, every, lam, 1.0, rho, exact=True)
    spot = [offers[d.offer].market == "spot" for d in deps]
    if pol.min_non_spot_share > 0:
        _non_spot_floor(rows, w, deps, lam, pol.min_non_spot_share, x, rho, spot)
    pool = [offers[d.offer].pool_effective if is_spot else None for d, is_spot in zip(deps, spot)]
    for lost in sets:
        if any(p in lost for p in pool):
            _serve(rows, w, deps, [i for i in every if pool[i] not in lost], lam, pol.degraded_service, 1.0)
    by_offer: dict[str, list[int]] = {}
    for i, d in enumerate(deps):
        by_offer.setdefault(d.offer, []).append(i)
    for oid, ii in by_offer.items():
        left, owned, price = room.get(oid, (None, 0.0, 0.0))
        G = offers[oid].gpus_per_node
        use = {i: packed_gpus(deps[i], G) for i in ii}
        if left is not None:
            rows.row(use, -inf, max(left, 0.0))
        if owned > 0:
            rows.row({**use, rows.col(price): -1.0}, -inf, owned)
    return rows


def solve_rows(rows: _Rows, limit_s: float, gap: float, off=None):
    """HiGHS (one thread, quiet) run on a program's rows, within ``limit_s`` to ``gap``; the solver object. ``off``:
    a boolean per replica column, those fixed to 0 (``planner.fleet.dominance``)."""
    import highspy  # noqa: PLC0415

    from solvers.highs import new_highs, run_pooled  # noqa: PLC0415

    inf = float("inf")
    h = new_highs()
    for key, value in (("output_flag", False), ("time_limit", float(limit_s)),
                       ("mip_rel_gap", gap), ("random_seed", 0)):
        h.setOptionValue(key, value)
    n, m = len(rows.cost), len(rows.lo)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    upper = np.full(n, inf)
    if off is not None:
        upper[: len(off)][np.asarray(off, dtype=bool)] = 0.0
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.asarray(rows.cost, float), np.zeros(n), upper
    lp.row_lower_, lp.row_upper_ = np.asarray(rows.lo, float), np.asarray(rows.hi, float)
    order = np.lexsort((np.asarray(rows.r), np.asarray(rows.c)))
    cols = np.asarray(rows.c, dtype=np.int32)[order]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
    lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(n + 1)).astype(np.int32)
    lp.a_matrix_.index_ = np.asarray(rows.r, dtype=np.int32)[order]
    lp.a_matrix_.value_ = np.asarray(rows.v, dtype=float)[order]
    lp.integrality_ = [highspy.HighsVarType.kInteger if z else highspy.HighsVarType.kContinuous
                       for z in rows.integer]
    h.passModel(lp)
    run_pooled(h)  # one thread, on the process's HiGHS scheduler (solvers.highs, "Threads")
    return h


def solve_again(h, cost: list[float], limit_s: float, off=None):
    """``h``, a program ``solve_rows`` ran, run again within ``limit_s`` with its first ``len(cost)`` columns (the
    replicas) costing ``cost``: its rows are not built or passed again (a fifth of a step of ``planner.fleet.cap_bound``
    on L). ``off``: a boolean per replica column, those fixed to 0 this time (the others free). Returns h."""
    from solvers.highs import run_pooled  # noqa: PLC0415

    n = len(cost)
    at = np.arange(n, dtype=np.int32)
    h.changeColsCost(n, at, np.asarray(cost, dtype=float))
    if off is not None:
        h.changeColsBounds(n, at, np.zeros(n), np.where(np.asarray(off, dtype=bool), 0.0, np.inf))
    h.setOptionValue("time_limit", float(limit_s))
    run_pooled(h)
    return h


def retarget(h, rows: _Rows, lam: float) -> bool:
    """``h``, a program ``solve_rows`` ran on ``rows`` (written for demand ``rows.lam``), set to demand ``lam``: the
    rows whose bounds scale with the demand (sigma_b lambda, delta sigma_b lambda, phi lambda: ``_Rows.scaled``) get
    them times lam / rows.lam, and ``rows.lam`` becomes lam. Every other row and column is the same for any lambda > 0
    (the least count max(1, min_replicas), the capacities, the routing, the room), so h is then the program
    ``program_rows`` would write for lam. False, and nothing changed, where either demand is 0 (the least count
    differs)."""
    if lam <= 0 or rows.lam <= 0:
        return False
    if rows.scaled and lam != rows.lam:
        k = np.asarray(rows.scaled, dtype=np.int32)
        f = lam / rows.lam
        lo, hi = np.asarray(rows.lo, float)[k] * f, np.asarray(rows.hi, float)[k] * f
        h.changeRowsBounds(len(k), k, lo, hi)
        for j, a, b in zip(rows.scaled, lo, hi):
            rows.lo[j], rows.hi[j] = float(a), float(b)
    rows.lam = lam
    return True


def program_inputs(s: Scenario, options: OptionSet) -> tuple[list[tuple[str, ...]], dict[str, list[Deployment]]]:
    """The pool-loss sets the programs route around (those of ``planner.fleet.hedge`` where the hedge applies) and
    each workload's deployments that serve some bucket."""
    pol = s.policy.spot
    sets = pool_sets(s, pol.pool_failures) if pol.hedge and pol.degraded_service > 0 and spot_offers(s) else []
    by_w: dict[str, list[Deployment]] = {}
    for d in options.deployments:
        if max(d.capacity_rpm) > 0:
            by_w.setdefault(d.workload, []).append(d)
    return sets, by_w


def workload_choices(s: Scenario, options: OptionSet, horizon: Horizon, deadline: float) -> set[tuple]:
    """Keys of the deployments the workloads' programs choose in some period, in turn as the module docstring
    says, the periods of most demand first; what was chosen by ``deadline`` (``time.perf_counter``) when it comes
    first."""
    offers = {o.id: o for o in s.offers}
    sets, by_w = program_inputs(s, options)
    chosen: set[tuple] = set()
    # the busiest periods first: what is chosen by the deadline covers the peak (XL: 24 hours of 100 workloads)
    for per in sorted(horizon.periods, key=lambda per: -sum(per.demand_rpm.values())):
        taken = {o.id: 0.0 for o in s.offers}
        gpu_price = {o.id: o.price_usd_per_node_hour_effective * per.price_multiplier(o.id) / o.gpus_per_node
                     for o in s.offers}
        for w, lam in _largest_first(s, by_w, per.demand_rpm):
            left = deadline - time.perf_counter()
            if left <= 0:
                return chosen
            deps = by_w[w.id]
            room = {oid: (None if o.max_nodes is None else o.max_nodes * o.gpus_per_node - taken[oid],
                          max(0.0, o.owned_nodes * o.gpus_per_node - taken[oid]), gpu_price[oid])
                    for oid, o in offers.items()}
            prices = [0.0 if offers[d.offer].owned_nodes else gpu_price[d.offer] * packed_gpus(
                d, offers[d.offer].gpus_per_node) for d in deps]
            got = workload_program(s, w, deps, lam, prices, room, sets, min(PROGRAM_LIMIT_S, left))
            for i, r in (got or {}).items():
                chosen.add(deps[i].key)
                taken[deps[i].offer] += r * packed_gpus(deps[i], offers[deps[i].offer].gpus_per_node)
    return chosen


def unit_price(d: Deployment, o: Offer, w: Workload) -> float:
    """u_d: USD/hour of the GPU share that serves one request/min of w's mix on d alone (inf: d misses a bucket)."""
    need = 0.0
    for bucket, cap in zip(w.buckets, d.capacity_rpm):
        if bucket.share <= 0:
            continue
        if cap <= 0:
            return math.inf
        need += bucket.share / (d.availability * cap)
    return o.price_usd_per_node_hour_effective / o.gpus_per_node * d.gpu_share * need


def _largest_first(s: Scenario, by_w: dict, demand: dict[str, float]) -> list:
    """(workload, lambda) with demand or a minimum of replicas, by lambda x the least ``unit_price`` of its options,
    largest first (ties in the scenario's order)."""
    offers = {o.id: o for o in s.offers}
    out = []
    for k, w in enumerate(s.workloads):
        lam = demand.get(w.id, 0.0)
        if w.id not in by_w or (lam <= 0 and w.min_replicas <= 0):
            continue
        unit = min(unit_price(d, offers[d.offer], w) for d in by_w[w.id])
        out.append((-lam * unit if math.isfinite(unit) else 0.0, k, w, lam))
    out.sort(key=lambda e: (e[0], e[1]))
    return [(w, lam) for _, _, w, lam in out]
