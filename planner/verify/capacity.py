"""Checks ``deployment_valid``, ``capacity_respected`` and ``capacity_matches_model`` (maths in ``planner.verify``)."""

from __future__ import annotations

import math

from planner.verify.base import CAPACITY_RTOL, Context, close, fmt, gpu_or_none, le, spot_availability
from planner.verify.geometry import mig_class, profiles_text


def deployment_valid(ctx: Context) -> None:
    c = "deployment_valid"
    for per in ctx.periods:
        for r in per.replicas:
            before = len(ctx.log.fails[c])
            where = ctx.where(per, r)
            w, o = ctx.workloads.get(r.workload), ctx.offers.get(r.offer)
            gpu = gpu_or_none(ctx.cat, o.gpu) if o else None
            if w is None:
                ctx.log.fail(c, f"{where}: unknown workload '{r.workload}'")
            if o is None:
                ctx.log.fail(c, f"{where}: unknown offer '{r.offer}'")
            elif gpu is None:
                ctx.log.fail(c, f"{where}: offer GPU '{o.gpu}' is not in the catalog")
            if w is None or o is None or gpu is None:
                ctx.valid_line[id(r)] = False
                continue
            if r.gpu != gpu.id:
                ctx.log.fail(c, f"{where}: gpu '{r.gpu}' but the offer's GPU is '{gpu.id}'")
            if r.precision not in w.precisions:
                ctx.log.fail(c, f"{where}: precision {r.precision} not allowed "
                                 f"(allowed: {', '.join(w.precisions)})")
            if r.tp < 1 or r.tp & (r.tp - 1):
                ctx.log.fail(c, f"{where}: tp {r.tp} is not a power of two")
            if r.tp > o.gpus_per_node:
                ctx.log.fail(c, f"{where}: tp {r.tp} > gpus_per_node {o.gpus_per_node}")
            if gpu.has_nvlink and r.tp > gpu.nvlink_max_gpus:
                ctx.log.fail(c, f"{where}: tp {r.tp} > NVLink group of {gpu.id} ({gpu.nvlink_max_gpus})")
            if r.mig_profile is not None:
                if not o.mig:
                    ctx.log.fail(c, f"{where}: MIG profile on an offer without mig: true")
                if mig_class(gpu, r.mig_profile) is None:
                    ctx.log.fail(c, f"{where}: '{r.mig_profile}' is not a MIG profile of {gpu.id} "
                                     f"(profiles: {profiles_text(gpu)})")
                if r.tp != 1:
                    ctx.log.fail(c, f"{where}: tp {r.tp} on a MIG instance (no TP across MIG slices)")
            ctx.valid_line[id(r)] = len(ctx.log.fails[c]) == before


def capacity_respected(ctx: Context) -> None:
    c, rho, tol = "capacity_respected", ctx.s.policy.target_utilization, ctx.tol
    ctx.log.note(c, "sum_b assigned_b / capacity_b <= count x target_utilization x availability "
                     "(a replica time-shares linearly between buckets)")
    if not close(ctx.plan.target_utilization, rho, tol):
        ctx.log.fail(c, f"plan target_utilization {fmt(ctx.plan.target_utilization)} != policy {fmt(rho)}")
    for per in ctx.periods:
        for r in per.replicas:
            w = ctx.workloads.get(r.workload)
            if w is None:
                continue
            where, used = ctx.where(per, r), 0.0
            for _, cap, x in ctx.bucket_loads(w, r):
                if x > tol:
                    used += x / cap if cap > 0 else math.inf
            allowed = r.count * rho * r.availability
            if not le(used, allowed, tol):
                ctx.log.fail(c, f"{where}: load uses {fmt(used)} replica-equivalents > count {r.count} x "
                                 f"{fmt(rho)} x availability {fmt(r.availability)} = {fmt(allowed)}")
            if r.count > 0 and math.isfinite(used) and r.availability > 0:
                util = used / (r.count * r.availability)
                if not close(r.utilization, util, tol):
                    ctx.log.fail(c, f"{where}: utilization {fmt(r.utilization)} stated, {fmt(util)} recomputed")


def capacity_matches_model(ctx: Context) -> None:
    c, rtol = "capacity_matches_model", max(ctx.tol, CAPACITY_RTOL)
    wanted = []   # the plain replicas' model capacities, computed together (Capacities.prefetch)
    for per in ctx.periods:
        for r in per.replicas:
            if ctx.valid_line.get(id(r), False) and r.attention_dp == 1 and r.expert_parallel == 1:
                gpu = gpu_or_none(ctx.cat, ctx.offers[r.offer].gpu)
                if gpu is not None:
                    wanted.append((ctx.workloads[r.workload], gpu, r.precision, r.tp, r.mig_profile))
    ctx.caps.prefetch(wanted)
    for per in ctx.periods:
        for r in per.replicas:
            if not ctx.valid_line.get(id(r), False):
                ctx.log.note(c, "lines with an invalid deployment are not compared (see deployment_valid)")
                continue
            w, o = ctx.workloads[r.workload], ctx.offers[r.offer]
            gpu, where = gpu_or_none(ctx.cat, o.gpu), ctx.where(per, r)
            avail = spot_availability(o)
            if not close(r.availability, avail, ctx.tol):
                ctx.log.fail(c, f"{where}: availability {fmt(r.availability)} stated, {fmt(avail)} for "
                                 f"{o.market} (rate {o.interruption_rate_per_hour}/h, "
                                 f"recovery {fmt(o.recovery_minutes_effective)} min)")
            expected = ctx.caps.expected(w, gpu, r)
            if isinstance(expected, str):
                ctx.log.fail(c, f"{where}: {expected}")
                continue
            by_size = {(b.prompt_tokens, b.output_tokens): e for b, e in zip(w.buckets, expected)}
            for bucket, cap, _ in ctx.bucket_loads(w, r):
                if bucket is None:
                    continue  # reported by demand_covered
                want = by_size[(bucket.prompt_tokens, bucket.output_tokens)]
                if abs(cap - want) > rtol * max(abs(want), 1e-9):
                    ctx.log.fail(c, f"{where}: bucket {bucket.prompt_tokens}/{bucket.output_tokens} capacity "
                                     f"{fmt(cap)} req/min claimed, the model gives {fmt(want)}")
            line = sum(b.share * e for b, e in zip(w.buckets, expected))
            if abs(r.capacity_requests_per_min - line) > rtol * max(abs(line), 1e-9):
                ctx.log.fail(c, f"{where}: line capacity {fmt(r.capacity_requests_per_min)} claimed, "
                                 f"share-weighted model capacity is {fmt(line)}")
