"""Explain why no fleet can serve a scenario: which workload, and why, in words a user can act on.

Four kinds of reason, checked in this order for each workload:
1. no deployment option survives: every (offer, precision, TP, MIG) was dropped; we report the memory the model
   needs against the largest NVLink group (or slice) offered, or the best TTFT reachable against the SLO, or the
   precision refusals, from the reasons the options kept;
1b. options survive, but one request-size bucket (``size_mix``) has capacity 0 in every one of them: we name the
   bucket, the workload and the binding reason: its context exceeds the model's limit, every capacity override for
   it is 0, or the performance model's reason (memory, SLO) for that bucket on the options offered;
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


def _bucket_label(b) -> str:
    return f"bucket {b.prompt_tokens:,}+{b.output_tokens:,} tokens ({b.share:.4g} of its requests)"


def _override_blocks(w, b, deps, s: Scenario) -> bool:
    """True when every option of ``w`` is pinned to 0 for bucket ``b`` by a capacity override."""
    def pinned(d) -> bool:
        return any(ov.workload == w.id and ov.gpu == d.gpu and ov.precision == d.precision and ov.tp == d.tp
                   and ov.mig_profile == d.mig_profile and ov.requests_per_min == 0
                   and (ov.prompt_tokens is None or (ov.prompt_tokens, ov.output_tokens) ==
                        (b.prompt_tokens, b.output_tokens)) for ov in s.capacity_overrides)
    return bool(deps) and all(pinned(d) for d in deps)


def _bucket_why(w, bi: int, b, deps, s: Scenario, catalog) -> str:
    if _override_blocks(w, b, deps, s):
        return "every capacity override for it is 0 (capacity_overrides)"
    if catalog is None:
        from planner.catalog import Catalog  # noqa: PLC0415

        catalog = Catalog.builtin()
    try:
        model = catalog.model(w.model)
    except Exception:  # noqa: BLE001 - a model added by the scenario and no catalog given: generic reason below
        model = None
    context = w.context_for(b)
    if model is not None and context > model.max_context:
        return (f"its context of {context:,} tokens exceeds the {model.max_context:,}-token maximum of "
                f"{model.id}")
    reasons: dict[str, int] = {}
    if model is not None:
        from planner.perf.many import capacity_for_workload  # noqa: PLC0415 - perf is heavy

        for d in deps:
            try:
                est = capacity_for_workload(model, catalog.gpu(d.gpu), w, tp=d.tp, mig_profile=d.mig_profile,
                                            precision=d.precision, overrides=s.capacity_overrides)[bi]
            except Exception:  # noqa: BLE001 - the diagnosis must not fail; fall back to the generic reason
                continue
            if est.reason:
                reasons[est.reason] = reasons.get(est.reason, 0) + 1
    if reasons:
        top = max(reasons, key=reasons.get)
        return f"{top} (on {reasons[top]} of the {len(deps)} options offered)"
    return "every option offered has capacity 0 for it (memory or SLO)"


def bucket_reasons(s: Scenario, options: OptionSet, catalog=None) -> list[str]:
    """One reason per request-size bucket that no option can serve (capacity 0 in all), naming workload and bucket."""
    out = []
    for w in s.workloads:
        deps = options.for_workload(w.id)
        if not deps:
            continue
        for bi, b in enumerate(w.buckets):
            if b.share > 0 and not any(bi < len(d.capacity_rpm) and d.capacity_rpm[bi] > 0 for d in deps):
                out.append(f"workload '{w.id}', {_bucket_label(b)}: no option can serve it: "
                           f"{_bucket_why(w, bi, b, deps, s, catalog)}")
    return out


def explain_infeasible(s: Scenario, options: OptionSet, catalog=None) -> list[str]:
    """Reasons, one per workload (or request-size bucket) that cannot be served; a joint reason if each fits alone.

    ``catalog``: the scenario's resolved catalog (models it adds); the built-in one when not given.
    """
    reasons = []
    blocked = bucket_reasons(s, options, catalog)
    for w in s.workloads:
        if not options.for_workload(w.id):
            reasons.append(_no_option_reason(w.id, s, options))
            continue
        mine = [r for r in blocked if r.startswith(f"workload '{w.id}', ")]
        if mine:
            reasons.extend(mine)
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
    if not capped:
        return ("each workload can be served on its own, but not all together: no offer has max_nodes, so "
                "min_replicas, the budget or the spot policy cannot be met at once")
    return ("each workload can be served on its own, but not all together: the offers' max_nodes "
            f"({', '.join(capped)}) or min_replicas cannot be met at once")
