"""The solve pipeline: scenario -> options -> problem -> backend -> tie-break -> Plan -> baselines -> verify.

``solve_scenario`` is the library entry point of ``plan solve``. It never returns an unverified plan as a
success: the Plan carries its ``verification`` and the CLI refuses to print a failed one as a result.
Infeasible scenarios raise ``InfeasibleError`` with reasons per workload (unless ``allow_unmet``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from planner.fleet.diagnose import explain_infeasible, joint_reason
from planner.errors import InfeasibleError, SolverError
from planner.fleet.formulation import Formulation, build, fleet_cost
from planner.fleet.horizon import Horizon, horizon_for
from planner.fleet.options import OptionSet, enumerate_options
from planner.plan import Baseline, Plan
from planner.fleet.plan_build import build_plan
from planner.problem import Solution, SolveOptions
from planner.scenario.io import LoadedScenario
from planner.fleet.hedge import explain_hedge, hedge_blocks
from planner.verify import verify_plan
from solvers.registry import get_backend


BASELINE_LIMIT_S = 10.0  # per single-offer baseline solve; all of them together get at most the solve's limit


@dataclass(frozen=True)
class SolveSettings:
    solver: str | None = None  # None: policy.solver
    time_limit_s: float | None = None  # None: policy.time_limit_s
    allow_unmet: bool = False
    baselines: bool = True
    tie_break: bool = True
    calibration: object | None = None


def _run(f: Formulation, solver: str, time_limit: float, mip_gap: float) -> Solution:
    backend = get_backend(solver, f.problem)
    return backend.solve(f.problem, SolveOptions(time_limit_s=time_limit, mip_gap=mip_gap))


def _solve_formulation(f: Formulation, solver: str, time_limit: float, mip_gap: float, tie_break: bool,
                       extra_blocks=()) -> tuple[Formulation, Solution, str]:
    """Solve for cost; then, if asked, a second solve among cost-optimal fleets for fewer GPUs and offers.

    Returns the formulation whose columns the returned solution indexes (the tie-break problem has extra ones).
    """
    t0 = time.perf_counter()
    sol = _run(f, solver, time_limit, mip_gap)
    if not (sol.has_values and tie_break):
        return f, sol, "" if tie_break else "off"
    cost = sum(fleet_cost(f, sol.values).values())
    cap = cost + 1e-6 * max(1.0, abs(cost))
    g = build(f.scenario, f.options, f.horizon, allow_unmet=f.allow_unmet, extra_blocks=extra_blocks, cost_cap=cap)
    remaining = max(1.0, time_limit - (time.perf_counter() - t0))
    second = _run(g, solver, remaining, 0.0)
    if not second.has_values:
        return f, sol, f"skipped: the second solve ended {second.status}"
    merged = Solution(status=sol.status, objective=sum(fleet_cost(g, second.values).values()), bound=sol.bound,
                      gap=sol.gap, values=second.values, solver=sol.solver,
                      solve_seconds=sol.solve_seconds + second.solve_seconds, message=sol.message, problem=g.problem)
    among = ("cost-optimal fleets" if sol.status == "optimal"
             else "fleets no dearer than the incumbent (cost optimality not proven)")
    note = (f"fewest GPU-hours, then fewest offers, among {among}" if second.status == "optimal"
            else f"second solve {second.status}: fewer GPUs found but not proven minimal")
    return g, merged, note


def _gpu_ids(loaded: LoadedScenario) -> dict[str, str]:
    return {o.id: loaded.catalog.gpu(o.gpu).id for o in loaded.scenario.offers}


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
        sol = _run(f, solver, min(left, BASELINE_LIMIT_S), s.policy.mip_gap)
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


def solve_scenario(loaded: LoadedScenario, settings: SolveSettings = SolveSettings(),
                   horizon: Horizon | None = None, extra_blocks=(),
                   progress: Callable[[str, dict], None] | None = None) -> Plan:
    """Solve, tie-break, decode, add baselines and verify. Raises InfeasibleError when nothing can serve.

    ``progress(stage, info)``, when given, hears each stage as it starts: ``options``, ``building``,
    ``solving`` (solver, time_limit_s), ``baselines``, ``verification``, then ``done`` (status).
    """
    emit = progress or (lambda stage, info: None)
    s = loaded.scenario
    solver = settings.solver or s.policy.solver
    time_limit = settings.time_limit_s or s.policy.time_limit_s
    emit("options", {"workloads": len(s.workloads), "offers": len(s.offers)})
    options = enumerate_options(loaded, settings.calibration)
    horizon = horizon or horizon_for(s)
    extra_blocks = (*extra_blocks, *hedge_blocks(s))  # the spot hedge (policy.spot); () without spot offers
    if not settings.allow_unmet:
        reasons = explain_infeasible(s, options)
        if reasons:
            raise InfeasibleError("no fleet can serve the demand", reasons)
    emit("building", {"options": len(options.deployments)})
    f = build(s, options, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks)
    emit("solving", {"solver": solver, "time_limit_s": time_limit})
    f, sol, note = _solve_formulation(f, solver, time_limit, s.policy.mip_gap, settings.tie_break, extra_blocks)
    if sol.status in ("infeasible", "unbounded") or not sol.has_values:
        if sol.status == "infeasible":
            reasons = explain_infeasible(s, options)
            min_cost = None
            if s.policy.budget_usd_per_hour is not None:
                free = s.model_copy(update={"policy": s.policy.model_copy(update={"budget_usd_per_hour": None})})
                g = build(free, options, horizon, extra_blocks=extra_blocks)
                alt = _run(g, solver, time_limit, s.policy.mip_gap)
                min_cost = alt.objective if alt.has_values else None
            raise InfeasibleError("no fleet can serve the demand",
                                  reasons or explain_hedge(s, options, joint_reason(s, min_cost)))
        raise SolverError(f"{solver}: {sol.status}: {sol.message or 'no solution found within the time limit'}")
    plan = build_plan(f, sol, gpu_ids=_gpu_ids(loaded), tie_break=note)
    if settings.baselines:
        emit("baselines", {"time_limit_s": time_limit})
        plan = plan.model_copy(update={"baselines": tuple(baselines(loaded, options, horizon, solver, time_limit))})
    emit("verification", {})
    verification = verify_plan(loaded, plan, allow_unmet=settings.allow_unmet, calibration=settings.calibration)
    emit("done", {"status": plan.status, "gap": plan.gap, "objective_usd_per_hour": plan.objective_usd_per_hour})
    return plan.model_copy(update={"verification": verification})
