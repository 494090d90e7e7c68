"""Dominated deployments of a workload's own program (``planner.fleet.dominance``): by hand, and the programs'
optima with them fixed to 0 against the whole programs' (an oracle: the same HiGHS on the rows without the fix)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from planner.fleet.dominance import Dominance
from planner.fleet.horizon import horizon_for
from planner.fleet.options import Deployment
from planner.fleet.share_bound import gpu_price
from planner.fleet.workload_programs import program_inputs, program_rows, solve_rows
from tests.solve_helpers import bench_medium

OFFERS = {"od1": None, "od2": None, "od3": None, "od4": None, "p1": "P", "p2": "P", "p3": "P", "q1": "Q"}


def _scenario():
    return SimpleNamespace(offers=[SimpleNamespace(id=o, market="spot" if pool else "on_demand", pool_effective=pool)
                                   for o, pool in OFFERS.items()])


def _dep(i: int, offer: str, cap: tuple[float, ...], availability: float = 1.0) -> Deployment:
    return Deployment(index=i, workload="w", offer=offer, gpu="l40s", precision="bf16", tp=1, mig_profile=None,
                      capacity_rpm=cap, ttft_ms=(100.0,) * len(cap), tpot_ms=(20.0,) * len(cap),
                      availability=availability, price_usd_per_gpu_hour=1.0)


def test_by_hand_price_capacity_and_pool():
    deps = [_dep(0, "od1", (10.0,)),          # on demand, 2 USD/h
            _dep(1, "od2", (10.0,)),          # the same, dearer: dominated by 0
            _dep(2, "p1", (10.0,), 0.9),      # spot in pool P, 1 USD/h: dominated by 7 (cheaper, same pool)
            _dep(3, "q1", (10.0,), 0.9),      # spot in pool Q, 1 USD/h: 2 and 7 are in another pool, 0 dearer
            _dep(4, "p2", (10.0,), 0.9),      # equal to 2 in every way, after it: dominated (by 2 and by 7)
            _dep(5, "od3", (10.0,)),          # equal to 0, after it: dominated
            _dep(6, "od4", (12.0,)),          # carries more than 0 for more: nothing carries as much
            _dep(7, "p3", (10.0,), 0.9)]      # spot in P at 0.5 USD/h: no other in P is as cheap, and the on-demand
    cost = [2.0, 3.0, 1.0, 1.0, 1.0, 2.0, 2.5, 0.5]  # ones survive more sets than it, so it dominates none of them
    off = Dominance(_scenario(), deps).dominated(cost)
    assert list(np.flatnonzero(off)) == [1, 2, 4, 5]
    # a spot deployment never dominates one off spot, however cheap and large: 0 survives the loss of pool P
    off = Dominance(_scenario(), [deps[0], _dep(1, "p1", (100.0,))]).dominated([2.0, 0.1])
    assert not off.any()
    # 0 at 1 USD/h on demand dominates the spot 7 as well (it carries 10 against 9 derated, and survives P's loss)
    off = Dominance(_scenario(), deps).dominated([1.0, 3.0, 1.0, 1.0, 1.0, 2.0, 2.5, 1.0])
    assert list(np.flatnonzero(off)) == [1, 2, 3, 4, 5, 7]


def test_by_hand_buckets_must_each_be_carried():
    # one carries only the first bucket, the other only the second: neither dominates, whatever the prices
    deps = [_dep(0, "od1", (10.0, 0.0)), _dep(1, "od2", (0.0, 10.0)), _dep(2, "od3", (10.0, 10.0))]
    assert list(np.flatnonzero(Dominance(_scenario(), deps[:2]).dominated([1.0, 5.0]))) == []
    # the third carries both: at the price of the cheaper it dominates both
    assert list(np.flatnonzero(Dominance(_scenario(), deps).dominated([1.0, 5.0, 1.0]))) == [0, 1]


def test_too_many_deployments_fix_nothing(monkeypatch):
    import planner.fleet.dominance as dom

    monkeypatch.setattr(dom, "MAX_DEPLOYMENTS", 2)
    deps = [_dep(0, "od1", (10.0,)), _dep(1, "od2", (10.0,)), _dep(2, "od3", (10.0,))]
    assert not Dominance(_scenario(), deps).dominated([1.0, 2.0, 3.0]).any()


def test_the_programs_optima_are_unchanged_on_the_medium_set():
    # M-1: 20 workloads with spot pools, the pool-loss routing and the non-spot floor; each program at the offers'
    # own prices and at two random cap prices (as planner.fleet.cap_bound's steps), solved whole and with the
    # dominated replicas fixed to 0: the same optimum, with many fixed
    m = bench_medium()
    s, options = m["loaded"].scenario, m["options"]
    per = horizon_for(s).periods[0]
    offers = {o.id: o for o in s.offers}
    sets, by_w = program_inputs(s, options)
    assert sets   # the pool-loss sets are in the programs
    rng = random.Random(7)
    fixed = total = 0
    for w in s.workloads:
        deps, lam = by_w.get(w.id, []), per.demand_rpm.get(w.id, 0.0)
        if not deps:
            continue
        dominance = Dominance(s, deps)
        base = [gpu_price(offers[d.offer], per) * d.gpu_share for d in deps]
        for k in range(3):
            nu = {o: (0.0 if k == 0 else rng.uniform(0.0, 4.0)) for o in offers}
            cost = [b + nu[d.offer] * d.gpu_share for d, b in zip(deps, base)]
            off = dominance.dominated(cost)
            whole = solve_rows(program_rows(s, w, deps, lam, cost, {}, sets), 30.0, 0.0)
            cut = solve_rows(program_rows(s, w, deps, lam, cost, {}, sets), 30.0, 0.0, off)
            assert cut.getInfo().objective_function_value == pytest.approx(
                whole.getInfo().objective_function_value, rel=1e-7, abs=1e-9), (w.id, k)
            values = cut.getSolution().col_value
            assert all(values[j] == 0.0 for j in np.flatnonzero(off))
            fixed, total = fixed + int(off.sum()), total + len(deps)
    assert fixed > total // 3
