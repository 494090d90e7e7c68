"""Read a solved ``Formulation`` back into a ``Plan`` (nodes, replicas, MIG partitions, costs per period).

Cost attribution to workloads (for ``workloads[].usd_per_hour``): each offer's cost in a period is shared among
the workloads by the GPU-equivalents their replicas occupy there (TP degree for whole GPUs, c/7 of a GPU for a
MIG instance of c compute slices); idle capacity is shared in the same proportion, so the workload costs add up
to the fleet cost.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import replace

import numpy as np
from pydantic import TypeAdapter

from planner.fleet.formulation import Formulation, fleet_cost, offer_costs
from planner.fleet.merge import normalise, split_replicas
from planner.fleet.options import OptionSet
from planner.plan import (BucketLoad, CommitmentLine, CostBreakdown, MigPartition, NodeLine, OptionLine, PeriodPlan,
                          Plan, ReplicaLine, WorkloadLine)
from planner.problem import Solution


def _round(x: float) -> float:
    return float(round(x, 9))


def _mean(xs) -> float:
    """``float(np.mean(xs))`` to the bit, without numpy's call where ``xs`` holds one or two floats (a workload of one
    or two buckets: most of an L scenario's deployments). For one or two values numpy's mean is (0 + x0) / 1 and
    (0 + x0 + x1) / 2, the same roundings (its sum starts from +0.0: the mean of ``[-0.0]`` is 0.0; checked against
    ``np.mean`` to the bit in ``tests/test_plan_build_mean.py``). ~10 µs a call saved; an L plan lists ~10,000."""
    n = len(xs)
    if n == 1:
        return float(0.0 + xs[0])
    if n == 2:
        return float((0.0 + xs[0] + xs[1]) / 2)
    return float(np.mean(xs))


def _maybe(p, x: np.ndarray, key: tuple) -> float:
    """Value of a variable that may not exist (no load variable where demand or capacity is 0)."""
    j = p.find(key)
    return 0.0 if j is None else float(x[j])


def _loaded_deployments(f: Formulation, x: np.ndarray, t: int) -> set[int]:
    """Deployments with a load variable above 1e-10 in period t (the others, without replicas, are skipped)."""
    p = f.problem
    cols = p.block_columns("load")
    hot = cols[x[cols] > 1e-10]
    return {p.var_key(int(j))[1] for j in hot if p.var_key(int(j))[3] == t}


def _projected_loads(f: Formulation, x: np.ndarray, t: int) -> dict[int, float]:
    """Loads of the one-bucket workloads whose load variables were projected out (``planner.fleet.formulation``,
    "Loads projected out"), by deployment: every replica of the workload at the same utilisation, unless the spot
    hedge's non-spot floor needs more on non-spot replicas (then phi x demand over those, the rest over spot)."""
    if not f.no_loads:
        return {}
    p, per = f.problem, f.horizon.periods[t]
    spot = {o.id for o in f.scenario.offers if o.market == "spot"}
    phi = f.scenario.policy.spot.min_non_spot_share if spot else 0.0
    groups: dict[str, tuple[list, list]] = {}  # workload -> (non-spot, spot) lists of (d, v_d r_d)
    for d in f.options.deployments:
        if d.workload not in f.no_loads or d.capacity_rpm[0] <= 0 or per.demand_rpm[d.workload] <= 0:
            continue
        r = int(round(float(x[p.index(("replicas", d.index, t))])))
        if r > 0:
            groups.setdefault(d.workload, ([], []))[d.offer in spot].append((d, f.capacity_per_replica(d) * r))
    out: dict[int, float] = {}
    for wid, (off_spot, on_spot) in groups.items():
        demand = per.demand_rpm[wid]
        n, s = sum(v for _, v in off_spot), sum(v for _, v in on_spot)
        carried = demand * n / (n + s)  # equal utilisation
        if phi > 0:
            carried = min(max(carried, phi * demand), n, demand)
        for part, amount in ((off_spot, carried), (on_spot, demand - carried)):
            total = sum(v for _, v in part)
            for d, v in part:
                out[d.index] = amount * v / total
    return out


def _period(f: Formulation, sol: Solution, t: int, gpu_ids: dict[str, str]) -> PeriodPlan:
    p, s, per = f.problem, f.scenario, f.horizon.periods[t]
    x = sol.values
    val = lambda key: float(x[p.index(key)])  # noqa: E731
    nodes = []
    costs = offer_costs(f, x, t)
    groups = f.merge.groups if f.merge else {}
    for o in s.offers:
        for m in groups.get(o.id, ()):  # a merged group: one line per real offer, counts from its segments
            count, price = int(round(val(("segment", m.id, t)))), m.price_usd_per_node_hour_effective
            if count:
                nodes.append(NodeLine(offer=m.id, gpu=gpu_ids[m.id], market=m.market, count=count,
                                      gpus=count * m.gpus_per_node,
                                      usd_per_hour=_round(count * price * per.price_multiplier(m.id)),
                                      owned=0, price_usd_per_node_hour=_round(price * per.price_multiplier(m.id)),
                                      price_multiplier=_round(per.price_multiplier(m.id))))
        if o.id in groups:
            continue
        price = o.price_usd_per_node_hour_effective * per.price_multiplier(o.id)
        if o.market == "reserved":
            new = int(round(val(("reserved", o.id, per.epoch))))
            count, cost = o.owned_nodes + new, costs.get(o.id, 0.0)
            if new and f.horizon.commitments is not None:
                price = cost / new  # the mean locked rate of the active commitments
        else:
            count = int(round(val(("nodes", o.id, t))))
            cost = count * price
        if count == 0:
            continue
        nodes.append(NodeLine(offer=o.id, gpu=gpu_ids[o.id], market=o.market, count=count,
                              gpus=count * o.gpus_per_node, usd_per_hour=_round(cost),
                              owned=o.owned_nodes if o.market == "reserved" else 0,
                              price_usd_per_node_hour=_round(price),
                              price_multiplier=_round(per.price_multiplier(o.id))))
    replicas = []
    by_id = {w.id: w for w in s.workloads}
    loaded = _loaded_deployments(f, x, t)
    projected = _projected_loads(f, x, t)
    split = split_replicas(f, x, t)
    for d in f.options.deployments:
        total = int(round(val(("replicas", d.index, t))))
        if total == 0 and d.index not in loaded:
            continue
        w = by_id[d.workload]
        if w.id in f.no_loads:
            merged = [_round(projected.get(d.index, 0.0))]
        else:
            merged = [_round(max(_maybe(p, x, ("load", d.index, b, t)), 0.0)) for b in range(len(w.buckets))]
        if total == 0 and sum(merged) <= 1e-9:
            continue
        parts = split.get(d.index) or [(d.offer, total)]
        left = list(merged)
        for i, (offer, count) in enumerate(parts):
            # a merged group's loads go with its replicas (``planner.fleet.merge``), the last part takes the rest
            amounts = left if i == len(parts) - 1 else [_round(a * count / total) for a in merged]
            left = [_round(a - b) for a, b in zip(left, amounts)]
            replicas.append(_replica_line(d, w, offer, count, amounts))
    partitions = []
    mig_offers = {d.offer for d in f.options.deployments if d.mig_profile}
    for o_id in sorted(mig_offers):
        profiles = _profiles_of(f, o_id)
        for k, pat in enumerate(f.patterns):
            n = int(round(val(("mig", o_id, k, t))))
            if n:
                names = [profiles[q] for q, c in enumerate(pat) for _ in range(c)]
                partitions.append(MigPartition(offer=o_id, pattern=tuple(names), gpus=n))
    usd = sum(n.usd_per_hour for n in nodes)
    unmet = {}
    if f.allow_unmet:
        for w in s.workloads:
            miss = sum(val(("unmet", w.id, b, t)) for b in range(len(w.buckets)))
            if miss > 1e-9:
                unmet[w.id] = _round(miss)
    return PeriodPlan(name=per.name, hours=per.hours, epoch=per.epoch, demand_requests_per_min=dict(per.demand_rpm),
                      nodes=tuple(nodes), replicas=tuple(replicas), mig_partitions=tuple(partitions),
                      usd_per_hour=_round(usd), unmet_requests_per_min=unmet)


def _replica_line(d, w, offer: str, count: int, amounts: list[float]) -> ReplicaLine:
    """One replica line: ``count`` replicas of deployment d on ``offer`` carrying ``amounts`` per bucket."""
    loads = [BucketLoad(prompt_tokens=bucket.prompt_tokens, output_tokens=bucket.output_tokens,
                        capacity_requests_per_min=_round(d.capacity_rpm[b]), assigned_requests_per_min=a)
             for b, (bucket, a) in enumerate(zip(w.buckets, amounts))]
    assigned = sum(bl.assigned_requests_per_min for bl in loads)
    shares = [b.share for b in w.buckets]
    used = sum(bl.assigned_requests_per_min / bl.capacity_requests_per_min
               for bl in loads if bl.capacity_requests_per_min > 0)
    cap = sum(sh * c for sh, c in zip(shares, d.capacity_rpm))
    mix = [bl.assigned_requests_per_min for bl in loads]
    weights = mix if sum(mix) > 0 else shares
    total_w = sum(wt for wt, c in zip(weights, d.capacity_rpm) if c > 0) or 1.0
    ttft = sum(wt * v for wt, v, c in zip(weights, d.ttft_ms, d.capacity_rpm) if c > 0) / total_w
    tpot = sum(wt * v for wt, v, c in zip(weights, d.tpot_ms, d.capacity_rpm) if c > 0) / total_w
    return ReplicaLine(
        workload=d.workload, offer=offer, gpu=d.gpu, precision=d.precision, tp=d.tp,
        mig_profile=d.mig_profile, count=count, capacity_requests_per_min=_round(cap),
        assigned_requests_per_min=_round(assigned),
        utilization=_round(used / (count * d.availability)) if count else 0.0,
        availability=_round(d.availability), predicted_ttft_ms=_round(ttft), predicted_tpot_ms=_round(tpot),
        buckets=tuple(loads), attention_dp=d.attention_dp, expert_parallel=d.expert_parallel)


def _deployment_key(f: Formulation, r: ReplicaLine) -> tuple:
    """``Deployment.key`` of the deployment a replica line comes from (a merged group's member: the group's)."""
    return r.key_on(f.merge.group_of.get(r.offer, r.offer) if f.merge else r.offer)


def _profiles_of(f: Formulation, offer_id: str) -> dict[int, str]:
    """Slot class -> concrete MIG profile name on the offer's GPU."""
    return dict(enumerate(f.options.mig_profiles[offer_id]))


def _workload_lines(f: Formulation, periods: list[PeriodPlan]) -> list[WorkloadLine]:
    s, H = f.scenario, f.horizon.total_hours
    cost = defaultdict(float)
    served = defaultdict(float)
    demand = defaultdict(float)
    unmet = defaultdict(float)
    share_of = {d.key: d.gpu_share for d in f.options.deployments}
    for per in periods:
        weight = per.hours / H
        use: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in per.replicas:
            share = share_of[_deployment_key(f, r)]
            use[r.offer][r.workload] += r.count * share
            served[r.workload] += weight * r.assigned_requests_per_min
        for n in per.nodes:
            total = sum(use[n.offer].values())
            for wid, g in use[n.offer].items():
                cost[wid] += weight * n.usd_per_hour * g / total
        for wid, v in per.demand_requests_per_min.items():
            demand[wid] += weight * v
        for wid, v in per.unmet_requests_per_min.items():
            unmet[wid] += weight * v
    lines = []
    for w in s.workloads:
        out_tokens = sum(b.share * b.output_tokens for b in w.buckets)
        tokens_per_hour = served[w.id] * 60.0 * out_tokens
        per_m = cost[w.id] / tokens_per_hour * 1e6 if tokens_per_hour > 0 else None
        lines.append(WorkloadLine(id=w.id, demand_requests_per_min=_round(demand[w.id]),
                                  served_requests_per_min=_round(served[w.id]),
                                  unmet_requests_per_min=_round(unmet[w.id]), usd_per_hour=_round(cost[w.id]),
                                  usd_per_million_output_tokens=None if per_m is None else _round(per_m)))
    return lines


def option_lines(f: Formulation, chosen: set[tuple[int, str]]) -> list[OptionLine]:
    """Every option considered: chosen ones ((deployment index, real offer) in ``chosen``), feasible
    alternatives, dominated and dropped with reasons. A merged group's deployment is listed once per real offer.
    (Validated construction, all lines in one call of pydantic's list validator: ``model_construct`` is pure Python and
    4x slower than the validator, and one call per line adds Python's call overhead to each of an L scenario's ~38,000.)"""
    rows = []
    groups = f.merge.groups if f.merge else {}
    workloads = {w.id: w for w in f.scenario.workloads}
    for d in f.options.deployments:
        w = workloads[d.workload]
        cap = _round(sum(b.share * c for b, c in zip(w.buckets, d.capacity_rpm)))
        ttft = _round(_mean(d.ttft_ms))
        gpus = d.tp if not d.mig_profile else None
        for member in groups.get(d.offer) or (None,):
            # a member of a merged group: its own id and price
            offer, price = ((d.offer, d.price_usd_per_gpu_hour) if member is None else
                            (member.id, member.price_usd_per_node_hour_effective / member.gpus_per_node))
            rows.append(dict(workload=d.workload, offer=offer, gpu=d.gpu, precision=d.precision, tp=d.tp,
                             mig_profile=d.mig_profile, state="chosen" if (d.index, offer) in chosen else "feasible",
                             capacity_requests_per_min=cap,
                             usd_per_hour_per_replica=None if gpus is None else _round(price * gpus),
                             predicted_ttft_ms=ttft, attention_dp=d.attention_dp, expert_parallel=d.expert_parallel))
    rows.extend(dict(workload=r.workload, offer=r.offer, gpu=r.gpu, precision=r.precision, tp=r.tp,
                     mig_profile=r.mig_profile, state=r.state, reason=r.reason, predicted_ttft_ms=r.best_ttft_ms,
                     attention_dp=r.attention_dp, expert_parallel=r.expert_parallel) for r in f.options.rejected)
    return _option_lines_adapter().validate_python(rows)


@functools.cache
def _option_lines_adapter() -> TypeAdapter:
    """pydantic's validator of a list of OptionLine (built on first use: start-up pays nothing for it)."""
    return TypeAdapter(list[OptionLine])


def _commitments(f: Formulation, x: np.ndarray) -> tuple[CommitmentLine, ...] | None:
    """The commitments signed (forecast), or None when the horizon has no commitment options (plan solve)."""
    if f.horizon.commitments is None:
        return None
    hours, out = f.horizon.epoch_hours, []
    for k, c in enumerate(f.horizon.commitments):
        for start in range(f.horizon.n_epochs):
            n = int(round(float(x[f.problem.index(("commit", c.offer, k, start))])))
            if n <= 0:
                continue
            rate, tail_h = c.usd_per_node_hour[start], c.tail_hours[start]
            term_h = sum(hours[start:start + c.term_epochs]) + tail_h
            out.append(CommitmentLine(offer=c.offer, option=c.option, nodes=n, start_epoch=start,
                                      start_month=f.horizon.epoch_names[start], term_months=c.term_epochs,
                                      usd_per_node_hour=_round(rate), upfront_usd_per_node=c.upfront_usd_per_node,
                                      usd=_round(n * (c.upfront_usd_per_node + rate * term_h)),
                                      tail_usd=_round(n * rate * tail_h)))
    return tuple(out)


def build_plan(f: Formulation, sol: Solution, *, gpu_ids: dict[str, str], tie_break: str = "") -> Plan:
    """Assemble the Plan from a solution with values (status optimal or feasible)."""
    T = f.horizon.periods
    if f.merge is not None:  # merged offers: the cheapest integral split of each group's nodes
        sol = replace(sol, values=normalise(f, sol.values))
    periods = [_period(f, sol, t, gpu_ids) for t in range(len(T))]
    peak = max(range(len(periods)), key=lambda t: (periods[t].usd_per_hour, -t))
    top = periods[peak]
    breakdown = fleet_cost(f, sol.values)
    chosen = _chosen(f, periods, f.options)
    return Plan(
        scenario=f.scenario.name, status=sol.status, objective_usd_per_hour=_round(sum(breakdown.values())),
        bound_usd_per_hour=None if sol.bound is None or not np.isfinite(sol.bound) else _round(sol.bound),
        gap=None if sol.gap is None or not np.isfinite(sol.gap) else _round(sol.gap),
        solver=sol.solver, solve_seconds=round(sol.solve_seconds, 4), message=sol.message,
        target_utilization=f.scenario.policy.target_utilization,
        nodes=top.nodes, replicas=top.replicas, mig_partitions=top.mig_partitions,
        workloads=tuple(_workload_lines(f, periods)),
        cost=CostBreakdown(on_demand_usd_per_hour=_round(breakdown.get("on_demand", 0.0)),
                           spot_usd_per_hour=_round(breakdown.get("spot", 0.0)),
                           reserved_usd_per_hour=_round(breakdown.get("reserved", 0.0)),
                           unmet_penalty_usd_per_hour=_round(breakdown.get("unmet_penalty", 0.0)),
                           reserved_upfront_usd_per_hour=_round(breakdown.get("reserved_upfront", 0.0)),
                           reserved_tail_usd_per_hour=_round(breakdown.get("reserved_tail", 0.0))),
        periods=tuple(periods), commitments=_commitments(f, sol.values), options=tuple(option_lines(f, chosen)),
        tie_break=tie_break,
        problem_size={"variables": f.problem.n_vars, "constraints": f.problem.n_rows,
                      "nonzeros": f.problem.n_nonzeros, "deployments": len(f.options.deployments),
                      "periods": len(T)})


def relist_options(plan: Plan, f: Formulation, options: OptionSet) -> Plan:
    """``plan``, decoded from f (a program over some of ``options``), with every option of ``options`` listed as
    ``option_lines`` lists them (chosen, feasible, rejected)."""
    chosen = _chosen(f, plan.periods, options)
    return plan.model_copy(update={"options": tuple(option_lines(replace(f, options=options), chosen))})


def _chosen(f: Formulation, periods, options: OptionSet) -> set[tuple[int, str]]:
    """(index in ``options``, real offer) of every deployment with replicas in some period of the plan."""
    index = {d.key: d.index for d in options.deployments}
    return {(index[_deployment_key(f, r)], r.offer) for per in periods for r in per.replicas if r.count > 0}
