"""Single-offer baselines: the cheapest (and dearest) fleet when every workload is served from one offer only,
with the same capacities and SLOs: what the plan saves against a one-offer rule."""

from __future__ import annotations

import time
from dataclasses import replace

from planner.fleet.formulation import build
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.plan import Baseline
from planner.problem import SolveOptions
from planner.scenario.io import LoadedScenario
from solvers.registry import get_backend

BASELINE_LIMIT_S = 10.0  # per single-offer baseline solve; all of them together get what is left of the budget


def baselines(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, solver: str,
              time_limit: float) -> list[Baseline]:
    """Cheapest (and dearest) single-offer fleet: every workload served from one offer only.

    Each baseline solve gets at most ``BASELINE_LIMIT_S`` and all of them together at most ``time_limit``, so the
    comparison never costs more than the plan itself; offers not tried in time are named in the detail, and a
    baseline cut short keeps its honest status (``feasible``: an upper bound on that single-offer optimum).
    """
    s = loaded.scenario
    results = []
    skipped: list[str] = []
    started = time.perf_counter()
    for o in s.offers:
        deps = [d for d in options.deployments if d.offer == o.id]
        if {d.workload for d in deps} != {w.id for w in s.workloads}:
            continue
        left = time_limit - (time.perf_counter() - started)
        if left < 0.5:
            skipped.append(o.id)
            continue
        sub = OptionSet(deployments=list(deps), rejected=[], mig_profiles=options.mig_profiles)
        sub.deployments = [replace(d, index=i) for i, d in enumerate(sub.deployments)]
        only = s.model_copy(update={"offers": (o,)})
        f = build(only, sub, horizon, extra_blocks=hedge_blocks(only))
        sol = get_backend(solver, f.problem).solve(f.problem, SolveOptions(time_limit_s=min(left, BASELINE_LIMIT_S),
                                                                          mip_gap=s.policy.mip_gap))
        if sol.has_values:
            results.append((o.id, sol.objective, sol.status))
    out = []
    note = f"; not tried within the time budget: {', '.join(skipped)}" if skipped else ""
    if results:
        cheapest = min(results, key=lambda r: r[1])
        out.append(Baseline(name=f"cheapest single offer ({cheapest[0]})", usd_per_hour=round(cheapest[1], 6),
                            status=cheapest[2], detail="every workload on one offer, same capacities and SLOs" + note))
        dearest = max(results, key=lambda r: r[1])
        if dearest[0] != cheapest[0]:
            out.append(Baseline(name=f"dearest single offer ({dearest[0]})", usd_per_hour=round(dearest[1], 6),
                                status=dearest[2], detail="every workload on one offer, same capacities and SLOs"))
    else:
        out.append(Baseline(name="cheapest single offer", usd_per_hour=None, status="infeasible",
                            detail="no single offer can serve every workload"))
    return out
