"""Checks ``budget`` and ``costs_add_up``: every node line, period, market share, commitment and workload line
recomputed in USD."""

from __future__ import annotations

from collections import defaultdict

from planner.verify.base import Context, close, fmt, le


def budget(ctx: Context) -> None:
    limit = ctx.s.policy.budget_usd_per_hour
    if limit is None:
        ctx.log.note("budget", "no budget_usd_per_hour in the policy")
        return
    for per in ctx.periods:
        cost = sum(ctx.node_cost(n, per) or 0.0 for n in per.nodes)
        if not le(cost, limit, ctx.tol):
            ctx.log.fail("budget", f"period {per.name}: fleet costs {fmt(cost)} USD/h > budget {fmt(limit)}")


def costs_add_up(ctx: Context) -> None:
    c, tol, plan = "costs_add_up", ctx.tol, ctx.plan
    hours = sum(p.hours for p in ctx.periods)
    market_mean: dict[str, float] = defaultdict(float)
    for per in ctx.periods:
        total = 0.0
        for n in per.nodes:
            o, cost = ctx.offers.get(n.offer), ctx.node_cost(n, per)
            if o is None or cost is None:
                continue  # node_caps reports it
            where = f"period {per.name}: {n.offer}"
            trend = ctx.trend(o, per.epoch)
            price = o.price_usd_per_node_hour_effective * trend
            paid = n.count - o.owned_nodes
            if o.market == "reserved" and ctx.plan.commitments is not None and paid > 0:
                price = cost / paid  # the mean locked rate of the active commitments
            if not close(n.price_usd_per_node_hour, price, tol):
                ctx.log.fail(c, f"{where}: price {fmt(n.price_usd_per_node_hour)} USD/node-h stated, the offer "
                                 f"says {fmt(price)}")
            if not close(n.price_multiplier, trend, tol):
                ctx.log.fail(c, f"{where}: price_multiplier {fmt(n.price_multiplier)} stated, the forecast's "
                                 f"price trend gives {fmt(trend)}")
            if not close(n.usd_per_hour, cost, tol):
                ctx.log.fail(c, f"{where}: {fmt(n.usd_per_hour)} USD/h stated, {fmt(cost)} recomputed")
            total += cost
            market_mean[o.market] += per.hours * cost / hours
        if not close(per.usd_per_hour, total, tol):
            ctx.log.fail(c, f"period {per.name}: {fmt(per.usd_per_hour)} USD/h stated, node lines add up to "
                             f"{fmt(total)}")
    penalty = plan.cost.unmet_penalty_usd_per_hour
    if penalty < -tol or (penalty > tol and not ctx.allow_unmet):
        ctx.log.fail(c, f"unmet penalty {fmt(penalty)} USD/h"
                         + ("" if ctx.allow_unmet else " without --allow-unmet"))
    commitments = _commitment_costs(ctx, hours)
    objective = sum(market_mean.values()) + penalty + commitments
    if plan.objective_usd_per_hour is None:
        ctx.log.fail(c, f"no objective for a {plan.status} plan")
    elif not close(plan.objective_usd_per_hour, objective, tol):
        ctx.log.fail(c, f"objective {fmt(plan.objective_usd_per_hour)} USD/h stated, hour-weighted node cost + "
                         f"penalty + commitments' upfront and tail = {fmt(objective)}")
    stated = {"on_demand": plan.cost.on_demand_usd_per_hour, "spot": plan.cost.spot_usd_per_hour,
              "reserved": plan.cost.reserved_usd_per_hour}
    for market, v in stated.items():
        if not close(v, market_mean.get(market, 0.0), tol):
            ctx.log.fail(c, f"cost.{market}_usd_per_hour {fmt(v)} stated, {fmt(market_mean.get(market, 0.0))} "
                             "recomputed")
    stated_total = sum(stated.values()) + penalty + plan.cost.reserved_upfront_usd_per_hour + \
        plan.cost.reserved_tail_usd_per_hour
    if plan.objective_usd_per_hour is not None and not close(stated_total, plan.objective_usd_per_hour, tol):
        ctx.log.fail(c, f"cost breakdown adds up to {fmt(stated_total)}, objective is "
                         f"{fmt(plan.objective_usd_per_hour)}")
    _workload_lines(ctx, hours)


def _commitment_costs(ctx: Context, hours: float) -> float:
    """Check every commitment's rate, usd and tail; return (upfront + tail) / H, checked against plan.cost."""
    c, tol, plan = "costs_add_up", ctx.tol, ctx.plan
    upfront = tail = 0.0
    if plan.commitments is not None:
        fc, months = ctx.s.forecast, ctx.months()
        hpm = fc.hours_per_month if fc is not None else 0.0
        for e in range(len(months)):
            got = sum(p.hours for p in ctx.periods if p.epoch == e)
            if not close(got, hpm, tol):
                ctx.log.fail(c, f"month {months[e]}: periods add up to {fmt(got)} h, hours_per_month is {fmt(hpm)}")
        for k in plan.commitments:
            terms = ctx.commit_terms(k)
            if isinstance(terms, str):
                continue  # node_caps reports it
            rate, fee, _ = terms
            where = f"commitment {k.nodes} x {k.offer} from {k.start_month}"
            after = max(0, k.start_epoch + k.term_months - len(months)) * hpm
            want = {"usd_per_node_hour": rate, "upfront_usd_per_node": fee,
                    "usd": k.nodes * (fee + rate * k.term_months * hpm), "tail_usd": k.nodes * rate * after}
            for name, v in want.items():
                if not close(getattr(k, name), v, tol):
                    ctx.log.fail(c, f"{where}: {name} {fmt(getattr(k, name))} stated, {fmt(v)} recomputed")
            upfront += k.nodes * fee / hours
            tail += k.nodes * rate * after / hours
    for name, v in (("reserved_upfront", upfront), ("reserved_tail", tail)):
        got = getattr(plan.cost, f"{name}_usd_per_hour")
        if not close(got, v, tol):
            ctx.log.fail(c, f"cost.{name}_usd_per_hour {fmt(got)} stated, {fmt(v)} recomputed")
    return upfront + tail


def _workload_lines(ctx: Context, hours: float) -> None:
    c, tol = "costs_add_up", ctx.tol
    lines = {wl.id: wl for wl in ctx.plan.workloads}
    for w in ctx.s.workloads:
        wl = lines.get(w.id)
        if wl is None:
            ctx.log.fail(c, f"workloads[]: no line for {w.id}")
            continue
        mean = lambda f: sum(p.hours * f(p) for p in ctx.periods) / hours  # noqa: E731
        want = {"demand": mean(lambda p: p.demand_requests_per_min.get(w.id, 0.0)),
                "served": mean(lambda p: sum(r.assigned_requests_per_min for r in p.replicas
                                             if r.workload == w.id)),
                "unmet": mean(lambda p: p.unmet_requests_per_min.get(w.id, 0.0))}
        got = {"demand": wl.demand_requests_per_min, "served": wl.served_requests_per_min,
               "unmet": wl.unmet_requests_per_min}
        for k in want:
            if not close(got[k], want[k], tol):
                ctx.log.fail(c, f"workloads[{w.id}].{k}_requests_per_min {fmt(got[k])} stated, hour-weighted "
                                 f"mean over periods {fmt(want[k])}")
        out_tokens = sum(b.share * b.output_tokens for b in w.buckets)
        tokens_per_hour = wl.served_requests_per_min * 60.0 * out_tokens
        if wl.usd_per_million_output_tokens is not None and tokens_per_hour > 0:
            per_m = wl.usd_per_hour / tokens_per_hour * 1e6
            if not close(wl.usd_per_million_output_tokens, per_m, tol):
                ctx.log.fail(c, f"workloads[{w.id}].usd_per_million_output_tokens "
                                 f"{fmt(wl.usd_per_million_output_tokens)} stated, {fmt(per_m)} from its "
                                 "usd_per_hour and served tokens")
    extra = set(lines) - set(ctx.workloads)
    if extra:
        ctx.log.fail(c, f"workloads[]: unknown workloads {sorted(extra)}")
