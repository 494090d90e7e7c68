"""The pipeline stages the benchmarks time, called one by one through the planner's public functions.

``plan solve`` runs: options (the performance table) -> horizon -> build (the integer program, with the spot
hedge blocks when the scenario has spot offers) -> backend solve -> tie-break solve -> plan -> verify. The speed
benchmark times options, build and the cost solve here, and the whole of ``solve_scenario`` separately (end to
end). The baselines restrict the option set (or the scenario's offers) and go through the same ``build`` and
backend, so every number compares fleets on the same capacity table.

The planner is being extended while these benchmarks exist; optional pieces (the spot hedge, the forecast
horizon) are looked up when used, and a missing one is reported rather than crashing the run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from planner.fleet.formulation import build
from planner.fleet.horizon import Horizon, horizon_for
from planner.fleet.options import Deployment, OptionSet, enumerate_options
from planner.problem import Solution, SolveOptions
from planner.scenario.io import LoadedScenario
from solvers.registry import get_backend


def hedge_blocks(scenario) -> tuple:
    """The extra blocks ``solve_scenario`` adds for spot offers (``planner.fleet.hedge``), or () if there is none yet."""
    try:
        from planner.fleet.hedge import hedge_blocks as blocks  # noqa: PLC0415 - optional while the spot issue lands
    except ImportError:
        return ()
    return tuple(blocks(scenario))


def forecast_available() -> bool:
    try:
        from planner.forecast.run import forecast_horizon  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def horizon(loaded: LoadedScenario, forecast: bool = False) -> Horizon:
    """``plan solve``'s periods, or ``plan forecast``'s months x periods when ``forecast``."""
    if forecast:
        from planner.forecast.run import forecast_horizon  # noqa: PLC0415

        return forecast_horizon(loaded)
    return horizon_for(loaded.scenario)


def timed(fn: Callable, *args, **kwargs):
    """(result, seconds) of one call, wall clock."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def options(loaded: LoadedScenario) -> OptionSet:
    return enumerate_options(loaded)


def restrict(options: OptionSet, keep: Callable[[Deployment], bool]) -> OptionSet:
    """The option set with only the deployments ``keep`` accepts, re-indexed 0..n-1 (as ``build`` expects)."""
    deps = [d for d in options.deployments if keep(d)]
    deps = [dataclasses.replace(d, index=i) for i, d in enumerate(deps)]
    used = {d.offer for d in deps}
    mig = {o: p for o, p in options.mig_profiles.items() if o in used}
    return dataclasses.replace(options, deployments=deps, rejected=[], mig_profiles=mig)


@dataclass(frozen=True)
class Outcome:
    """One restricted solve: status, USD/hour (None without a solution), gap, seconds."""

    status: str
    usd_per_hour: float | None
    gap: float | None
    seconds: float
    detail: str = ""


def _why(sub, opts: OptionSet) -> str:
    """The planner's own explanation of an infeasible restriction (capacity caps, usually)."""
    try:
        from planner.fleet.diagnose import explain_infeasible  # noqa: PLC0415

        reasons = explain_infeasible(sub, opts)
    except Exception:  # the diagnosis is a courtesy; never fail the benchmark over it
        reasons = []
    return reasons[0] if reasons else "max_nodes caps, min_replicas or the spot policy cannot all be met"


def solve_options(loaded: LoadedScenario, opts: OptionSet, hz: Horizon, solver: str, time_limit_s: float) -> Outcome:
    """Build and solve the cost problem on ``opts``, the scenario's offers cut to those ``opts`` uses.

    Workloads left with no option make the restriction infeasible (reported, not solved).
    """
    s = loaded.scenario
    served = {d.workload for d in opts.deployments}
    missing = [w.id for w in s.workloads if w.id not in served]
    if missing:
        return Outcome("infeasible", None, None, 0.0, f"no option left for {len(missing)} workload(s), e.g. {missing[0]}")
    keep = {d.offer for d in opts.deployments}
    sub = s.model_copy(update={"offers": tuple(o for o in s.offers if o.id in keep)})
    t0 = time.perf_counter()
    f = build(sub, opts, hz, extra_blocks=hedge_blocks(sub))
    sol: Solution = get_backend(solver, f.problem).solve(
        f.problem, SolveOptions(time_limit_s=time_limit_s, mip_gap=s.policy.mip_gap))
    secs = time.perf_counter() - t0
    if not sol.has_values:
        return Outcome(sol.status, None, None, secs, _why(sub, opts) if sol.status == "infeasible" else sol.message or "")
    return Outcome(sol.status, float(sol.objective), sol.gap, secs)
