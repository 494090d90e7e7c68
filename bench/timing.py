"""Speed and scaling: per size and backend, the time of each stage, the problem size, status and gap.

Per repeat and size: validate (``scenario_from_dict``), options (the performance table), horizon, build (the
integer program) are timed once; then per backend the cost solve alone (translation + solver, wall clock, and
the solver's own ``solve_seconds``) and, separately, end to end: validate + ``solve_scenario`` with the settings
of ``plan solve --no-baselines`` (tie-break on) -- or, for the forecast case, ``run_forecast`` without its two
comparison variants. Medians are taken over repeats.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

from bench import generate, stages

TARGETS_S = {"M": 2.0, "L": 20.0, "XL": 60.0}  # end to end, default backend, optimal (issue 8)
BUILD_SHARE_TARGET = 0.2


@dataclass
class Sample:
    """One repeat of one size on one backend (all seconds are wall clock unless named solver_)."""

    size: str
    backend: str
    repeat: int
    time_limit_s: float
    validate_s: float = 0.0
    options_s: float = 0.0
    horizon_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    solver_s: float = 0.0
    e2e_s: float | None = None
    workloads: int = 0
    offers: int = 0
    periods: int = 0
    deployments: int = 0
    variables: int = 0
    constraints: int = 0
    nonzeros: int = 0
    status: str = ""
    gap: float | None = None
    objective: float | None = None
    e2e_status: str = ""
    e2e_gap: float | None = None
    e2e_objective: float | None = None
    note: str = ""


@dataclass
class Row:
    """Medians over the repeats of one (size, backend)."""

    size: str
    backend: str
    repeats: int
    time_limit_s: float
    options_s: float
    build_s: float
    solve_s: float
    solver_s: float
    e2e_s: float | None
    workloads: int
    offers: int
    periods: int
    deployments: int
    variables: int
    constraints: int
    nonzeros: int
    status: str
    gap: float | None
    objective: float | None
    e2e_status: str
    e2e_gap: float | None
    validate_s: float = 0.0
    note: str = ""
    samples: list[dict] = field(default_factory=list)

    @property
    def build_share(self) -> float | None:
        """Build time over end to end; without an end-to-end run, over options + build + solve (a lower bound
        on the total, so an upper bound on the share)."""
        if self.e2e_s:
            return self.build_s / self.e2e_s
        stages_s = self.options_s + self.build_s + self.solve_s
        return self.build_s / stages_s if stages_s > 0 else None


def machine() -> dict[str, str]:
    """CPU model, cores, memory, Python and solver versions, load average at the time of the run."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal")))
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = {}
    for mod, label in (("pulp", "pulp (CBC)"), ("highspy", "highspy"), ("ortools", "ortools (SCIP)"),
                       ("numpy", "numpy"), ("scipy", "scipy")):
        try:
            from importlib.metadata import version  # noqa: PLC0415

            versions[label] = version({"pulp": "PuLP"}.get(mod, mod))
        except Exception:
            versions[label] = "not installed"
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "os": platform.platform(),
            "python": sys.version.split()[0], **versions, "load average (1/5/15 min) at start": load}


def _settings(backend: str, time_limit_s: float):
    from planner.fleet.solve import SolveSettings  # noqa: PLC0415

    return SolveSettings(solver=backend, time_limit_s=time_limit_s, baselines=False, tie_break=True)


def _end_to_end(size: str, seed: int, backend: str, time_limit_s: float) -> tuple[float, str, float | None, float | None]:
    """Validate + solve as the CLI would (no baselines). Returns (seconds, status, gap, objective)."""
    from planner.errors import PlannerError  # noqa: PLC0415
    from planner.fleet.solve import solve_scenario  # noqa: PLC0415

    t0 = time.perf_counter()
    try:
        loaded = generate.load(size, seed)
        if size.startswith("forecast"):
            from planner.forecast.run import ForecastSettings, run_forecast  # noqa: PLC0415

            res = run_forecast(loaded, ForecastSettings(solver=backend, time_limit_s=time_limit_s, variants=False))
            secs = time.perf_counter() - t0
            return secs, str(res.get("status", "?")), res.get("gap"), res.get("total_usd")
        plan = solve_scenario(loaded, _settings(backend, time_limit_s))
        secs = time.perf_counter() - t0
        return secs, plan.status, plan.gap, plan.objective_usd_per_hour
    except PlannerError as exc:
        return time.perf_counter() - t0, f"error: {type(exc).__name__}", None, None


def warm_up(backends: list[str]) -> None:
    """Import the perf model and start each backend once (lazy imports and solver workers are not the planner's
    steady-state cost), on a throwaway S scenario."""
    from planner.fleet.formulation import build  # noqa: PLC0415
    from planner.problem import SolveOptions  # noqa: PLC0415
    from solvers.registry import get_backend  # noqa: PLC0415

    loaded = generate.load("S", 1)
    opts = stages.options(loaded)
    f = build(loaded.scenario, opts, stages.horizon(loaded), extra_blocks=stages.hedge_blocks(loaded.scenario))
    for b in backends:
        get_backend(b, f.problem).solve(f.problem, SolveOptions(time_limit_s=10))


MAX_SOLVE_VARS = 1_000_000  # beyond this, pulp's per-variable Python objects alone need several GiB of a shared 24


class _BuildMemoryCap:
    """Cap this process's address space (soft limit) while the performance table and the problem are built, and
    lift it again before any solver starts: solver subprocesses inherit limits, and CBC must not be starved."""

    def __init__(self, cap_bytes: int | None):
        self.cap = cap_bytes

    def __enter__(self):
        if self.cap:
            import resource  # noqa: PLC0415

            self.soft, self.hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = self.cap if self.hard == resource.RLIM_INFINITY else min(self.cap, self.hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, self.hard))
        return self

    def __exit__(self, *exc):
        if self.cap:
            import resource  # noqa: PLC0415

            resource.setrlimit(resource.RLIMIT_AS, (self.soft, self.hard))
        return False


def measure(size: str, backends: list[str], repeats: int, time_limit_s: float, seed: int,
            e2e_backends: set[str] | None = None, log=lambda msg: None,
            max_solve_vars: int = MAX_SOLVE_VARS, build_cap_bytes: int | None = None) -> list[Row]:
    """Run ``repeats`` repeats of ``size`` on each backend; one Row (medians) per backend.

    End to end is run for the backends in ``e2e_backends`` (all when None).
    """
    samples: dict[str, list[Sample]] = {b: [] for b in backends}
    forecast = size.startswith("forecast")
    if forecast and not stages.forecast_available():
        return [Row(size, b, 0, time_limit_s, 0, 0, 0, 0, None, *generate.SIZES["forecast"], generate.PERIODS["forecast"],
                    0, 0, 0, 0, "pending", None, None, "pending", None,
                    note="planner.forecast.run is not importable yet: not measurable") for b in backends]
    for r in range(repeats):
        gc.collect()
        from planner.fleet.formulation import build  # noqa: PLC0415

        with _BuildMemoryCap(build_cap_bytes):
            loaded, t_val = stages.timed(generate.load, size, seed)
            opts, t_opt = stages.timed(stages.options, loaded)
            hz, t_hz = stages.timed(stages.horizon, loaded, forecast)
            s = loaded.scenario
            f, t_build = stages.timed(build, s, opts, hz, extra_blocks=stages.hedge_blocks(s))
        p = f.problem
        log(f"{size} r{r}: options {t_opt:.2f}s, build {t_build:.2f}s, {p.n_vars} vars, {p.n_rows} rows")
        too_big = p.n_vars > max_solve_vars
        for b in backends:
            from planner.problem import SolveOptions  # noqa: PLC0415
            from solvers.registry import get_backend  # noqa: PLC0415

            smp = Sample(size, b, r, time_limit_s, validate_s=t_val, options_s=t_opt, horizon_s=t_hz,
                         build_s=t_build, workloads=len(s.workloads), offers=len(s.offers),
                         periods=len(hz.periods), deployments=len(opts.deployments), variables=p.n_vars,
                         constraints=p.n_rows, nonzeros=p.n_nonzeros)
            if too_big:
                smp.status = smp.e2e_status = "not solved"
                smp.note = (f"{p.n_vars:,} variables exceed the bench's cap of {max_solve_vars:,} "
                            "(--max-solve-vars); options and build measured only")
                samples[b].append(smp)
                continue
            try:
                backend = get_backend(b, p)
            except Exception as exc:  # e.g. cpsat and continuous variables
                smp.status, smp.note = "skipped", str(exc)
                samples[b].append(smp)
                continue
            sol, t_solve = stages.timed(backend.solve, p, SolveOptions(time_limit_s=time_limit_s,
                                                                         mip_gap=s.policy.mip_gap))
            smp.solve_s, smp.solver_s = t_solve, sol.solve_seconds
            smp.status, smp.gap = sol.status, sol.gap
            smp.objective = float(sol.objective) if sol.has_values else None
            if sol.status == "error":
                smp.note = (sol.message or "")[:200]
            log(f"  {b}: solve {t_solve:.2f}s {sol.status} gap={sol.gap}")
            if e2e_backends is None or b in e2e_backends:
                smp.e2e_s, smp.e2e_status, smp.e2e_gap, smp.e2e_objective = _end_to_end(size, seed, b, time_limit_s)
                log(f"  {b}: end to end {smp.e2e_s:.2f}s {smp.e2e_status}")
            samples[b].append(smp)
        del f, p, opts
    return [_row(size, b, samples[b], time_limit_s) for b in backends]


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _worst(statuses: list[str]) -> str:
    order = ("error", "infeasible", "unbounded", "not solved", "feasible", "optimal", "skipped", "pending")
    for s in order:
        if any(x.startswith(s) for x in statuses):
            return next(x for x in statuses if x.startswith(s))
    return statuses[0] if statuses else ""


def _row(size: str, backend: str, smp: list[Sample], time_limit_s: float) -> Row:
    first = smp[0]
    return Row(size=size, backend=backend, repeats=len(smp), time_limit_s=time_limit_s,
               validate_s=_median([x.validate_s for x in smp]),
               options_s=_median([x.options_s for x in smp]), build_s=_median([x.build_s for x in smp]),
               solve_s=_median([x.solve_s for x in smp]), solver_s=_median([x.solver_s for x in smp]),
               e2e_s=_median([x.e2e_s for x in smp]), workloads=first.workloads, offers=first.offers,
               periods=first.periods, deployments=first.deployments, variables=first.variables,
               constraints=first.constraints, nonzeros=first.nonzeros,
               status=_worst([x.status for x in smp]), gap=_median([x.gap for x in smp]),
               objective=_median([x.objective for x in smp]),
               e2e_status=_worst([x.e2e_status for x in smp if x.e2e_status]),
               e2e_gap=_median([x.e2e_gap for x in smp]),
               note="; ".join(sorted({x.note for x in smp if x.note})),
               samples=[asdict(x) for x in smp])


MEMORY_CAP_GIB = 12.0  # per measured size; the machine has 24 GiB shared with other people's test runs


def _child(queue, args, kwargs, cap_gib: float) -> None:
    try:
        queue.put(("ok", measure(*args, **kwargs, build_cap_bytes=int(cap_gib * 2**30))))
    except MemoryError:
        queue.put(("oom", None))
    except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
        queue.put(("error", f"{type(exc).__name__}: {exc}"[:300]))


def measure_isolated(size: str, backends: list[str], repeats: int, time_limit_s: float, seed: int,
                     cap_gib: float = MEMORY_CAP_GIB, **kwargs) -> list[Row]:
    """``measure`` in a forked child whose address space is capped at ``cap_gib`` while it builds: a size that
    would need more memory than the shared machine can spare is reported ("out of memory") instead of pushing
    others into swap or the OOM killer; the cap is lifted for the solvers; the child's memory is returned to the
    system when it ends."""
    import multiprocessing as mp  # noqa: PLC0415

    kwargs.pop("log", None)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, (size, backends, repeats, time_limit_s, seed),
                                            {**kwargs, "log": _child_log}, cap_gib))
    proc.start()
    kind, payload = "error", "the measuring process ended without a result"
    while proc.is_alive() or not queue.empty():
        try:
            kind, payload = queue.get(timeout=1.0)
            break
        except Exception:  # noqa: BLE001 - queue.Empty, keep waiting while the child lives
            continue
    proc.join()
    if kind == "ok":
        return payload
    status = "out of memory" if kind == "oom" else "error"
    note = (f"needed more than the {cap_gib:g} GiB address-space cap set for one size" if kind == "oom"
            else str(payload))
    n_w, n_o = generate.SIZES[size.split("-")[0]]
    return [Row(size, b, 0, time_limit_s, 0, 0, 0, 0, None, n_w, n_o, generate.PERIODS[size.split("-")[0]],
                0, 0, 0, 0, status, None, None, status, None, note=note) for b in backends]


def _child_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
