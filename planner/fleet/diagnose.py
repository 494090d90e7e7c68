"""Explain why no fleet can serve a scenario: which workload, and why, in words a user can act on.

Three kinds of reason, checked in this order for each workload:
1. no deployment option survives: every (offer, precision, TP, MIG) was dropped; we report the memory the model
   needs against the largest NVLink group (or slice) offered, or the best TTFT reachable against the SLO, or the
   precision refusals, from the reasons the options kept;
2. availability caps: even using every capped node of every offer for this workload alone, its demand at
   ``target_utilization`` cannot be met; we say how many GPUs it needs of its best option and how many are offered;
3. otherwise the workloads fit one by one but not together (shared caps, ``min_replicas``, or the budget).
"""

from __future__ import annotations

import math

from planner.fleet.options import OptionSet
from planner.scenario.model import Scenario


def _no_option_reason(wid: str, s: Scenario, options: OptionSet) -> str:
    rejected = options.rejected_for(wid)
    if not rejected:
        return f"workload '{wid}': no offer could host any deployment (no options enumerated)"
    memory = [r for r in rejected if "fit" in r.reason.lower() or "memory" in r.reason.lower()]
    slo = [r for r in rejected if "slo" in r.reason.lower()]
    w = s.workload(wid)
    if slo:
        best = min((r for r in slo if r.best_ttft_ms is not None), key=lambda r: r.best_ttft_ms, default=None)
        if best is not None:
            where = f"{best.gpu} {best.precision} TP{best.tp}" + (f" MIG {best.mig_profile}" if best.mig_profile else "")
            return (f"workload '{wid}': TTFT SLO {w.ttft_slo_ms:g} ms is unreachable; the best TTFT possible is "
                    f"{best.best_ttft_ms:.0f} ms ({where} on offer '{best.offer}')")
        return f"workload '{wid}': {slo[0].reason}"
    if memory and len(memory) == len(rejected):
        biggest = max(memory, key=lambda r: r.tp)
        return (f"workload '{wid}' ({w.model}): no deployment fits memory; e.g. {biggest.gpu} "
                f"{biggest.precision} TP{biggest.tp}: {biggest.reason}")
    reasons = sorted({r.reason for r in rejected})
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    return f"workload '{wid}': every option was dropped: {shown}"


def _cap_reason(wid: str, s: Scenario, options: OptionSet) -> str | None:
    """Max requests/min servable by this workload alone under the offers' max_nodes; None if unbounded/enough."""
    w = s.workload(wid)
    rho = s.policy.target_utilization
    deps = options.for_workload(wid)
    offers = {o.id: o for o in s.offers}
    total, best = 0.0, None
    for o_id in sorted({d.offer for d in deps}):
        o = offers[o_id]
        per_gpu = max(
            (sum(b.share * c for b, c in zip(w.buckets, d.capacity_rpm)) * d.availability * rho
             / d.gpu_share) for d in deps if d.offer == o_id)
        if best is None or per_gpu > best[1]:
            best = (o, per_gpu)
        if o.max_nodes is None:
            return None
        total += per_gpu * o.max_nodes * o.gpus_per_node
    peak = w.requests_per_min
    if w.profile is not None:
        peak *= max(w.profile.hourly)
    if w.periods is not None:
        peak = max(p.requests_per_min for p in w.periods)
    if total + 1e-9 >= peak or best is None:
        return None
    o, per_gpu = best
    need = math.ceil(peak / per_gpu) if per_gpu > 0 else 0
    offered = sum((offers[i].max_nodes or 0) * offers[i].gpus_per_node for i in {d.offer for d in deps})
    return (f"workload '{wid}': availability caps are too low: {peak:g} req/min needs about {need} GPUs of "
            f"{o.gpu} (its best option, {per_gpu:.1f} req/min per GPU at {rho:.0%} utilisation); "
            f"the offers that can serve it have {offered} GPUs in all")


def explain_infeasible(s: Scenario, options: OptionSet) -> list[str]:
    """Reasons, one per workload that cannot be served; a joint reason if each fits alone."""
    reasons = []
    for w in s.workloads:
        if not options.for_workload(w.id):
            reasons.append(_no_option_reason(w.id, s, options))
            continue
        cap = _cap_reason(w.id, s, options)
        if cap:
            reasons.append(cap)
    return reasons


def joint_reason(s: Scenario, min_cost_without_budget: float | None) -> str:
    if s.policy.budget_usd_per_hour is not None and min_cost_without_budget is not None:
        return (f"the budget of {s.policy.budget_usd_per_hour:g} USD/hour is below the cheapest fleet that "
                f"serves all demand ({min_cost_without_budget:.2f} USD/hour)")
    capped = [o.id for o in s.offers if o.max_nodes is not None]
    return ("each workload can be served on its own, but not all together: the offers' max_nodes "
            f"({', '.join(capped) or 'none'}) or min_replicas cannot be met at once")
