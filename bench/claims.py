"""The seed guides' claims as hypotheses, checked against fleetplan's capacity table and optimum.

For the ``seed-guide`` example (the guides' own offers, prices and workloads) this computes, per workload and GPU,
the cheapest on-demand USD/hour per request/min of capacity at the workload's SLOs (over precision, TP and MIG;
node price per GPU x GPUs a replica occupies, divided by rho x the share-weighted capacity; on-demand only, as the
guides' comparisons are), which GPU each
guide would pick, and which GPUs the optimum actually buys. Cost per capacity is what the guides' "tokens per
dollar" means once an SLO is attached; the optimum can still differ from the per-workload cheapest GPU because
nodes are bought whole and shared, min_replicas, and max_nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.scenario.io import LoadedScenario

from bench import baselines, stages


@dataclass
class WorkloadView:
    workload: str
    model: str
    requests_per_min: float
    ttft_slo_ms: float
    usd_per_rpm: dict[str, float]  # GPU -> cheapest USD/h per req/min of capacity (x100 in the table)
    guide_b: str
    guide_a: str
    chosen: str  # GPUs the optimum buys for this workload


def _usd_per_rpm(d, shares, rho: float) -> float:
    cap = sum(c * s for c, s in zip(d.capacity_rpm, shares))
    if any(c <= 0 for c, s in zip(d.capacity_rpm, shares) if s > 0) or cap <= 0:
        return float("inf")
    return d.price_usd_per_gpu_hour * d.gpu_share / (rho * d.availability * cap)


def workload_views(loaded: LoadedScenario, solver: str, time_limit_s: float) -> list[WorkloadView]:
    from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415

    s = loaded.scenario
    opts = stages.options(loaded)
    plan = solve_scenario(loaded, SolveSettings(solver=solver, time_limit_s=time_limit_s, baselines=False))
    chosen: dict[str, set[str]] = {}
    for line in plan.replicas:
        if line.count > 0:
            chosen.setdefault(line.workload, set()).add(
                f"{line.gpu}{' ' + line.mig_profile if line.mig_profile else ''} ×{line.count}")
    gb, ga = baselines.guide_b_offers(loaded), baselines.guide_a_offers(loaded)
    gpu_of = {o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}
    on_demand = {o.id for o in s.offers if o.market == "on_demand"}
    out = []
    for w in s.workloads:
        shares = [b.share for b in w.buckets]
        best: dict[str, float] = {}
        for d in opts.for_workload(w.id):
            if d.offer not in on_demand:
                continue
            v = _usd_per_rpm(d, shares, s.policy.target_utilization)
            if v < best.get(d.gpu, float("inf")):
                best[d.gpu] = v
        model = loaded.catalog.model(w.model)
        out.append(WorkloadView(
            w.id, model.id, w.requests_per_min, w.ttft_slo_ms, best,
            ", ".join(sorted({gpu_of[o] for o in gb[w.id]})) or "not offered",
            ", ".join(sorted({gpu_of[o] for o in ga[w.id]})) or "not offered",
            "; ".join(sorted(chosen.get(w.id, set()))) or "–"))
    return out


def views_table(views: list[WorkloadView]):
    gpus = sorted({g for v in views for g in v.usd_per_rpm})
    head = ["workload (model, req/min, TTFT SLO)"] + [f"{g}" for g in gpus] + \
        ["guide B picks", "guide A picks", "fleetplan buys"]
    body = []
    for v in views:
        cheapest = min(v.usd_per_rpm.values()) if v.usd_per_rpm else None
        cells = [f"{v.workload} ({v.model}, {v.requests_per_min:g}, {v.ttft_slo_ms:g} ms)"]
        for g in gpus:
            x = v.usd_per_rpm.get(g)
            if x is None or x == float("inf"):
                cells.append("cannot serve")
            else:
                cell = f"{100 * x:.2f}"
                cells.append(f"**{cell}**" if x == cheapest else cell)
        cells += [v.guide_b, v.guide_a, v.chosen]
        body.append(cells)
    return head, body


def _cmp(v: WorkloadView | None, a: str, b: str) -> tuple[float, float] | None:
    if v is None or a not in v.usd_per_rpm or b not in v.usd_per_rpm:
        return None
    x, y = v.usd_per_rpm[a], v.usd_per_rpm[b]
    return None if x == float("inf") or y == float("inf") else (x, y)


def claim_lines(views: list[WorkloadView], quality, summary: list[dict]) -> list[str]:
    """The guides' claims as hypotheses, each with the verdict the numbers of this run give (Markdown bullets)."""
    by = {v.workload: v for v in views}
    out = []
    pair = _cmp(by.get("chat-8b"), "l40s", "h100-sxm")
    if pair:
        l40s, h100 = pair
        verdict = "holds" if l40s <= h100 else "does not hold"
        out.append(
            f"- Guide A: \"two L40S GPUs for the same price [as one H100] ... serve 2× the throughput\"; \"horizontal "
            f"scaling with L40S often beats a single H100\". For the 8B chat endpoint ({by['chat-8b'].requests_per_min:g} "
            f"req/min, {by['chat-8b'].ttft_slo_ms:g} ms TTFT SLO), "
            f"capacity costs {100 * l40s:.2f} USD/h per 100 req/min on L40S and {100 * h100:.2f} on H100 SXM "
            f"(guide B's prices): the claim **{verdict}** here"
            + ("" if l40s <= h100 else f"; the H100 is {l40s / h100:.1f}× cheaper per unit of capacity, because "
               "at an SLO the L40S's 864 GB/s limits the batch it can run, and guide B's H100 price ($2.01) is "
               "below guide A's ($2.49–4.00)") + ".")
    pair = _cmp(by.get("llama-70b-fp8"), "h100-sxm", "h200")
    if pair:
        h100, h200 = pair
        verdict = "holds" if h100 <= h200 else "does not hold"
        out.append(
            f"- Guide B: \"the H100 on-demand delivers lower cost-per-token ($0.182/M) for standard 70B FP8 serving\" "
            f"than the H200. Llama-3.1-70B FP8 at a {by['llama-70b-fp8'].ttft_slo_ms:g} ms TTFT SLO: {100 * h100:.2f} "
            f"(H100 SXM) vs {100 * h200:.2f} "
            f"(H200) USD/h per 100 req/min: **{verdict}**.")
    small = [v for v in views if v.guide_b == "l40s"]
    for v in small:
        cheapest = min(v.usd_per_rpm, key=v.usd_per_rpm.get) if v.usd_per_rpm else None
        out.append(
            f"- Guide B: \"7B–13B, cost-sensitive endpoints: L40S\". {v.workload} ({v.model}, {v.requests_per_min:g} "
            f"req/min): cheapest on-demand capacity on {cheapest}; the optimum buys {v.chosen}. "
            + ("Agrees." if cheapest == "l40s" and v.chosen.startswith("l40s") else
               "Disagrees" + (f": per unit of capacity at this SLO the {cheapest} is cheaper than the L40S" if
                              cheapest != "l40s" else "") +
               "; and when demand is a fraction of one node, the bill is whole replicas and nodes, so the "
               "cheapest unit that meets the SLO wins, whatever its cost per capacity."))
    rows = {r["baseline"]: r for r in summary}
    gb = rows.get("guide B")
    gen = [q for q in quality if q.kind == "generated"]
    if gb and gb["n"]:
        na = sum(1 for q in gen for b in q.baselines if b.name.startswith("guide B") and b.usd_per_hour is None)
        out.append(
            f"- Guide B's decision table as a fleet policy: where it can be followed ({gb['n']} of {gb['of']} "
            f"generated scenarios; {na} not, because the GPU it names is not offered or its capped offers cannot "
            f"carry the demand), the optimum is {100 * gb['mean']:.0f} % cheaper on average (range "
            f"{100 * gb['min']:.0f}–{100 * gb['max']:.0f} %). The table picks by model size only; what it misses is "
            "traffic (a 1-replica workload should sit on the cheapest GPU that meets its SLO), the SLO itself, "
            "prices that differ from the guide's, node shapes, MIG, spot and reserved capacity.")
    ga = rows.get("guide A")
    if ga:
        inf = sum(1 for q in quality for b in q.baselines if b.name.startswith("guide A") and b.usd_per_hour is None)
        out.append(
            f"- Guide A's \"Recommended Setup by Scale\" picks by request rate only; it could not be followed in "
            f"{inf} of {len(quality)} scenarios (e.g. \"Small production / 10–100 req/min: Single L40S ... "
            "handles ... 70B in INT4\" — a 70B workload that accepts only FP8 does not fit one 48 GB L40S, and an "
            "RTX 4090 is often not offered)"
            + (f"; where it could, the optimum is {100 * ga['mean']:.0f} % cheaper on average." if ga["n"] else "."))
    return out
