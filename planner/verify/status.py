"""Checks ``status_honest`` and ``top_level_is_a_period``."""

from __future__ import annotations

import json

from planner.verify.base import Context, close, fmt, le


def status_honest(ctx: Context) -> None:
    c, plan, tol = "status_honest", ctx.plan, ctx.tol
    if plan.status == "optimal":
        gap, allowed = plan.gap or 0.0, ctx.s.policy.mip_gap + 1e-6
        if gap > allowed:
            ctx.log.fail(c, f"status optimal with gap {fmt(gap)} > mip_gap {fmt(ctx.s.policy.mip_gap)}")
    if plan.gap is not None and plan.gap < -tol:
        ctx.log.fail(c, f"negative gap {fmt(plan.gap)}")
    if plan.status in ("optimal", "feasible"):
        if plan.objective_usd_per_hour is None:
            ctx.log.fail(c, f"status {plan.status} without an objective")
        elif plan.bound_usd_per_hour is not None and not le(plan.bound_usd_per_hour,
                                                              plan.objective_usd_per_hour, tol):
            ctx.log.fail(c, f"bound {fmt(plan.bound_usd_per_hour)} > objective {fmt(plan.objective_usd_per_hour)}")
    else:
        n = sum(x.count for x in plan.nodes) + sum(x.count for p in plan.periods for x in p.nodes)
        if n:
            ctx.log.fail(c, f"status {plan.status} but the plan lists {n} nodes")


def top_level_is_a_period(ctx: Context) -> None:
    c = "top_level_is_a_period"
    if not ctx.plan.periods:
        ctx.log.note(c, "plan has no periods; the top level is the plan")
        return
    key = lambda recs: sorted(json.dumps(x.model_dump(mode="json"), sort_keys=True) for x in recs)  # noqa: E731
    top = (key(ctx.plan.nodes), key(ctx.plan.replicas), key(ctx.plan.mig_partitions))
    same = [p for p in ctx.plan.periods if (key(p.nodes), key(p.replicas), key(p.mig_partitions)) == top]
    peak = max(p.usd_per_hour for p in ctx.plan.periods)
    if not same:
        ctx.log.fail(c, "top-level nodes/replicas/mig_partitions match no period")
    elif not any(close(p.usd_per_hour, peak, ctx.tol) for p in same):
        ctx.log.fail(c, f"top level is period {same[0].name} ({fmt(same[0].usd_per_hour)} USD/h), not the "
                         f"peak-cost period ({fmt(peak)} USD/h)")
