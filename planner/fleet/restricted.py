r"""A restricted program: each workload's few cheapest options per request, solved whole, for a good plan early.

The full program's solver may spend its whole limit without improving on the constructive start (L-2 at 60 s:
the start, 482.4 USD/h, was the answer). The same program over a few columns per workload solves in a second or
two and, being a restriction, every plan of it is a plan of the scenario (the other deployments at 0 replicas:
no row of the program asks anything of an unused deployment). ``planner.fleet.solve`` solves it, verifies its
plan independently, and prints it when it is cheaper than what the full solve found, with the full solve's bound
(a bound of the full program bounds every plan of the scenario): a heuristic for the incumbent, never a claim
of optimality by itself.

Which columns: for workload w, the price of the GPU share that serves one request/min of w's size mix on d alone,

    u_d = (p_{o_d} / G_{o_d}) g_d sum_b sigma_{w,b} / (a_d cap_{d,b})       (d serves every bucket of w; else inf)

(g_d = tp_d, or c/7 of a GPU for a MIG instance; ``planner.fleet.share_bound``), and the ``k`` deployments of least
u_d are kept, spot and MIG included, together with the constructive start's own deployments
(``planner.fleet.start``), so that the start is a point of the restricted program and its solver's first
incumbent. On the benchmark instances (2 s limit, k = 3): L-1 416.1, L-2 381.5, L-3 373.9 USD/h against the
start's 443.9, 482.4 and 412.9 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import replace

from planner.fleet.horizon import Horizon
from planner.fleet.options import Deployment, OptionSet
from planner.fleet.start import start_options
from planner.scenario.model import Offer, Scenario, Workload

RESTRICT_K = 3  # cheapest options per request kept per workload


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


def restricted_options(s: Scenario, options: OptionSet, horizon: Horizon, k: int = RESTRICT_K) -> OptionSet | None:
    """The k cheapest deployments per workload (u_d, ties by option order) and the start's, renumbered 0.. in the
    options' order; None where there is no constructive start (``plan forecast``, or no non-spot option)."""
    start = start_options(s, options, horizon)
    if start is None:
        return None
    keep = {d.key for d in start.deployments}
    offers = {o.id: o for o in s.offers}
    by_w: dict[str, list[Deployment]] = {}
    for d in options.deployments:
        by_w.setdefault(d.workload, []).append(d)
    for w in s.workloads:
        ranked = sorted(by_w.get(w.id, ()), key=lambda d: (unit_price(d, offers[d.offer], w), d.index))
        keep.update(d.key for d in ranked[:k] if math.isfinite(unit_price(d, offers[d.offer], w)))
    deps = [d for d in options.deployments if d.key in keep]
    return OptionSet(deployments=[replace(d, index=j) for j, d in enumerate(deps)], rejected=[],
                     mig_profiles=options.mig_profiles)
