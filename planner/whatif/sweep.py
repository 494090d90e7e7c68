"""What-if sweeps: solve and simulate a scenario at every point of a grid of changed values (``plan whatif``).

Axes: ``interruption_rate`` (every spot offer's ``interruption_rate_per_hour``) and any numeric scenario field by
dotted path (``policy.spot.availability_target``, ``offers[l40s-od].price_usd_per_node_hour``: list items by
``id`` in brackets or by index). Several axes make a grid (their product, first axis slowest). Every point is
validated before anything runs, so a bad value fails at once with the scenario checker's message.

Each point is evaluated by ``evaluate_point`` (a top-level function, so processes and Dask workers can pickle it):
solve (baselines off, tie-break on, so GPU counts are deterministic), simulate with the same seed at every point
(common random numbers: curves are smoother), and return one JSON-ready record. Executors: ``SerialExecutor``,
``ProcessExecutor`` (``concurrent.futures``, ``--jobs N``) and ``DaskExecutor`` (``distributed``, workers need
fleetplan installed). Records come back in point order whatever the executor, and are identical between them.
The library never prints: pass ``on_result`` to see progress.
"""

from __future__ import annotations

import copy
import itertools
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from planner.errors import InfeasibleError, InputError, Issue, ScenarioError

RATE_AXIS = "interruption_rate"
_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Axis:
    path: str  # RATE_AXIS or a dotted path
    values: tuple[float, ...]


@dataclass(frozen=True)
class SweepSpec:
    """Everything a worker needs (plain data, picklable)."""

    raw: dict  # the scenario as read (YAML mapping)
    base_dir: str
    name: str
    axes: tuple[Axis, ...]
    recovery_minutes: float | None = None
    solver: str | None = None
    time_limit_s: float | None = None
    hours: float = 720.0
    seed: int = 1


# --------------------------------------------------------------------------- parsing


def parse_values(text: str, what: str) -> tuple[float, ...]:
    """``"0,0.01,0.1"`` -> numbers (ints where written without a point), or InputError naming ``what``."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not _NUMBER.match(part):
            raise InputError(f"{what}: {part!r} is not a number (give comma-separated numbers, e.g. 0,0.01,0.1)")
        out.append(int(part) if re.fullmatch(r"[+-]?\d+", part) else float(part))
    if len(set(out)) != len(out):
        raise InputError(f"{what}: a value is listed twice ({text})")
    return tuple(out)


def parse_set(text: str) -> Axis:
    """``"policy.spot.availability_target=0.95,0.99"`` -> Axis."""
    if "=" not in text:
        raise InputError(f"--set {text}: expected PATH=V1,V2,... (e.g. policy.spot.availability_target=0.95,0.99)")
    path, values = (x.strip() for x in text.split("=", 1))
    if not path:
        raise InputError(f"--set {text}: the path before '=' is empty")
    if path == RATE_AXIS:
        raise InputError("--set interruption_rate=...: use --interruption-rate")
    return Axis(path=path, values=parse_values(values, f"--set {path}"))


def _tokens(path: str) -> list[str]:
    toks = [a or b for a, b in _TOKEN.findall(path)]
    if not toks:
        raise InputError(f"--set {path}: not a dotted path (e.g. policy.spot.availability_target)")
    return toks


def set_path(data: dict, path: str, value: float) -> None:
    """Set a numeric field of the scenario mapping in place; list items are picked by index or by ``id``."""
    node: Any = data
    toks = _tokens(path)
    for i, tok in enumerate(toks):
        last = i == len(toks) - 1
        where = ".".join(toks[: i + 1])
        if isinstance(node, list):
            item = next((x for x in node if isinstance(x, dict) and str(x.get("id")) == tok), None)
            if item is None and re.fullmatch(r"\d+", tok) and int(tok) < len(node):
                item = node[int(tok)]
            if item is None:
                ids = [str(x.get("id")) for x in node if isinstance(x, dict) and "id" in x]
                raise InputError(f"--set {path}: no item '{tok}' in {'.'.join(toks[:i]) or 'the scenario'}"
                                 + (f" (ids: {', '.join(ids)})" if ids else f" (indices 0..{len(node) - 1})"))
            if last:
                raise InputError(f"--set {path}: points at a whole record, not a number")
            node = item
            continue
        if not isinstance(node, dict):
            raise InputError(f"--set {path}: {'.'.join(toks[:i])} is not a mapping")
        if last:
            old = node.get(tok)
            if old is not None and (isinstance(old, bool) or not isinstance(old, (int, float))):
                raise InputError(f"--set {path}: {where} is {old!r}, not a number")
            node[tok] = value
        else:
            if node.get(tok) is None:  # a record left to its defaults: create it, the checker validates the field
                node[tok] = {}
            node = node[tok]


def grid(axes: tuple[Axis, ...]) -> list[dict[str, float]]:
    """Every point of the axes' product, first axis slowest."""
    return [dict(zip([a.path for a in axes], vals)) for vals in itertools.product(*[a.values for a in axes])]


def point_data(spec: SweepSpec, point: dict[str, float]) -> dict:
    """The scenario mapping of one point."""
    data = copy.deepcopy(spec.raw)
    for path, value in point.items():
        if path == RATE_AXIS:
            _spot_field(data, "interruption_rate_per_hour", value)
        else:
            set_path(data, path, value)
    if spec.recovery_minutes is not None:
        _spot_field(data, "recovery_minutes", spec.recovery_minutes)
    return data


def _spot_field(data: dict, field: str, value: float) -> None:
    """Set ``field`` on every spot offer: typed ones, and catalog selectors that can yield spot offers (the
    selector's field applies to its spot offers only)."""
    offers = [o for o in data.get("offers") or [] if isinstance(o, dict) and o.get("market") == "spot"]
    selectors = data.get("offers_from_catalog") or []
    selectors = [s for s in (selectors if isinstance(selectors, list) else [selectors])
                 if isinstance(s, dict) and "spot" in (s.get("markets") or ["spot"])]
    if not offers and not selectors:
        raise InputError(f"--{field.split('_per')[0].replace('_', '-')}: the scenario has no spot offers")
    for o in offers + selectors:
        o[field] = value


def load_point(spec: SweepSpec, point: dict[str, float]):
    """Validate one point's scenario; a ScenarioError names the point."""
    from planner.scenario.io import scenario_from_dict  # noqa: PLC0415

    label = ", ".join(f"{k}={v}" for k, v in point.items())
    try:
        return scenario_from_dict(point_data(spec, point), base_dir=spec.base_dir, name=f"{spec.name} [{label}]")
    except ScenarioError as exc:
        raise ScenarioError(exc.issues, source=exc.source) from None


def check_points(spec: SweepSpec) -> list[dict[str, float]]:
    """All points, each validated (raises on the first bad one)."""
    points = grid(spec.axes)
    if not points:
        raise ScenarioError([Issue("", "nothing to sweep: give --interruption-rate or --set")])
    for p in points:
        load_point(spec, p)
    return points


# --------------------------------------------------------------------------- one point


def summarize(plan, scenario) -> dict[str, Any]:
    """The fleet part of a what-if record: GPUs by offer (top-level fleet) and the hour-weighted spot GPU share."""
    market = {o.id: o.market for o in scenario.offers}
    by_offer: dict[str, int] = {}
    for n in plan.nodes:
        by_offer[n.offer] = by_offer.get(n.offer, 0) + n.gpus
    periods = plan.periods or ()
    gpu_h = sum(p.hours * sum(n.gpus for n in p.nodes) for p in periods)
    spot_h = sum(p.hours * sum(n.gpus for n in p.nodes if market.get(n.offer) == "spot") for p in periods)
    if not periods:
        gpu_h, spot_h = sum(by_offer.values()), sum(g for o, g in by_offer.items() if market.get(o) == "spot")
    spot = sum(g for o, g in by_offer.items() if market.get(o) == "spot")
    return {"gpus_by_offer": by_offer, "spot_gpu_share": spot_h / gpu_h if gpu_h else 0.0,
            "spot_gpus": spot, "non_spot_gpus": sum(by_offer.values()) - spot}


def evaluate_point(spec: SweepSpec, point: dict[str, float]) -> dict[str, Any]:
    """Solve and simulate one point; an infeasible point is a record with status ``infeasible``."""
    from planner.risk.simulate import simulate_plan  # noqa: PLC0415
    from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415

    loaded = load_point(spec, point)
    rec: dict[str, Any] = dict(point)
    try:
        plan = solve_scenario(loaded, SolveSettings(solver=spec.solver, time_limit_s=spec.time_limit_s,
                                                    baselines=False))
    except InfeasibleError as exc:
        rec.update(status="infeasible", objective_usd_per_hour=None, spot_gpu_share=None, gpus_by_offer={},
                   simulated_attainment=None, message="; ".join(exc.reasons) or str(exc))
        return rec
    if plan.verification is not None and not plan.verification.ok:
        bad = [c.name for c in plan.verification.checks if not c.ok]
        rec.update(status="error", objective_usd_per_hour=None, spot_gpu_share=None, gpus_by_offer={},
                   simulated_attainment=None, message=f"plan failed verification: {', '.join(bad)}")
        return rec
    sim = simulate_plan(plan, loaded.scenario, hours=spec.hours, seed=spec.seed)
    rec.update(status=plan.status, objective_usd_per_hour=plan.objective_usd_per_hour,
               **summarize(plan, loaded.scenario),
               simulated_attainment=sim.attainment, simulated_unserved_pct=sim.fleet.unserved_pct, message="")
    return rec


# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    def run(self, fn: Callable, args: list[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield (index, result) of fn(*args[index]) as they complete."""


class SerialExecutor:
    def run(self, fn: Callable, args: list[tuple]) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            yield i, fn(*a)


class ProcessExecutor:
    """Local processes (``concurrent.futures.ProcessPoolExecutor``)."""

    def __init__(self, jobs: int):
        if jobs < 1:
            raise InputError(f"--jobs must be >= 1 (got {jobs})")
        self.jobs = jobs

    def run(self, fn: Callable, args: list[tuple]) -> Iterator[tuple[int, Any]]:
        with ProcessPoolExecutor(max_workers=min(self.jobs, max(1, len(args)))) as pool:
            futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


class DaskExecutor:
    """A Dask distributed cluster: ``scheduler`` is an address (``tcp://host:8786``) or a ``distributed.Client``."""

    def __init__(self, scheduler: Any):
        try:
            import distributed  # noqa: F401, PLC0415
        except ImportError:
            raise InputError("--executor dask needs the 'distributed' package (pip install 'dask[distributed]')") \
                from None
        if not scheduler:
            raise InputError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        self.scheduler = scheduler

    def run(self, fn: Callable, args: list[tuple]) -> Iterator[tuple[int, Any]]:
        from distributed import Client, as_completed as dask_completed  # noqa: PLC0415

        own = not isinstance(self.scheduler, Client)
        try:
            client = Client(self.scheduler, timeout=30) if own else self.scheduler
        except OSError as exc:
            raise InputError(f"--scheduler {self.scheduler}: cannot connect ({exc})") from None
        try:
            futures = [client.submit(fn, *a, pure=False) for a in args]
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                yield index[fut.key], fut.result()
        finally:
            if own:
                client.close()


def run_sweep(spec: SweepSpec, executor: Executor | None = None,
              on_result: Callable[[int, int, dict], None] | None = None,
              progress: Callable[[str, dict], None] | None = None) -> list[dict[str, Any]]:
    """Evaluate every point (validated first); records in point order. ``on_result(done, total, record)``;
    ``progress(stage, info)`` hears ``points`` (done=0, total) first, then ``point`` (done, total, status) as
    each point completes, then ``done``."""
    points = check_points(spec)
    executor = executor or SerialExecutor()
    out: list[dict | None] = [None] * len(points)
    if progress:
        progress("points", {"done": 0, "total": len(points)})
    for done, (i, rec) in enumerate(executor.run(evaluate_point, [(spec, p) for p in points]), start=1):
        out[i] = rec
        if on_result is not None:
            on_result(done, len(points), rec)
        if progress:
            progress("point", {"done": done, "total": len(points), "status": rec.get("status")})
    if progress:
        progress("done", {"total": len(points)})
    return [r for r in out if r is not None]


def spec_for(loaded, axes: tuple[Axis, ...], **kw) -> SweepSpec:
    """A SweepSpec from a LoadedScenario (``loaded.raw`` and its directory)."""
    return SweepSpec(raw=copy.deepcopy(loaded.raw), base_dir=str(Path(loaded.path).parent), name=Path(loaded.path).name,
                     axes=axes, **kw)
