"""Brute-force oracle: on 200 seeded random tiny scenarios every backend's optimum equals exhaustive enumeration,
on 200 more where several offers sell the same node at different prices and caps (interchangeable offers), and on
200 where on-demand twins are merged into one offer filled cheapest-first (``planner.fleet.merge``; the test
asserts that the merge fired in most of them).

Tiny means: <= 3 workloads and <= 3 offers of single-GPU PCIe nodes (so TP is 1), capacities fixed by overrides
(some 0: that pair cannot serve), markets mixed (spot availability, owned reserved nodes), max_nodes <= 2,
min_replicas 0-1, target utilisation 0.5-1. The oracle enumerates every replica assignment r[w, o] in
0..max_nodes[o] with numpy and keeps the cheapest feasible one:
    nodes[o] = sum_w r[w, o] <= max_nodes[o]
    sum_o r[w, o] x cap[w, o] x rho x a[o] >= demand[w]          (r[w, o] = 0 where cap is 0)
    sum_o r[w, o] >= min_replicas[w]
    cost = sum_o price[o] x (nodes[o] - owned[o])^+              (owned reserved nodes are free)
It shares nothing with the formulation.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from planner.errors import InfeasibleError
from planner.fleet.solve import SolveSettings, solve_scenario
from solvers.registry import available_backends
from tests.solve_helpers import offer, override, scenario, workload

N_CASES = 200
GPUS = ("l40s", "l4", "a10g")
BACKENDS = [b for b in available_backends() if b != "cpsat"]


def random_case(seed: int, interchangeable: bool = False) -> dict:
    """A tiny random scenario; ``interchangeable`` draws the offers' GPUs from two, so several offers sell the same
    node (same GPU, node size, capacities; markets and prices may differ), and leaves some on-demand offers
    uncapped (2-3 offers, 1-2 workloads, to keep the enumeration small): the symmetric case, and the one where
    ``planner.fleet.reduce`` drops dominated offers."""
    rng = random.Random(seed)
    nw, no = (rng.randint(1, 2), rng.randint(2, 3)) if interchangeable else (rng.randint(1, 3), rng.randint(1, 3))
    gpus = [GPUS[rng.randint(0, 1)] for _ in range(no)] if interchangeable else list(GPUS[:no])
    rho = rng.choice([0.5, 0.8, 1.0])
    offers, avail, price, cap_nodes, owned = [], [], [], [], []
    for j in range(no):
        market = rng.choice(["on_demand", "on_demand", "spot", "reserved"])
        p = round(rng.uniform(0.3, 3.0), 2)
        mx = rng.randint(1, 3)
        extra, a, own = {"max_nodes": mx}, 1.0, 0
        if interchangeable and market == "on_demand" and rng.random() < 0.5:
            extra, mx = {}, None  # uncapped: brute_force bounds its range by what one workload needs alone
        if market == "spot":
            rate, rec = rng.choice([0.0, 0.1, 0.5]), rng.choice([10, 30, 60])
            extra.update(interruption_rate_per_hour=rate, recovery_minutes=rec)
            a = max(0.0, 1 - rate * rec / 60)
        if market == "reserved":
            own = rng.randint(0, mx)
            extra.update(owned_nodes=own, term_months=12)
        offers.append(offer(f"o{j}", gpus[j], p, market=market, **extra))
        avail.append(a); price.append(p); cap_nodes.append(mx); owned.append(own)
    workloads, overrides, caps, demand, mins = [], [], np.zeros((nw, no)), [], []
    for i in range(nw):
        d = rng.choice([5, 10, 20, 35, 50])
        m = rng.randint(0, 1)
        workloads.append(workload(f"w{i}", d, min_replicas=m))
        demand.append(d); mins.append(m)
        by_gpu: dict[str, float] = {}
        for j in range(no):
            c = rng.choice([0, 15, 25, 40, 60])
            if gpus[j] in by_gpu:  # an override is per GPU: every offer of that GPU gets the same capacity
                c = by_gpu[gpus[j]]
            else:
                overrides.append(override(f"w{i}", gpus[j], c))
                by_gpu[gpus[j]] = c
            caps[i, j] = c
    return dict(workloads=workloads, offers=offers, overrides=overrides, rho=rho, caps=caps,
                demand=np.array(demand, float), mins=np.array(mins), avail=np.array(avail),
                price=np.array(price), cap_nodes=np.array(cap_nodes), owned=np.array(owned))


def _most(c: dict, i: int, j: int) -> int:
    """Replicas of workload i worth trying on offer j: its cap; uncapped, what serves i on j alone (more never
    lowers the cost: dropping the surplus keeps every row)."""
    if c["cap_nodes"][j] is not None:
        return c["cap_nodes"][j]
    return max(math.ceil(c["demand"][i] / (c["caps"][i, j] * c["rho"] * c["avail"][j]) - 1e-9), c["mins"][i])


def brute_force(c: dict) -> float | None:
    nw, no = c["caps"].shape
    ranges = [range(0, _most(c, i, j) + 1) if c["caps"][i, j] > 0 and c["avail"][j] > 0 else range(1)
              for i in range(nw) for j in range(no)]
    r = np.array(list(itertools.product(*ranges)), dtype=float).reshape(-1, nw, no)
    nodes = r.sum(axis=1)
    ok = (nodes <= np.array([np.inf if m is None else m for m in c["cap_nodes"]])).all(axis=1)
    served = (r * c["caps"] * c["rho"] * c["avail"]).sum(axis=2)
    ok &= (served >= c["demand"] - 1e-9).all(axis=1)
    ok &= (r.sum(axis=2) >= c["mins"]).all(axis=1)
    if not ok.any():
        return None
    cost = (np.maximum(nodes - c["owned"], 0) * c["price"]).sum(axis=1)
    return float(cost[ok].min())


def mergeable_case(seed: int) -> dict:
    """On-demand twins for ``planner.fleet.merge``: 2-3 offers of one GPU (sometimes a second GPU, sometimes one
    spot or reserved offer), prices from three levels (ties happen), caps 1-3 or none, 1-2 workloads."""
    rng = random.Random(f"merge-{seed}")
    c = random_case(seed, interchangeable=True)
    nw, no = len(c["workloads"]), rng.randint(2, 3)
    gpus = ["l40s"] * no if rng.random() < 0.7 else ["l40s", "l4", "l40s"][:no]
    offers, price, cap_nodes = [], [], []
    for j in range(no):
        p, mx = rng.choice([0.5, 0.8, 1.2]), rng.choice([1, 2, 3, None])
        extra = {} if mx is None else {"max_nodes": mx}
        offers.append(offer(f"o{j}", gpus[j], p, **extra))
        price.append(p); cap_nodes.append(mx)
    caps, overrides = np.zeros((nw, no)), []
    for i in range(nw):
        by_gpu = {g: rng.choice([15, 25, 40, 60]) for g in dict.fromkeys(gpus)}
        overrides += [override(f"w{i}", g, v) for g, v in by_gpu.items()]
        caps[i] = [by_gpu[g] for g in gpus]
    return {**c, "offers": offers, "overrides": overrides, "caps": caps, "avail": np.ones(no),
            "price": np.array(price), "cap_nodes": np.array(cap_nodes, dtype=object), "owned": np.zeros(no)}


@pytest.mark.parametrize("policy, least_fired", [("equal_price", N_CASES // 10), ("any_price", N_CASES // 2)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_merged_twins_match_exhaustive_enumeration(backend, policy, least_fired):
    from planner.fleet.horizon import horizon_for
    from planner.fleet.merge import merge_offers
    from planner.fleet.options import enumerate_options
    from planner.fleet.reduce import reduced_options

    mismatches, fired = [], 0
    for seed in range(N_CASES):
        c = mergeable_case(seed)
        expected = brute_force(c)
        loaded = scenario(c["workloads"], c["offers"], c["overrides"], target_utilization=c["rho"])
        s = loaded.scenario
        h = horizon_for(s)
        fired += merge_offers(s, reduced_options(enumerate_options(loaded), s, h), h, policy)[2] is not None
        try:
            plan = solve_scenario(loaded, SolveSettings(solver=backend, baselines=False, tie_break=seed % 2 == 0,
                                                        merge=policy))
            got = plan.objective_usd_per_hour
            assert plan.status == "optimal" and plan.verification.ok, (seed, plan.status, plan.verification)
            assert {n.offer for n in plan.nodes} <= {o["id"] for o in c["offers"]}
        except InfeasibleError:
            got = None
        if (got is None) != (expected is None) or (got is not None and abs(got - expected) > 1e-6):
            mismatches.append((seed, expected, got))
    assert fired >= least_fired, f"the merge fired in only {fired} of {N_CASES} cases"
    assert not mismatches, f"{len(mismatches)} of {N_CASES} differ (seed, oracle, {backend}): {mismatches[:5]}"


@pytest.mark.parametrize("interchangeable", [False, True], ids=["distinct", "interchangeable"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_match_exhaustive_enumeration(backend, interchangeable):
    mismatches = []
    for seed in range(N_CASES):
        c = random_case(seed, interchangeable)
        expected = brute_force(c)
        # expected spot capacity only: the pool-loss hedge has its own oracle (tests/test_spot_hedge.py)
        loaded = scenario(c["workloads"], c["offers"], c["overrides"], target_utilization=c["rho"],
                          spot={"hedge": False})
        try:
            plan = solve_scenario(loaded, SolveSettings(solver=backend, baselines=False, tie_break=False))
            got = plan.objective_usd_per_hour
            assert plan.status == "optimal" and plan.verification.ok, (seed, plan.status, plan.verification)
        except InfeasibleError:
            got = None
        if (got is None) != (expected is None) or (got is not None and abs(got - expected) > 1e-6):
            mismatches.append((seed, expected, got))
    assert not mismatches, f"{len(mismatches)} of {N_CASES} differ (seed, oracle, {backend}): {mismatches[:5]}"
