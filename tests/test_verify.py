"""planner.verify: a hand-solved plan verifies; corrupting one field fails exactly the matching check.

Capacities come from ``capacity_overrides`` so every number here is known without the performance model
(the perf-backed tests at the end skip until ``planner.perf.estimate`` exists).
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.catalog.records import GpuSpec
from planner.plan import (BucketLoad, CostBreakdown, MigPartition, NodeLine, PeriodPlan, Plan, ReplicaLine,
                          WorkloadLine)
from planner.scenario.io import scenario_from_dict
from planner.verify import CHECKS, verify_plan
from planner.verify.geometry import MIG_CLASSES, MIG_GEOMETRY, mig_class, mig_classes_fit, mig_pattern_problem

ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- the micro scenario

BASE = {
    "name": "verify-micro",
    "policy": {"target_utilization": 0.8},
    "workloads": [{"id": "chat", "model": "llama-3.1-8b", "requests_per_min": 120,
                   "prompt_tokens": 1000, "output_tokens": 250, "ttft_slo_ms": 2000}],
    "offers": [
        {"id": "l40s-od", "gpu": "l40s", "market": "on_demand", "price_usd_per_gpu_hour": 0.91,
         "gpus_per_node": 1, "max_nodes": 10},
        # 2 H100s per node at 2.50/GPU-h = 5.00 USD per node-hour.
        {"id": "h100-mig", "gpu": "h100-sxm", "market": "on_demand", "price_usd_per_gpu_hour": 2.50,
         "gpus_per_node": 2, "max_nodes": 2, "mig": True},
    ],
    "capacity_overrides": [
        {"workload": "chat", "gpu": "l40s", "precision": "bf16", "tp": 1, "requests_per_min": 40},
        {"workload": "chat", "gpu": "h100-sxm", "precision": "bf16", "tp": 1, "mig_profile": "3g.40gb",
         "requests_per_min": 30},
        {"workload": "chat", "gpu": "h100-sxm", "precision": "bf16", "tp": 1, "mig_profile": "4g.40gb",
         "requests_per_min": 35},
    ],
}


def loaded_with(patch=None):
    data = copy.deepcopy(BASE)
    if patch:
        patch(data)
    return scenario_from_dict(data)


LOADED = loaded_with()

# The hand-solved optimum: 120 req/min / (40 x 0.8) = 3.75 -> 4 L40S replicas on 4 one-GPU nodes,
# 4 x 0.91 = 3.64 USD/h (MIG is dearer: a 5.00 USD node gives 2 x 3g = 60 req/min x 0.8 = 48 req/min).
GOOD_PLAN = Plan(
    scenario="verify-micro", status="optimal", objective_usd_per_hour=3.64, bound_usd_per_hour=3.64, gap=0.0,
    solver="hand", solve_seconds=0.0, target_utilization=0.8,
    nodes=(NodeLine(offer="l40s-od", gpu="l40s", market="on_demand", count=4, gpus=4, usd_per_hour=3.64,
                    owned=0, price_usd_per_node_hour=0.91),),
    replicas=(ReplicaLine(workload="chat", offer="l40s-od", gpu="l40s", precision="bf16", tp=1, mig_profile=None,
                          count=4, capacity_requests_per_min=40.0, assigned_requests_per_min=120.0,
                          utilization=0.75,  # 120 / 40 / 4 replicas
                          availability=1.0, predicted_ttft_ms=500.0, predicted_tpot_ms=20.0,
                          buckets=(BucketLoad(prompt_tokens=1000, output_tokens=250, capacity_requests_per_min=40.0,
                                              assigned_requests_per_min=120.0),)),),
    workloads=(WorkloadLine(id="chat", demand_requests_per_min=120.0, served_requests_per_min=120.0,
                            usd_per_hour=3.64,
                            # 120 req/min x 60 x 250 tokens = 1.8 M output tokens per hour
                            usd_per_million_output_tokens=3.64 / 1.8),),
    cost=CostBreakdown(on_demand_usd_per_hour=3.64),
)
GOOD_PLAN = GOOD_PLAN.model_copy(update={"periods": (PeriodPlan(
    name="all", hours=1.0, demand_requests_per_min={"chat": 120.0}, nodes=GOOD_PLAN.nodes,
    replicas=GOOD_PLAN.replicas, usd_per_hour=3.64),)})


# --------------------------------------------------------------------------- a plan builder (keeps totals consistent)


@dataclass
class Rep:
    offer: str
    count: int
    cap: tuple[float, ...] | float
    load: tuple[float, ...] | float
    tp: int = 1
    precision: str = "bf16"
    mig: str | None = None
    workload: str = "chat"
    availability: float = 1.0


@dataclass
class Per:
    nodes: dict[str, int]
    reps: list[Rep]
    parts: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)
    name: str = "all"
    hours: float = 1.0
    demand: dict[str, float] = field(default_factory=lambda: {"chat": 120.0})
    unmet: dict[str, float] = field(default_factory=dict)


def build_plan(loaded, periods: list[Per], *, status="optimal", gap=0.0, bound=None, penalty=0.0) -> Plan:
    """A plan whose derived fields (costs, utilisation, sums) are consistent with its fleet and loads."""
    s, cat = loaded.scenario, loaded.catalog
    out = []
    for p in periods:
        nodes = []
        for oid, count in p.nodes.items():
            o = s.offer(oid)
            price = o.price_usd_per_node_hour_effective
            paid = count - o.owned_nodes if o.market == "reserved" else count
            nodes.append(NodeLine(offer=oid, gpu=cat.gpu(o.gpu).id, market=o.market, count=count,
                                  gpus=count * o.gpus_per_node, usd_per_hour=paid * price, owned=o.owned_nodes,
                                  price_usd_per_node_hour=price))
        reps = []
        for r in p.reps:
            w = s.workload(r.workload)
            caps = r.cap if isinstance(r.cap, tuple) else (r.cap,)
            loads = r.load if isinstance(r.load, tuple) else (r.load,)
            used = sum(x / c for x, c in zip(loads, caps))
            reps.append(ReplicaLine(
                workload=r.workload, offer=r.offer, gpu=cat.gpu(s.offer(r.offer).gpu).id, precision=r.precision,
                tp=r.tp, mig_profile=r.mig, count=r.count,
                capacity_requests_per_min=sum(b.share * c for b, c in zip(w.buckets, caps)),
                assigned_requests_per_min=sum(loads), utilization=used / (r.count * r.availability),
                availability=r.availability, predicted_ttft_ms=500.0, predicted_tpot_ms=20.0,
                buckets=tuple(BucketLoad(prompt_tokens=b.prompt_tokens, output_tokens=b.output_tokens,
                                         capacity_requests_per_min=c, assigned_requests_per_min=x)
                              for b, c, x in zip(w.buckets, caps, loads))))
        parts = tuple(MigPartition(offer=o, pattern=pat, gpus=g) for o, pat, g in p.parts)
        out.append(PeriodPlan(name=p.name, hours=p.hours, demand_requests_per_min=dict(p.demand),
                              nodes=tuple(nodes), replicas=tuple(reps), mig_partitions=parts,
                              usd_per_hour=sum(n.usd_per_hour for n in nodes), unmet_requests_per_min=dict(p.unmet)))
    hours = sum(p.hours for p in out)
    mean = lambda f: sum(p.hours * f(p) for p in out) / hours  # noqa: E731
    market = {m: mean(lambda p: sum(n.usd_per_hour for n in p.nodes if n.market == m))
              for m in ("on_demand", "spot", "reserved")}
    objective = sum(market.values()) + penalty
    workloads = []
    for w in s.workloads:
        served = mean(lambda p: sum(r.assigned_requests_per_min for r in p.replicas if r.workload == w.id))
        usd = objective - penalty  # one workload in these scenarios carries the whole fleet
        tokens = served * 60 * sum(b.share * b.output_tokens for b in w.buckets)
        workloads.append(WorkloadLine(
            id=w.id, demand_requests_per_min=mean(lambda p: p.demand_requests_per_min[w.id]),
            served_requests_per_min=served,
            unmet_requests_per_min=mean(lambda p: p.unmet_requests_per_min.get(w.id, 0.0)),
            usd_per_hour=usd, usd_per_million_output_tokens=usd / tokens * 1e6 if tokens else None))
    peak = max(out, key=lambda p: p.usd_per_hour)
    return Plan(scenario=s.name, status=status, objective_usd_per_hour=objective,
                bound_usd_per_hour=objective if bound is None else bound, gap=gap, solver="hand", solve_seconds=0.0,
                target_utilization=s.policy.target_utilization, nodes=peak.nodes, replicas=peak.replicas,
                mig_partitions=peak.mig_partitions, workloads=tuple(workloads),
                cost=CostBreakdown(on_demand_usd_per_hour=market["on_demand"], spot_usd_per_hour=market["spot"],
                                   reserved_usd_per_hour=market["reserved"], unmet_penalty_usd_per_hour=penalty),
                periods=tuple(out))


def l40s_plan(nodes=4, count=4, cap=40.0, load=120.0, tp=1, precision="bf16", loaded=LOADED, **kw) -> Plan:
    return build_plan(loaded, [Per(nodes={"l40s-od": nodes}, reps=[Rep("l40s-od", count, cap, load, tp, precision)])],
                      **kw)


def mixed_plan(three_g=2, parts=(("3g.40gb", "3g.40gb"), ("4g.40gb",))) -> Plan:
    """A feasible (not optimal) MIG plan, 6.82 USD/h against the 3.64 optimum:
    one h100-mig node (2 GPUs, 5.00 USD/h): GPU 1 = 3g+3g, GPU 2 = 4g (one pattern line each);
    3g replicas 2 x 30 req/min, load 45 (45/60 = 0.75); 4g replica 35 req/min, load 25 (0.714);
    the rest, 120 - 45 - 25 = 50, on 2 L40S (50/80 = 0.625), 2 x 0.91 = 1.82 USD/h; total 6.82."""
    reps = [Rep("h100-mig", three_g, 30.0, 45.0, mig="3g.40gb"), Rep("h100-mig", 1, 35.0, 25.0, mig="4g.40gb"),
            Rep("l40s-od", 2, 40.0, 50.0)]
    per = Per(nodes={"l40s-od": 2, "h100-mig": 1}, reps=reps, parts=[("h100-mig", p, 1) for p in parts])
    return build_plan(LOADED, [per], status="feasible", bound=3.64, gap=(6.82 - 3.64) / 6.82)


def failing(v) -> set[str]:
    return {c.name for c in v.checks if not c.ok}


def _rounded(x):
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


# --------------------------------------------------------------------------- good plans


def test_hand_solved_plan_verifies():
    v = verify_plan(LOADED, GOOD_PLAN)
    assert v.ok, [c for c in v.checks if not c.ok]
    assert [c.name for c in v.checks] == list(CHECKS)


def test_builder_reproduces_the_hand_written_plan():
    # The mutation table relies on build_plan; it must agree with the hand arithmetic above.
    assert _rounded(l40s_plan().model_dump()) == _rounded(GOOD_PLAN.model_dump())


def test_mixed_mig_plan_verifies():
    v = verify_plan(LOADED, mixed_plan())
    assert v.ok, [c for c in v.checks if not c.ok]


def _edit_node(plan: Plan, **upd) -> Plan:
    node = plan.nodes[0].model_copy(update=upd)
    per = plan.periods[0].model_copy(update={"nodes": (node,) + plan.periods[0].nodes[1:]})
    return plan.model_copy(update={"nodes": per.nodes, "periods": (per,)})


def _with_budget(data):
    data["policy"]["budget_usd_per_hour"] = 3.0


def _node_of_four(data):
    data["offers"][0]["gpus_per_node"] = 4


def _min_replicas_5(data):
    data["workloads"][0]["min_replicas"] = 5


# id, scenario patch, plan factory, the one check that must fail
MUTATIONS = [
    # 4 TP1 replicas need 4 GPUs; 3 one-GPU nodes hold 3
    ("nodes-3", None, lambda: l40s_plan(nodes=3), "gpus_fit_nodes"),
    # 100 of 120 req/min assigned, nothing unmet
    ("load-lowered", None, lambda: l40s_plan(load=100.0), "demand_covered"),
    # the override says 40 req/min per L40S replica, the plan claims 50
    ("capacity-50", None, lambda: l40s_plan(cap=50.0), "capacity_matches_model"),
    # 120 / 40 = 3 replica-equivalents > 3 x 0.8 = 2.4
    ("replicas-3", None, lambda: l40s_plan(count=3), "capacity_respected"),
    # node price 1.00 stated, the offer sells at 0.91
    ("price", None, lambda: _edit_node(GOOD_PLAN, price_usd_per_node_hour=1.0), "costs_add_up"),
    # objective 3.65 instead of 4 x 0.91 = 3.64
    ("objective+0.01", None, lambda: GOOD_PLAN.model_copy(update={"objective_usd_per_hour": 3.65}), "costs_add_up"),
    # two 4g instances both need start 0 (memory slices 0-3)
    ("pattern-4g+4g", None, lambda: mixed_plan(parts=(("3g.40gb", "3g.40gb"), ("4g.40gb", "4g.40gb"))),
     "mig_patterns_valid"),
    # three 3g need 12 memory slices of 8
    ("pattern-3x3g", None, lambda: mixed_plan(parts=(("3g.40gb",) * 3, ("4g.40gb",))), "mig_patterns_valid"),
    # 3 replicas on 3g.40gb, the partitions provide 2 instances (45 / (3 x 30) = 0.5 is fine on capacity)
    ("mig-replicas>instances", None, lambda: mixed_plan(three_g=3), "mig_instances_cover_replicas"),
    # 11 nodes of l40s-od, max_nodes 10 (11 x 0.91 paid, so costs still add up)
    ("max-nodes", None, lambda: l40s_plan(nodes=11), "node_caps"),
    # TP 3 on a 4-GPU L40S node: not a power of two (fits the node; capacity 160 -> 120/160 = 0.75)
    ("tp-3", _node_of_four, lambda: l40s_plan(nodes=1, count=1, tp=3, cap=160.0, loaded=loaded_with(_node_of_four)),
     "deployment_valid"),
    # the workload allows bf16 only
    ("precision-fp8", None, lambda: l40s_plan(precision="fp8"), "deployment_valid"),
    # "optimal" with a 10 % gap while policy.mip_gap is 0
    ("optimal-gap-0.1", None, lambda: GOOD_PLAN.model_copy(update={"gap": 0.1}), "status_honest"),
    # the bound cannot exceed the objective of a minimisation
    ("bound>objective", None, lambda: GOOD_PLAN.model_copy(update={"bound_usd_per_hour": 3.7}), "status_honest"),
    # the same 3.64 USD/h fleet against a 3.00 USD/h budget
    ("budget", _with_budget, lambda: GOOD_PLAN, "budget"),
    # min_replicas 5, the plan runs 4
    ("min-replicas", _min_replicas_5, lambda: GOOD_PLAN, "min_replicas"),
]


@pytest.mark.parametrize("patch,make,check", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_fails_exactly_its_check(patch, make, check):
    loaded = loaded_with(patch) if patch else LOADED
    v = verify_plan(loaded, make())
    assert failing(v) == {check}, {c.name: c.detail for c in v.checks if not c.ok}
    assert not v.ok
    detail = next(c.detail for c in v.checks if c.name == check)
    assert "failure" in detail  # the detail names what failed


def test_unknown_status_fields_skip_but_infeasible_with_nodes_fails():
    empty = Plan(scenario="x", status="infeasible", objective_usd_per_hour=None, bound_usd_per_hour=None, gap=None,
                 solver="hand", solve_seconds=0.0, target_utilization=0.8)
    assert verify_plan(LOADED, empty).ok
    assert failing(verify_plan(LOADED, GOOD_PLAN.model_copy(update={"status": "infeasible"}))) == {"status_honest"}


def test_top_level_must_be_a_period():
    # replicas at the top level that no period has
    bad = GOOD_PLAN.model_copy(update={"replicas": ()})
    assert failing(verify_plan(LOADED, bad)) == {"top_level_is_a_period"}


# --------------------------------------------------------------------------- size mix: time-sharing


def _two_buckets(data):
    w = data["workloads"][0]
    del w["prompt_tokens"], w["output_tokens"]
    w["size_mix"] = [{"prompt_tokens": 1000, "output_tokens": 250, "share": 0.5},
                     {"prompt_tokens": 4000, "output_tokens": 500, "share": 0.5}]
    data["capacity_overrides"] = [
        {"workload": "chat", "gpu": "l40s", "precision": "bf16", "prompt_tokens": 1000, "output_tokens": 250,
         "requests_per_min": 40},
        {"workload": "chat", "gpu": "l40s", "precision": "bf16", "prompt_tokens": 4000, "output_tokens": 500,
         "requests_per_min": 20}]


def test_buckets_time_share_a_replica():
    loaded = loaded_with(_two_buckets)
    # 60 req/min per bucket: 60/40 + 60/20 = 4.5 replica-equivalents <= 6 x 0.8 = 4.8 -> 6 replicas.
    good = build_plan(loaded, [Per(nodes={"l40s-od": 6}, reps=[Rep("l40s-od", 6, (40.0, 20.0), (60.0, 60.0))])])
    assert good.replicas[0].capacity_requests_per_min == 30.0  # 0.5 x 40 + 0.5 x 20
    assert verify_plan(loaded, good).ok
    # 5 replicas pass each bucket on its own (60 <= 5x40x0.8, 60 <= 5x20x0.8) but 4.5 > 5 x 0.8 = 4.0 together.
    five = build_plan(loaded, [Per(nodes={"l40s-od": 5}, reps=[Rep("l40s-od", 5, (40.0, 20.0), (60.0, 60.0))])])
    assert failing(verify_plan(loaded, five)) == {"capacity_respected"}
    # a bucket-specific override beats a wrong claim on the other bucket only
    wrong = build_plan(loaded, [Per(nodes={"l40s-od": 6}, reps=[Rep("l40s-od", 6, (40.0, 25.0), (60.0, 60.0))])])
    assert failing(verify_plan(loaded, wrong)) == {"capacity_matches_model"}


# --------------------------------------------------------------------------- spot, reserved, unmet, periods


def _spot(data):
    data["offers"].append({"id": "l40s-spot", "gpu": "l40s", "market": "spot", "price_usd_per_gpu_hour": 0.40,
                           "interruption_rate_per_hour": 0.1, "recovery_minutes": 30})
    data["policy"]["spot"] = {"hedge": False}  # expected capacity only; the hedge checks: tests/test_spot_verify.py


def test_spot_availability():
    loaded = loaded_with(_spot)
    # availability = 1 - 0.1/h x 30/60 h = 0.95; 120/40 = 3 <= 4 x 0.8 x 0.95 = 3.04 -> 4 spot replicas, 1.60 USD/h
    good = build_plan(loaded, [Per(nodes={"l40s-spot": 4}, reps=[Rep("l40s-spot", 4, 40.0, 120.0, availability=0.95)])])
    assert verify_plan(loaded, good).ok
    assert good.cost.spot_usd_per_hour == pytest.approx(1.60)
    # claiming availability 1 fails the model check (and nothing else: 3 <= 3.2 still holds)
    claim = build_plan(loaded, [Per(nodes={"l40s-spot": 4}, reps=[Rep("l40s-spot", 4, 40.0, 120.0)])])
    assert failing(verify_plan(loaded, claim)) == {"capacity_matches_model"}


def _reserved(data):
    data["offers"].append({"id": "l40s-res", "gpu": "l40s", "market": "reserved", "price_usd_per_gpu_hour": 0.5,
                           "owned_nodes": 2, "max_nodes": 4})


def test_reserved_owned_nodes_are_free():
    loaded = loaded_with(_reserved)
    # 2 owned reserved L40S (sunk, 0 USD/h) + 2 on-demand (1.82 USD/h), 60 req/min each side (0.75)
    per = Per(nodes={"l40s-res": 2, "l40s-od": 2}, reps=[Rep("l40s-res", 2, 40.0, 60.0), Rep("l40s-od", 2, 40.0, 60.0)])
    good = build_plan(loaded, [per])
    assert good.objective_usd_per_hour == pytest.approx(1.82)
    assert verify_plan(loaded, good).ok
    # stating owned 0 on the reserved line is a lie about the commitment
    res = next(n for n in good.nodes if n.offer == "l40s-res")
    lied = tuple(n.model_copy(update={"owned": 0}) if n is res else n for n in good.nodes)
    bad = good.model_copy(update={"nodes": lied, "periods": (good.periods[0].model_copy(update={"nodes": lied}),)})
    assert failing(verify_plan(loaded, bad)) == {"node_caps"}
    # charging the owned nodes (2 x 0.5 = 1.00 USD/h) on the line
    charged = tuple(n.model_copy(update={"usd_per_hour": 1.0}) if n is res else n for n in good.nodes)
    bad = good.model_copy(update={"nodes": charged,
                                  "periods": (good.periods[0].model_copy(update={"nodes": charged}),)})
    assert failing(verify_plan(loaded, bad)) == {"costs_add_up"}


def test_unmet_only_with_allow_unmet():
    # 100 served + 20 unmet on 4 L40S (100/160 = 0.625), a penalty of 5 USD/h on top of 3.64
    plan = build_plan(LOADED, [Per(nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 100.0)], unmet={"chat": 20.0})],
                      penalty=5.0)
    assert plan.objective_usd_per_hour == pytest.approx(8.64)
    assert verify_plan(LOADED, plan, allow_unmet=True).ok
    assert failing(verify_plan(LOADED, plan)) == {"demand_covered", "costs_add_up"}


def _day_night(data):
    data["workloads"][0]["periods"] = [{"name": "day", "hours": 12, "requests_per_min": 120},
                                       {"name": "night", "hours": 12, "requests_per_min": 40}]


def _day_night_plan(loaded, night_demand=40.0):
    # day: 4 L40S (3.64 USD/h); night: 40/(40 x 0.8) = 1.25 -> 2 L40S (1.82 USD/h); mean (3.64 + 1.82)/2 = 2.73
    day = Per(name="day", hours=12, demand={"chat": 120.0}, nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 120.0)])
    night = Per(name="night", hours=12, demand={"chat": night_demand}, nodes={"l40s-od": 2},
                reps=[Rep("l40s-od", 2, 40.0, night_demand)])
    return build_plan(loaded, [day, night])


def test_periods():
    loaded = loaded_with(_day_night)
    plan = _day_night_plan(loaded)
    assert plan.objective_usd_per_hour == pytest.approx(2.73)
    assert plan.workloads[0].demand_requests_per_min == pytest.approx(80.0)
    assert verify_plan(loaded, plan).ok
    # top level must be the peak-cost period (day), not night
    night = plan.periods[1]
    swapped = plan.model_copy(update={"nodes": night.nodes, "replicas": night.replicas})
    assert failing(verify_plan(loaded, swapped)) == {"top_level_is_a_period"}
    # objective = the peak period's cost instead of the hour-weighted mean
    assert failing(verify_plan(loaded, plan.model_copy(update={"objective_usd_per_hour": 3.64}))) == {"costs_add_up"}
    # a plan that states (and serves) 30 req/min at night where the scenario says 40
    low = _day_night_plan(loaded, night_demand=30.0)
    assert "demand_covered" in failing(verify_plan(loaded, low))


def _profile(data):
    data["workloads"][0]["profile"] = {"hourly": [1.0] * 12 + [0.25] * 12}


def test_hourly_profile_demand():
    loaded = loaded_with(_profile)
    # h00-h11: 120 req/min on 4 L40S; h12-h23: 0.25 x 120 = 30 req/min -> 30/32 -> 1 L40S (0.75)
    pers = [Per(name=f"h{h:02d}", demand={"chat": 120.0}, nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 120.0)])
            for h in range(12)]
    pers += [Per(name=f"h{h:02d}", demand={"chat": 30.0}, nodes={"l40s-od": 1}, reps=[Rep("l40s-od", 1, 40.0, 30.0)])
             for h in range(12, 24)]
    assert verify_plan(loaded, build_plan(loaded, pers)).ok
    # h05 states (and serves) 60 req/min where the profile gives 120
    pers[5] = Per(name="h05", demand={"chat": 60.0}, nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 60.0)])
    v = verify_plan(loaded, build_plan(loaded, pers))
    assert failing(v) == {"demand_covered"}
    assert "h05" in next(c.detail for c in v.checks if c.name == "demand_covered")


# --------------------------------------------------------------------------- MIG placement (own search)

H100 = Catalog.builtin().gpu("h100-sxm")

MIG_CASES = [
    (["7g.80gb"], True),                                   # the whole GPU
    (["3g.40gb", "4g.40gb"], True),                        # 4g@0 + 3g@4: all 7 compute slices
    (["3g.40gb", "3g.40gb"], True),                        # 3g@0 + 3g@4, compute slice 3 stranded
    (["3g.40gb"] * 3, False),                              # 12 memory slices of 8
    (["1g.10gb"] * 7, True),                               # starts 0..6; memory slice 7 unusable
    (["1g.10gb"] * 8, False),                              # no 1g start at 7
    (["2g.20gb"] * 3 + ["1g.10gb"], True),                 # 2g@0,2,4 + 1g@6
    (["4g.40gb", "2g.20gb", "1g.10gb"], True),             # 4g@0, 2g@4, 1g@6
    (["4g.40gb", "4g.40gb"], False),                       # 4g only at start 0
    (["1g.20gb"] * 4, True),                               # 1g-2x-memory at 0,2,4,6
    (["1g.20gb"] * 4 + ["1g.10gb"], False),                # all 8 memory slices taken
    (["7g.80gb", "1g.10gb"], False),                       # 7g takes all 8 slices
    (["2g.20gb"] * 3 + ["1g.20gb"], True),                 # 1g-2x-memory at 6
    (["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"], True),  # 2g@0, 1g@2, 1g@3, 3g@4
]


@pytest.mark.parametrize("pattern,ok", MIG_CASES, ids=["+".join(p) for p, _ in MIG_CASES])
def test_mig_placement(pattern, ok):
    assert (mig_pattern_problem(H100, pattern) is None) == ok


def test_mig_unknown_profile_is_invalid():
    assert "not a MIG profile" in mig_pattern_problem(H100, ["3g.20gb"])  # an A100-40GB name


def test_mig_search_matches_the_reference_counts():
    # reference/mig.md section 3: 77 distinct non-empty profile multisets fit one GPU.
    fits = set()
    for counts in itertools.product(range(8), range(5), range(4), range(3), range(2), range(2)):
        classes = [c for c, n in zip(MIG_CLASSES, counts) for _ in range(n)]
        if classes and mig_classes_fit(classes):
            fits.add(tuple(counts))
    assert len(fits) == 77
    # 28 of them admit no further instance in any placement (multiset-maximal); the reference's "38 maximal"
    # counts multisets having *some* placement where nothing more fits (placement-maximal), checked below.
    grown = lambda m, i: tuple(x + (i == j) for j, x in enumerate(m))  # noqa: E731
    assert sum(not any(grown(m, i) in fits for i in range(6)) for m in fits) == 28


def test_mig_geometry_matches_the_reference_layout_counts():
    # 722 placement layouts, 77 multisets, 38 of them with a layout where no further instance fits.
    places = [(c, s) for c in MIG_CLASSES for s in MIG_GEOMETRY[c][1]]
    mask = lambda c, s: ((1 << MIG_GEOMETRY[c][0]) - 1) << s  # noqa: E731
    layouts = []

    def grow(first, used, layout):
        if layout:
            layouts.append((layout, used))
        for i in range(first, len(places)):
            c, s = places[i]
            if s + MIG_GEOMETRY[c][0] <= 8 and not used & mask(c, s):
                grow(i + 1, used | mask(c, s), layout + [c])

    grow(0, 0, [])
    multisets = {tuple(sorted(lay)) for lay, _ in layouts}
    full = {tuple(sorted(lay)) for lay, used in layouts if all(used & mask(c, s) for c, s in places)}
    assert (len(layouts), len(multisets), len(full)) == (722, 77, 38)
    assert all(mig_classes_fit(m) for m in multisets)


def test_mig_class_by_slot_and_by_name():
    a100_40 = Catalog.builtin().gpu("a100-40gb")
    assert mig_class(a100_40, "1g.10gb") == "1g2m"  # on a 40 GB card 1g.10gb takes 2 memory slices
    # GB200 lacks 1g2m and 4g: the catalog leaves those slots empty ("" is never a profile)
    gb200 = H100.model_copy(update={"id": "gb200", "mig_profiles": ("1g.24gb", "", "2g.47gb", "3g.95gb", "",
                                                                    "7g.189gb")})
    assert [mig_class(gb200, p) for p in gb200.mig_profiles] == ["1g", None, "2g", "3g", None, "7g"]
    assert mig_pattern_problem(gb200, ["2g.47gb", "2g.47gb", "3g.95gb"]) is None  # 2g@0, 2g@2, 3g@4
    assert mig_pattern_problem(gb200, [""]) is not None
    # a short tuple falls back to the name: compute prefix and memory relative to 7g
    short = H100.model_copy(update={"mig_profiles": ("1g.24gb", "2g.47gb", "3g.95gb", "7g.189gb")})
    assert [mig_class(short, p) for p in short.mig_profiles] == ["1g", "2g", "3g", "7g"]
    # generic slot names are not profile names of a GPU
    assert "not a MIG profile" in mig_pattern_problem(H100, ["3g.40gb", "4g"])
    assert isinstance(gb200, GpuSpec)


# --------------------------------------------------------------------------- independence


FORBIDDEN = ("planner.fleet", "planner.problem", "planner.catalog.mig", "solvers")


def test_verify_imports_nothing_of_the_formulation():
    files = sorted((ROOT / "planner" / "verify").glob("*.py"))
    assert len(files) >= 8  # the package, not a stale single module
    names = set()
    for node in (n for f in files for n in ast.walk(ast.parse(f.read_text(encoding="utf-8")))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    bad = sorted(n for n in names for f in FORBIDDEN if n == f or n.startswith(f + "."))
    assert not bad


# --------------------------------------------------------------------------- perf-backed capacities


def _no_overrides(data):
    data["capacity_overrides"] = []
    data["offers"][0]["max_nodes"] = None


def test_capacity_from_the_performance_model():
    perf = pytest.importorskip("planner.perf.many")
    loaded = loaded_with(_no_overrides)
    cat = loaded.catalog
    w = loaded.scenario.workload("chat")
    est = perf.capacity_for_workload(cat.model("llama-3.1-8b"), cat.gpu("l40s"), w, tp=1, mig_profile=None,
                                     precision="bf16", calibration=None, overrides=())
    cap = est[0].requests_per_min
    assert cap > 0
    n = math.ceil(120 / (cap * 0.8)) + 1  # enough replicas, whatever the model says
    plan = build_plan(loaded, [Per(nodes={"l40s-od": n}, reps=[Rep("l40s-od", n, cap, 120.0)])])
    assert verify_plan(loaded, plan).ok, [c for c in verify_plan(loaded, plan).checks if not c.ok]
    # claiming 10 % more than the model gives fails
    plan = build_plan(loaded, [Per(nodes={"l40s-od": n}, reps=[Rep("l40s-od", n, cap * 1.1, 120.0)])])
    assert failing(verify_plan(loaded, plan)) == {"capacity_matches_model"}


# --------------------------------------------------------------------------- property: the replica count boundary


@settings(max_examples=40, deadline=None)
@given(demand=st.integers(1, 2000), extra=st.integers(0, 3))
def test_enough_replicas_verify_and_one_fewer_does_not(demand, extra):
    loaded = loaded_with(lambda d: (d["workloads"][0].update(requests_per_min=demand),
                                    d["offers"][0].update(max_nodes=None)))
    need = math.ceil(demand / (40 * 0.8) - 1e-9)  # smallest n with demand <= n x 40 x 0.8
    n = need + extra
    plan = build_plan(loaded, [Per(nodes={"l40s-od": n}, reps=[Rep("l40s-od", n, 40.0, float(demand))],
                                   demand={"chat": float(demand)})])
    assert verify_plan(loaded, plan).ok
    if need > 1:
        fewer = build_plan(loaded, [Per(nodes={"l40s-od": need - 1},
                                        reps=[Rep("l40s-od", need - 1, 40.0, float(demand))],
                                        demand={"chat": float(demand)})])
        assert failing(verify_plan(loaded, fewer)) == {"capacity_respected"}
