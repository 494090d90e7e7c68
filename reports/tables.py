"""Plan, what-if, forecast and simulation results as tidy pandas DataFrames: the only place numbers are derived
for display. A plan's tables are built as ``reports.rows.Rows`` first (``plan_rows``: the same columns and
values without pandas, which is all the terminal needs); ``plan_tables`` turns them into DataFrames.

This module is longer than ~400 lines because ~80 of them are the column schema every renderer reads, and each
frame's builder sits next to the others so that their conventions (below) stay one.

Every renderer (terminal, CSV, Markdown, HTML, charts) reads these frames and nothing else, so the numbers a
finance partner sees in the HTML are the ones the on-call engineer sees in the terminal and a script reads from CSV.

Conventions:
- units in column names (``usd_per_hour``, ``requests_per_min``, ``_ms``, ``_pct``); shares are percent (0-100);
- floats rounded by ``reports.vocabulary.round_value``: money to the cent, shares to 0.01 %, no float noise;
- a month is ``HOURS_PER_MONTH`` = 730 hours (8,760 h / 12); ``summary.hours_per_month`` says so in the data;
- every frame always exists with its columns, empty when the plan lacks that piece (no scenario, no periods...);
- missing numbers are NaN; a yes/no column with a missing value (SLO unknown) is an ``object`` column holding
  True/False/NaN, which is exactly what ``pandas.read_csv`` gives back, so CSV round-trips value for value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from planner.plan import Plan
from reports.rows import Rows, dataframe_column as _column, dataframe as _frame  # noqa: F401 - names kept here
from reports.vocabulary import round_value

if TYPE_CHECKING:  # types only: pandas is imported where a DataFrame is built
    import pandas as pd

    from planner.scenario.model import Scenario

HOURS_PER_MONTH = 730.0
STATE_ORDER = ("chosen", "feasible", "dominated", "dropped")
MARKET_ORDER = ("on_demand", "spot", "reserved", "unmet_penalty")

# Column -> kind. "bool?" is a yes/no column that may be missing (see module docstring).
SCHEMAS: dict[str, dict[str, str]] = {
    "summary": {
        "scenario": "str", "status": "str", "objective_usd_per_hour": "float", "hours_per_month": "float",
        "usd_per_month": "float", "bound_usd_per_hour": "float", "gap_pct": "float", "solver": "str",
        "solve_seconds": "float", "gpus": "int", "nodes": "int", "periods": "int",
        "target_utilization_pct": "float", "unmet_requests_per_min": "float", "baseline": "str",
        "baseline_usd_per_hour": "float", "saving_usd_per_hour": "float", "saving_usd_per_month": "float",
        "saving_pct": "float", "verified": "bool?", "checks_failed": "int", "message": "str",
    },
    "fleet": {
        "offer": "str", "gpu": "str", "market": "str", "nodes": "int", "gpus": "int", "owned_nodes": "int",
        "price_usd_per_node_hour": "float", "usd_per_hour": "float", "usd_per_month": "float",
    },
    "deployments": {
        "workload": "str", "offer": "str", "gpu": "str", "precision": "str", "tp": "int", "mig_profile": "str",
        "replicas": "int", "capacity_requests_per_min": "float", "assigned_requests_per_min": "float",
        "availability_pct": "float", "utilization_pct": "float", "predicted_ttft_ms": "float",
        "ttft_slo_ms": "float", "ttft_ok": "bool?", "predicted_tpot_ms": "float", "tpot_slo_ms": "float",
        "tpot_ok": "bool?",
    },
    "workloads": {
        "workload": "str", "demand_requests_per_min": "float", "served_requests_per_min": "float",
        "unmet_requests_per_min": "float", "served_pct": "float", "replicas": "int", "usd_per_hour": "float",
        "usd_per_million_output_tokens": "float", "max_predicted_ttft_ms": "float", "ttft_slo_ms": "float",
        "max_predicted_tpot_ms": "float", "tpot_slo_ms": "float", "slo_ok": "bool?",
    },
    "cost": {
        "market": "str", "usd_per_hour": "float", "usd_per_month": "float", "share_pct": "float",
        "nodes": "int", "gpus": "int",
    },
    "mig_partitions": {"offer": "str", "gpu": "str", "pattern": "str", "instances": "int", "gpus": "int"},
    "options": {
        "workload": "str", "offer": "str", "gpu": "str", "precision": "str", "tp": "int", "mig_profile": "str",
        "state": "str", "reason": "str", "capacity_requests_per_min": "float",
        "usd_per_hour_per_replica": "float", "usd_per_million_requests": "float", "predicted_ttft_ms": "float",
    },
    "baselines": {
        "name": "str", "status": "str", "usd_per_hour": "float", "usd_per_month": "float",
        "saving_usd_per_hour": "float", "saving_pct": "float", "detail": "str",
    },
    "verification": {"check": "str", "ok": "bool", "detail": "str"},
    "periods": {
        "period": "str", "hours": "float", "usd_per_hour": "float", "usd": "float", "gpus": "int",
        "unmet_requests_per_min": "float",
    },
    "whatif": {
        "status": "str", "objective_usd_per_hour": "float", "change_usd_per_hour": "float", "change_pct": "float",
        "gpus": "int", "spot_gpu_share_pct": "float", "simulated_attainment_pct": "float",
    },
    "forecast_months": {
        "month": "str", "usd": "float", "reserved_usd": "float", "on_demand_usd": "float", "spot_usd": "float",
        "cumulative_usd": "float", "reserved_utilization_pct": "float",
    },
    "forecast_commitments": {
        "offer": "str", "nodes": "int", "start_month": "str", "term_months": "int", "usd": "float",
        "description": "str",
    },
    "simulate": {
        "workload": "str", "attainment_pct": "float", "worst_shortfall_requests_per_min": "float",
        "worst_shortfall_pct": "float", "unserved_requests": "float", "demand_requests": "float",
        "unserved_pct": "float",
    },
    "forecast_summary": {
        "months": "int", "total_usd": "float", "tail_usd": "float", "total_with_tail_usd": "float",
        "all_on_demand_total_usd": "float", "saving_vs_all_on_demand_usd": "float",
        "saving_vs_all_on_demand_pct": "float", "no_commitment_total_usd": "float",
        "saving_vs_no_commitment_usd": "float", "saving_vs_no_commitment_pct": "float",
    },
}

PLAN_FRAMES = ("summary", "fleet", "deployments", "workloads", "cost", "mig_partitions", "options",
               "baselines", "verification", "periods")


# --------------------------------------------------------------------------- helpers


def _num(x: Any) -> float:
    """A float, NaN for None."""
    return float("nan") if x is None else float(x)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _pct(part: float | None, whole: float | None) -> float:
    if _missing(part) or _missing(whole) or whole == 0:
        return float("nan")
    return 100.0 * part / whole


def _le(value: float | None, limit: float | None) -> Any:
    """``value <= limit``, NaN when either is unknown. A tiny relative tolerance absorbs solver round-off."""
    if _missing(value) or _missing(limit):
        return np.nan
    return bool(value <= limit * (1 + 1e-9))


def empty_frame(name: str) -> pd.DataFrame:
    """The frame ``name`` with its columns and no rows."""
    return _frame([], SCHEMAS[name])


def _slos(scenario: Scenario | None) -> dict[str, tuple[float | None, float | None]]:
    if scenario is None:
        return {}
    return {w.id: (w.ttft_slo_ms, w.tpot_slo_ms) for w in scenario.workloads}


# --------------------------------------------------------------------------- plan frames


def plan_tables(plan: Plan, scenario: Scenario | None = None) -> dict[str, pd.DataFrame]:
    """Every table of a plan, keyed by name (see ``PLAN_FRAMES`` and ``SCHEMAS`` for columns).

    Args:
        plan: the plan to show.
        scenario: the scenario it was solved from; gives the SLOs (without it they are NaN and the SLO marks
            are missing, never guessed).
    """
    return {name: rows.to_pandas() for name, rows in plan_rows(plan, scenario).items()}


def plan_rows(plan: Plan, scenario: Scenario | None = None) -> dict[str, Rows]:
    """The tables of ``plan_tables`` as ``reports.rows.Rows``: the same columns and values, no pandas (what
    ``reports.terminal`` renders; ``Rows.to_pandas`` gives the DataFrame)."""
    slos = _slos(scenario)
    baselines = _baselines(plan)
    frames = {
        "fleet": _fleet(plan),
        "deployments": _deployments(plan, slos),
        "cost": _cost(plan),
        "mig_partitions": _mig(plan),
        "options": _options(plan),
        "baselines": baselines,
        "verification": _verification(plan),
        "periods": _periods(plan),
    }
    frames["workloads"] = _workloads(plan, frames["deployments"], slos)
    frames["summary"] = _summary(plan, baselines)
    return {name: frames[name] for name in PLAN_FRAMES}


def _cheapest_baseline(plan: Plan):
    priced = [b for b in plan.baselines if b.usd_per_hour is not None]
    return min(priced, key=lambda b: b.usd_per_hour) if priced else None


def _summary(plan: Plan, baselines: Rows) -> Rows:
    obj = plan.objective_usd_per_hour
    best = _cheapest_baseline(plan)
    saving = (best.usd_per_hour - obj) if (best is not None and obj is not None) else None
    ver = plan.verification
    row = {
        "scenario": plan.scenario, "status": plan.status, "objective_usd_per_hour": obj,
        "hours_per_month": HOURS_PER_MONTH,
        "usd_per_month": None if obj is None else obj * HOURS_PER_MONTH,
        "bound_usd_per_hour": plan.bound_usd_per_hour,
        "gap_pct": None if plan.gap is None else 100.0 * plan.gap,
        "solver": plan.solver, "solve_seconds": plan.solve_seconds,
        "gpus": plan.total_gpus, "nodes": sum(n.count for n in plan.nodes), "periods": max(1, len(plan.periods)),
        "target_utilization_pct": 100.0 * plan.target_utilization,
        "unmet_requests_per_min": sum(w.unmet_requests_per_min for w in plan.workloads),
        "baseline": None if best is None else best.name,
        "baseline_usd_per_hour": None if best is None else best.usd_per_hour,
        "saving_usd_per_hour": saving,
        "saving_usd_per_month": None if saving is None else saving * HOURS_PER_MONTH,
        "saving_pct": _pct(saving, None if best is None else best.usd_per_hour),
        "verified": np.nan if ver is None else ver.ok,
        "checks_failed": 0 if ver is None else sum(not c.ok for c in ver.checks),
        "message": plan.message or None,
    }
    return Rows.build([row], SCHEMAS["summary"])


def _fleet(plan: Plan) -> Rows:
    rows = [{"offer": n.offer, "gpu": n.gpu, "market": n.market, "nodes": n.count, "gpus": n.gpus,
             "owned_nodes": n.owned, "price_usd_per_node_hour": n.price_usd_per_node_hour,
             "usd_per_hour": n.usd_per_hour, "usd_per_month": n.usd_per_hour * HOURS_PER_MONTH}
            for n in plan.nodes]
    return Rows.build(rows, SCHEMAS["fleet"])


def _deployments(plan: Plan, slos: dict) -> Rows:
    rows = []
    for r in plan.replicas:
        ttft_slo, tpot_slo = slos.get(r.workload, (None, None))
        rows.append({
            "workload": r.workload, "offer": r.offer, "gpu": r.gpu, "precision": r.precision, "tp": r.tp,
            "mig_profile": r.mig_profile, "replicas": r.count,
            "capacity_requests_per_min": r.capacity_requests_per_min,
            "assigned_requests_per_min": r.assigned_requests_per_min,
            "availability_pct": 100.0 * r.availability,
            # The plan's own figure (assigned / (count x capacity x availability)); not recomputed here.
            "utilization_pct": 100.0 * r.utilization,
            "predicted_ttft_ms": r.predicted_ttft_ms, "ttft_slo_ms": ttft_slo,
            "ttft_ok": _le(r.predicted_ttft_ms, ttft_slo),
            "predicted_tpot_ms": r.predicted_tpot_ms, "tpot_slo_ms": tpot_slo,
            "tpot_ok": _le(r.predicted_tpot_ms, tpot_slo),
        })
    return Rows.build(rows, SCHEMAS["deployments"])


def _all_ok(values: Iterable[Any]) -> Any:
    """True if every known value is True, False if any is False, NaN if none is known."""
    known = [bool(v) for v in values if not _missing(v)]
    if not known:
        return np.nan
    return all(known)


def _max(values: Iterable[float]) -> float:
    """The largest known value, NaN when none is known (``Series.max``)."""
    return max((v for v in values if not _missing(v)), default=math.nan)


def _workloads(plan: Plan, deployments: Rows, slos: dict) -> Rows:
    rows = []
    for w in plan.workloads:
        dep = deployments.take([i for i, wid in enumerate(deployments["workload"]) if wid == w.id])
        ttft_slo, tpot_slo = slos.get(w.id, (None, None))
        rows.append({
            "workload": w.id, "demand_requests_per_min": w.demand_requests_per_min,
            "served_requests_per_min": w.served_requests_per_min,
            "unmet_requests_per_min": w.unmet_requests_per_min,
            "served_pct": _pct(w.served_requests_per_min, w.demand_requests_per_min),
            "replicas": int(sum(dep["replicas"])), "usd_per_hour": w.usd_per_hour,
            "usd_per_million_output_tokens": w.usd_per_million_output_tokens,
            "max_predicted_ttft_ms": _max(dep["predicted_ttft_ms"]) if len(dep) else None,
            "ttft_slo_ms": ttft_slo,
            "max_predicted_tpot_ms": _max(dep["predicted_tpot_ms"]) if len(dep) else None,
            "tpot_slo_ms": tpot_slo,
            "slo_ok": _all_ok(list(dep["ttft_ok"]) + list(dep["tpot_ok"])),
        })
    return Rows.build(rows, SCHEMAS["workloads"])


def _cost(plan: Plan) -> Rows:
    c = plan.cost
    usd = {"on_demand": c.on_demand_usd_per_hour, "spot": c.spot_usd_per_hour,
           "reserved": c.reserved_usd_per_hour, "unmet_penalty": c.unmet_penalty_usd_per_hour}
    total = sum(usd.values())
    rows = []
    for market in MARKET_ORDER:
        nodes = [n for n in plan.nodes if n.market == market]
        if not nodes and not usd[market]:
            continue  # a market the plan does not use
        rows.append({"market": market, "usd_per_hour": usd[market],
                     "usd_per_month": usd[market] * HOURS_PER_MONTH, "share_pct": _pct(usd[market], total),
                     "nodes": sum(n.count for n in nodes), "gpus": sum(n.gpus for n in nodes)})
    return Rows.build(rows, SCHEMAS["cost"])


def _mig(plan: Plan) -> Rows:
    gpu_of = {n.offer: n.gpu for n in plan.nodes}
    gpu_of.update({o.offer: o.gpu for o in plan.options if o.offer not in gpu_of})
    rows = [{"offer": m.offer, "gpu": gpu_of.get(m.offer), "pattern": " + ".join(m.pattern),
             "instances": len(m.pattern), "gpus": m.gpus} for m in plan.mig_partitions]
    return Rows.build(rows, SCHEMAS["mig_partitions"])


def _options(plan: Plan) -> Rows:
    rows = []
    for o in plan.options:
        per_m = None
        if o.usd_per_hour_per_replica is not None and o.capacity_requests_per_min > 0:
            per_m = o.usd_per_hour_per_replica / (o.capacity_requests_per_min * 60.0) * 1e6
        rows.append({
            "workload": o.workload, "offer": o.offer, "gpu": o.gpu, "precision": o.precision, "tp": o.tp,
            "mig_profile": o.mig_profile, "state": o.state, "reason": o.reason,
            "capacity_requests_per_min": o.capacity_requests_per_min,
            "usd_per_hour_per_replica": o.usd_per_hour_per_replica, "usd_per_million_requests": per_m,
            "predicted_ttft_ms": o.predicted_ttft_ms,
        })
    # Workloads in plan order, then chosen / feasible / dominated / dropped, cheapest per request first.
    wl_order = {w.id: i for i, w in enumerate(plan.workloads)}
    for r in rows:
        wl_order.setdefault(r["workload"], len(wl_order))
    rows.sort(key=lambda r: (wl_order[r["workload"]], STATE_ORDER.index(r["state"]),
                             math.inf if r["usd_per_million_requests"] is None else r["usd_per_million_requests"]))
    return Rows.build(rows, SCHEMAS["options"])


def _baselines(plan: Plan) -> Rows:
    obj = plan.objective_usd_per_hour
    rows = []
    for b in plan.baselines:
        saving = None if (b.usd_per_hour is None or obj is None) else b.usd_per_hour - obj
        rows.append({"name": b.name, "status": b.status, "usd_per_hour": b.usd_per_hour,
                     "usd_per_month": None if b.usd_per_hour is None else b.usd_per_hour * HOURS_PER_MONTH,
                     "saving_usd_per_hour": saving, "saving_pct": _pct(saving, b.usd_per_hour),
                     "detail": b.detail or None})
    return Rows.build(rows, SCHEMAS["baselines"])


def _verification(plan: Plan) -> Rows:
    checks = plan.verification.checks if plan.verification else ()
    return Rows.build([{"check": c.name, "ok": c.ok, "detail": c.detail or None} for c in checks],
                  SCHEMAS["verification"])


def _periods(plan: Plan) -> Rows:
    """One row per period (only when there are several), with ``gpus_<offer>`` columns in first-seen order."""
    if len(plan.periods) <= 1:
        return Rows.build([], SCHEMAS["periods"])
    offers: list[str] = []
    for p in plan.periods:
        offers += [n.offer for n in p.nodes if n.offer not in offers]
    rows = []
    for p in plan.periods:
        row = {"period": p.name, "hours": p.hours, "usd_per_hour": p.usd_per_hour, "usd": p.usd_per_hour * p.hours,
               "gpus": sum(n.gpus for n in p.nodes),
               "unmet_requests_per_min": sum(p.unmet_requests_per_min.values())}
        for o in offers:
            row[f"gpus_{o}"] = sum(n.gpus for n in p.nodes if n.offer == o)
        rows.append(row)
    return Rows.build(rows, SCHEMAS["periods"], {f"gpus_{o}": "int" for o in offers})


# --------------------------------------------------------------------------- what-if and forecast

_WHATIF_KNOWN = {"status", "objective_usd_per_hour", "spot_gpu_share", "gpus_by_offer", "simulated_attainment",
                 "spot_gpu_share_pct", "simulated_attainment_pct", "change_usd_per_hour", "change_pct", "gpus"}


def _pct_of(rec: dict, name: str) -> float | None:
    """``name``_pct from a record holding either the percent (published JSON) or the library's fraction."""
    if rec.get(f"{name}_pct") is not None:
        return rec[f"{name}_pct"]
    return None if rec.get(name) is None else 100.0 * rec[name]


def _gpus_by_offer(rec: dict) -> dict[str, int]:
    if rec.get("gpus_by_offer"):
        return rec["gpus_by_offer"]
    return {k[5:]: v for k, v in rec.items() if k.startswith("gpus_") and k != "gpus_by_offer" and v is not None}


def whatif_tables(records: list[dict]) -> dict[str, pd.DataFrame]:
    """``plan whatif --format json`` records -> ``{"whatif": frame}``.

    Columns: the swept values first (``interruption_rate`` and dotted paths, in record order; every column
    before ``status`` is a swept axis), then ``SCHEMAS["whatif"]``, then ``gpus_<offer>`` columns, then any
    other scalar keys the records carry. ``change_*`` is against the point with the lowest value of the first
    axis that shares the other axes' values (the rate-0 point of each row of a grid).
    """
    swept: list[str] = []
    extra: list[str] = []
    offers: list[str] = []
    for rec in records:
        for k, v in rec.items():
            if k in _WHATIF_KNOWN or k in swept or k in extra:
                continue
            if k.startswith("gpus_"):
                continue
            if k == "interruption_rate" or "." in k:
                swept.append(k)
            elif not isinstance(v, (dict, list, tuple)):
                extra.append(k)
        offers += [o for o in _gpus_by_offer(rec) if o not in offers]
    if "interruption_rate" in swept:  # the main axis goes first
        swept.remove("interruption_rate")
        swept.insert(0, "interruption_rate")

    axis, others = (swept[0], swept[1:]) if swept else (None, [])
    refs: dict[tuple, float | None] = {}
    if axis is not None:
        for rec in sorted(records, key=lambda r: _num(r.get(axis))):
            key = tuple(rec.get(o) for o in others)
            if key not in refs and rec.get("objective_usd_per_hour") is not None:
                refs[key] = rec["objective_usd_per_hour"]
    rows = []
    for rec in records:
        obj = rec.get("objective_usd_per_hour")
        ref = refs.get(tuple(rec.get(o) for o in others)) if axis is not None else None
        change = None if (obj is None or ref is None) else obj - ref
        by_offer = _gpus_by_offer(rec)
        row = {k: rec.get(k) for k in swept + extra}
        row.update({
            "status": rec.get("status"), "objective_usd_per_hour": obj, "change_usd_per_hour": change,
            "change_pct": _pct(change, ref), "gpus": int(sum(by_offer.values())),
            "spot_gpu_share_pct": _pct_of(rec, "spot_gpu_share"),
            "simulated_attainment_pct": _pct_of(rec, "simulated_attainment"),
        })
        row.update({f"gpus_{o}": int(by_offer.get(o, 0)) for o in offers})
        rows.append(row)
    schema = {k: "float" for k in swept}
    schema.update(SCHEMAS["whatif"])
    tail = {f"gpus_{o}": "int" for o in offers}
    tail.update({k: ("float" if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                    for r in records if r.get(k) is not None) else "str") for k in extra})
    return {"whatif": _frame(rows, schema, tail)}


def whatif_axes(frame: pd.DataFrame) -> list[str]:
    """The swept columns of a ``whatif`` frame (every column before ``status``)."""
    cols = list(frame.columns)
    return cols[: cols.index("status")] if "status" in cols else []


def forecast_tables(result: dict) -> dict[str, pd.DataFrame]:
    """``plan forecast --format json`` -> ``forecast_summary``, ``forecast_months`` (with
    ``demand_<workload>_requests_per_min`` and ``nodes_<offer>`` columns) and ``forecast_commitments``."""
    months = result.get("months") or []
    workloads: list[str] = []
    offers: list[str] = []
    for m in months:
        workloads += [w for w in (m.get("demand_requests_per_min") or {}) if w not in workloads]
        offers += [o for o in (m.get("nodes") or {}) if o not in offers]
    rows = []
    for m in months:
        row = {k: m.get(k) for k in ("month", "usd", "reserved_usd", "on_demand_usd", "spot_usd", "cumulative_usd")}
        ru = m.get("reserved_utilization")
        row["reserved_utilization_pct"] = m.get("reserved_utilization_pct") if ru is None else 100.0 * ru
        demand = m.get("demand_requests_per_min") or {}
        nodes = m.get("nodes") or {}
        row.update({f"demand_{w}_requests_per_min": demand.get(w) for w in workloads})
        row.update({f"nodes_{o}": int(nodes.get(o, 0)) for o in offers})
        rows.append(row)
    extra = {f"demand_{w}_requests_per_min": "float" for w in workloads}
    extra.update({f"nodes_{o}": "int" for o in offers})

    commits = []
    for c in result.get("commitments") or []:
        commits.append({**{k: c.get(k) for k in ("offer", "nodes", "start_month", "term_months", "usd")},
                        "description": c.get("description") or (f"commit {c.get('nodes')} x {c.get('offer')} node"
                                        f"{'s' if c.get('nodes') != 1 else ''} for {c.get('term_months')} months "
                                        f"from {c.get('start_month')}")})

    total = result.get("total_usd")
    tail = result.get("tail_usd")
    od = result.get("all_on_demand_total_usd")
    nc = result.get("no_commitment_total_usd")
    # A commitment's cost after the horizon is still owed: compare the comparisons (which sign nothing new, so
    # have no tail) with the total *including* the tail.
    owed = None if total is None else total + (tail or 0.0)
    sav_od = None if (od is None or owed is None) else od - owed
    sav_nc = None if (nc is None or owed is None) else nc - owed
    summary = {"months": len(months), "total_usd": total, "tail_usd": tail,
               "total_with_tail_usd": None if total is None else total + (tail or 0.0),
               "all_on_demand_total_usd": od, "saving_vs_all_on_demand_usd": sav_od,
               "saving_vs_all_on_demand_pct": _pct(sav_od, od), "no_commitment_total_usd": nc,
               "saving_vs_no_commitment_usd": sav_nc, "saving_vs_no_commitment_pct": _pct(sav_nc, nc)}
    return {"forecast_summary": _frame([summary], SCHEMAS["forecast_summary"]),
            "forecast_months": _frame(rows, SCHEMAS["forecast_months"], extra),
            "forecast_commitments": _frame(commits, SCHEMAS["forecast_commitments"])}


def simulate_tables(sim: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """``Simulation.to_json()`` -> ``{"simulate": frame}``: one row per workload, then the fleet as a whole
    (workload ``(fleet)``); the share of time fully served as ``attainment_pct`` (percent, like every share)."""
    lines = [*(sim.get("workloads") or ()), *([sim["fleet"]] if sim.get("fleet") else [])]
    rows = [{**line, "workload": line.get("id", line.get("workload")),
             "attainment_pct": line.get("attainment_pct", None if line.get("attainment") is None
                                        else 100.0 * line["attainment"])} for line in lines]
    return {"simulate": _frame(rows, SCHEMAS["simulate"])}
