r"""Budget forecasting: one integer program over months decides when to sign reserved terms and the fleet each hour.

Horizon (``forecast_horizon``). Months m = 0..M-1 from ``forecast.start``, each of ``hours_per_month`` hours (730 by
default) and each one epoch. Inside a month, the demand shape is the one ``plan solve`` plans over
(``planner.fleet.horizon.horizon_for``), scaled to the month: one period when demand is flat, the 24 hours of the day with a
daily profile (each hour weighted hours_per_month / 24, about 30.4 days), the 168 hours of the week with a weekly
profile (kept whole rather than averaged to 24: a Monday peak must still be served; 168 periods a month make the
problem 7x larger), or the explicit ``periods`` in proportion to their hours. Period (m, k) is named
"2027-03 h14" (just "2027-03" when flat); its hours are h_{m,k} = hours_per_month x h_k / sum_k h_k.

    demand    lambda_{w,m,k} = lambda_{w,k} x g_{w,m},  g_{w,m} = (1 + growth_pct_per_month / 100)^m or multipliers[m]
    prices    p_{o,m} = p_o x prod_{trends on o} (1 + price_change_pct_per_month / 100)^m  (start month = the file's)

Commitments (``commitment_options``). Each ``forecast.reserved_options[k]`` may be signed at the start of any month s;
its rate q_{k,s} = rate_k x (price trend of its offer at s) is locked for the term of L_k months; the term's hours
after month M-1 are its tail. With ``reserved_options`` omitted, every reserved offer that has ``term_months`` may be
signed on its own terms (hourly rate plus upfront fee); ``[]`` allows none. Owned reserved nodes are held (free) over
the whole horizon. The program itself is ``planner.fleet.formulation`` (``_reserved_commitments``); the objective counts a
commitment's whole term, the tail too, so a term is signed only when it pays for itself over its full length.

Results (``run_forecast``): per month the hour-weighted mean (and peak) demand, the peak nodes and the node-hours by
offer, USD by market (reserved = the active commitments' locked rates x hours + the upfront fees signed that month),
cumulative USD and the reserved utilisation: the load the reserved GPUs carry, in GPUs' worth at the planning target
utilisation (sum over their replicas of GPU share x sum_b assigned_b / capacity_b / target_utilization), over the
reserved GPUs held, hour-weighted; 1 = every reserved GPU-hour loaded to the target (None: nothing reserved).
Then the total within the horizon, the tail after it, and the same forecast solved twice more: with on-demand
offers only, and with no new commitment (the savings are against those). How the program is solved:
``planner.forecast.decompose``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.errors import InfeasibleError, Issue, PlannerError, ScenarioError
from planner.fleet.horizon import CommitmentOption, Horizon, PeriodSpec, horizon_for
from planner.plan import Plan, ReplicaLine
from planner.scenario.model import Forecast, Offer, Scenario
from planner.scenario.io import LoadedScenario
from planner.forecast.decompose import monthly_usd, solve_forecast
from planner.fleet.solve import SolveSettings


@dataclass(frozen=True)
class ForecastSettings:
    solver: str | None = None  # None: policy.solver
    time_limit_s: float | None = None  # None: policy.time_limit_s, per solve
    variants: bool = True  # also solve all-on-demand and no-commitment, for the savings


# --------------------------------------------------------------------------- inputs


def month_names(start: str, months: int) -> tuple[str, ...]:
    """``("2027-01", "2027-02", ...)``."""
    year, month = int(start[:4]), int(start[5:7]) - 1
    return tuple(f"{year + (month + m) // 12:04d}-{(month + m) % 12 + 1:02d}" for m in range(months))


def with_overrides(loaded: LoadedScenario, months: int | None = None, start: str | None = None) -> LoadedScenario:
    """The scenario with a ``forecast`` block (defaults if it has none) and the CLI's ``--months``/``--start``."""
    fc = loaded.scenario.forecast or Forecast()
    update = {k: v for k, v in (("months", months), ("start", start)) if v is not None}
    if update:
        try:
            fc = Forecast.model_validate({**fc.model_dump(), **update})
        except Exception as exc:  # noqa: BLE001 - pydantic's message names the field
            raise ScenarioError([Issue("forecast", str(exc).splitlines()[-1].strip())]) from None
    if fc is loaded.scenario.forecast:
        return loaded
    return dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(update={"forecast": fc}))


def growth_multipliers(s: Scenario) -> dict[str, tuple[float, ...]]:
    """g_{w,m} for every workload (1 for workloads without growth)."""
    fc = s.forecast or Forecast()
    out = {}
    for w in s.workloads:
        g = fc.growth.get(w.id)
        if g is None:
            out[w.id] = (1.0,) * fc.months
        elif g.multipliers is not None:
            if len(g.multipliers) < fc.months:
                raise ScenarioError([Issue(f"forecast.growth.{w.id}.multipliers",
                                           f"has {len(g.multipliers)} monthly values; the forecast has {fc.months} "
                                           "months (give one per month, or use growth_pct_per_month)")])
            out[w.id] = tuple(float(x) for x in g.multipliers[:fc.months])
        else:
            out[w.id] = tuple((1.0 + g.growth_pct_per_month / 100.0) ** m for m in range(fc.months))
    return out


def price_multipliers(loaded: LoadedScenario) -> dict[str, tuple[float, ...]]:
    """Price factor of every offer by month: the product of the trends naming it or its GPU."""
    s, fc = loaded.scenario, loaded.scenario.forecast or Forecast()
    gpu_id = {o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}
    out = {}
    for o in s.offers:
        rate = 1.0
        for t in fc.price_trends:
            if t.offer == o.id or (t.gpu is not None and loaded.catalog.gpu(t.gpu).id == gpu_id[o.id]):
                rate *= 1.0 + t.price_change_pct_per_month / 100.0
        out[o.id] = tuple(rate ** m for m in range(fc.months))
    return out


def _base_rate(o: Offer) -> float:
    """The offer's hourly node rate without any upfront fee."""
    if o.price_usd_per_node_hour is not None:
        return o.price_usd_per_node_hour
    return o.price_usd_per_gpu_hour * o.gpus_per_node


def commitment_options(loaded: LoadedScenario, prices: dict[str, tuple[float, ...]]) -> tuple[CommitmentOption, ...]:
    """The reserved terms the forecast may sign (see the module docstring)."""
    s, fc = loaded.scenario, loaded.scenario.forecast or Forecast()
    M, hpm = fc.months, fc.hours_per_month
    if fc.reserved_options is None:
        specs = [(None, o, o.term_months, _base_rate(o), o.upfront_usd_per_node or 0.0, None)
                 for o in s.offers if o.market == "reserved" and o.term_months]
    else:
        specs = []
        for k, r in enumerate(fc.reserved_options):
            o = s.offer(r.offer)
            rate = r.price_usd_per_node_hour
            if rate is None:
                rate = o.price_usd_per_node_hour_effective  # the offer's upfront fee spread over its own term
            specs.append((k, o, r.term_months, rate, r.upfront_usd_per_node, r.max_nodes))
    return tuple(
        CommitmentOption(offer=o.id, option=k, term_epochs=term,
                         usd_per_node_hour=tuple(rate * prices[o.id][m] for m in range(M)),
                         upfront_usd_per_node=float(upfront), max_nodes=cap,
                         tail_hours=tuple(max(0, m + term - M) * hpm for m in range(M)))
        for k, o, term, rate, upfront, cap in specs)


def forecast_horizon(loaded: LoadedScenario, *, commitments: bool = True) -> Horizon:
    """Months x the within-day (or week) shape, with growth, price trends and the commitment options."""
    s = loaded.scenario
    fc = s.forecast or Forecast()
    shape = horizon_for(s).periods
    shape_hours = sum(p.hours for p in shape)
    growth, prices = growth_multipliers(s), price_multipliers(loaded)
    names = month_names(fc.start, fc.months)
    periods = []
    for m, month in enumerate(names):
        for k in shape:
            periods.append(PeriodSpec(
                name=month if len(shape) == 1 else f"{month} {k.name}",
                hours=fc.hours_per_month * k.hours / shape_hours, epoch=m,
                demand_rpm={w: rpm * growth[w][m] for w, rpm in k.demand_rpm.items()},
                price_factor={o: f[m] for o, f in prices.items() if f[m] != 1.0}))
    options = commitment_options(loaded, prices) if commitments else ()
    return Horizon(periods=tuple(periods), epoch_names=names, commitments=options)


# --------------------------------------------------------------------------- solving


def _settings(fs: ForecastSettings) -> SolveSettings:
    return SolveSettings(solver=fs.solver, time_limit_s=fs.time_limit_s, baselines=False, tie_break=False)


def _peak_reasons(loaded: LoadedScenario) -> list[str]:
    """Infeasibility explained at each workload's busiest month (the base-demand check cannot see growth)."""
    from planner.fleet.diagnose import explain_infeasible  # noqa: PLC0415
    from planner.fleet.options import enumerate_options  # noqa: PLC0415

    s = loaded.scenario
    growth, names = growth_multipliers(s), month_names(s.forecast.start, s.forecast.months)
    peak = s.model_copy(update={"workloads": tuple(
        w.model_copy(update={"requests_per_min": w.requests_per_min * max(max(growth[w.id]), 1e-9)})
        for w in s.workloads)})
    reasons = explain_infeasible(peak, enumerate_options(loaded), loaded.catalog)
    out = []
    for r in reasons:
        w = next((w.id for w in s.workloads if f"'{w.id}'" in r), None)
        if w is not None:
            busiest = max(range(len(names)), key=lambda m: growth[w][m])
            r = f"{r} (in {names[busiest]}, its busiest month)"
        out.append(r)
    return out


def _variant(loaded: LoadedScenario, fs: ForecastSettings, on_demand_only: bool,
             progress: Callable[[str, dict], None] | None = None) -> tuple[float | None, str, str]:
    """USD, status and a note of all-on-demand (on-demand offers only: nothing reserved, owned or spot) or of
    no-commitment (owned nodes kept, nothing newly signed). Without commitments the months are independent."""
    if on_demand_only:
        offers = tuple(o for o in loaded.scenario.offers if o.market == "on_demand")
        if not offers:
            return None, "not solved", "no on-demand offer"
        loaded = dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(update={"offers": offers}))
    try:
        usd, status = monthly_usd(loaded, forecast_horizon(loaded, commitments=False), _settings(fs), progress)
    except PlannerError as exc:
        return None, "error", str(exc)
    return usd, status, "" if usd is not None else f"{status} in some month"


def run_forecast(loaded: LoadedScenario, settings: ForecastSettings = ForecastSettings(), *,
                 months: int | None = None, start: str | None = None,
                 progress: Callable[[str, dict], None] | None = None) -> dict[str, Any]:
    """Solve the forecast (and its two comparison variants) and summarise it; see ``summarise`` for the keys.

    Raises InfeasibleError (with the workload and month) when no fleet serves some month. ``progress(stage,
    info)`` hears ``forecast`` (months), the stages of ``solve_forecast``, then ``baselines`` (variant) per
    comparison variant and its ``month`` events, then ``done``.
    """
    emit = progress or (lambda stage, info: None)
    loaded = with_overrides(loaded, months, start)
    t0 = time.perf_counter()
    horizon = forecast_horizon(loaded)
    emit("forecast", {"months": horizon.n_epochs})
    try:
        plan, how = solve_forecast(loaded, horizon, _settings(settings), progress)
    except InfeasibleError as exc:
        reasons = _peak_reasons(loaded) or exc.reasons or [str(exc)]
        raise InfeasibleError("no fleet can serve the forecast demand", reasons) from None
    result = summarise(plan, loaded, horizon)
    result.update({k: v for k, v in how.items() if not k.startswith("no_commitment")})
    notes = []
    if settings.variants:
        for key, on_demand_only in (("all_on_demand", True), ("no_commitment", False)):
            if key == "no_commitment" and how.get("no_commitment_usd") is not None:  # F_e(0) of the decomposition
                usd, status, why = how["no_commitment_usd"], how["no_commitment_status"], ""
            else:
                emit("baselines", {"variant": key})
                usd, status, why = _variant(loaded, settings, on_demand_only, progress)
            result[f"{key}_total_usd"] = None if usd is None else _money(usd)
            result[f"{key}_status"] = status
            if why:
                notes.append(f"{key.replace('_', '-')}: {why}")
            elif status != "optimal":
                notes.append(f"{key.replace('_', '-')}: {status}; its total is an upper bound")
    result["notes"] = notes + result["notes"]
    result["wall_seconds"] = round(time.perf_counter() - t0, 3)
    emit("done", {"status": result.get("status")})
    return result


# --------------------------------------------------------------------------- summary


def _money(x: float) -> float:
    """USD to the micro-dollar: exact enough to add up, free of float noise; renderers round for people."""
    return round(float(x), 6)


def _node_name(loaded: LoadedScenario, o: Offer) -> str:
    """``8×H100 SXM5 80GB``: the node shape in a person's words."""
    name = loaded.catalog.gpu(o.gpu).name.removeprefix("NVIDIA ").removeprefix("AMD ")
    return f"{o.gpus_per_node}×{name}"


def _busy_gpus(r: ReplicaLine) -> float:
    """GPUs' worth of load a replica line carries: GPU share x sum_b assigned_b / capacity_b (idle replicas: 0)."""
    loads = [(b.assigned_requests_per_min, b.capacity_requests_per_min) for b in r.buckets] or \
        [(r.assigned_requests_per_min, r.capacity_requests_per_min)]
    used = sum(a / c for a, c in loads if c > 0) / max(r.availability, 1e-9)
    if r.mig_profile:
        slices = re.match(r"(\d+)g", r.mig_profile)
        return used * (int(slices.group(1)) / 7.0 if slices else 1.0)
    return used * r.tp


def summarise(plan: Plan, loaded: LoadedScenario, horizon: Horizon) -> dict[str, Any]:
    """The ``plan forecast --format json`` record (the variants' totals are added by ``run_forecast``)."""
    s = loaded.scenario
    offers, rho = {o.id: o for o in s.offers}, s.policy.target_utilization
    commitments = plan.commitments or ()
    upfront_by_month: dict[int, float] = defaultdict(float)
    for c in commitments:
        upfront_by_month[c.start_epoch] += c.nodes * c.upfront_usd_per_node
    by_month: dict[int, list] = defaultdict(list)
    for p in plan.periods:
        by_month[p.epoch].append(p)
    used_offers = [o.id for o in s.offers if any(n.offer == o.id for p in plan.periods for n in p.nodes)]
    months, cumulative = [], 0.0
    for m, name in enumerate(horizon.epoch_names):
        periods = by_month[m]
        hours = sum(p.hours for p in periods)
        usd = {"on_demand": 0.0, "spot": 0.0, "reserved": upfront_by_month[m]}
        peak_nodes: dict[str, int] = {o: 0 for o in used_offers}
        node_hours: dict[str, float] = {o: 0.0 for o in used_offers}
        held = busy = 0.0
        for p in periods:
            for n in p.nodes:
                usd[n.market] += p.hours * n.usd_per_hour
                peak_nodes[n.offer] = max(peak_nodes[n.offer], n.count)
                node_hours[n.offer] += p.hours * n.count
                if n.market == "reserved":
                    held += p.hours * n.gpus
            busy += p.hours * sum(_busy_gpus(r) for r in p.replicas if offers[r.offer].market == "reserved") / rho
        parts = {k: _money(v) for k, v in usd.items()}
        total = _money(sum(parts.values()))
        cumulative = _money(cumulative + total)
        demand = {w.id: sum(p.hours * p.demand_requests_per_min[w.id] for p in periods) / hours for w in s.workloads}
        months.append({
            "month": name,
            "demand_requests_per_min": {w: round(v, 4) for w, v in demand.items()},
            "peak_demand_requests_per_min": {w.id: round(max(p.demand_requests_per_min[w.id] for p in periods), 4)
                                             for w in s.workloads},
            "nodes": peak_nodes,
            "node_hours": {o: round(v, 4) for o, v in node_hours.items()},
            "usd": total, "reserved_usd": parts["reserved"], "on_demand_usd": parts["on_demand"],
            "spot_usd": parts["spot"], "cumulative_usd": cumulative,
            "reserved_utilization_pct": None if held <= 0 else round(100.0 * busy / held, 4),
        })
    lines = []
    for c in commitments:
        o = offers[c.offer]
        lines.append({
            "offer": c.offer, "nodes": c.nodes, "start_month": c.start_month, "term_months": c.term_months,
            "usd": _money(c.usd), "usd_per_node_hour": c.usd_per_node_hour,
            "upfront_usd_per_node": c.upfront_usd_per_node, "tail_usd": _money(c.tail_usd),
            "description": f"commit {c.nodes} × {_node_name(loaded, o)} node{'s' if c.nodes != 1 else ''} for "
                           f"{c.term_months} months in {c.start_month}",
        })
    notes = []
    if any(o.market == "reserved" and o.owned_nodes for o in s.offers):
        notes.append("owned reserved nodes are assumed held (and free) for the whole horizon")
    fc = s.forecast
    if fc.reserved_options is None:
        missing = [o.id for o in s.offers if o.market == "reserved" and not o.term_months]
        if missing:
            notes.append(f"reserved offers without term_months cannot be newly signed: {', '.join(missing)}")
    return {
        "scenario": s.name, "start": fc.start, "hours_per_month": fc.hours_per_month,
        "months": months,
        "total_usd": _money(sum(m["usd"] for m in months)),
        "tail_usd": _money(sum(c.tail_usd for c in commitments)),
        "all_on_demand_total_usd": None, "no_commitment_total_usd": None,
        "commitments": lines,
        "status": plan.status, "gap": plan.gap, "solver": plan.solver, "solve_seconds": plan.solve_seconds,
        "verified": bool(plan.verification and plan.verification.ok),
        "problem_size": dict(plan.problem_size),
        "notes": notes,
    }
