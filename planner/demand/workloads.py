"""Trace summaries -> the scenario's ``workloads:`` block (or a whole scenario, given a base scenario).

One workload per model/endpoint key: ``requests_per_min`` = the planning rate (``planner.demand.rates``),
``size_mix`` = the buckets (``planner.demand.buckets``), ``profile`` = the hourly multipliers. Fields a trace
cannot know (SLOs, precisions, engine, ...) come from the base scenario's workload with the same id or model, or
else from the options (``ttft_slo_ms``; a placeholder the header comment says to set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from planner.catalog import Catalog
from planner.demand.accumulate import TraceStats
from planner.demand.buckets import Bucket, kmeans_buckets
from planner.demand.rates import Rates, rates
from planner.errors import CatalogError, InputError
from planner.scenario.model import Scenario, Workload

DEFAULT_TTFT_SLO_MS = 1000.0
DEMAND_FIELDS = ("id", "model", "requests_per_min", "prompt_tokens", "output_tokens", "size_mix", "profile", "periods")


@dataclass(frozen=True)
class DemandSettings:
    """Options of ``plan demand``."""

    bucket_count: int = 6
    rate_statistic: str = "p95"
    profile: str | None = "daily"
    weight: str = "tokens"
    model_map: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    ttft_slo_ms: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class KeyDemand:
    """What the trace says about one model/endpoint."""

    key: str
    workload_id: str
    model: str
    requests: int
    zero_output: int
    mean_prompt_tokens: float
    mean_output_tokens: float
    rates: Rates
    buckets: tuple[Bucket, ...]


def slug(text: str) -> str:
    """A workload id from a model/endpoint name: lower case, runs of other characters -> '-'."""
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")
    return s or "trace"


def _model_id(key: str, s: DemandSettings, cat: Catalog, base: Scenario | None) -> str:
    name = s.model_map.get(key) or (key if key else s.model)
    if not name and base is not None and len(base.workloads) == 1:
        name = base.workloads[0].model
    if not name:
        raise InputError("trace: no model/endpoint column; say which model serves it with --model ID")
    try:
        return cat.model(name).id
    except CatalogError as exc:
        raise InputError(f"trace: model {name!r} is not in the catalog ({str(exc).split(';', 1)[-1].strip()}); "
                         f"map it with --model-map '{name}=CATALOG_ID'") from None


def summarise(stats: TraceStats, settings: DemandSettings, catalog: Catalog | None = None,
              base: Scenario | None = None) -> list[KeyDemand]:
    """Per key: model id, rates, buckets. Keys in sorted order."""
    if settings.bucket_count < 1:
        raise InputError(f"--bucket-count: must be >= 1 (got {settings.bucket_count})")
    if not stats.keys:
        raise InputError("trace: no requests")
    cat = catalog or Catalog.builtin()
    out = []
    for key in sorted(stats.keys):
        ks = stats.keys[key]
        idx, counts = ks.minute_counts(stats.first_minute, stats.last_minute)  # a quiet key's empty minutes count
        r = rates(idx, counts, settings.rate_statistic, settings.profile, stats.relative_time, key)
        n, mp, mo = ks.cells()
        bks = kmeans_buckets(n, mp, mo, settings.bucket_count, weight=settings.weight, seed=settings.seed)
        model = _model_id(key, settings, cat, base)
        out.append(KeyDemand(key=key, workload_id=slug(key) if key else slug(model), model=model,
                             requests=ks.requests, zero_output=ks.zero_output,
                             mean_prompt_tokens=ks.prompt_sum / ks.requests,
                             mean_output_tokens=ks.output_sum / ks.requests, rates=r, buckets=tuple(bks)))
    ids = [d.workload_id for d in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"trace: keys {', '.join(repr(d.key) for d in out if d.workload_id in dup)} give the same "
                         f"workload id {dup[0]!r}; rename them in the trace")
    return out


def _demand_fields(d: KeyDemand) -> dict:
    w: dict = {"requests_per_min": round(d.rates.planning_per_min, 3)}
    if len(d.buckets) == 1:
        w["prompt_tokens"], w["output_tokens"] = d.buckets[0].prompt_tokens, d.buckets[0].output_tokens
    else:
        w["size_mix"] = [{"prompt_tokens": b.prompt_tokens, "output_tokens": b.output_tokens, "share": b.share}
                         for b in d.buckets]
    if d.rates.profile is not None:
        w["profile"] = {"hourly": list(d.rates.profile)}
    return w


def workload_dicts(demands: list[KeyDemand], settings: DemandSettings,
                   base: Scenario | None = None) -> tuple[list[dict], list[str]]:
    """The ``workloads:`` entries and notes (base workloads reused or dropped, context_tokens dropped)."""
    notes: list[str] = []
    used: set[str] = set()
    out = []
    for d in demands:
        src = None
        if base is not None:
            src = next((w for w in base.workloads if w.id == d.workload_id and w.id not in used), None) or \
                next((w for w in base.workloads if w.model == d.model and w.id not in used), None)
        if src is not None:
            used.add(src.id)
            rest = {k: v for k, v in src.model_dump(mode="json", exclude_none=True, exclude_defaults=True).items()
                    if k not in DEMAND_FIELDS}
            rest.setdefault("ttft_slo_ms", src.ttft_slo_ms)
            need = max(b.prompt_tokens + b.output_tokens for b in d.buckets)
            if src.context_tokens is not None and src.context_tokens < need:
                rest.pop("context_tokens", None)
                notes.append(f"{src.id}: context_tokens {src.context_tokens} < largest bucket ({need} tokens): "
                             f"dropped (each bucket reserves its own prompt + output)")
            wid = src.id
        else:
            rest = {"ttft_slo_ms": settings.ttft_slo_ms or DEFAULT_TTFT_SLO_MS}
            if settings.ttft_slo_ms is None:
                notes.append(f"{d.workload_id}: ttft_slo_ms {DEFAULT_TTFT_SLO_MS:g} is a placeholder: set your SLO")
            wid = d.workload_id
        w = {"id": wid, "model": d.model, **_demand_fields(d), **rest}
        try:
            Workload.model_validate(w)
        except ValidationError as exc:  # pragma: no cover - a bug in this module, not bad input
            raise InputError(f"trace: workload {wid}: {exc.errors()[0]['msg']}") from None
        out.append(w)
    if base is not None:
        for w in base.workloads:
            if w.id not in used:
                notes.append(f"{w.id}: in the base scenario but not in the trace: left out")
    return out, notes


def header(demands: list[KeyDemand], settings: DemandSettings, source: str, rows: int) -> str:
    """Comment lines: what was read and the statistics behind each workload."""
    lines = [f"# plan demand {source}: {rows:,} requests; rate statistic {settings.rate_statistic} of per-minute "
             f"counts; profile {settings.profile or 'none'}; at most {settings.bucket_count} size buckets"]
    for d in demands:
        r = d.rates
        lines.append(f"# {d.workload_id} ({d.key or 'all requests'} -> {d.model}): {d.requests:,} requests over "
                     f"{r.minutes:,} min; mean {r.mean_per_min:.3f} req/min; planned {r.planning_per_min:.3f} "
                     f"req/min ({r.statistic}); mean prompt {d.mean_prompt_tokens:.1f}, output "
                     f"{d.mean_output_tokens:.1f} tokens"
                     + (f"; {d.zero_output:,} with 0 output tokens sized as 1" if d.zero_output else ""))
    return "\n".join(lines) + "\n"


def render(demands: list[KeyDemand], settings: DemandSettings, source: str, rows: int,
           base: Scenario | None = None, base_raw: dict | None = None,
           base_path: Path | None = None) -> tuple[str, list[str]]:
    """YAML text (the block, or the whole base scenario with its workloads replaced) and notes."""
    wl, notes = workload_dicts(demands, settings, base)
    if base is None or base_raw is None:
        body = {"workloads": wl}
    else:
        body = dict(base_raw)
        body["workloads"] = wl
        ids = {w["id"] for w in wl}
        if body.get("capacity_overrides"):
            kept = [c for c in body["capacity_overrides"] if c.get("workload") in ids]
            if len(kept) != len(body["capacity_overrides"]):
                notes.append(f"{len(body['capacity_overrides']) - len(kept)} capacity_overrides of left-out "
                             "workloads dropped")
            body["capacity_overrides"] = kept
        growth = (body.get("forecast") or {}).get("growth")
        if growth:
            body["forecast"] = {**body["forecast"], "growth": {k: v for k, v in growth.items() if k in ids}}
        from planner.scenario.io import scenario_from_dict  # noqa: PLC0415

        scenario_from_dict(body, base_dir=base_path.parent if base_path else ".",
                           name=str(base_path) if base_path else "<scenario>")
    text = header(demands, settings, source, rows) + yaml.safe_dump(body, sort_keys=False, default_flow_style=None,
                                                                     allow_unicode=True, width=120)
    return text, notes
