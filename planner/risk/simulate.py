r"""Monte Carlo of a plan under the spot risk model: how often is each workload's demand fully served?

The model is the one in ``planner.fleet.hedge`` (rates, recovery, pools and ``pool_event_share`` from the scenario):
    - every spot node slot runs an alternating process: while up it is hit by its own Poisson reclaims at
      lambda_o - Lambda_P and by its pool's Poisson events at Lambda_P; a hit while up takes it down for R_o;
      hits while down are ignored (the node is already gone). Its availability is exactly 1 / (1 + lambda_o R_o).
    - on-demand and reserved nodes never go down.
Time is continuous: down intervals are exact, not sampled on a grid.

The fleet follows the plan's periods, repeated as a cycle (24 hourly periods = one day, 168 = a week, one period
= flat), switching instantly at period boundaries; node slot i of an offer is the same physical node in every
period that has at least i + 1 nodes of it. Replicas are placed on nodes first-fit-decreasing by GPUs (exact for
power-of-two TP; a MIG GPU is one item carrying its instances), so a reclaimed node takes exactly its replicas.

A workload is *fully served* at an instant when its replicas that are up, at up to 100 % of their capacity at the
SLOs, carry its demand: capacity = sum over up replicas of kappa_d, where kappa_d is the replica's capacity on the
mix of request sizes the plan routes to it (exact for single-size workloads; a fixed-mix approximation for size
mixes, whose exact re-routing would be an LP per state). Reported per workload and for the whole fleet (all
workloads at once): attainment = share of time fully served, worst shortfall (req/min and % of the demand at that
instant), expected unserved requests over the simulated hours. Deterministic for a seed; vectorised with numpy
(10,000 hours of 1,000 spot nodes serving 10 workloads through 24 periods, 500,000 reclaims: about 2 s).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from planner.errors import InputError
from planner.plan import PeriodPlan, Plan, ReplicaLine
from planner.scenario.model import Offer, Scenario
from planner.risk.tails import independent_rate, pool_event_rate, recovery_hours

SERVED_RTOL = 1e-7  # shortfalls below this share of demand are float noise, not unmet requests
# Work bounds (memory is ~100 bytes per event and per period segment): refused with the reason, never allocated.
MAX_HOURS = 1e6  # 114 years
MAX_EVENTS = 20_000_000  # expected reclaim hits (node reclaims + pool events x pool members)
MAX_SEGMENTS = 5_000_000  # period segments over the simulated hours (cycles x periods)


@dataclass(frozen=True)
class RiskLine:
    """One workload (or the whole fleet, id ``"(fleet)"``) over the simulated hours."""

    id: str
    attainment: float
    worst_shortfall_requests_per_min: float
    worst_shortfall_pct: float
    unserved_requests: float
    demand_requests: float
    unserved_pct: float


@dataclass(frozen=True)
class Simulation:
    scenario: str
    hours: float
    seed: int
    workloads: tuple[RiskLine, ...]
    fleet: RiskLine
    spot_nodes: int
    reclaims: int
    pool_events: int

    @property
    def attainment(self) -> float:
        """The worst workload's share of time fully served (what ``availability_target`` bounds)."""
        return min((w.attainment for w in self.workloads), default=1.0)

    def to_json(self) -> dict:
        out = asdict(self)
        out["attainment"] = self.attainment
        return out


# --------------------------------------------------------------------------- the fleet, per period


def kappa(r: ReplicaLine, w) -> float:
    """Requests/min one replica serves at 100 % on the mix the plan routes to it (the workload's mix if idle)."""
    caps = [bl.capacity_requests_per_min for bl in r.buckets]
    loads = [bl.assigned_requests_per_min for bl in r.buckets]
    if not caps:
        return r.capacity_requests_per_min
    if sum(loads) <= 0:
        loads = [b.share for b in w.buckets][:len(caps)]
    used = sum(x / c for x, c in zip(loads, caps) if c > 0)
    served = sum(x for x, c in zip(loads, caps) if c > 0)
    return served / used if used > 0 else 0.0


def _pack(per: PeriodPlan, o: Offer, wix: dict[str, int], kap: dict[int, float]) -> tuple[np.ndarray, bool]:
    """(nodes x workloads) capacity of each node of offer ``o`` in this period; True if packing overflowed."""
    n = sum(x.count for x in per.nodes if x.offer == o.id)
    caps = np.zeros((n, len(wix)))
    sizes: list[np.ndarray] = []
    ent_item, ent_w, ent_k = [], [], []
    n_items = 0
    mig: dict[str, list[int]] = {}  # profile -> replica line indices still to place, one per instance
    for i, r in enumerate(per.replicas):
        if r.offer != o.id or r.count <= 0:
            continue
        if r.mig_profile is not None:
            mig.setdefault(r.mig_profile, []).extend([i] * r.count)
            continue
        items = np.arange(n_items, n_items + r.count)
        sizes.append(np.full(r.count, r.tp))
        ent_item.append(items); ent_w.append(np.full(r.count, wix[r.workload])); ent_k.append(np.full(r.count, kap[i]))
        n_items += r.count
    for part in (k for k in per.mig_partitions if k.offer == o.id):
        for _ in range(part.gpus):
            for prof in part.pattern:
                if mig.get(prof):
                    i = mig[prof].pop()
                    ent_item.append(np.array([n_items])); ent_w.append(np.array([wix[per.replicas[i].workload]]))
                    ent_k.append(np.array([kap[i]]))
            sizes.append(np.array([1]))
            n_items += 1
    if not n_items or n == 0:
        return caps, bool(n_items)
    size = np.concatenate(sizes)
    order = np.argsort(-size, kind="stable")
    offset = np.empty(n_items, dtype=np.int64)
    offset[order] = np.cumsum(size[order]) - size[order]
    node = offset // o.gpus_per_node
    over = bool((node >= n).any())
    node = np.minimum(node, n - 1)
    item = np.concatenate(ent_item)
    np.add.at(caps, (node[item], np.concatenate(ent_w)), np.concatenate(ent_k))
    return caps, over


def _periods(plan: Plan) -> list[PeriodPlan]:
    if plan.periods:
        return list(plan.periods)
    demand = {wl.id: wl.demand_requests_per_min for wl in plan.workloads}
    return [PeriodPlan(name="(top level)", hours=1.0, demand_requests_per_min=demand, nodes=plan.nodes,
                       replicas=plan.replicas, mig_partitions=plan.mig_partitions, usd_per_hour=0.0)]


# --------------------------------------------------------------------------- reclaim events


def _accept(node: np.ndarray, t: np.ndarray, rec: np.ndarray, n_nodes: int, span: float) -> np.ndarray:
    """Which hits (sorted by node, then time) find their node up: the first hit, then the first at or after each
    accepted hit + R, and so on; all nodes advance together (one round per accepted hit of the busiest node)."""
    tt = t + node * span  # one sorted time line; a node's hits never reach the next node's (span > hours + R)
    lo = np.searchsorted(node, np.arange(n_nodes), "left")
    hi = np.searchsorted(node, np.arange(n_nodes), "right")
    acc = np.zeros(t.size, dtype=bool)
    cur, live = lo.copy(), lo < hi
    while live.any():
        ids = np.flatnonzero(live)
        hit = cur[ids]
        acc[hit] = True
        cur[ids] = np.searchsorted(tt, tt[hit] + rec[ids], "left")
        live[ids] = cur[ids] < hi[ids]
    return acc


def _down_intervals(spot: list[Offer], slots: list[int], s: Scenario, hours: float, rng: np.random.Generator):
    """(node index, start, end) of every down interval, and the pool-event count."""
    node_offer = np.repeat(np.arange(len(spot)), slots)
    n_nodes = node_offer.size
    lam_ind = np.array([independent_rate(s, o) for o in spot])[node_offer] if n_nodes else np.zeros(0)
    rec = np.array([recovery_hours(o) for o in spot])[node_offer] if n_nodes else np.zeros(0)
    pools = sorted({o.pool_effective for o in spot})
    pool_of_node = np.array([pools.index(spot[i].pool_effective) for i in node_offer], dtype=np.int64)
    counts = rng.poisson(lam_ind * hours)
    nodes = [np.repeat(np.arange(n_nodes), counts)]
    times = [rng.uniform(0.0, hours, counts.sum())]
    n_pool_events = 0
    for pi, p in enumerate(pools):
        ev = rng.uniform(0.0, hours, rng.poisson(pool_event_rate(s, p) * hours))
        n_pool_events += ev.size
        members = np.flatnonzero(pool_of_node == pi)
        nodes.append(np.repeat(members, ev.size))
        times.append(np.tile(ev, members.size))
    node, t = np.concatenate(nodes), np.concatenate(times)
    order = np.lexsort((t, node))
    node, t = node[order], t[order]
    acc = _accept(node, t, rec, n_nodes, hours + float(rec.max(initial=0.0)) + 1.0)
    start = t[acc]
    return node[acc], start, np.minimum(start + rec[node[acc]], hours), n_pool_events


# --------------------------------------------------------------------------- the simulation


def simulate_plan(plan: Plan, scenario: Scenario, *, hours: float = 720.0, seed: int = 1) -> Simulation:
    """Simulate ``hours`` of the plan's fleet under the scenario's spot risk (see the module docstring)."""
    if plan.status not in ("optimal", "feasible"):
        raise InputError(f"the plan's status is {plan.status}: there is no fleet to simulate")
    if not (hours > 0 and math.isfinite(hours)) or hours > MAX_HOURS:
        raise InputError(f"--hours must be a finite number of hours > 0 and <= {MAX_HOURS:g} (got {hours})")
    offers = {o.id: o for o in scenario.offers}
    periods = _periods(plan)
    cycle = sum(per.hours for per in periods)
    if not (cycle > 0 and math.isfinite(cycle)) or any(not (per.hours > 0) for per in periods):
        raise InputError(f"the plan's periods must each last a finite number of hours > 0 (got {cycle:g} in all)")
    if (segments := math.ceil(hours / cycle) * len(periods)) > MAX_SEGMENTS:
        raise InputError(f"{hours:g} h of periods of {cycle:g} h is {segments:,} period segments (more than "
                         f"{MAX_SEGMENTS:,}): simulate fewer hours")
    for per in periods:
        for x in (*per.nodes, *per.replicas):
            if x.offer not in offers:
                raise InputError(f"the plan uses offer '{x.offer}', which the scenario does not have")
    wids = [w.id for w in scenario.workloads]
    wix = {w: i for i, w in enumerate(wids)}
    spot = [o for o in scenario.offers if o.market == "spot"]
    slots = [max(sum(x.count for x in per.nodes if x.offer == o.id) for per in periods) for o in spot]
    first = np.concatenate([[0], np.cumsum(slots)]).astype(np.int64)
    P, W = len(periods), len(wids)
    base, demand = np.zeros((P, W)), np.zeros((P, W))
    node_cap = np.zeros((P, int(first[-1]), W))
    for p, per in enumerate(periods):
        kap = {}
        for i, r in enumerate(per.replicas):
            if r.workload not in wix:
                raise InputError(f"the plan serves workload '{r.workload}', which the scenario does not have")
            kap[i] = kappa(r, scenario.workload(r.workload))
            base[p, wix[r.workload]] += r.count * kap[i]
        for w, v in per.demand_requests_per_min.items():
            if w in wix:
                demand[p, wix[w]] = v
        for j, o in enumerate(spot):
            caps, _ = _pack(per, o, wix, kap)
            node_cap[p, first[j]:first[j] + caps.shape[0]] = caps
    expected = hours * sum(n * independent_rate(scenario, o) for n, o in zip(slots, spot))
    for p in sorted({o.pool_effective for o in spot}):
        expected += hours * pool_event_rate(scenario, p) * sum(n for n, o in zip(slots, spot) if o.pool_effective == p)
    if expected > MAX_EVENTS:
        raise InputError(f"{hours:g} h of {sum(slots)} spot nodes means about {expected:,.0f} reclaim events (more "
                         f"than {MAX_EVENTS:,}): simulate fewer hours")
    rng = np.random.default_rng(seed)
    node, start, end, n_pool = _down_intervals(spot, slots, scenario, hours, rng)
    lines, fleet = _measure(periods, hours, node, start, end, base, demand, node_cap, wids)
    return Simulation(scenario=scenario.name, hours=hours, seed=seed, workloads=lines, fleet=fleet,
                      spot_nodes=int(first[-1]), reclaims=int(start.size), pool_events=n_pool)


def _measure(periods, hours, node, start, end, base, demand, node_cap, wids):
    P = len(periods)
    cum = np.concatenate([[0.0], np.cumsum([per.hours for per in periods])])
    cycles = int(math.ceil(hours / cum[-1]))
    bounds = (np.arange(cycles)[:, None] * cum[-1] + cum[None, :-1]).ravel()
    bounds = bounds[bounds < hours]
    nxt = np.append(bounds[1:], hours)
    keep = end > start
    node, start, end = node[keep], start[keep], end[keep]
    s_seg = np.searchsorted(bounds, start, "right") - 1
    e_seg = np.searchsorted(bounds, end, "left") - 1
    count = e_seg - s_seg + 1
    idx = np.repeat(np.arange(start.size), count)
    seg = s_seg[idx] + (np.arange(idx.size) - np.repeat(np.cumsum(count) - count, count))
    p_start, p_end = np.maximum(start[idx], bounds[seg]), np.minimum(end[idx], nxt[seg])
    p_node, p_per = node[idx], seg % P
    bps = np.unique(np.concatenate([bounds, p_start, p_end, [hours]]))
    dt = np.diff(bps)
    per_k = (np.searchsorted(bounds, bps[:-1], "right") - 1) % P
    i_s, i_e = np.searchsorted(bps, p_start), np.searchsorted(bps, p_end)
    all_ok = np.ones(dt.size, dtype=bool)
    total_short, total_demand = np.zeros(dt.size), np.zeros(dt.size)
    lines = []
    for wi, wid in enumerate(wids):
        loss = np.zeros(dt.size)
        if p_node.size:
            weight = node_cap[p_per, p_node, wi]
            delta = (np.bincount(i_s, weight, bps.size) - np.bincount(i_e, weight, bps.size))
            loss = np.cumsum(delta)[:-1]
        d = demand[per_k, wi]
        short = np.maximum(0.0, d - (base[per_k, wi] - loss))
        short[short <= SERVED_RTOL * np.maximum(1.0, d)] = 0.0
        lines.append(_line(wid, short, d, dt, hours))
        all_ok &= short == 0
        total_short += short
        total_demand += d
    fleet = _line("(fleet)", total_short, total_demand, dt, hours)
    fleet = RiskLine(**{**asdict(fleet), "attainment": float(dt[all_ok].sum() / hours)})
    return tuple(lines), fleet


def _line(wid: str, short: np.ndarray, d: np.ndarray, dt: np.ndarray, hours: float) -> RiskLine:
    unserved = float((short * dt).sum() * 60.0)
    total = float((d * dt).sum() * 60.0)
    pct = np.divide(short, d, out=np.zeros_like(short), where=d > 0)
    return RiskLine(id=wid, attainment=float(dt[short == 0].sum() / hours),
                    worst_shortfall_requests_per_min=float(short.max(initial=0.0)),
                    worst_shortfall_pct=float(100.0 * pct.max(initial=0.0)), unserved_requests=unserved,
                    demand_requests=total, unserved_pct=100.0 * unserved / total if total > 0 else 0.0)
