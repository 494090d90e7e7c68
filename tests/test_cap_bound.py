"""The workloads' programs with the offers' node caps priced in (``planner.fleet.cap_bound``): by hand, never above a
proven optimum, never below the workload bound it starts from."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner.fleet.workload_bound as wb
from bench import generate
from planner.fleet.cap_bound import cap_bound
from planner.fleet.cap_master import Master
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload


def _two_on_one_cheap_node():
    """Two workloads of one replica each (10 req/min, 24 a replica at rho 0.8); one node of 1 USD/h that holds one
    replica (max_nodes 1), and nodes of 3 USD/h without a cap. The optimum is 1 + 3 = 4 USD/h; each workload alone
    takes the cheap node (the workload bound: 2)."""
    wls = [workload("a", 10.0), workload("b", 10.0)]
    offs = [offer("cheap", "l40s", 1.0, max_nodes=1), offer("dear", "a100-80gb", 3.0)]
    ovs = [override(w, g, 24.0) for w in ("a", "b") for g in ("l40s", "a100-80gb")]
    return scenario(wls, offs, ovs)


def test_by_hand_the_cap_priced_at_the_price_difference_closes_the_gap():
    # L(nu) = 2 min(1 + nu, 3) - nu: 2 at nu = 0 (both on the cheap node), 4 at nu = 2 (each indifferent), the
    # optimum. The steps: nu = 0 (both cheap, L = 2); the master has only those columns and prices the excess at
    # its penalty, 4 x 3 = 12, so the smoothed step tries 6 (both dear, L = 0); with all four columns the master's
    # cap dual is 2 (a on the cheap node, b on the dear one), smoothed with the centre 0: 1 (both cheap, no new
    # column, L = 3); then the master's own 2 (L = 4), which adds no column either: stop
    loaded = _two_on_one_cheap_node()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0) == pytest.approx(2.0)
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, trace=trace) == pytest.approx(4.0)
    assert [round(v, 9) for _, v in trace] == [2.0, 0.0, 3.0, 4.0]
    # the best so far: two steps give the first's 2, three the third's 3
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, steps=2) == pytest.approx(2.0)
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, steps=3) == pytest.approx(3.0)
    # no time: the workload bound (nu = 0)
    assert cap_bound(s, options, horizon, time.perf_counter() - 1.0) == pytest.approx(2.0)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(4.0)


def _between_the_workload_bound_and_the_optimum(loaded, steps: int | None = None) -> None:
    """The caps' bound, unseeded and seeded with the proven optimal plan, is at least the workload bound and at most
    that optimum (to HiGHS' tolerances)."""
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    opt = plan.objective_usd_per_hour
    base = wb.workload_bound(s, options, horizon, time.perf_counter() + 60.0)
    for seed in (None, plan):
        bound = cap_bound(s, options, horizon, time.perf_counter() + 60.0, seed=seed, steps=steps)
        assert base - 1e-6 <= bound <= opt * (1 + 1e-8) + 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_between_the_workload_bound_and_the_proven_optimum(seed):
    _between_the_workload_bound_and_the_optimum(generate.load("S", seed), steps=12)


def test_with_the_spot_hedge_above_the_workload_bound_and_below_the_proven_optimum():
    # M-1: 23 of its 30 offers capped, their caps priced; eight steps (1 s) lift the workload bound from 87.7 to 92.7
    # USD/h (the optimum: 100.7), with the pool-loss routing in every program
    from tests.solve_helpers import bench_medium  # noqa: PLC0415

    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    assert s.policy.spot.hedge and sum(o.max_nodes is not None for o in s.offers) >= 10
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    opt = plan.objective_usd_per_hour
    base = wb.workload_bound(s, m["options"], horizon, time.perf_counter() + 60.0)
    bound = cap_bound(s, m["options"], horizon, time.perf_counter() + 60.0)
    assert base + 4.0 < bound <= opt * (1 + 1e-8)


def test_on_many_hours_the_hours_weighted_mean_of_the_periods():
    # the workload bound's 24-hour case (tests/test_workload_bound.py): each hour one workload at 100 req/min and one
    # at 25, 7 USD/h every hour, the optimum; no caps, so every hour's bound is its nu = 0 step
    from tests.test_envelope import _alternating  # noqa: PLC0415

    loaded = _alternating()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert len(horizon.periods) == 24
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, trace=trace) == pytest.approx(7.0)
    assert sorted({t for t, _ in trace}) == list(range(24))


def test_not_given_where_the_workload_bound_is_not():
    loaded = _two_on_one_cheap_node()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, allow_unmet=True) is None


def test_seeded_with_the_optimal_plan_the_master_prices_the_cap_at_once():
    # the plan (a on the cheap node, b on the dear one) seeds a column per workload that fits the cap: after the
    # nu = 0 step the master has a-cheap, b-cheap and b-dear and its value is 4; its cap's duals are 2 to 12 (b-cheap's
    # reduced cost bounds them below, the penalty above), the least of them is taken: 2. The smoothed step (centre 0)
    # tries 1 (L = 3, no new column), then 2 itself (L = 4)
    loaded = _two_on_one_cheap_node()
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, seed=plan, trace=trace) == pytest.approx(4.0)
    assert [round(v, 6) for _, v in trace] == [2.0, 3.0, 4.0]   # unseeded, the step at 6 came between (L = 0)


def test_master_by_hand():
    # two workloads, one cap of 1 GPU share; a: cheap (cost 1, uses 1) or dear (3, none); b likewise. The master's
    # optimum puts one on each (4); the cap's dual is 2: b-cheap's reduced cost 1 + nu - 3 >= 0 and a-dear's
    # 3 - (1 + nu) >= 0. Only the cheap columns: the excess at the penalty, its dual the penalty
    m = Master(2, {"cheap": 1.0}, penalty=12.0)
    assert m.solve() is None   # b has no column yet
    assert m.add(0, 1.0, {"cheap": 1.0}) and m.add(1, 1.0, {"cheap": 1.0, "uncapped": 5.0})
    assert not m.add(0, 1.0, {"cheap": 1.0})   # the same point again
    value, nu, excess = m.solve()
    # (values to the caps' loosening, cap_master.LOOSEN: 2e-6 shares)
    assert value == pytest.approx(2.0 + 12.0, abs=1e-4) and nu == {"cheap": pytest.approx(12.0)}
    assert excess == pytest.approx(1.0, abs=1e-4)
    m.add(0, 3.0, {})
    m.add(1, 3.0, {})
    value, nu, excess = m.solve()
    assert value == pytest.approx(4.0, abs=1e-4) and nu == {"cheap": pytest.approx(2.0)} and excess == 0.0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rpm=st.lists(st.floats(5.0, 120.0), min_size=2, max_size=3),
       dear=st.floats(3.0, 5.0), prices=st.lists(st.floats(0.5, 2.5), min_size=2, max_size=2),
       per_node=st.lists(st.sampled_from([1, 2]), min_size=3, max_size=3),
       caps=st.lists(st.sampled_from([1, 2]), min_size=2, max_size=2),
       capacity=st.lists(st.floats(10.0, 60.0), min_size=9, max_size=9))
def test_property_between_the_workload_bound_and_the_optimum(rpm, dear, prices, per_node, caps, capacity):
    # random small scenarios: the first offer uncapped and dear (a plan always exists), the other two cheap and capped
    # at a node or two (the caps bind: their prices are tried); whatever the steps find, the bound is at least the
    # workload bound (nu = 0 is the first step) and at most the proven optimum
    gpus = ("l40s", "a100-80gb", "h100-sxm")
    wls = [workload(f"w{i}", r) for i, r in enumerate(rpm)]
    offs = [offer(f"o{j}", g, p, gpus_per_node=n, **({} if j == 0 else {"max_nodes": caps[j - 1]}))
            for j, (g, p, n) in enumerate(zip(gpus, [dear, *prices], per_node))]
    ovs = [override(w["id"], g, capacity[3 * i + j]) for i, w in enumerate(wls) for j, g in enumerate(gpus)]
    _between_the_workload_bound_and_the_optimum(scenario(wls, offs, ovs))


def test_on_two_threads_the_same_steps():
    # the programs of a step solved on two threads, their columns added in workload order: the same bounds step by
    # step as on one thread (M-1, with the hedge's routing in every program)
    from tests.solve_helpers import bench_medium  # noqa: PLC0415

    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    one, two = [], []
    a = cap_bound(s, m["options"], horizon, time.perf_counter() + 60.0, trace=one)
    b = cap_bound(s, m["options"], horizon, time.perf_counter() + 60.0, trace=two, threads=2)
    assert len(one) >= 5 and one == two and a == b


def _cheap_node_by_the_hour(a_day, b_day):
    """``_two_on_one_cheap_node`` over 24 hours, each workload at 10 req/min times its hourly profile."""
    wls = [workload("a", 10.0, profile={"hourly": list(a_day)}), workload("b", 10.0, profile={"hourly": list(b_day)})]
    offs = [offer("cheap", "l40s", 1.0, max_nodes=1), offer("dear", "a100-80gb", 3.0)]
    ovs = [override(w, g, 24.0) for w in ("a", "b") for g in ("l40s", "a100-80gb")]
    return scenario(wls, offs, ovs)


def test_by_hand_each_hour_starts_from_the_previous_hours_prices_and_columns():
    # the same hour 24 times: hour 0 climbs as in the one-period case (2, 0, 3, 4: nu = 2 at the end); every later
    # hour prices at nu = 2 first (L = 4) and its master, holding hour 0's four columns (the same demand: points of
    # its program), is worth 4 at once: it stops after that one step. Without the prices it would climb from nu = 0
    # again; without the columns its master would price the excess at the penalty and step on
    loaded = _cheap_node_by_the_hour([1.0] * 24, [1.0] * 24)
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    assert len(horizon.periods) == 24
    trace = []
    assert cap_bound(s, options, horizon, time.perf_counter() + 60.0, trace=trace) == pytest.approx(4.0)
    assert [round(v, 9) for _, v in trace] == [2.0, 0.0, 3.0, 4.0] + [4.0] * 23
    assert [t for t, _ in trace] == [0, 0, 0, 0, *range(1, 24)]


def test_columns_are_carried_only_to_hours_of_no_more_demand():
    # a 10 req/min replica point (one replica) is a point of an hour at 5 req/min, not of one at 40 (two replicas)
    from planner.fleet.cap_bound import _Prices  # noqa: PLC0415
    from planner.fleet.share_bound import share_terms  # noqa: PLC0415
    from planner.fleet.workload_programs import program_inputs  # noqa: PLC0415

    loaded = _cheap_node_by_the_hour([0.5] * 12 + [4.0] * 12, [1.0] * 24)
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    terms = share_terms(s, options, horizon)
    sets, by_w = program_inputs(s, options)
    one = {w: [(d, 1) for d in by_w[w] if d.offer == "cheap"] for w in ("a", "b")}
    # a at 5 req/min in hour 0 and 40 in hour 12; b at 10 in both
    for t, carried in ((0, [0]), (12, [])):
        per = horizon.periods[t]
        work = [(w, per.demand_rpm[w.id]) for w in s.workloads]
        prices = _Prices(s, per, work, by_w, sets, {"cheap": 1.0}, [terms[(w.id, t)] for w, _ in work])
        prices.carry([("a", 10.0, one["a"]), ("b", 9.0, one["b"])])
        assert [w for w, _, _ in prices.master._cols] == carried   # b's point, found at 9 req/min: never
        assert prices.points == []   # carried columns are not recorded again


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a_day=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=24, max_size=24),
       b_day=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=24, max_size=24),
       steps=st.sampled_from([1, 2, None]))
def test_property_over_hours_below_the_optimum_and_above_the_share_terms(a_day, b_day, steps):
    # any hourly profiles, any number of steps an hour: the bound is at most the proven optimum of the 24-hour program
    # (the oracle) and at least the hours' mean of the share terms (every hour's floor, whatever its first prices)
    from planner.fleet.share_bound import hourly_mean, share_terms  # noqa: PLC0415

    loaded = _cheap_node_by_the_hour(a_day, b_day)
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal"
    bound = cap_bound(s, options, horizon, time.perf_counter() + 60.0, steps=steps)
    floor = hourly_mean(share_terms(s, options, horizon), horizon)
    assert floor - 1e-9 <= bound <= plan.objective_usd_per_hour * (1 + 1e-8) + 1e-9


def test_borrowed_by_hand():
    # hour 0 proved a 3 and b 3 at nu = 2 on a cap of 1 share; hour 1 (a busier at 12, b quieter at 8) proved its share
    # terms at nu = 0. Hour 1 from hour 0: a's 3 (10 <= 12), b's share term 0.5 (10 > 8), less 2 x 1: 1.5; hour 0
    # from hour 1: a's share term 1 (12 > 10), b's 0.5 (8 <= 10), less 0: 1.5
    from planner.fleet.cap_bound import borrowed  # noqa: PLC0415

    records = [(0, {"a": 10.0, "b": 10.0}, {"a": 1.0, "b": 1.0}, [({"c": 2.0}, {"a": 3.0, "b": 3.0})]),
               (1, {"a": 12.0, "b": 8.0}, {"a": 1.5, "b": 0.5}, [({"c": 0.0}, {"a": 1.5, "b": 0.5})])]
    assert borrowed(records, {"c": 1.0}) == {0: pytest.approx(1.5), 1: pytest.approx(1.5)}
    # equal demands borrow: hour 1 at hour 0's demands takes both 3s, less 2
    records[1] = (1, {"a": 10.0, "b": 10.0}, {"a": 1.0, "b": 1.0}, [({"c": 0.0}, {"a": 1.0, "b": 1.0})])
    assert borrowed(records, {"c": 1.0})[1] == pytest.approx(4.0)
