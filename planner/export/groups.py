"""What to deploy: the plan's replica lines as replica groups, and their hourly schedule.

A replica group is one deployment of the plan (workload × offer × precision × TP × MIG profile × attention-DP and
expert-parallel degrees) with what an engine needs to start it: the model's Hugging Face id, the context length to
reserve (``context_tokens``, else the largest bucket's prompt + output), the KV-cache type and the engine. It reads
only the Plan and the Scenario (and the static model catalog for the Hugging Face id), never the fleet or a solver.

For a plan with several periods (a diurnal profile), ``replicas_by_period`` holds each period's count (0 where a
group is not used) and ``replicas`` the largest; a single-period plan has one period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.catalog import Catalog
from planner.errors import CatalogError, InputError
from planner.plan import Plan
from planner.scenario.model import Scenario


@dataclass(frozen=True)
class ReplicaGroup:
    """One deployment to create."""

    name: str                   # DNS-1123 label: lower-case alnum and '-', <= 63 characters
    workload: str
    offer: str
    gpu: str
    market: str
    precision: str
    tp: int
    mig_profile: str | None
    replicas: int               # the largest count over the periods
    replicas_by_period: tuple[int, ...]
    model_id: str               # catalog id
    hf_model: str               # what the engine loads
    engine: str
    kv_cache_dtype: str
    max_model_len: int
    region: str | None
    capacity_requests_per_min: float
    target_utilization: float
    attention_dp: int = 1       # attention data-parallel ranks over the replica's tp GPUs
    expert_parallel: int = 1    # GPUs the routed experts are spread over


def dns_name(*parts: str) -> str:
    """A DNS-1123 label from parts: lower case, other characters -> '-', at most 63 characters."""
    s = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)
    return s[:63].rstrip("-") or "fleetplan"


def period_names(plan: Plan) -> tuple[str, ...]:
    """Names of the plan's periods in order (one, 'all', for a single-period plan)."""
    return tuple(p.name for p in plan.periods) if plan.periods else ("all",)


def replica_groups(plan: Plan, scenario: Scenario, catalog: Catalog | None = None) -> list[ReplicaGroup]:
    """The plan's deployments with their counts per period; InputError if plan and scenario disagree."""
    cat = catalog or Catalog.builtin()
    periods = list(plan.periods) or []
    lines_by_period = [p.replicas for p in periods] if periods else [plan.replicas]
    keys: dict[tuple, list[int]] = {}
    cap: dict[tuple, float] = {}
    for t, lines in enumerate(lines_by_period):
        for r in lines:
            k = r.key
            keys.setdefault(k, [0] * len(lines_by_period))[t] += r.count
            cap[k] = r.capacity_requests_per_min
    offers = {o.id: o for o in scenario.offers}
    wls = {w.id: w for w in scenario.workloads}
    out = []
    for (wid, oid, prec, tp, mig, dp, ep), counts in sorted(keys.items(), key=lambda kv: tuple(map(str, kv[0]))):
        if wid not in wls or oid not in offers:
            missing = f"workload {wid!r}" if wid not in wls else f"offer {oid!r}"
            raise InputError(f"plan: {missing} is not in the scenario; export the plan with the scenario it was solved for")
        w, o = wls[wid], offers[oid]
        if max(counts) == 0:
            continue
        try:
            spec = cat.model(w.model)
            model_id, hf = spec.id, spec.hf_id or w.model
        except CatalogError:
            model_id, hf = w.model, w.model      # a scenario-defined model: its id is what the engine loads
        out.append(ReplicaGroup(
            name=dns_name(wid, oid, prec, f"tp{tp}", mig or "", f"dp{dp}" if dp > 1 else "",
                          f"ep{ep}" if ep > 1 else ""),
            workload=wid, offer=oid, gpu=o.gpu, market=o.market,
            precision=prec, tp=tp, mig_profile=mig, replicas=max(counts), replicas_by_period=tuple(counts),
            model_id=model_id, hf_model=hf, engine=w.engine, kv_cache_dtype=w.kv_cache_dtype,
            max_model_len=w.context_tokens or max(b.prompt_tokens + b.output_tokens for b in w.buckets),
            region=o.region, capacity_requests_per_min=cap[(wid, oid, prec, tp, mig, dp, ep)],
            target_utilization=plan.target_utilization, attention_dp=dp, expert_parallel=ep))
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise InputError("plan: two deployments map to the same name after shortening; shorten workload/offer ids")
    return out


def schedule_rows(plan: Plan, groups: list[ReplicaGroup]) -> list[dict]:
    """One row per period and group: period, hours, deployment, workload, offer, replicas."""
    names = period_names(plan)
    hours = [p.hours for p in plan.periods] if plan.periods else [1.0]
    return [{"period": names[t], "hours": hours[t], "deployment": g.name, "workload": g.workload, "offer": g.offer,
             "replicas": g.replicas_by_period[t]} for t in range(len(names)) for g in groups]
