"""The Python API: everything the ``plan`` command does, as functions that return objects (no printing, no exit codes).

For notebooks and scripts. Errors are raised as ``planner.errors`` exceptions (``InputError`` for bad input,
``InfeasibleError`` with per-workload reasons, ``PlannerError`` for the rest); nothing is printed.

Example (executed by ``tests/test_api.py``)::

    >>> from planner import api
    >>> loaded = api.load_scenario("scenarios/chatbot.yaml")
    >>> plan = api.solve(loaded, solver="highs", baselines=False)
    >>> plan.status, plan.verification.ok
    ('optimal', True)
    >>> tables = api.plan_tables(plan, loaded)
    >>> sorted(tables)[:4]
    ['baselines', 'cost', 'deployments', 'fleet']
    >>> int(tables["deployments"]["replicas"].sum()) == sum(r.count for r in plan.replicas)
    True
    >>> sim = api.simulate(plan, loaded, hours=200, seed=3)
    >>> 0.0 <= sim.attainment <= 1.0
    True
    >>> files = api.export(plan, loaded, "kubernetes")
    >>> "schedule.csv" in files
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from planner.errors import PlannerError
from planner.plan import Plan
from planner.scenario.io import LoadedScenario

__all__ = ["load_scenario", "solve", "forecast", "whatif", "simulate", "plan_tables", "demand", "export",
           "import_benchmarks"]


def _loaded(scenario: "LoadedScenario | str | Path | Mapping") -> LoadedScenario:
    return scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)


def load_scenario(source: "str | Path | Mapping[str, Any]", base_dir: "str | Path" = ".") -> LoadedScenario:
    """Read and check a scenario: a YAML path, or a mapping with the same fields (relative paths in it resolve
    against ``base_dir``). Raises ``ScenarioError`` listing every problem as ``file: field.path: message``."""
    from planner.scenario.io import load_scenario as _load, scenario_from_dict  # noqa: PLC0415

    if isinstance(source, Mapping):
        return scenario_from_dict(dict(source), base_dir=base_dir)
    return _load(source)


def solve(scenario: "LoadedScenario | str | Path | Mapping", *, solver: str | None = None,
          time_limit_s: float | None = None, allow_unmet: bool = False, baselines: bool = True,
          threads: int = 1) -> Plan:
    """The cheapest fleet that serves every workload within its SLOs, verified by independent code.

    ``solver``: cbc | highs | scip | cpsat (default: the scenario's ``policy.solver``); ``time_limit_s`` per solve
    (a plan stopped by it has status ``feasible`` and a gap, never ``optimal``); ``allow_unmet`` prices a shortfall
    instead of raising ``InfeasibleError``; ``baselines`` also solves the single-offer comparisons; ``threads``
    for the full program's solve (``plan solve --threads``; 1: the same plan on every run).
    Raises ``PlannerError`` if the plan fails verification (it is never returned then).
    """
    from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415

    plan = solve_scenario(_loaded(scenario), SolveSettings(solver=solver, time_limit_s=time_limit_s,
                                                            allow_unmet=allow_unmet, baselines=baselines,
                                                            threads=threads))
    if plan.verification is None or not plan.verification.ok:
        failed = [c.name for c in (plan.verification.checks if plan.verification else ()) if not c.ok]
        raise PlannerError(f"the solver's plan failed independent verification ({', '.join(failed)})")
    return plan


def forecast(scenario: "LoadedScenario | str | Path | Mapping", *, months: int | None = None,
             start: str | None = None, solver: str | None = None, time_limit_s: float | None = None) -> dict[str, Any]:
    """Month-by-month cost of serving the growing demand, with the reserved terms to sign: the summary that
    ``plan forecast --format json`` prints (months, commitments, savings vs all-on-demand and no commitments)."""
    from planner.forecast.run import ForecastSettings, run_forecast  # noqa: PLC0415

    return run_forecast(_loaded(scenario), ForecastSettings(solver=solver, time_limit_s=time_limit_s),
                        months=months, start=start)


def whatif(scenario: "LoadedScenario | str | Path | Mapping", *, interruption_rates: Iterable[float] = (),
           sets: Mapping[str, Iterable[float]] | None = None, solver: str | None = None,
           time_limit_s: float | None = None, hours: float = 720.0, seed: int = 1) -> list[dict[str, Any]]:
    """Solve and simulate the scenario at every point of a grid: ``interruption_rates`` (reclaims per spot node-hour,
    applied to every spot offer) × each ``sets`` axis (``{"policy.spot.availability_target": [0.95, 0.99]}``, any
    numeric field by dotted path). One record per point, in grid order, as ``plan whatif --format json``."""
    from planner.whatif.sweep import RATE_AXIS, Axis, SerialExecutor, run_sweep, spec_for  # noqa: PLC0415

    axes = []
    rates = tuple(float(x) for x in interruption_rates)
    if rates:
        axes.append(Axis(RATE_AXIS, rates))
    axes += [Axis(path, tuple(float(v) for v in values)) for path, values in (sets or {}).items()]
    spec = spec_for(_loaded(scenario), tuple(axes), solver=solver, time_limit_s=time_limit_s, hours=hours, seed=seed)
    return run_sweep(spec, SerialExecutor())


def simulate(plan: Plan, scenario: "LoadedScenario | str | Path | Mapping", *, hours: float = 720.0, seed: int = 1):
    """Monte Carlo of the plan's spot risk over ``hours``: a ``Simulation`` with per-workload attainment (share of
    hours whose demand is fully served) and shortfalls; same seed, same result."""
    from planner.risk.simulate import simulate_plan  # noqa: PLC0415

    return simulate_plan(plan, _loaded(scenario).scenario, hours=hours, seed=seed)


def plan_tables(plan: Plan, scenario: "LoadedScenario | str | Path | Mapping | None" = None) -> dict[str, Any]:
    """The plan as pandas DataFrames by name (nodes, replicas, workloads, cost, baselines, options, ...): the same
    tables ``plan solve --format csv`` writes, units in the column names."""
    from reports.tables import plan_tables as _tables  # noqa: PLC0415

    return _tables(plan, None if scenario is None else _loaded(scenario).scenario)


def demand(trace: "str | Path", *, bucket_count: int = 6, rate_statistic: str = "p95", profile: str | None = "daily",
           model: str | None = None, model_map: Mapping[str, str] | None = None,
           chunk_rows: int = 500_000) -> list:
    """Summarise a request trace (CSV, JSONL, Parquet) per model/endpoint: planned rate (``rate_statistic`` of
    per-minute counts), ``size_mix`` buckets (at most ``bucket_count``) and the hourly ``profile``; a list of
    ``planner.demand.workloads.KeyDemand``. ``plan demand`` renders the same as the scenario's workloads block."""
    from planner.demand.accumulate import accumulate  # noqa: PLC0415
    from planner.demand.read import read_trace  # noqa: PLC0415
    from planner.demand.workloads import DemandSettings, summarise  # noqa: PLC0415

    settings = DemandSettings(bucket_count=bucket_count, rate_statistic=rate_statistic, profile=profile,
                              model=model, model_map=dict(model_map or {}))
    return summarise(accumulate(read_trace(trace, chunk_rows=chunk_rows)), settings)


def export(plan: Plan, scenario: "LoadedScenario | str | Path | Mapping", target: str, *,
           images: Mapping[str, str] | None = None, namespace: str | None = None) -> dict[str, str]:
    """Deployment files for the plan, ``{relative path: text}``: ``target`` 'skypilot' (SkyServe service YAMLs) or
    'kubernetes' (Deployments, Services, KEDA cron ScaledObjects), plus ``schedule.csv``; already parsed back and
    checked against the plan."""
    from planner.export.run import export_plan  # noqa: PLC0415

    loaded = _loaded(scenario)
    return export_plan(plan, loaded.scenario, target, image_overrides=dict(images or {}), namespace=namespace,
                       catalog=loaded.catalog)


def import_benchmarks(files: Iterable["str | Path"], scenario: "LoadedScenario | str | Path | Mapping", *,
                      gpu: str | None = None, tp: int | None = None, precision: str | None = None,
                      model: str | None = None, tolerance: float = 0.25) -> tuple[list[dict], list]:
    """vLLM / GenAI-Perf / guidellm result files -> ``capacity_overrides`` entries for the scenario, and the runs
    not used with the reason (``planner.perf.bench_import.Unmapped``)."""
    from planner.perf.bench_import import capacity_overrides, read_runs  # noqa: PLC0415

    loaded = _loaded(scenario)
    runs, bad = [], []
    for f in files:
        r, b = read_runs(f)
        runs += r
        bad += b
    defaults = {k: v for k, v in {"gpu": gpu, "tp": None if tp is None else str(tp), "precision": precision,
                                  "model": model}.items() if v}
    recs, bad2 = capacity_overrides(runs, loaded.scenario, loaded.catalog, defaults, tolerance)
    return recs, bad + bad2
