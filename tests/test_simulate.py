"""planner.risk.simulate: analytic availabilities within sampling error, packing, periods, and plans at the target.

Sampling error of a time-average availability f over n up/down cycles: (1 - f) f / sqrt(n) (renewal-reward CLT,
up times exponential, down times fixed); tolerances are 4 of those, or stated where a count is rarer.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.plan import BucketLoad, NodeLine, PeriodPlan, Plan, ReplicaLine
from planner.scenario.io import LoadedScenario, load_scenario
from planner.risk.simulate import simulate_plan
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.fleet.hedge import with_spot_overrides
from tests.solve_helpers import offer, override, scenario, workload

ROOT = Path(__file__).resolve().parent.parent


def spot_scenario(n_offers=1, rate=0.5, recovery=30.0, share=0.0, pools=None, gpus_per_node=1, workloads=("w",)):
    offers = [offer(f"s{i}", "l40s", 0.3, market="spot", gpus_per_node=gpus_per_node, interruption_rate_per_hour=rate,
                    recovery_minutes=recovery, pool=(pools or [f"p{i}" for i in range(n_offers)])[i])
              for i in range(n_offers)]
    return scenario([workload(w, 10) for w in workloads], offers, [], spot={"pool_event_share": share}).scenario


def rep(offer_id, count, cap, load, workload="w", tp=1) -> ReplicaLine:
    return ReplicaLine(workload=workload, offer=offer_id, gpu="l40s", precision="bf16", tp=tp, mig_profile=None,
                       count=count, capacity_requests_per_min=cap, assigned_requests_per_min=load, utilization=0.5,
                       predicted_ttft_ms=1.0, predicted_tpot_ms=1.0,
                       buckets=(BucketLoad(prompt_tokens=1000, output_tokens=250, capacity_requests_per_min=cap,
                                           assigned_requests_per_min=load),))


def period(nodes: dict[str, int], reps: list[ReplicaLine], demand: dict[str, float], name="all", hours=1.0,
           gpus_per_node=1) -> PeriodPlan:
    lines = tuple(NodeLine(offer=o, gpu="l40s", market="spot", count=n, gpus=n * gpus_per_node, usd_per_hour=0.3 * n,
                           price_usd_per_node_hour=0.3) for o, n in nodes.items())
    return PeriodPlan(name=name, hours=hours, demand_requests_per_min=demand, nodes=lines, replicas=tuple(reps),
                      usd_per_hour=sum(x.usd_per_hour for x in lines))


def plan_of(*periods: PeriodPlan) -> Plan:
    top = periods[0]
    return Plan(scenario="test", status="optimal", objective_usd_per_hour=1.0, bound_usd_per_hour=1.0, gap=0.0,
                solver="hand", solve_seconds=0.0, target_utilization=0.8, nodes=top.nodes, replicas=top.replicas,
                periods=periods)


def tol(f: float, hours: float, rate: float, recovery_h: float) -> float:
    cycles = hours / (1 / rate + recovery_h)
    return 4 * max(f * (1 - f), 1e-3) / math.sqrt(cycles)


# --------------------------------------------------------------------------- analytic availabilities


@pytest.mark.parametrize("share", [0.0, 0.5])  # pool events keep a node's hazard at lambda: same availability
def test_single_node_matches_renewal_availability(share):
    # lambda 0.5/h, recovery 30 min: 1 / (1 + 0.25) = 0.8; demand 30 needs the one replica (40 req/min)
    s = spot_scenario(rate=0.5, recovery=30, share=share)
    p = plan_of(period({"s0": 1}, [rep("s0", 1, 40.0, 30.0)], {"w": 30.0}))
    sim = simulate_plan(p, s, hours=20_000, seed=3)
    assert sim.attainment == pytest.approx(0.8, abs=tol(0.8, 20_000, 0.5, 0.5))
    w = sim.workloads[0]
    # down means all 30 req/min unserved: unserved = (1 - attainment) x hours x 60 min x 30
    assert w.worst_shortfall_requests_per_min == pytest.approx(30.0) and w.worst_shortfall_pct == pytest.approx(100)
    assert w.unserved_requests == pytest.approx((1 - w.attainment) * 20_000 * 60 * 30, rel=1e-9)
    assert w.demand_requests == pytest.approx(20_000 * 60 * 30)


@pytest.mark.parametrize(("share", "expected"), [
    (0.0, 1 - 0.2 ** 2),  # independent nodes: lost only when both are down
    (1.0, 0.8),           # every reclaim is a pool event: the two nodes go down and come back together
])
def test_pool_events_correlate_nodes(share, expected):
    s = spot_scenario(n_offers=2, rate=0.5, recovery=30, share=share, pools=["p", "p"])
    p = plan_of(period({"s0": 1, "s1": 1}, [rep("s0", 1, 40.0, 15.0), rep("s1", 1, 40.0, 15.0)], {"w": 30.0}))
    sim = simulate_plan(p, s, hours=20_000, seed=5)
    assert sim.attainment == pytest.approx(expected, abs=tol(0.8, 20_000, 0.5, 0.5))


def test_three_of_five_nodes_binomial():
    # 0.3/h x 10 min: A = 1 / 1.05; demand 100 needs 3 replicas of 40 -> P(Bin(5, A) >= 3) = 0.99899
    a = 1 / 1.05
    want = sum(math.comb(5, i) * a ** i * (1 - a) ** (5 - i) for i in range(3, 6))
    s = spot_scenario(rate=0.3, recovery=10)
    p = plan_of(period({"s0": 5}, [rep("s0", 5, 40.0, 100.0)], {"w": 100.0}))
    sim = simulate_plan(p, s, hours=50_000, seed=11)
    assert sim.attainment == pytest.approx(want, abs=4e-4)  # ~50 h of failure in ~1000 short spells


def test_periods_cycle_through_the_plan():
    # 6 h needing both nodes (demand 60), 18 h needing one (30): 0.25 A^2 + 0.75 (1 - (1 - A)^2), A = 0.8
    s = spot_scenario(n_offers=2, rate=0.5, recovery=30)
    reps = [rep("s0", 1, 40.0, 15.0), rep("s1", 1, 40.0, 15.0)]
    p = plan_of(period({"s0": 1, "s1": 1}, reps, {"w": 60.0}, name="peak", hours=6),
                period({"s0": 1, "s1": 1}, reps, {"w": 30.0}, name="off", hours=18))
    sim = simulate_plan(p, s, hours=24_000, seed=2)
    assert sim.attainment == pytest.approx(0.25 * 0.64 + 0.75 * 0.96, abs=tol(0.8, 24_000, 0.5, 0.5))


def test_a_node_takes_all_its_replicas():
    # two 8-GPU nodes, 4 TP2 replicas each (first-fit fills node 0, then node 1); demand needs 5 replicas of 10:
    # both nodes must be up: A^2 = 0.64 (spreading replicas over nodes would give a different number)
    s = spot_scenario(rate=0.5, recovery=30, gpus_per_node=8)
    p = plan_of(period({"s0": 2}, [rep("s0", 8, 10.0, 45.0, tp=2)], {"w": 45.0}, gpus_per_node=8))
    sim = simulate_plan(p, s, hours=20_000, seed=4)
    assert sim.attainment == pytest.approx(0.64, abs=tol(0.8, 20_000, 0.5, 0.5))


def test_deterministic_for_a_seed():
    s = spot_scenario(n_offers=2, rate=0.5, recovery=30, share=0.3, pools=["p", "q"])
    p = plan_of(period({"s0": 2, "s1": 2}, [rep("s0", 2, 40.0, 40.0), rep("s1", 2, 40.0, 40.0)], {"w": 80.0}))
    a, b, c = (simulate_plan(p, s, hours=2_000, seed=x) for x in (7, 7, 8))
    assert a == b and a.fleet.attainment != c.fleet.attainment
    assert a.pool_events > 0 and a.reclaims > a.pool_events


def test_bad_inputs():
    s = spot_scenario()
    p = plan_of(period({"s0": 1}, [rep("s0", 1, 40.0, 30.0)], {"w": 30.0}))
    with pytest.raises(InputError, match="status is infeasible"):
        simulate_plan(p.model_copy(update={"status": "infeasible"}), s)
    with pytest.raises(InputError, match="offer 'zz'"):
        simulate_plan(plan_of(period({"zz": 1}, [rep("zz", 1, 40.0, 30.0)], {"w": 30.0})), s)


# --------------------------------------------------------------------------- plans made by the solver


def _hand_case(hedge: bool):
    # tests/test_spot_hedge.py: 0.3/h x 10 min, target 0.99 -> 5 spot nodes hedged, 4 on expected capacity alone
    offers = [offer("a", "l40s", 0.30, market="spot", interruption_rate_per_hour=0.3, recovery_minutes=10, pool="z"),
              offer("od", "l40s", 0.91)]
    return scenario([workload("chat", 100)], offers, [override("chat", "l40s", 40)],
                    spot={"pool_failures": 0, "pool_event_share": 0.0, "hedge": hedge})


def test_the_hedge_is_what_keeps_the_target():
    a = 1 / 1.05
    for hedge, n in ((True, 5), (False, 4)):
        loaded = _hand_case(hedge)
        plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False))
        assert {x.offer: x.count for x in plan.nodes} == {"a": n}
        sim = simulate_plan(plan, loaded.scenario, hours=50_000, seed=1)
        want = sum(math.comb(n, i) * a ** i * (1 - a) ** (n - i) for i in range(3, n + 1))  # 3 of n up
        assert sim.attainment == pytest.approx(want, abs=1e-3)
        assert (sim.attainment >= 0.99) == hedge  # 0.99899 hedged; 0.98724 on expected capacity alone


EXAMPLES = ["chatbot.yaml", "seed-guide.yaml", "spot-hedge.yaml"]  # the examples with spot offers


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_at_their_target(name):
    loaded = load_scenario(ROOT / "scenarios" / name)
    assert loaded.scenario.policy.spot.availability_target >= 0.99
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False))
    sim = simulate_plan(plan, loaded.scenario, hours=8_760, seed=1)
    assert sim.attainment >= 0.99, sim


def test_spot_hedge_at_a_high_rate_hedged_beats_unhedged():
    base = load_scenario(ROOT / "scenarios" / "spot-hedge.yaml")
    out = {}
    for hedge in (True, False):
        s = with_spot_overrides(base.scenario, interruption_rate=0.2)
        s = s.model_copy(update={"policy": s.policy.model_copy(
            update={"spot": s.policy.spot.model_copy(update={"hedge": hedge})})})
        loaded = LoadedScenario(path=base.path, scenario=s, catalog=base.catalog, raw=base.raw)
        plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False))
        out[hedge] = simulate_plan(plan, s, hours=20_000, seed=1).attainment
    assert out[True] >= 0.99 and out[True] > out[False], out
