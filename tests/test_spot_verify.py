"""planner.verify.spot: hand-made plans verify; breaking one spot rule fails exactly that check; independence.

Plans are built with ``tests.test_verify.build_plan`` (totals kept consistent) on its micro scenario (chat,
120 req/min, 40 req/min per L40S replica, target utilisation 0.8) with spot offers added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from planner.fleet.options import Deployment
from planner.plan import ReplicaLine
from planner.fleet.hedge import replicas_per_node
from planner.verify import verify_plan
from planner.verify.spot import SPOT_CHECKS, _SpotVerifier
from tests.test_verify import LOADED, Per, Rep, build_plan, failing, loaded_with

ROOT = Path(__file__).resolve().parent.parent


def _spot_offer(oid: str, pool: str, rate: float = 0.0) -> dict:
    return {"id": oid, "gpu": "l40s", "market": "spot", "price_usd_per_gpu_hour": 0.30, "gpus_per_node": 1,
            "interruption_rate_per_hour": rate, "recovery_minutes": 10, "pool": pool}


def with_spot(offers: list[dict], **spot):
    def patch(data):
        data["offers"] += offers
        data["policy"]["spot"] = spot
    return loaded_with(patch)


def test_no_spot_offers_no_spot_checks():
    v = verify_plan(LOADED, build_plan(LOADED, [Per(nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 120.0)])]))
    assert not any(c.name in SPOT_CHECKS for c in v.checks)


def test_pool_loss():
    loaded = with_spot([_spot_offer("a", "zone-a"), _spot_offer("b", "zone-b")])
    # lose either pool: 3 replicas x 40 = 120 >= 0.8 x 120 = 96
    good = build_plan(loaded, [Per(nodes={"a": 3, "b": 3}, reps=[Rep("a", 3, 40.0, 60.0), Rep("b", 3, 40.0, 60.0)])])
    v = verify_plan(loaded, good)
    assert v.ok, [c for c in v.checks if not c.ok]
    assert [c.name for c in v.checks][-3:] == list(SPOT_CHECKS)
    # everything in pool a: losing it leaves nothing
    bad = build_plan(loaded, [Per(nodes={"a": 6}, reps=[Rep("a", 6, 40.0, 120.0)])])
    assert failing(verify_plan(loaded, bad)) == {"spot_pool_loss"}
    # 2 + 4: losing b leaves 2 x 40 = 80 < 96
    short = build_plan(loaded, [Per(nodes={"a": 2, "b": 4}, reps=[Rep("a", 2, 40.0, 40.0), Rep("b", 4, 40.0, 80.0)])])
    assert failing(verify_plan(loaded, short)) == {"spot_pool_loss"}
    # the same plan with hedge off only has to carry expected capacity
    off = with_spot([_spot_offer("a", "zone-a"), _spot_offer("b", "zone-b")], hedge=False)
    assert verify_plan(off, bad).ok


def test_non_spot_share():
    loaded = with_spot([_spot_offer("a", "zone-a")], hedge=False, min_non_spot_share=0.25)
    good = build_plan(loaded, [Per(nodes={"l40s-od": 1, "a": 3},
                                   reps=[Rep("l40s-od", 1, 40.0, 30.0), Rep("a", 3, 40.0, 90.0)])])
    assert verify_plan(loaded, good).ok
    bad = build_plan(loaded, [Per(nodes={"l40s-od": 1, "a": 4},
                                  reps=[Rep("l40s-od", 1, 40.0, 20.0), Rep("a", 4, 40.0, 100.0)])])
    assert failing(verify_plan(loaded, bad)) == {"spot_non_spot_share"}


def test_node_margin():
    # rate 0.3/h x 10 min: a = 0.95, q = 0.05; no pool events, no pool-loss hedge; eps 0.01 -> k(4) = k(5) = 2.
    loaded = with_spot([_spot_offer("a", "zone-a", rate=0.3)], pool_failures=0, pool_event_share=0.0)
    five = build_plan(loaded, [Per(nodes={"a": 5}, reps=[Rep("a", 5, 40.0, 120.0, availability=0.95)])])
    assert verify_plan(loaded, five).ok  # 5 - 2 = 3 replicas x 40 = 120
    four = build_plan(loaded, [Per(nodes={"a": 4}, reps=[Rep("a", 4, 40.0, 120.0, availability=0.95)])])
    assert failing(verify_plan(loaded, four)) == {"spot_availability_target"}  # 4 - 2 = 2 x 40 = 80 < 120


def test_pool_event_budget():
    # three pools, share 0.5: each pool is in an event 2.47 % of the time, the budget for unsurvived pool sets is
    # 0.32 %: a fleet that cannot survive losing its only spot pool fails; on-demand that can carry it passes.
    offers = [_spot_offer(f"s{i}", f"zone-{i}", rate=0.3) for i in range(3)]
    loaded = with_spot(offers, pool_failures=0, pool_event_share=0.5)
    alone = build_plan(loaded, [Per(nodes={"s0": 5}, reps=[Rep("s0", 5, 40.0, 120.0, availability=0.95)])])
    assert failing(verify_plan(loaded, alone)) == {"spot_availability_target"}
    reps = [Rep("s0", 2, 40.0, 60.0, availability=0.95), Rep("l40s-od", 3, 40.0, 60.0)]
    backed = build_plan(loaded, [Per(nodes={"s0": 2, "l40s-od": 3}, reps=reps)])
    v = verify_plan(loaded, backed)
    assert v.ok, [c for c in v.checks if not c.ok]


@pytest.mark.parametrize("profile", ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"])
def test_replicas_per_node_agree_with_the_verifier(profile):
    # instances per GPU: 1g 7, 1g2m 4, 2g 3, 3g 2, 4g 1, 7g 1; two GPUs per node
    loaded = loaded_with()
    per_gpu = {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1}[profile]
    cls = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb").index(profile)
    d = Deployment(index=0, workload="chat", offer="h100-mig", gpu="h100-sxm", precision="bf16", tp=1,
                   mig_profile=profile, capacity_rpm=(1.0,), ttft_ms=(1.0,), tpot_ms=(1.0,), availability=1.0,
                   price_usd_per_gpu_hour=1.0, mig_class=cls)
    r = ReplicaLine(workload="chat", offer="h100-mig", gpu="h100-sxm", precision="bf16", tp=1, mig_profile=profile,
                    count=1, capacity_requests_per_min=1.0, assigned_requests_per_min=0.0, utilization=0.0,
                    predicted_ttft_ms=1.0, predicted_tpot_ms=1.0)
    plan = build_plan(loaded, [Per(nodes={"l40s-od": 4}, reps=[Rep("l40s-od", 4, 40.0, 120.0)])])
    assert replicas_per_node(d, 2) == _SpotVerifier(loaded, plan, 1e-6).nu(r) == 2 * per_gpu


FORBIDDEN = ("planner.fleet", "planner.problem", "planner.catalog.mig", "planner.risk", "solvers")


def test_verify_spot_imports_nothing_of_the_formulation_or_the_spot_model():
    tree = ast.parse((ROOT / "planner" / "verify" / "spot.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{a.name}" for a in node.names)
    bad = sorted(n for n in names for f in FORBIDDEN if n == f or n.startswith(f + "."))
    assert not bad
