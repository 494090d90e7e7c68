"""Each workload's own program (``planner.fleet.workload_programs``): its replicas meet the workload's rules, checked
here row by row, and cost no more than 1 % above the cheapest such replicas found by enumeration."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.fleet.horizon import horizon_for
from planner.fleet.options import Deployment
from planner.fleet.workload_programs import (PROGRAM_GAP, packed_gpus, unit_price, workload_choices,
                                             workload_program)
from tests.solve_helpers import bench_medium, offer, scenario, workload

OFFERS = {"od": ("on_demand", None), "spa": ("spot", "a"), "spb": ("spot", "b")}


def _scenario(delta: float, phi: float, rho: float, max_nodes: dict | None = None, owned: int = 0):
    offers = []
    for oid, (market, pool) in OFFERS.items():
        extra = {"max_nodes": (max_nodes or {}).get(oid)}
        if market == "spot":
            extra.update(interruption_rate_per_hour=0.01, recovery_minutes=10, pool=pool)
        elif owned:
            extra.update(owned_nodes=owned, term_months=12)
            market = "reserved"
        offers.append(offer(oid, "l40s", 1.0, market=market, **{k: v for k, v in extra.items() if v is not None}))
    spot = {"hedge": delta > 0, "degraded_service": delta, "min_non_spot_share": phi, "pool_failures": 1}
    return scenario([workload("w", 100)], offers, [], target_utilization=rho, spot=spot).scenario


def _dep(i: int, oid: str, cap: float, avail: float, tp: int = 1) -> Deployment:
    return Deployment(index=i, workload="w", offer=oid, gpu="l40s", precision="bf16", tp=tp, mig_profile=None,
                      capacity_rpm=(cap,), ttft_ms=(1.0,), tpot_ms=(1.0,), availability=avail,
                      price_usd_per_gpu_hour=1.0)


def _meets(s, deps, r, lam, room) -> bool:
    """The workload's rules, written out again from the module docstring (one bucket)."""
    pol, rho = s.policy.spot, s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    spot = [offers[d.offer].market == "spot" for d in deps]
    pool = [offers[d.offer].pool_effective if sp else None for d, sp in zip(deps, spot)]
    if sum(r) < 1:
        return False
    if sum(rho * d.availability * d.capacity_rpm[0] * n for d, n in zip(deps, r)) < lam - 1e-9:
        return False
    if pol.min_non_spot_share > 0 and sum(rho * d.availability * d.capacity_rpm[0] * n for d, n, sp in
                                          zip(deps, r, spot) if not sp) < pol.min_non_spot_share * lam - 1e-9:
        return False
    if pol.hedge and pol.degraded_service > 0:
        for lost in ("a", "b"):
            if lost in pool and sum(d.availability * d.capacity_rpm[0] * n for d, n, p in zip(deps, r, pool)
                                    if p != lost) < pol.degraded_service * lam - 1e-9:
                return False
    for oid, (left, _, _) in room.items():
        if left is not None and sum(n * d.tp for d, n in zip(deps, r) if d.offer == oid) > left + 1e-9:
            return False
    return True


def _cost(deps, r, prices, room) -> float:
    base = sum(p * n for p, n in zip(prices, r))
    for oid, (_, owned, price) in room.items():
        if owned > 0:
            base += price * max(0.0, sum(n * d.tp for d, n in zip(deps, r) if d.offer == oid) - owned)
    return base


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(caps=st.lists(st.sampled_from([10.0, 25.0, 40.0, 70.0]), min_size=3, max_size=3),
       prices=st.lists(st.sampled_from([1.0, 1.5, 2.0, 3.5]), min_size=3, max_size=3),
       tps=st.lists(st.sampled_from([1, 2]), min_size=3, max_size=3),
       lam=st.sampled_from([5.0, 30.0, 60.0, 110.0]), delta=st.sampled_from([0.0, 0.5, 0.8]),
       phi=st.sampled_from([0.0, 0.3]), rho=st.sampled_from([0.6, 0.9]),
       cap_od=st.sampled_from([None, 2, 4]), owned=st.sampled_from([0, 2]))
def test_the_program_meets_the_rules_within_its_gap_of_the_enumerated_optimum(caps, prices, tps, lam, delta, phi,
                                                                              rho, cap_od, owned):
    s = _scenario(delta, phi, rho, owned=owned)
    deps = [_dep(i, oid, c, 1.0 if oid == "od" else 0.9, tp) for i, (oid, c, tp) in enumerate(zip(OFFERS, caps, tps))]
    room = {"od": (cap_od, owned, prices[0]), "spa": (None, 0.0, prices[1]), "spb": (None, 0.0, prices[2])}
    unit = [0.0 if (d.offer == "od" and owned) else p * d.tp for d, p in zip(deps, prices)]
    sets = [("a",), ("b",)] if delta > 0 else []
    got = workload_program(s, s.workloads[0], deps, lam, unit, room, sets, limit_s=5.0)
    best = None
    for r in itertools.product(range(9), repeat=3):
        if _meets(s, deps, r, lam, room):
            c = _cost(deps, r, unit, room)
            best = c if best is None else min(best, c)
    if got is None:
        assert best is None
        return
    r = [got.get(i, 0) for i in range(3)]
    assert _meets(s, deps, r, lam, room)
    assert best is not None and _cost(deps, r, unit, room) <= best * (1 + PROGRAM_GAP) + 1e-9


def test_by_hand_the_pool_loss_takes_a_second_pool_not_a_second_replica():
    # lambda 30 req/min, rho 0.9; spot replicas carry 0.9 x 40 = 36 at 100 %, 32.4 at rho. Without the hedge one
    # spot replica of pool a serves it (32.4 >= 30) at 1 USD/h. Losing pool a at delta 0.8 must leave 24 req/min:
    # a second replica, in pool b (36 >= 24): 1 + 1.5 USD/h; two in pool a would not survive (0 left)
    s = _scenario(0.8, 0.0, 0.9)
    deps = [_dep(0, "od", 40.0, 1.0), _dep(1, "spa", 40.0, 0.9), _dep(2, "spb", 40.0, 0.9)]
    room = {oid: (None, 0.0, 1.0) for oid in OFFERS}
    assert workload_program(s, s.workloads[0], deps, 30.0, [3.0, 1.0, 1.5], room, [("a",), ("b",)]) == {1: 1, 2: 1}
    assert workload_program(s, s.workloads[0], deps, 30.0, [3.0, 1.0, 1.5], room, []) == {1: 1}
    # no room left on pool b's offer: one on-demand replica alone (36 >= 30, no pool to lose), 3 USD/h, not it
    # and a spot one (4 USD/h)
    room["spb"] = (0.0, 0.0, 1.5)
    assert workload_program(s, s.workloads[0], deps, 30.0, [3.0, 1.0, 1.5], room, [("a",), ("b",)]) == {0: 1}


def test_by_hand_two_request_sizes_route_by_bucket():
    # two buckets, half the demand each; d0 serves the short bucket only (60 req/min), d1 both (20 and 10).
    # lambda 20: the short half (10) fits d0 (10/60 = 1/6 of a replica) and the long half (10) needs d1 (10/10 =
    # 1 replica at rho 1): one of each; d1 alone would need 10/20 + 10/10 = 1.5, i.e. 2 replicas
    mix = [{"prompt_tokens": 100, "output_tokens": 100, "share": 0.5},
           {"prompt_tokens": 4000, "output_tokens": 100, "share": 0.5}]
    s = scenario([workload("w", 20, size_mix=mix)], [offer("od", "l40s", 1.0)], [], target_utilization=1.0).scenario
    d0 = Deployment(index=0, workload="w", offer="od", gpu="l40s", precision="bf16", tp=1, mig_profile=None,
                    capacity_rpm=(60.0, 0.0), ttft_ms=(1.0, 1.0), tpot_ms=(1.0, 1.0), availability=1.0,
                    price_usd_per_gpu_hour=1.0)
    d1 = Deployment(**{**d0.__dict__, "index": 1, "capacity_rpm": (20.0, 10.0)})
    room = {"od": (None, 0.0, 1.0)}
    assert workload_program(s, s.workloads[0], [d0, d1], 20.0, [1.0, 1.2], room, []) == {0: 1, 1: 1}
    assert workload_program(s, s.workloads[0], [d0, d1], 20.0, [5.0, 1.2], room, []) == {1: 2}


def test_a_mig_instance_takes_its_packed_share_of_a_gpu():
    d = Deployment(index=0, workload="w", offer="o", gpu="h100", precision="bf16", tp=1, mig_profile="3g.40gb",
                   capacity_rpm=(1.0,), ttft_ms=(1.0,), tpot_ms=(1.0,), availability=1.0, price_usd_per_gpu_hour=1.0,
                   mig_class=3)
    assert packed_gpus(d, 8) == pytest.approx(0.5)   # two 3g instances per GPU, not 3/7 of one
    assert packed_gpus(_dep(0, "od", 1.0, 1.0, tp=4), 8) == 4.0


def test_the_choices_are_options_of_every_workload_and_stop_at_the_deadline():
    m = bench_medium()
    s, options = m["loaded"].scenario, m["options"]
    horizon = horizon_for(s)
    chosen = workload_choices(s, options, horizon, time.perf_counter() + 60.0)
    assert chosen <= {d.key for d in options.deployments}
    assert {k[0] for k in chosen} == {w.id for w in s.workloads}   # every workload of M-1 has demand
    offers = {o.id: o for o in s.offers}
    # what a workload chose is never dearer per request than its dearest option (sanity on the keys' workloads)
    for key in chosen:
        w = next(w for w in s.workloads if w.id == key[0])
        d = next(d for d in options.deployments if d.key == key)
        assert unit_price(d, offers[d.offer], w) < float("inf")
    assert workload_choices(s, options, horizon, time.perf_counter() - 1.0) == set()


def test_a_program_set_to_another_demand_is_the_program_written_for_it():
    # the oracle: the program program_rows writes for each demand, solved to optimality; the same HiGHS object
    # retargeted from demand to demand (M-1: spot pools, pool-loss routing, several request sizes) must reach the
    # same optimum each time, and the rows it then holds must be those program_rows writes
    import numpy as np  # noqa: PLC0415

    from planner.fleet.workload_programs import program_inputs, program_rows, retarget, solve_again, solve_rows

    m = bench_medium()
    s = m["loaded"].scenario
    sets, by_w = program_inputs(s, m["options"])
    assert sets   # the routing rows are there
    multi = [w for w in s.workloads if w.id in by_w and len(w.buckets) > 1]
    single = [w for w in s.workloads if w.id in by_w and len(w.buckets) == 1]
    assert multi and single
    # and with a non-spot floor (M-1 has none): its row scales with the demand too
    spot = s.policy.spot.model_copy(update={"min_non_spot_share": 0.3})
    floored = s.model_copy(update={"policy": s.policy.model_copy(update={"spot": spot})})
    for sc, w in ((s, multi[0]), (s, single[0]), (floored, multi[0]), (floored, single[-1])):
        deps = by_w[w.id]
        cost = [d.price_usd_per_gpu_hour * d.gpu_share for d in deps]
        base = w.requests_per_min
        rows = program_rows(sc, w, deps, base, cost, {}, sets)
        h = solve_rows(rows, 30.0, 0.0)
        for f in (0.4, 2.5, 1.0, 0.1):
            assert retarget(h, rows, base * f)
            solve_again(h, cost, 30.0)
            fresh_rows = program_rows(sc, w, deps, base * f, cost, {}, sets)
            fresh = solve_rows(fresh_rows, 30.0, 0.0)
            assert h.getInfo().objective_function_value == pytest.approx(
                fresh.getInfo().objective_function_value, rel=1e-7)
            assert np.allclose(rows.lo, fresh_rows.lo) and np.allclose(rows.hi, fresh_rows.hi)
            assert rows.r == fresh_rows.r and rows.c == fresh_rows.c and np.allclose(rows.v, fresh_rows.v)
        assert not retarget(h, rows, 0.0) and rows.lam == base * 0.1   # at 0 the least count differs: rebuilt
