"""The spot hedge in the integer program (``planner.fleet.hedge``): hand-worked optima, a brute-force oracle, properties.

Capacities come from ``capacity_overrides`` (40 req/min per L40S replica unless said otherwise) and the
helper's target utilisation is 0.8, so every optimum below is worked out by hand in its comment.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InfeasibleError
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.risk.tails import spot_risk
from tests.solve_helpers import offer, override, scenario, workload

BACKENDS = ("highs", "cbc")
CAP = 40.0


def solve(loaded, backend="highs", share_routing=False):
    return solve_scenario(loaded, SolveSettings(solver=backend, baselines=False, tie_break=False,
                                                share_routing=share_routing))


def counts(plan) -> dict[str, int]:
    return {n.offer: n.count for n in plan.nodes}


def spot(oid, price, pool, rate=0.0, **kw):
    return offer(oid, "l40s", price, market="spot", interruption_rate_per_hour=rate, pool=pool, **kw)


# --------------------------------------------------------------------------- pool loss (b) and non-spot floor (c)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_pools_the_plan_survives_losing_either(backend):
    # 100 req/min, 40 per replica at 80 %: base needs 100 / 32 = 3.125 -> 4 replicas. Hedge: losing either pool,
    # the rest at 100 % serves 0.8 x 100 = 80 -> 2 replicas outside each pool. Rate 0: availability 1.
    #   2 on A + 2 on B = 0.60 + 0.64 = 1.24 (lose A: 2 x 40 = 80 ok; lose B: 80 ok)
    #   unhedged optimum: 4 on A = 1.20 (lose A: nothing left)
    offers = [spot("a", 0.30, "zone-a"), spot("b", 0.32, "zone-b"), offer("od", "l40s", 0.91)]
    s = scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)])
    plan = solve(s, backend)
    assert plan.objective_usd_per_hour == pytest.approx(1.24)
    assert counts(plan) == {"a": 2, "b": 2}
    for lost in ("a", "b"):  # recomputed from the plan: survivors at 100 % carry >= 80 % of demand
        left = sum(r.count * CAP for r in plan.replicas if r.offer != lost)
        assert left >= 0.8 * 100
    assert plan.verification.ok, [c for c in plan.verification.checks if not c.ok]
    unhedged = solve(scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)], spot={"hedge": False}),
                     backend)
    assert unhedged.objective_usd_per_hour == pytest.approx(1.20) and counts(unhedged) == {"a": 4}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_capped_pool_brings_in_on_demand(backend):
    # Pool A holds 1 node at most. Lose B: A + od >= 2 -> od >= 1. Lose A: B + od >= 2. Base: total >= 4.
    #   A1 + B2 + od1 = 0.30 + 0.64 + 0.91 = 1.85  (lose A: 3; lose B: 2)   <- optimum
    #   A1 + B1 + od2 = 2.44;  B3 + od2 = 2.78 (lose B: od >= 2)
    offers = [spot("a", 0.30, "zone-a", max_nodes=1), spot("b", 0.32, "zone-b"), offer("od", "l40s", 0.91)]
    plan = solve(scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)]), backend)
    assert plan.objective_usd_per_hour == pytest.approx(1.85)
    assert counts(plan) == {"a": 1, "b": 2, "od": 1}
    assert plan.verification.ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_non_spot_share(backend):
    # Hedge off, floor 25 %: on-demand carries >= 25 of 100 req/min -> 1 od replica (32 usable); spot carries the
    # rest: 68 / 32 -> 3 spot. 0.91 + 3 x 0.30 = 1.81 (2 od + 2 spot = 2.42). Without the floor: 4 x 0.30 = 1.20.
    offers = [spot("a", 0.30, "zone-a"), offer("od", "l40s", 0.91)]
    plan = solve(scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)],
                          spot={"hedge": False, "min_non_spot_share": 0.25}), backend)
    assert plan.objective_usd_per_hour == pytest.approx(1.81)
    assert counts(plan) == {"a": 3, "od": 1}
    assert sum(r.assigned_requests_per_min for r in plan.replicas if r.offer == "od") >= 25 - 1e-9
    assert plan.verification.ok


def test_min_non_spot_share_without_any_non_spot_option_is_explained():
    offers = [spot("a", 0.30, "zone-a")]
    s = scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)],
                 spot={"hedge": False, "min_non_spot_share": 0.1})
    with pytest.raises(InfeasibleError) as exc:
        solve(s)
    assert any("min_non_spot_share" in r and "chat" in r for r in exc.value.reasons)


# --------------------------------------------------------------------------- availability target (d)


@pytest.mark.parametrize(("target", "hedge", "expected", "spot_nodes"), [
    # rate 0.3/h x 10 min: q = 0.05, node weight m = -ln 0.95 = 0.0513, a = 0.95 (30.4 usable req/min per replica).
    # No pool events (share 0), no pool-loss hedge (pool_failures 0): epsilon goes to the node term alone.
    # eps 0.01: k(mu) >= 1 for mu > 0.01005, >= 2 for mu > 0.1486 (n >= 3 nodes), >= 3 for mu > 0.4360 (n >= 9).
    #   base: n >= 100 / 30.4 -> 4; state: (n - k(n)) x 40 + 40 od >= 100, i.e. n - k + od >= 3.
    #   n = 4: 4 - 2 = 2 < 3; n = 5: 5 - 2 = 3 -> 5 x 0.30 = 1.50 (4 + 1 od = 2.11; 2 + 2 od = 2.42)
    (0.99, True, 1.50, 5),
    # eps 0.001: k >= 1 above 0.0010, >= 2 above 0.0454 (n >= 1), >= 3 above 0.1905 (n >= 4), >= 4 above 0.4286.
    #   n = 5: 5 - 3 = 2; n = 6: 3 -> 1.80 (5 + 1 od = 2.41; 4 + 2 od = 3.02)
    (0.999, True, 1.80, 6),
    # hedge off: expected capacity only, 4 x 0.30 = 1.20
    (0.99, False, 1.20, 4),
])
def test_availability_target_node_margin(target, hedge, expected, spot_nodes):
    offers = [spot("a", 0.30, "zone-a", rate=0.3, recovery_minutes=10), offer("od", "l40s", 0.91)]
    s = scenario([workload("chat", 100)], offers, [override("chat", "l40s", CAP)],
                 spot={"availability_target": target, "pool_failures": 0, "pool_event_share": 0.0, "hedge": hedge})
    plan = solve(s)
    assert plan.objective_usd_per_hour == pytest.approx(expected)
    assert counts(plan) == {"a": spot_nodes}
    assert plan.verification.ok, [c for c in plan.verification.checks if not c.ok]


def test_breakpoints_match_the_hand_values():
    s = scenario([workload("chat", 100)], [spot("a", 0.30, "zone-a", rate=0.3, recovery_minutes=10)],
                 [override("chat", "l40s", CAP)], spot={"pool_event_share": 0.0}).scenario
    risk = spot_risk(s)
    assert risk.node_weight["a"] == pytest.approx(-math.log(0.95))
    assert risk.breakpoints(1.0) == pytest.approx([0.0100503, 0.1486, 0.4360, 0.8232], abs=1e-3)
    assert [risk.k_nodes(n * risk.node_weight["a"]) for n in range(10)] == [0, 1, 1, 2, 2, 2, 2, 2, 2, 3]


def test_pool_events_choose_which_pools_must_be_survived():
    # Three pools, one L40S spot offer each, 0.3/h, recovery 10 min, pool_event_share 0.5:
    #   Lambda = 0.15/h per pool, pi = 1 - exp(-0.15 / 6) = 0.0247; own reclaims 0.15/h: q = 0.025, m = 0.0253.
    #   eps 0.01 split: 0.005 pools, 0.005 nodes. P(>= 1 of 3 pools at once) = 0.072 > 0.0025 -> j = 1;
    #   budget = 0.005 - P(>= 2 at once) = 0.005 - 0.0018 = 0.0032 < 0.0247: a pool the fleet uses must be
    #   survivable at full demand (3 replicas of 40 outside it), and each such pool is charged
    #   0.0247 x (1 - exp(-mu)). Node states: k(mu) = 1 for mu in (0.005, 0.1035], i.e. 1 to 4 spot nodes.
    #   od 2 + one spot node in each of two pools = 1.82 + 0.60 = 2.42: base 64 + 2 x 30.4 = 124.8; a pool lost:
    #   2 od + 1 spot = 120; a node lost: 120; charge 2 x 0.0247 x (1 - exp(-0.0506)) = 0.00244 <= 0.0032.
    #   Cheaper fleets fail: spot-only 2+2+2 is charged 0.0104, 3+3 0.0070; od 1 + 2+2 0.0048, od 1 + 1+1+1
    #   0.0054; od 2 + 2 in one pool loses 80 with it. Next best: od 3 + 1 spot = 3.03.
    offers = [spot(f"s{i}", 0.30, f"zone-{i}", rate=0.3, recovery_minutes=10) for i in range(3)]
    s = scenario([workload("chat", 100)], offers + [offer("od", "l40s", 0.91)], [override("chat", "l40s", CAP)],
                 spot={"pool_failures": 0, "pool_event_share": 0.5})
    risk = spot_risk(s.scenario)
    assert risk.pools_lost == 1
    assert risk.unsurvived_budget == pytest.approx(0.005 - 3 * 0.0247 ** 2 * (1 - 0.0247) - 0.0247 ** 3, rel=1e-2)
    plan = solve(s)
    assert plan.verification.ok, [c for c in plan.verification.checks if not c.ok]
    assert plan.objective_usd_per_hour == pytest.approx(2.42)
    c = counts(plan)
    assert c.pop("od") == 2 and sorted(c.values()) == [1, 1]


# --------------------------------------------------------------------------- brute-force oracle (rate 0)


def _case(seed: int) -> dict:
    rng = random.Random(seed)
    n_pools = rng.randint(1, 3)
    offers, spec = [], []
    for j in range(n_pools):
        mx = rng.randint(0, 3)
        offers.append(spot(f"s{j}", round(rng.uniform(0.2, 0.6), 2), f"zone-{j}", max_nodes=mx))
        spec.append(("spot", offers[-1]["price_usd_per_gpu_hour"], mx, j))
    mx = rng.randint(0, 3)
    offers.append(offer("od", "l40s", round(rng.uniform(0.7, 1.2), 2), max_nodes=mx))
    spec.append(("od", offers[-1]["price_usd_per_gpu_hour"], mx, None))
    return dict(offers=offers, spec=spec, demand=rng.choice([20, 50, 80, 110]), delta=rng.choice([0.0, 0.5, 0.8, 1.0]),
                phi=rng.choice([0.0, 0.0, 0.3]), failures=rng.choice([0, 1, 1, 2]))


def _brute(c: dict, cap: float = CAP) -> tuple[float | None, frozenset[int]]:
    """(min cost, the on-demand replica counts of the fleets at that cost) over every replica count per offer,
    ``cap`` requests/min per replica. Several counts where prices tie exactly (seed 2510: 2 x 0.41 + 2 x 0.49 + 0.23
    = 0.41 + 0.49 + 0.23 + 0.90), and then no cheapest fleet is the one to expect."""
    best: tuple[float | None, set[int]] = (None, set())
    ranges = [range(mx + 1) for _, _, mx, _ in c["spec"]]
    pools = [p for kind, _, _, p in c["spec"] if kind == "spot"]
    lost_sets = list(itertools.combinations(pools, min(c["failures"], len(pools)))) if c["failures"] else []
    for r in itertools.product(*ranges):
        total = sum(r) * cap
        od = sum(n for n, (kind, *_) in zip(r, c["spec"]) if kind == "od") * cap
        if total * 0.8 < c["demand"] - 1e-9 or sum(r) < 1:
            continue
        if od * 0.8 < c["phi"] * c["demand"] - 1e-9:  # non-spot load up to its 80 % capacity
            continue
        if any(sum(n for n, (_, _, _, p) in zip(r, c["spec"]) if p not in lost) * cap < c["delta"] * c["demand"] - 1e-9
               for lost in lost_sets):
            continue
        cost = round(sum(n * price for n, (_, price, _, _) in zip(r, c["spec"])), 9)
        if best[0] is None or cost < best[0] - 1e-9:
            best = (cost, {r[-1]})
        elif abs(cost - best[0]) <= 1e-9:
            best[1].add(r[-1])
    return best[0], frozenset(best[1])


def _mismatch(s, seed: int, want, want_od: frozenset[int], backend: str, share_routing: bool = False) -> tuple | None:
    """None when the plan's cost is the enumeration's, its on-demand replicas those of a fleet at that cost, and it
    verifies, or both find nothing; else (seed, wanted cost, wanted on-demand replicas, got cost, got on-demand
    replicas)."""
    try:
        plan = solve(s, backend, share_routing)
        got, got_od = plan.objective_usd_per_hour, counts(plan).get("od", 0)
        assert plan.verification.ok, (seed, [x for x in plan.verification.checks if not x.ok])
    except InfeasibleError:
        got, got_od = None, None
    if (got is None) != (want is None) or (got is not None and (abs(got - want) > 1e-6 or got_od not in want_od)):
        return seed, want, sorted(want_od), got, got_od
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_hedge_matches_brute_force(backend):
    """40 seeded cases: 1-3 spot pools (capped), an on-demand offer, random degraded_service, pool_failures and
    non-spot floor, rate 0. The optimum equals exhaustive enumeration, and spot is used wherever the hedge allows:
    the plan's on-demand replicas are those of a cheapest fleet (spot is always cheaper here, so that is the
    fewest on-demand replicas unless two fleets' prices tie exactly, ``_brute``)."""
    wrong = []
    for seed in range(40):
        c = _case(seed)
        want, want_od = _brute(c)
        s = scenario([workload("chat", c["demand"])], c["offers"], [override("chat", "l40s", CAP)],
                     spot={"degraded_service": c["delta"], "pool_failures": c["failures"],
                           "min_non_spot_share": c["phi"]})
        if miss := _mismatch(s, seed, want, want_od, backend):
            wrong.append(miss)
    assert not wrong, wrong


MIX = ((500, 100, 0.25, 60.0), (2000, 400, 0.75, 24.0))   # (prompt, output, share, requests/min per replica)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("share_routing", [False, True])
def test_hedge_with_a_size_mix_matches_brute_force(backend, share_routing):
    """The cases above with a two-size mix (no non-spot floor): every offer sells the same GPU, so with
    ``share_routing`` the deployments of equal capacities share each pool-loss state's routing
    (``planner.fleet.hedge._serve``). With loads free to move between them, r replicas carry
    r / sum_b (share_b / cap_b) requests/min of the mix, so the optimum is the enumeration's at that capacity."""
    cap = 1.0 / sum(share / c for _, _, share, c in MIX)
    wrong = []
    for seed in range(40):
        c = _case(seed)
        c["phi"] = 0.0
        want, want_od = _brute(c, cap)
        mix = [{"prompt_tokens": i, "output_tokens": o, "share": sh} for i, o, sh, _ in MIX]
        overrides = [override("chat", "l40s", rpm, prompt_tokens=i, output_tokens=o) for i, o, _, rpm in MIX]
        s = scenario([workload("chat", c["demand"], size_mix=mix)], c["offers"], overrides,
                     spot={"degraded_service": c["delta"], "pool_failures": c["failures"]})
        if miss := _mismatch(s, seed, want, want_od, backend, share_routing):
            wrong.append(miss)
    assert not wrong, wrong


# --------------------------------------------------------------------------- property: cost vs interruption rate


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rates=st.lists(st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3, 0.6]),
                                                   min_size=2, max_size=3, unique=True))
def test_cost_never_falls_as_interruptions_rise(seed, rates):
    rng = random.Random(seed)
    offers = [spot(f"s{j}", round(rng.uniform(0.2, 0.6), 2), f"zone-{rng.randint(0, 1)}", max_nodes=rng.randint(1, 4),
                   recovery_minutes=rng.choice([5, 10, 20])) for j in range(rng.randint(1, 3))]
    offers.append(offer("od", "l40s", round(rng.uniform(0.7, 1.2), 2), max_nodes=rng.randint(1, 4)))
    demand = rng.choice([30, 60, 100])
    policy = {"availability_target": rng.choice([0.95, 0.99, 0.999]), "pool_event_share": rng.choice([0.0, 0.25, 1.0]),
              "degraded_service": rng.choice([0.0, 0.8]), "min_non_spot_share": rng.choice([0.0, 0.2])}
    costs = []
    for r in sorted(rates):
        for o in offers[:-1]:
            o["interruption_rate_per_hour"] = r
        try:
            plan = solve(scenario([workload("chat", demand)], offers, [override("chat", "l40s", CAP)], spot=policy))
            assert plan.verification.ok, [x for x in plan.verification.checks if not x.ok]
            costs.append(plan.objective_usd_per_hour)
        except InfeasibleError:
            costs.append(math.inf)
    assert all(b >= a - 1e-6 for a, b in zip(costs, costs[1:])), (sorted(rates), costs)


# --------------------------------------------------------------------------- periods


PERIODS = (("night", 2.0), ("day", 1.0), ("peak", 3.0))


@pytest.mark.parametrize("share_routing", [False, True])
def test_periods_are_planned_as_if_alone(share_routing):
    """Without reserved offers the periods share no row, so the optimum over three periods is the hour-weighted
    sum of the three one-period optima (the oracle: each period solved alone at its demand). The hedge writes a
    workload's periods with demand together (``planner.fleet.hedge._serve``, ``_state_rows``) and one period
    alone another way; this checks the one against the other, with every block on: two spot pools at a 0.3/h
    rate (node states and pool events), a pool-loss state, a size mix and a workload idle in one period."""
    mix = [{"prompt_tokens": i, "output_tokens": o, "share": sh} for i, o, sh, _ in MIX]
    overrides = ([override("chat", "l40s", CAP)]
                 + [override("mix", "l40s", rpm, prompt_tokens=i, output_tokens=o) for i, o, _, rpm in MIX])
    offers = [spot("a", 0.30, "zone-a", rate=0.3, recovery_minutes=10, max_nodes=6),
              spot("b", 0.34, "zone-b", rate=0.3, recovery_minutes=10, max_nodes=6), offer("od", "l40s", 0.91)]
    rpm = {"chat": (70.0, 0.0, 150.0), "mix": (30.0, 55.0, 90.0)}
    policy = {"degraded_service": 0.6, "pool_failures": 1, "availability_target": 0.99}

    def plan_of(workloads):
        ids = {w["id"] for w in workloads}
        return solve(scenario(workloads, offers, [o for o in overrides if o["workload"] in ids], spot=policy),
                     share_routing=share_routing)

    kw = {"chat": {"min_replicas": 0}, "mix": {"min_replicas": 0, "size_mix": mix}}   # no replica where idle
    whole = plan_of([workload(w, 1.0, **kw[w], periods=[{"name": n, "hours": h, "requests_per_min": r}
                                                       for (n, h), r in zip(PERIODS, rpm[w])]) for w in rpm])
    assert whole.verification.ok, [c for c in whole.verification.checks if not c.ok]
    alone = [plan_of([workload(w, rpm[w][t], **kw[w]) for w in rpm if rpm[w][t] > 0]) for t in range(len(PERIODS))]
    hours = sum(h for _, h in PERIODS)
    want = sum(p.objective_usd_per_hour * h / hours for p, (_, h) in zip(alone, PERIODS))
    assert whole.status == "optimal" and all(p.status == "optimal" for p in alone)
    assert whole.objective_usd_per_hour == pytest.approx(want, rel=1e-9, abs=1e-9)
