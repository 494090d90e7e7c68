"""Hand-solved micro problems: the arithmetic is in each test; every installed backend must reproduce it."""

from __future__ import annotations

import pytest

from planner.errors import InfeasibleError
from planner.fleet.solve import SolveSettings, solve_scenario
from solvers.registry import available_backends
from tests.solve_helpers import mig_only, offer, override, scenario, workload

BACKENDS = [b for b in available_backends() if b != "cpsat"]  # cpsat cannot take continuous load variables


def solve(loaded, backend, **kw):
    return solve_scenario(loaded, SolveSettings(solver=backend, baselines=kw.pop("baselines", False), **kw))


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_single_offer_rounds_replicas_up(backend):
    # 120 req/min at 80 % of 40 req/min per L40S: 120 / 32 = 3.75 -> 4 replicas -> 4 x $0.91 = $3.64/h
    s = scenario([workload("chat", 120)], [offer("l40s", "l40s", 0.91)], [override("chat", "l40s", 40)])
    plan = solve(s, backend)
    assert plan.status == "optimal"
    assert plan.objective_usd_per_hour == pytest.approx(3.64)
    assert [(n.offer, n.count) for n in plan.nodes] == [("l40s", 4)]
    assert plan.verification.ok, plan.verification


def test_cheaper_per_request_wins_and_cap_forces_mix(backend):
    # L40S: $0.91 for 32 usable req/min; H100: $2.01 for 80 usable req/min. Demand 120.
    #   4 L40S = $3.64 (128); 2 H100 = $4.02 (160); 1 H100 + 2 L40S = $3.83 (144); 1 H100 + 1 L40S: 112 < 120.
    offers = [offer("l40s", "l40s", 0.91), offer("h100", "h100-sxm", 2.01)]
    ovs = [override("chat", "l40s", 40), override("chat", "h100-sxm", 100)]
    plan = solve(scenario([workload("chat", 120)], offers, ovs), backend)
    assert plan.objective_usd_per_hour == pytest.approx(3.64)
    # With at most 2 L40S nodes the optimum is 1 H100 + 2 L40S = $3.83.
    offers[0]["max_nodes"] = 2
    plan = solve(scenario([workload("chat", 120)], offers, ovs), backend)
    assert plan.objective_usd_per_hour == pytest.approx(3.83)
    assert sorted((n.offer, n.count) for n in plan.nodes) == [("h100", 1), ("l40s", 2)]
    assert plan.verification.ok


def test_owned_reserved_nodes_are_free(backend):
    # One owned 8xH100 node (sunk cost): 8 x 100 x 0.8 = 640 >= 120 req/min, so the fleet costs $0.
    offers = [offer("l40s", "l40s", 0.91),
              offer("h100-res", "h100-sxm", 1.40, market="reserved", gpus_per_node=8, owned_nodes=1, term_months=12)]
    ovs = [override("chat", "l40s", 40)] + [override("chat", "h100-sxm", 100, tp=t) for t in (1, 2, 4, 8)]
    plan = solve(scenario([workload("chat", 120)], offers, ovs), backend)
    assert plan.objective_usd_per_hour == pytest.approx(0.0)
    assert [(n.offer, n.count, n.owned, n.usd_per_hour) for n in plan.nodes] == [("h100-res", 1, 1, 0.0)]


def test_spot_counts_at_expected_availability(backend):
    # Spot L40S: 0.5 interruptions/h x 30 min recovery -> availability 1 - 0.25 = 0.75.
    # Usable per spot replica 40 x 0.8 x 0.75 = 24 -> 120 / 24 = 5 replicas x $0.41 = $2.05
    # (4 spot + 1 on-demand: 96 + 32 = 128 >= 120 costs 1.64 + 0.91 = $2.55; all on-demand $3.64).
    offers = [offer("l40s-od", "l40s", 0.91),
              offer("l40s-spot", "l40s", 0.41, market="spot", interruption_rate_per_hour=0.5, recovery_minutes=30)]
    # hedge off: expected capacity only (the pool-loss hedge is tested in tests/test_spot_hedge.py)
    plan = solve(scenario([workload("chat", 120)], offers, [override("chat", "l40s", 40)], spot={"hedge": False}),
                 backend)
    assert plan.objective_usd_per_hour == pytest.approx(2.05)
    assert [(n.offer, n.count) for n in plan.nodes] == [("l40s-spot", 5)]
    assert plan.replicas[0].availability == pytest.approx(0.75)


def test_size_mix_buckets_time_share_a_replica(backend):
    # Buckets 50/50 of 100 req/min; one replica serves 60 req/min of short or 20 of long requests.
    # Replica-fractions: 50/60 + 50/20 = 3.333 <= 0.8 r  ->  r >= 4.17  ->  5 replicas x $0.91 = $4.55.
    mix = [{"prompt_tokens": 500, "output_tokens": 100, "share": 0.5},
           {"prompt_tokens": 4000, "output_tokens": 500, "share": 0.5}]
    ovs = [override("rag", "l40s", 60, prompt_tokens=500, output_tokens=100),
           override("rag", "l40s", 20, prompt_tokens=4000, output_tokens=500)]
    s = scenario([workload("rag", 100, size_mix=mix)], [offer("l40s", "l40s", 0.91)], ovs)
    plan = solve(s, backend)
    assert plan.objective_usd_per_hour == pytest.approx(4.55)
    assert plan.replicas[0].count == 5


def test_tp_replicas_pack_into_nodes(backend):
    # 8-GPU H100 nodes at $2.01/GPU-h ($16.08/node). Capacity by TP: tp1 0, tp2 30, tp4 50, tp8 70 req/min.
    # Demand 96 at 80 %: need 120 usable-at-100 % -> 4 x tp2 = 120 on 8 GPUs = one node, $16.08.
    # Demand 100: need 125 -> 5 x tp2 (10 GPUs) or tp4 + 3 x tp2 ... all need 2 nodes = $32.16.
    ovs = [override("big", "h100-sxm", c, precision="fp8", tp=t) for t, c in ((1, 0), (2, 30), (4, 50), (8, 70))]
    offers = [offer("h100x8", "h100-sxm", 2.01, gpus_per_node=8)]
    for demand, cost in ((96, 16.08), (100, 32.16)):
        s = scenario([workload("big", demand, model="llama-3.1-70b", precisions=("fp8",))], offers, ovs)
        plan = solve(s, backend)
        assert plan.objective_usd_per_hour == pytest.approx(cost), demand
        assert plan.verification.ok


def test_three_4g_replicas_need_three_gpus(backend):
    # Three workloads that each need one 4g.40gb instance (8 req/min at 80 % of 10). A 4g instance only starts at
    # memory slice 0, so each needs its own GPU: 3 x $2.01 = $6.03 (the Σcompute<=7n surrogate would say 2 GPUs).
    ws = [workload(f"w{i}", 8) for i in range(3)]
    ovs = [o for i in range(3) for o in mig_only(f"w{i}", "h100-sxm", {"4g.40gb": 10})]
    s = scenario(ws, [offer("h100", "h100-sxm", 2.01, mig=True)], ovs)
    plan = solve(s, backend)
    assert plan.objective_usd_per_hour == pytest.approx(6.03)
    assert sum(p.gpus for p in plan.mig_partitions) == 3
    assert plan.verification.ok


def test_3g_and_4g_share_one_gpu(backend):
    # One workload needs a 4g, the other a 3g: 3g@4 + 4g@0 is valid since R510 -> one GPU, $2.01.
    ws = [workload("a", 8), workload("b", 8)]
    ovs = mig_only("a", "h100-sxm", {"4g.40gb": 10}) + mig_only("b", "h100-sxm", {"3g.40gb": 10})
    plan = solve(scenario(ws, [offer("h100", "h100-sxm", 2.01, mig=True)], ovs), backend)
    assert plan.objective_usd_per_hour == pytest.approx(2.01)
    (part,) = plan.mig_partitions
    assert sorted(part.pattern) == ["3g.40gb", "4g.40gb"] and part.gpus == 1


def test_min_replicas_and_budget(backend):
    # min_replicas 3 forces 3 L40S even though 1 serves 10 req/min: $2.73; a budget of $2.00 makes it infeasible.
    w = workload("chat", 10, min_replicas=3)
    plan = solve(scenario([w], [offer("l40s", "l40s", 0.91)], [override("chat", "l40s", 40)]), backend)
    assert plan.objective_usd_per_hour == pytest.approx(2.73)
    s = scenario([w], [offer("l40s", "l40s", 0.91)], [override("chat", "l40s", 40)], budget_usd_per_hour=2.0)
    with pytest.raises(InfeasibleError) as err:
        solve(s, backend)
    assert "budget" in " ".join(err.value.reasons)


def test_tie_break_prefers_fewer_gpus():
    # Two ways to pay $4.00/h: 4 GPUs at $1.00 (offer a) or 2 GPUs at $2.00 (offer b), each serving the demand
    # (capacity 25/GPU on a, 50/GPU on b at 80 %: demand 80 needs 4 x 20 or 2 x 40). The tie-break keeps b.
    offers = [offer("a", "l40s", 1.00), offer("b", "h100-sxm", 2.00)]
    ovs = [override("chat", "l40s", 25), override("chat", "h100-sxm", 50)]
    plan = solve(scenario([workload("chat", 80)], offers, ovs), "cbc")
    assert plan.objective_usd_per_hour == pytest.approx(4.0)
    assert [(n.offer, n.count) for n in plan.nodes] == [("b", 2)]


def test_no_deployment_fits_explains_memory():
    # Llama-3.1-405B in bf16 (~811 GB of weights) on single L40S nodes (48 GB): nothing fits.
    s = scenario([workload("huge", 10, model="llama-3.1-405b")], [offer("l40s", "l40s", 0.91)], [])
    with pytest.raises(InfeasibleError) as err:
        solve(s, "cbc")
    text = " ".join(err.value.reasons)
    assert "huge" in text and ("memory" in text or "fit" in text)


def test_caps_too_low_says_how_many_gpus():
    # 1000 req/min at 32 usable per L40S needs 32 GPUs; the offer caps it at 4.
    s = scenario([workload("chat", 1000)], [offer("l40s", "l40s", 0.91, max_nodes=4)], [override("chat", "l40s", 40)])
    with pytest.raises(InfeasibleError) as err:
        solve(s, "cbc")
    text = " ".join(err.value.reasons)
    assert "32 GPUs" in text and "4 GPUs" in text


def test_allow_unmet_reports_shortfall():
    # Same caps: 4 L40S serve 4 x 32 = 128 req/min; 872 req/min stay unmet and are reported.
    s = scenario([workload("chat", 1000)], [offer("l40s", "l40s", 0.91, max_nodes=4)], [override("chat", "l40s", 40)])
    plan = solve_scenario(s, SolveSettings(solver="cbc", allow_unmet=True, baselines=False))
    (w,) = plan.workloads
    # (LP feasibility tolerances leave ~1e-5 relative noise on continuous loads)
    assert w.served_requests_per_min == pytest.approx(128, rel=1e-4)
    assert w.unmet_requests_per_min == pytest.approx(872, rel=1e-4)
    assert plan.verification.ok
