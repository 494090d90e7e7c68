r"""A Mélange-style allocation ILP on fleetplan's capacity table (a baseline, not a planner feature).

Mélange (Griggs et al., "Mélange: Cost Efficient Large Language Model Serving by Exploiting GPU Heterogeneity",
arXiv 2404.14527; solver in tyler-griggs/melange-release, ``melange/solver.py``) casts GPU allocation as a
cost-aware bin packing: the request-size histogram of a service is cut into *slices* (each bucket's rate split
into ``slice_factor`` equal parts), each slice i goes whole to one GPU type j (binary x_ij, sum_j x_ij = 1), and
the load of the slices on type j -- rate_i / max_throughput_j(size of i) -- must fit in the integer number of
GPUs y_j bought; minimise sum_j cost_j y_j.

Written here on fleetplan's data, per workload w (one Mélange service each), bucket b, slice s, period t:

    x_{w,b,s,o,t} in {0,1}   slice s of bucket b of w goes to offer o (one deployment per (w, o), see below)
    y_{w,o,t}     in Z+      replicas of w on o (Mélange's "GPUs of type j"; a replica is tp GPUs)
    N_{o,t}       in Z+      nodes of o bought (offers sell whole nodes; max_nodes caps them)

    sum_o x_{w,b,s,o,t} = 1                                                         every slice
    sum_{b,s} x_{w,b,s,o,t} (sigma_{w,b} lambda_{w,t} / S) / (rho cap_{d(w,o),b}) <= y_{w,o,t}   (Mélange C2)
    sum_w tp_{d(w,o)} y_{w,o,t} <= G_o N_{o,t};   N_{o,t} <= U_o;   sum_o y_{w,o,t} >= min_replicas_w
    minimise (1/H) sum_t h_t sum_o p_o N_{o,t}

What it leaves out, by design (the brief's "Mélange-style"): only on-demand offers (no spot, no reserved), whole
GPUs only (no MIG), no TP choice -- d(w, o) uses the smallest TP at which some accepted precision serves w on o,
and at that TP the precision with the most capacity -- and request sizes in discrete slices (a bucket's demand
cannot be split finer than 1/S). rho (target utilisation) and the per-bucket capacities are fleetplan's, so the
difference from the optimum is the modelling freedom only. It is built as a ``planner.problem.Problem`` and
solved by the same backends.
"""

from __future__ import annotations

import math

from planner.fleet.horizon import Horizon
from planner.fleet.options import Deployment, OptionSet
from planner.problem import Problem, SolveOptions
from planner.scenario.io import LoadedScenario
from solvers.registry import get_backend

from bench.stages import Outcome, timed

SLICE_FACTOR = 8  # Mélange's README example uses 16 slices per bucket; 8 keeps the binaries few on 2 cores


def melange_deployments(loaded: LoadedScenario, options: OptionSet) -> dict[tuple[str, str], Deployment]:
    """(workload, offer) -> the one deployment Mélange would profile there: on-demand, whole GPU, smallest TP."""
    markets = {o.id: o.market for o in loaded.scenario.offers}
    best: dict[tuple[str, str], Deployment] = {}
    for d in options.deployments:
        if d.mig_profile is not None or markets[d.offer] != "on_demand":
            continue
        key = (d.workload, d.offer)
        cur = best.get(key)
        mine = (d.tp, -sum(d.capacity_rpm))
        if cur is None or mine < (cur.tp, -sum(cur.capacity_rpm)):
            best[key] = d
    return best


def solve_melange(loaded: LoadedScenario, options: OptionSet, hz: Horizon, solver: str, time_limit_s: float,
                  slice_factor: int = SLICE_FACTOR) -> Outcome:
    """Build and solve the ILP above. Infeasible when a workload has no on-demand whole-GPU option."""
    s = loaded.scenario
    rho = s.policy.target_utilization
    deps = melange_deployments(loaded, options)
    by_w: dict[str, list[Deployment]] = {}
    for (w, _), d in deps.items():
        by_w.setdefault(w, []).append(d)
    missing = [w.id for w in s.workloads if w.id not in by_w]
    if missing:
        return Outcome("infeasible", None, None, 0.0,
                       f"no on-demand whole-GPU option for {len(missing)} workload(s), e.g. {missing[0]}")
    offers = {o.id: o for o in s.offers}
    used = sorted({d.offer for d in deps.values()})
    T, H = hz.periods, hz.total_hours

    def build() -> Problem:
        p = Problem(f"melange-{s.name}")
        for t in range(len(T)):
            caps = [math.inf if offers[o].max_nodes is None else float(offers[o].max_nodes) for o in used]
            p.add_vars("nodes", [(o, t) for o in used], 0, caps, integer=True)
        y_keys = [(w, d.offer, t) for w, ds in by_w.items() for d in ds for t in range(len(T))]
        p.add_vars("y", y_keys, 0, None, integer=True)
        x_keys, cover, load = [], {}, {}
        for w in s.workloads:
            for b, bucket in enumerate(w.buckets):
                for t, per in enumerate(T):
                    rate = per.demand_rpm[w.id] * bucket.share
                    if rate <= 0:
                        continue
                    for sl in range(slice_factor):
                        for d in by_w[w.id]:
                            cap = d.capacity_rpm[b]
                            if cap <= 0:
                                continue
                            key = (w.id, b, sl, d.offer, t)
                            x_keys.append(key)
                            cover.setdefault((w.id, b, sl, t), {})[("x", *key)] = 1.0
                            load.setdefault((w.id, d.offer, t), {})[("x", *key)] = rate / slice_factor / (rho * cap)
        p.add_vars("x", x_keys, 0, 1, integer=True)
        for k, coeffs in cover.items():
            p.add_constraint("slice", k, coeffs, "==", 1.0)
        for (w, o, t), coeffs in load.items():
            p.add_constraint("load", (w, o, t), {**coeffs, ("y", w, o, t): -1.0}, "<=", 0.0)
        for o in used:
            for t in range(len(T)):
                coeffs = {("y", w, o, t): float(d.tp) for (w, oo), d in deps.items() if oo == o}
                coeffs[("nodes", o, t)] = -float(offers[o].gpus_per_node)
                p.add_constraint("gpus", (o, t), coeffs, "<=", 0.0)
        for w in s.workloads:
            if w.min_replicas > 0:
                for t in range(len(T)):
                    p.add_constraint("min_replicas", (w.id, t), {("y", w.id, d.offer, t): 1.0 for d in by_w[w.id]},
                                     ">=", float(w.min_replicas))
        cols = [p.index(("nodes", o, t)) for t in range(len(T)) for o in used]
        vals = [offers[o].price_usd_per_node_hour_effective * T[t].hours / H for t in range(len(T)) for o in used]
        p.add_cost("on_demand", cols, vals)
        return p

    p, t_build = timed(build)
    sol, t_solve = timed(get_backend(solver, p).solve, p, SolveOptions(time_limit_s=time_limit_s,
                                                                        mip_gap=s.policy.mip_gap))
    if not sol.has_values:
        return Outcome(sol.status, None, None, t_build + t_solve, sol.message or "")
    return Outcome(sol.status, float(sol.objective), sol.gap, t_build + t_solve,
                   f"{p.block_columns('x').size} slice-to-offer binaries")
