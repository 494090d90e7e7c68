r"""A restricted program: each workload's few cheapest options per request, solved whole, for a good plan early
(its columns, ``restricted_options``, and its verified plan, ``restricted_plan``).

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
import time
from collections.abc import Callable
from dataclasses import replace

from planner.fleet.formulation import BuildOutOfTime, build
from planner.fleet.horizon import Horizon
from planner.fleet.options import Deployment, OptionSet
from planner.fleet.plan_build import build_plan, relist_options
from planner.fleet.share_bound import share_bound
from planner.fleet.start import greedy_start, start_options
from planner.plan import Plan
from planner.problem import SolveOptions, finalize_solution
from planner.scenario.io import LoadedScenario
from planner.scenario.model import Offer, Scenario, Workload
from planner.verify import verify_plan
from solvers.registry import get_backend

RESTRICT_K = 3  # cheapest options per request kept per workload
# building and solving it take at most this share of the budget (its build stops at that deadline), and it is not
# started with less than RESTRICT_MIN_S for it
RESTRICT_SHARE = 0.2
RESTRICT_MIN_S = 0.3
RESTRICT_GAP = 0.01  # its solve stops within 1 % of the restricted optimum: a heuristic's answer need not be proven
# ... and only from this many deployments x periods (L: ~9,000; M: ~700, where the full program is solved to its
# optimum in seconds and a restricted plan would only cost start-up time on small scenarios)
RESTRICT_MIN_OPTIONS = 2_000


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


def restricted_plan(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings, extra_blocks,
                    solver: str, limit_s: float, emit: Callable[[str, dict], None]) -> Plan | None:
    """The plan of the restricted program (``settings``: the call's ``planner.fleet.solve.SolveSettings``), built and solved within ``limit_s`` from the constructive start,
    decoded with every option of ``options`` listed and verified independently; ``feasible``, with the closed-form
    bound of all the scenario's options (``planner.fleet.incumbent.adopt_cheaper`` gives it the full solve's where
    better). None on small programs (RESTRICT_MIN_OPTIONS), under RESTRICT_MIN_S, without a start, or when
    nothing came out in time."""
    s = loaded.scenario
    t0 = time.perf_counter()
    if limit_s < RESTRICT_MIN_S or len(options.deployments) * len(horizon.periods) < RESTRICT_MIN_OPTIONS:
        return None
    sub = restricted_options(s, options, horizon)
    if sub is None:
        return None
    emit("restricted", {"options": len(sub.deployments), "time_limit_s": limit_s})
    try:
        f = build(s, sub, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
                  project_loads=settings.project_loads, deadline=t0 + limit_s)
    except BuildOutOfTime:
        return None
    left = t0 + limit_s - time.perf_counter()
    if left < 0.1:
        return None
    sol = get_backend(solver, f.problem).solve(f.problem, SolveOptions(
        time_limit_s=left, mip_gap=max(s.policy.mip_gap, RESTRICT_GAP), start=greedy_start(f)))
    if not sol.has_values:
        return None
    note = (f"the plan of the restricted program (the {RESTRICT_K} cheapest options per request of each workload and "
            "the constructive start's, planner.fleet.restricted), solved within its share of the budget")
    # optimal for the restricted program at most: a plan of the scenario, with the closed-form bound of all the
    # scenario's options (one from the restricted options alone bounds nothing)
    sol = finalize_solution(f.problem, SolveOptions(mip_gap=s.policy.mip_gap), solver=sol.solver, claimed="feasible",
                            x=sol.values, bound=share_bound(s, options, horizon, settings.allow_unmet),
                            seconds=sol.solve_seconds, message=note)
    gpu_ids = {o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}
    plan = build_plan(f, sol, gpu_ids=gpu_ids,
                      tie_break="skipped: a plan of the restricted program" if settings.tie_break else "off")
    plan = relist_options(plan, f, options)
    emit("verification", {})
    verification = verify_plan(loaded, plan, allow_unmet=settings.allow_unmet, calibration=settings.calibration)
    return plan.model_copy(update={"verification": verification}) if verification.ok else None
