r"""Exact reformulation: on-demand offers that sell the same node are merged into one, filled cheapest-first.

Interchangeable offers. Offers o_1, ..., o_k (k >= 2, scenario order) are merged when all are on demand, without
MIG, sell the same node (same GPU, same G = GPUs per node) and carry the same deployments: for every deployment on
o_i a twin on o_j with the same workload, precision, TP / DP / EP shape, capacities per bucket, latencies and
availability (the performance model, overrides and calibration are per GPU, so this normally holds; it is tested,
not assumed). They may differ in price p_{i,t} (per node-hour, in period t) and cap U_i (``max_nodes``, or none).
What ``planner.fleet.reduce`` already dropped (twins dominated by an uncapped one) is not merged again.

The merged program P'. In each period one integer node count N_t for the group (o_1's ``("nodes", o_1, t)``
column, bounded by sum_i U_i, unbounded when some U_i is absent); the group's deployments are o_1's (replicas,
loads and the spot hedge's routing exist once); and per member a *continuous* segment
s_{i,t} in [0, U_i] (``("segment", o_i, t)``) with

    sum_i s_{i,t} - N_t = 0                                                 (``("segment_sum", o_1, t)``)

The group costs sum_i p_{i,t} s_{i,t} in period t (the cost rows of ``formulation._period_costs`` take the
segments, one term per real offer), instead of p_{o,t} n_{o,t} per offer in the unmerged program P.

Claim: min P' = min P, and every solution of P' decodes into a solution of P that costs no more.
(P -> P') From a solution of P: N_t = sum_i n_{i,t}, s_{i,t} = n_{i,t}, and each merged deployment's replicas,
    loads and hedge routings the sums of its k twins'. Every row of P' is the sum of the twins' rows of P with the
    same coefficients (packing: G sum_i n_{i,t} = G N_t; replica capacity, demand, min_replicas, node and replica
    cuts, the non-spot floor and the hedge's routing rows hold sums over deployments), and the cost is the same.
(P' -> P) Given N_t and s_t: the set S_t = {s : 0 <= s_i <= U_i, sum_i s_i = N_t} is a box cut by one
    equality with integer data, so its vertices are integral, and a cheapest point of S_t is the vertex that
    fills the members in order of price (moving one node from a dearer member to a cheaper one with room never
    raises the cost). That vertex n_t is integral and costs no more than s_t. The group's replicas pack onto
    N_t = sum_i n_{i,t} nodes (TP degrees are powers of two dividing G, ``formulation._node_packing``: filled in
    decreasing TP order no node is left with a gap), so the first n_{1,t} nodes with their replicas go to o_1,
    the next n_{2,t} to o_2, ...: each member's packing row and cap hold; loads split in proportion to replicas,
    so every replica keeps the merged deployment's utilisation and every sum over twins is unchanged.
So continuous segments lose nothing (N_t is integer and the caps are), and the solver branches on N_t only: the
ways of splitting one fleet among twins, which the unmerged program must rule out one by one, are gone.

Tie-break (fewest GPU-hours, then fewest offers; ``formulation._tie_break_objective``). GPU-hours are
G sum_i s_{i,t} = G N_t. Offers: u_i in {0, 1} per real offer, s_{i,t} <= Ubar_i u_i (Ubar_i from o_i's own price
and cap). For fixed (N, u) the set {0 <= s_i <= min(U_i, Ubar_i u_i), sum_i s_i = N_t} again has integral vertices
and its cheapest one costs no more, so the decoded counts keep the cost cap and buy no offer with u_i = 0: the
tie-break over P' has the value of the tie-break over P.

Decoding (``normalise``): per period, the members with s_{i,t} > 0 are refilled up to round(N_t) in order of
(price, larger cap, scenario order): the cheapest vertex on the solution's own support, so no dearer and no more
offers; ``split_replicas`` then hands nodes, replicas and loads to the real offers as in (P' -> P). The plan
lists only real offers and is verified by ``planner.verify`` as any other.

Policy (``merge_offers(policy=...)``, ``SolveSettings.merge``). The proof holds for any prices ("any_price").
By default ("equal_price") only twins with the same price in every period merge: there the unmerged program's
optima come in symmetric copies (any split of the nodes among the twins costs the same) and the merge removes
them; with different prices the twins are not symmetric, the merge only removes columns, and on the frozen M set
it was neutral on four seeds and 1.8x slower on one (docs/BENCHMARKS.md, "Merged interchangeable offers").

Bounds read from the unmerged offers: the spot node caps (``hedge.on_demand_costs``, a cheapest all-on-demand
fleet under each offer's own max_nodes) and the unmet penalty see ``OfferMerge.scenario`` / ``options``, so the
spot blocks and the penalty are exactly those of P. Not merged: spot offers (pools, hazards and node-loss states
are per offer), reserved ones (owned nodes, commitments), MIG offers (partitions per GPU), ``plan forecast``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from planner.fleet.options import Deployment, OptionSet
from planner.scenario.model import Offer, Scenario


@dataclass(frozen=True)
class OfferMerge:
    """The unmerged scenario and options, and the merged groups: o_1's id -> members (scenario order, o_1 first)."""

    scenario: Scenario
    options: OptionSet
    groups: dict[str, tuple[Offer, ...]]

    @property
    def group_of(self) -> dict[str, str]:
        """Member id -> its group's id (o_1's)."""
        return {m.id: g for g, members in self.groups.items() for m in members}


def _twin_key(d: Deployment) -> tuple:
    """What makes two deployments on different offers the same column: everything but the offer and index."""
    return (d.workload, d.gpu, d.precision, d.tp, d.mig_profile, d.attention_dp, d.expert_parallel,
            d.capacity_rpm, d.ttft_ms, d.tpot_ms, d.availability, d.mig_class)


MERGE_POLICIES = ("equal_price", "any_price", "off")


def merge_offers(s: Scenario, options: OptionSet, horizon=None,
                 policy: str = "equal_price") -> tuple[Scenario, OptionSet, OfferMerge | None]:
    """(scenario, options, merge) of the merged program P'; the inputs unchanged and None when nothing merges.

    ``policy``: "equal_price" merges only twins with the same price in every period of ``horizon`` (then the
    unmerged program's optima are symmetric and the merge removes that symmetry; the default, see
    docs/BENCHMARKS.md for why), "any_price" any twins (the exact cheapest-first fill above), "off" none."""
    if policy not in MERGE_POLICIES:
        raise ValueError(f"merge policy {policy!r}; allowed: {', '.join(MERGE_POLICIES)}")
    if policy == "off":
        return s, options, None
    periods = horizon.periods if horizon is not None else ()
    by_offer: dict[str, list[Deployment]] = {}
    for d in options.deployments:
        by_offer.setdefault(d.offer, []).append(d)
    classes: dict[tuple, list[Offer]] = {}
    for o in s.offers:
        if o.market != "on_demand" or o.mig or o.id not in by_offer:
            continue
        sig = tuple(sorted(_twin_key(d) for d in by_offer[o.id]))
        price = (o.price_usd_per_node_hour_effective,
                 tuple(per.price_multiplier(o.id) for per in periods)) if policy == "equal_price" else None
        classes.setdefault((o.gpu, o.gpus_per_node, sig, price), []).append(o)
    groups = {members[0].id: tuple(members) for members in classes.values() if len(members) > 1}
    if not groups:
        return s, options, None
    dropped = {m.id for members in groups.values() for m in members[1:]}
    offers = []
    for o in s.offers:
        if o.id in dropped:
            continue
        if o.id in groups:
            caps = [m.max_nodes for m in groups[o.id]]
            o = o.model_copy(update={"max_nodes": None if None in caps else sum(caps)})
        offers.append(o)
    kept = [d for d in options.deployments if d.offer not in dropped]
    merged = OptionSet(deployments=[replace(d, index=i) for i, d in enumerate(kept)],
                       rejected=list(options.rejected), mig_profiles=dict(options.mig_profiles))
    return s.model_copy(update={"offers": tuple(offers)}), merged, OfferMerge(s, options, groups)


def add_segments(f) -> None:
    """The segment columns s_{i,t} and rows sum_i s_{i,t} - N_t = 0 of every group (``f`` a Formulation)."""
    p, T = f.problem, len(f.horizon.periods)
    for g, members in f.merge.groups.items():
        for m in members:
            p.add_vars("segment", [(m.id, t) for t in range(T)], 0, m.max_nodes, integer=False)
        for t in range(T):
            coeffs = {("segment", m.id, t): 1.0 for m in members}
            coeffs[("nodes", g, t)] = -1.0
            p.add_constraint("segment_sum", (g, t), coeffs, "==", 0.0)


def _fill_order(members, per, x: np.ndarray, cols: list[int]) -> list[int]:
    """Member positions on the solution's support, cheapest first (then larger cap, then scenario order)."""
    support = [i for i, c in enumerate(cols) if x[c] > 1e-6] or list(range(len(members)))
    return sorted(support, key=lambda i: (members[i].price_usd_per_node_hour_effective
                                          * per.price_multiplier(members[i].id),
                                          -(math.inf if members[i].max_nodes is None else members[i].max_nodes), i))


def normalise(f, x: np.ndarray) -> np.ndarray:
    """x with every group's segments refilled to the cheapest integral vertex on their support (see the docstring)."""
    if f.merge is None:
        return x
    x = np.array(x, dtype=float)
    p = f.problem
    for t, per in enumerate(f.horizon.periods):
        for g, members in f.merge.groups.items():
            cols = [p.index(("segment", m.id, t)) for m in members]
            left = int(round(float(x[p.index(("nodes", g, t))])))
            order = _fill_order(members, per, x, cols)
            if sum(math.inf if members[i].max_nodes is None else members[i].max_nodes for i in order) < left:
                order = _fill_order(members, per, np.ones(len(x)), cols)  # tolerance left the support short
            x[cols] = 0.0
            for i in order:
                take = left if members[i].max_nodes is None else min(left, members[i].max_nodes)
                x[cols[i]] = float(take)
                left -= take
    return x


def split_replicas(f, x: np.ndarray, t: int) -> dict[int, list[tuple[str, int]]]:
    """Deployment index of a group -> [(real offer, replicas)] in period t: the group's replicas packed onto its
    nodes in decreasing TP order and the nodes handed to the members by their (normalised) counts."""
    out: dict[int, list[tuple[str, int]]] = {}
    if f.merge is None:
        return out
    p = f.problem
    by_offer: dict[str, list[Deployment]] = {}
    for d in f.options.deployments:
        if d.offer in f.merge.groups:
            by_offer.setdefault(d.offer, []).append(d)
    for g, members in f.merge.groups.items():
        size = members[0].gpus_per_node
        nodes = [m.id for m in members for _ in range(int(round(float(x[p.index(("segment", m.id, t))]))))]
        node, free = 0, size
        for d in sorted(by_offer.get(g, []), key=lambda d: -d.tp):
            left = int(round(float(x[p.index(("replicas", d.index, t))])))
            parts: dict[str, int] = {}
            while left > 0:
                if free < d.tp:
                    node, free = node + 1, size
                if node >= len(nodes):  # cannot happen for a feasible x (packing row); keep the count visible
                    parts[members[0].id] = parts.get(members[0].id, 0) + left
                    break
                k = min(left, free // d.tp)
                parts[nodes[node]] = parts.get(nodes[node], 0) + k
                left -= k
                free -= k * d.tp
            out[d.index] = list(parts.items())
    return out
