"""Checks ``demand_covered`` and ``min_replicas``: the demand each period states, recomputed from the scenario
(flat, hourly profile, explicit periods, forecast growth), is served bucket by bucket."""

from __future__ import annotations

import re
from collections import defaultdict

from planner.plan import PeriodPlan
from planner.scenario.model import Workload
from planner.verify.base import Context, close, fmt, le


def _expected_demand(ctx: Context, per: PeriodPlan, w: Workload) -> float | None:
    """The scenario's demand of ``w`` in ``per``, or None (with a note) when the periods are not ours to read."""
    c = "demand_covered"
    name, n_shape, growth = per.name, len(ctx.periods), 1.0
    if ctx.plan.commitments is not None:  # a forecast: "YYYY-MM" or "YYYY-MM <shape period>", epoch = month
        months = ctx.months()
        month, _, name = per.name.partition(" ")
        if per.epoch >= len(months) or months[per.epoch] != month:
            ctx.log.fail(c, f"period {per.name}: not month {per.epoch} of a forecast from "
                             f"{ctx.s.forecast.start if ctx.s.forecast else '?'}")
            return None
        n_shape = len(ctx.periods) // max(len(months), 1)
        growth = ctx.growth(w, per.epoch)
        if growth is None:
            ctx.log.fail(c, f"period {per.name}: no growth multiplier for {w.id} in month {per.epoch + 1}")
            return None
    if w.periods is not None:
        match = next((p for p in w.periods if p.name == name), None)
        if match is None:
            ctx.log.note(c, f"period '{per.name}' is not among {w.id}'s periods; demand not compared")
        return None if match is None else match.requests_per_min * growth
    hourly = re.fullmatch(r"h(\d{2}|\d{3})", name) if n_shape in (24, 168) else None
    if w.profile is not None:
        if hourly is None:
            ctx.log.note(c, f"{w.id} has an hourly profile but the plan's periods are not h00..h23 / "
                             "h000..h167; demand not compared")
            return None
        return w.requests_per_min * w.profile.hourly[int(hourly.group(1)) % len(w.profile.hourly)] * growth
    explicit = {p.name for x in ctx.s.workloads if x.periods for p in x.periods}
    if n_shape == 1 or hourly is not None or name in explicit:
        return w.requests_per_min * growth  # a flat workload
    ctx.log.note(c, f"period '{per.name}' is neither hourly nor a scenario period; demand not compared")
    return None


def demand_covered(ctx: Context) -> None:
    c, tol = "demand_covered", ctx.tol
    for per in ctx.periods:
        extra = set(per.demand_requests_per_min) - set(ctx.workloads)
        if extra:
            ctx.log.fail(c, f"period {per.name}: demand for unknown workloads {sorted(extra)}")
        load: dict[tuple[str, int, int], float] = defaultdict(float)
        for r in per.replicas:
            w = ctx.workloads.get(r.workload)
            if w is None:
                continue
            where, total = ctx.where(per, r), 0.0
            for bucket, _, x in ctx.bucket_loads(w, r):
                total += x
                if x < -tol:
                    ctx.log.fail(c, f"{where}: negative load {fmt(x)}")
                if bucket is None:
                    if x > tol:
                        ctx.log.fail(c, f"{where}: load on a bucket {w.id} does not have")
                    continue
                load[(w.id, bucket.prompt_tokens, bucket.output_tokens)] += x
            if not close(r.assigned_requests_per_min, total, tol):
                ctx.log.fail(c, f"{where}: assigned {fmt(r.assigned_requests_per_min)} != sum of bucket "
                                 f"loads {fmt(total)}")
        for w in ctx.s.workloads:
            stated = per.demand_requests_per_min.get(w.id)
            if stated is None:
                ctx.log.fail(c, f"period {per.name}: no demand stated for {w.id}")
                continue
            want = _expected_demand(ctx, per, w)
            if want is not None and not close(stated, want, tol):
                ctx.log.fail(c, f"period {per.name}: {w.id} demand {fmt(stated)} stated, the scenario gives "
                                 f"{fmt(want)}")
            unmet = per.unmet_requests_per_min.get(w.id, 0.0)
            if unmet < -tol or (not ctx.allow_unmet and unmet > tol):
                ctx.log.fail(c, f"period {per.name}: {w.id} unmet {fmt(unmet)} req/min"
                                 + ("" if ctx.allow_unmet else " (unmet demand not allowed)"))
            served = 0.0
            for b in w.buckets:
                got, need = load[(w.id, b.prompt_tokens, b.output_tokens)], stated * b.share
                served += got
                ok = le(got, need, tol) if ctx.allow_unmet else close(got, need, tol)
                if not ok:
                    ctx.log.fail(c, f"period {per.name}: {w.id} bucket {b.prompt_tokens}/{b.output_tokens} "
                                     f"served {fmt(got)} req/min, demand x share = {fmt(need)}")
            if ctx.allow_unmet and not close(served + unmet, stated, tol):
                ctx.log.fail(c, f"period {per.name}: {w.id} served {fmt(served)} + unmet {fmt(unmet)} != "
                                 f"demand {fmt(stated)}")
    if ctx.allow_unmet:
        ctx.log.note(c, "unmet is reported per workload, so buckets are checked as served <= demand x share")


def min_replicas(ctx: Context) -> None:
    for per in ctx.periods:
        for w in ctx.s.workloads:
            n = sum(r.count for r in per.replicas if r.workload == w.id)
            if n < w.min_replicas:
                ctx.log.fail("min_replicas", f"period {per.name}: {w.id} has {n} replicas < min_replicas "
                                              f"{w.min_replicas}")
