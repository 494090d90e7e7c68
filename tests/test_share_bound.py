"""The closed-form lower bound of ``planner.fleet.share_bound``: by hand, and never above a proven optimum."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.share_bound import share_bound
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload
from tests.test_solve_oracle import brute_force, random_case

FAST = SolveSettings(solver="highs", baselines=False, tie_break=False)


def _bound(loaded, allow_unmet: bool = False) -> float | None:
    s = loaded.scenario
    return share_bound(s, enumerate_options(loaded), horizon_for(s), allow_unmet)


def _only_tp1(wid: str, gpu: str, rpm: float, **bucket) -> list[dict]:
    """tp 1 serves at ``rpm``; tp 2, 4 and 8 are overridden to 0 so the perf model adds no option."""
    return [override(wid, gpu, rpm, **bucket)] + [override(wid, gpu, 0.0, tp=t, **bucket) for t in (2, 4, 8)]


def test_one_workload_on_an_eight_gpu_node_by_hand():
    # 100 requests/min, 30 per 1-GPU replica at rho 0.8 (24 carried): 100 / 24 = 4.1667 replicas' worth of GPU,
    # 2 USD per GPU-hour (16 per 8-GPU node): 8.333 USD/h; the optimum buys the whole node (5 replicas): 16
    loaded = scenario([workload("w", 100)], [offer("n8", "l40s", 2.0, gpus_per_node=8)], _only_tp1("w", "l40s", 30))
    assert _bound(loaded) == pytest.approx(100 / 24 * 2.0, rel=1e-9)
    plan = solve_scenario(loaded, FAST)
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(16.0)


def test_min_replicas_and_the_cheapest_gpu_per_request_by_hand():
    # a: 1 GPU of l4 at 1 USD serves 10/min -> 1 / (0.8 x 10) = 0.125 USD/h per request/min;
    # b: 1 GPU of l40s at 3 USD serves 60/min -> 3 / 48 = 0.0625, the cheaper per request: 20/min cost 1.25 USD/h,
    # but 3 replicas must run, each at least 1 USD/h (the cheapest replica, a): 3 USD/h
    offers = [offer("a", "l4", 1.0), offer("b", "l40s", 3.0)]
    caps = _only_tp1("w", "l4", 10) + _only_tp1("w", "l40s", 60)
    assert _bound(scenario([workload("w", 20, min_replicas=0)], offers, caps)) == pytest.approx(20 * 3 / 48)
    assert _bound(scenario([workload("w", 20, min_replicas=3)], offers, caps)) == pytest.approx(3.0)


def test_buckets_are_priced_each_at_their_own_cheapest_deployment_by_hand():
    # half the 40/min are short prompts (l4: 40/min per GPU, l40s: 50) and half long ones (l4: 5, l40s: 40); l4
    # costs 1 USD per GPU-hour, l40s 2; rho 1: short on l4 at 1/40 and long on l40s at 2/40 USD/h per request/min
    mix = [{"prompt_tokens": 100, "output_tokens": 100, "share": 0.5},
           {"prompt_tokens": 4000, "output_tokens": 100, "share": 0.5}]
    short, long_ = dict(prompt_tokens=100, output_tokens=100), dict(prompt_tokens=4000, output_tokens=100)
    caps = (_only_tp1("w", "l4", 40, **short) + _only_tp1("w", "l4", 5, **long_)
            + _only_tp1("w", "l40s", 50, **short) + _only_tp1("w", "l40s", 40, **long_))
    loaded = scenario([workload("w", 40, size_mix=mix)], [offer("a", "l4", 1.0), offer("b", "l40s", 2.0)], caps,
                      target_utilization=1.0)
    assert _bound(loaded) == pytest.approx(20 * 1 / 40 + 20 * 2 / 40)
    plan = solve_scenario(loaded, FAST)
    assert plan.status == "optimal" and plan.objective_usd_per_hour >= _bound(loaded) - 1e-9


def test_owned_nodes_cost_nothing_and_unmet_demand_gives_no_bound():
    caps = _only_tp1("w", "l40s", 30)
    owned = scenario([workload("w", 100)], [offer("r", "l40s", 2.0, market="reserved", term_months=12,
                                                   owned_nodes=1, gpus_per_node=8)], caps)
    assert _bound(owned) == 0.0
    plain = scenario([workload("w", 100)], [offer("n8", "l40s", 2.0, gpus_per_node=8)], caps)
    assert _bound(plain, allow_unmet=True) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000))
def test_never_above_the_exhaustive_optimum(seed):
    # the oracle's random tiny scenarios (spot availability, reserved owned nodes, caps, min_replicas, rho):
    # the bound is at most the optimum that exhaustive enumeration finds
    c = random_case(seed)
    best = brute_force(c)
    loaded = scenario(c["workloads"], c["offers"], c["overrides"], target_utilization=c["rho"])
    bound = _bound(loaded)
    if best is not None and bound is not None:
        assert bound <= best + 1e-6


@pytest.mark.parametrize("seed", [1, 2])
def test_never_above_the_optimum_of_a_benchmark_instance(seed):
    # S generator instances: multi-GPU nodes, TP, MIG and spot with the hedge, size mixes
    from bench import generate  # noqa: PLC0415

    loaded = generate.load("S", seed)
    plan = solve_scenario(loaded, FAST)
    bound = _bound(loaded)
    assert plan.status == "optimal" and bound is not None
    assert 0 < bound <= plan.objective_usd_per_hour + 1e-6
