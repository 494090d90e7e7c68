"""The restricted program (``planner.fleet.restricted``) and how ``plan solve`` uses its plan: a verified plan of
the scenario, printed only when cheaper than the full solve's, with the full solve's bound, never called optimal
without a closed gap."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import pytest

import planner.fleet.neighbourhood as neighbourhood_mod
import planner.fleet.restricted as restricted_mod
import planner.fleet.solve as solve_mod
from planner.fleet import incumbent
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import horizon_for
from planner.fleet.restricted import RESTRICT_K, restricted_options, unit_price
from planner.fleet.share_bound import share_bound
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.fleet.formulation import build
from planner.fleet.options import enumerate_options
from planner.fleet.start import greedy_start, start_options
from planner.fleet.workload_bound import workload_bound
from planner.fleet.options import Deployment
from tests.solve_helpers import bench_medium, offer, scenario, workload

def test_unit_price_by_hand():
    # a replica half available (spot): half the requests need 1/(0.5 x 40) of a replica, half 1/(0.5 x 20): 0.075
    # replicas per request/min; a 2-GPU replica on an 8-GPU node of 16 USD/h costs 4 USD/h: 0.3 USD/h per request/min
    mix = [{"prompt_tokens": 100, "output_tokens": 100, "share": 0.5},
           {"prompt_tokens": 4000, "output_tokens": 100, "share": 0.5}]
    s = scenario([workload("w", 40, size_mix=mix)], [offer("n8", "l40s", 2.0, gpus_per_node=8)], []).scenario
    d = Deployment(index=0, workload="w", offer="n8", gpu="l40s", precision="bf16", tp=2, mig_profile=None,
                   capacity_rpm=(40.0, 20.0), ttft_ms=(1.0, 1.0), tpot_ms=(1.0, 1.0), availability=0.5,
                   price_usd_per_gpu_hour=2.0)
    assert unit_price(d, s.offers[0], s.workloads[0]) == pytest.approx(0.3)
    missing = Deployment(**{**d.__dict__, "capacity_rpm": (40.0, 0.0)})
    assert unit_price(missing, s.offers[0], s.workloads[0]) == math.inf


def test_the_restricted_options_are_the_k_cheapest_per_workload_and_the_starts():
    m = bench_medium()
    s, options = m["loaded"].scenario, m["options"]
    horizon = horizon_for(s)
    sub = restricted_options(s, options, horizon)
    start = {d.key for d in start_options(s, options, horizon, near=True).deployments}
    kept = {d.key for d in sub.deployments}
    assert start <= kept and kept <= {d.key for d in options.deployments}
    assert [d.index for d in sub.deployments] == list(range(len(sub.deployments)))
    offers = {o.id: o for o in s.offers}
    for w in s.workloads:
        mine = [d for d in options.deployments if d.workload == w.id]
        price = {d.key: unit_price(d, offers[d.offer], w) for d in mine}
        top = [k for k in kept if k[0] == w.id and k not in start]
        assert len(top) <= RESTRICT_K
        dropped = [price[d.key] for d in mine if d.key not in kept]
        # nothing left out is cheaper per request than the k kept
        cheapest_kept = sorted(price[k] for k in kept if k[0] == w.id)[:RESTRICT_K]
        assert all(p >= max(cheapest_kept) - 1e-12 for p in dropped if math.isfinite(p))


def test_a_cheaper_restricted_plan_is_printed_with_the_workloads_own_bound(monkeypatch):
    # no full solve fits (passing the program to the solver is estimated past the budget): the full path has only
    # the constructive start; the restricted program's plan is cheaper, verified, feasible, with a proven bound
    m = bench_medium()
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)  # M-1 is below the size it is used from
    monkeypatch.setattr(solve_mod, "PASS_S_PER_VAR", 1e3)
    # the rungs alone: the neighbourhood search after them (tests/test_neighbourhood.py) would run to the budget's end
    monkeypatch.setattr(neighbourhood_mod, "MIN_STEP_S", math.inf)
    # the workloads' own bound alone: the caps' bound, which would run at this budget, is the next test's
    monkeypatch.setattr(solve_mod, "CAP_MIN_S", math.inf)
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", time_limit_s=60.0, baselines=False))
    monkeypatch.setattr(solve_mod, "RESTRICT_SHARE", 0.0)
    start_only = solve_scenario(m["loaded"], SolveSettings(solver="highs", time_limit_s=60.0, baselines=False))
    assert plan.verification.ok and plan.status == "feasible" and "restricted program" in plan.message
    assert plan.objective_usd_per_hour < start_only.objective_usd_per_hour - 1.0  # 117.37 against 136.59
    # the bound: the workloads' own programs' (Ladder.bound_beside: one period, the full program left unsolved),
    # between the closed-form share bound and M-1's proven optimum, 100.707 USD/h; the start alone (no rungs ran
    # beside: RESTRICT_SHARE 0) has only the share bound
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    share = share_bound(s, m["options"], horizon)
    bound = workload_bound(s, m["options"], horizon, time.perf_counter() + 60.0)
    assert share + 1.0 < bound < 100.707
    assert plan.bound_usd_per_hour == pytest.approx(bound, rel=1e-9)
    assert plan.gap == pytest.approx((plan.objective_usd_per_hour - bound) / plan.objective_usd_per_hour)
    assert start_only.bound_usd_per_hour == pytest.approx(share, rel=1e-9)


def test_with_time_for_it_the_caps_bound_is_carried_and_named(monkeypatch):
    # as above, with the caps' bound allowed whatever its time (CAP_MIN_S 0): computed after the first rung, seeded
    # with its plan, it converges on M-1 in about a second at ~92.7 USD/h (tests/test_cap_bound.py), above the
    # workloads' own bound and below the proven optimum 100.707, and is the one printed, by name
    m = bench_medium()
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    monkeypatch.setattr(solve_mod, "PASS_S_PER_VAR", 1e3)
    monkeypatch.setattr(neighbourhood_mod, "MIN_STEP_S", math.inf)
    monkeypatch.setattr(solve_mod, "CAP_MIN_S", 0.0)
    stages = []
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", time_limit_s=60.0, baselines=False),
                          progress=lambda stage, info: stages.append(stage))
    s = m["loaded"].scenario
    own = workload_bound(s, m["options"], horizon_for(s), time.perf_counter() + 60.0)
    assert stages.index("restricted") < stages.index("bounding") < stages.index("building")
    assert plan.verification.ok and plan.status == "feasible"
    assert own + 4.0 < plan.bound_usd_per_hour < 100.707
    assert "planner.fleet.cap_bound" in plan.message
    # with less time for it than CAP_MIN_S it does not run
    monkeypatch.setattr(solve_mod, "CAP_MIN_S", math.inf)
    stages.clear()
    solve_scenario(m["loaded"], SolveSettings(solver="highs", time_limit_s=60.0, baselines=False),
                   progress=lambda stage, info: stages.append(stage))
    assert "bounding" not in stages
    # CAP_MIN_S is the time it needs on one thread: at a 60 s budget it has 34-41 s, too little for 60 s on one; with
    # --threads 3 it prices on the two the full solve would have beside the ladder, and CAP_MIN_S is halved
    monkeypatch.setattr(solve_mod, "CAP_MIN_S", 60.0)
    for threads, runs in ((1, False), (3, True)):
        stages.clear()
        solve_scenario(m["loaded"], SolveSettings(solver="highs", time_limit_s=60.0, baselines=False, threads=threads),
                       progress=lambda stage, info: stages.append(stage))
        assert ("bounding" in stages) is runs


def test_with_time_to_spare_the_optimum_is_the_full_programs(monkeypatch):
    m = bench_medium()
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.gap == 0.0 and "restricted" not in plan.message
    assert plan.objective_usd_per_hour == pytest.approx(100.707, abs=1e-4)  # bench/data/frozen-best.csv, M-1


def _plan(base, objective: float, bound: float | None, status: str = "feasible"):
    gap = None if bound is None else (objective - bound) / objective
    return base.model_copy(update={"objective_usd_per_hour": objective, "bound_usd_per_hour": bound, "gap": gap,
                                   "status": status, "message": status})


def test_adopting_keeps_the_better_bound_and_claims_optimal_only_with_a_closed_gap():
    m = bench_medium()
    base = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    full = _plan(base, 120.0, 100.0)
    adopted = incumbent.adopt_cheaper(full, _plan(base, 110.0, 80.0), mip_gap=1e-4)
    assert (adopted.objective_usd_per_hour, adopted.bound_usd_per_hour) == (110.0, 100.0)
    assert adopted.gap == pytest.approx(10 / 110) and adopted.status == "feasible"
    assert adopted.verification is None  # verified again before it is printed
    closed = incumbent.adopt_cheaper(full, _plan(base, 100.005, 80.0), mip_gap=1e-4)
    assert closed.status == "optimal" and closed.gap == pytest.approx(0.005 / 100.005)
    assert incumbent.adopt_cheaper(full, _plan(base, 125.0, 110.0), mip_gap=1e-4) is full
    assert incumbent.adopt_cheaper(full, None, mip_gap=1e-4) is full


def test_a_plan_without_a_solver_bound_takes_the_closed_form_one():
    m = bench_medium()
    base = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    none = _plan(base, 120.0, None)
    got = incumbent.with_bound(none, 90.0, mip_gap=1e-4)
    assert (got.bound_usd_per_hour, got.gap, got.status) == (90.0, pytest.approx(0.25), "feasible")
    assert incumbent.with_bound(_plan(base, 120.0, 100.0), 90.0, mip_gap=1e-4).bound_usd_per_hour == 100.0
    assert incumbent.with_bound(none, None, mip_gap=1e-4) is none
    assert incumbent.with_bound(base, 1e9, mip_gap=1e-4) is base  # optimal: proven already
    assert incumbent.with_bound(none, 120.0, mip_gap=1e-4).status == "optimal"  # a bound at the objective closes it
    at = incumbent.with_bound(none, 120.0 * (1 + 5e-7), mip_gap=1e-4)   # above it within the zero-gap tolerance
    assert (at.status, at.bound_usd_per_hour, at.gap) == ("optimal", 120.0, 0.0)


def test_a_bound_above_a_verified_plan_is_a_failed_proof_and_is_not_carried():
    # a lower bound cannot exceed the cost of a feasible plan: 130 over a verified 120 is a proof that failed (HiGHS
    # with lifting for probing, docs/BENCHMARKS.md "Forty-first pass"); carried, it closed the gap and printed optimal
    m = bench_medium()
    base = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    own = _plan(base, 120.0, 90.0)
    got = incumbent.with_bound(own, 130.0, mip_gap=1e-4)
    assert (got.status, got.bound_usd_per_hour, got.gap) == ("feasible", 90.0, pytest.approx(0.25))
    assert "130 USD/h was not carried" in got.message and "the proof behind it failed" in got.message
    # the full program "proved" 57.2013 optimal; the search beside it has a verified 54.8013: printed feasible
    full = _plan(base, 57.2013, 57.2013, status="optimal")
    adopted = incumbent.adopt_cheaper(full, _plan(base, 54.8013, None), mip_gap=1e-4)
    assert adopted.objective_usd_per_hour == 54.8013 and adopted.status == "feasible"
    assert adopted.bound_usd_per_hour is None and "not carried" in adopted.message


def _rung(m, k, deadline_s=60.0, previous=None):
    s = m["loaded"].scenario
    return restricted_mod._rung(s, m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s), "highs", k,
                                time.perf_counter() + deadline_s, previous)


def test_a_first_rung_of_one_period_starts_from_the_start_over_every_option(monkeypatch):
    # M-2 at k = 2, the rung's options without the options the moves look at first (start_options' near): the rules
    # over those alone end at 89.64 USD/h, over every option at 84.69 (the first plan's); the rung starts from the
    # latter, by deployment key (this fails if it took its own)
    from bench import generate  # noqa: PLC0415
    from tests.test_first_plan import _fleet  # noqa: PLC0415

    loaded = generate.load("M", 2)
    m = {"loaded": loaded, "options": enumerate_options(loaded)}
    s = loaded.scenario
    built, seen = [], {}
    used_only = restricted_mod.start_options
    monkeypatch.setattr(restricted_mod, "start_options", lambda s, o, h, near=False: used_only(s, o, h))
    real = restricted_mod.build
    monkeypatch.setattr(restricted_mod, "build", lambda *a, **k: built.append(real(*a, **k)) or built[-1])

    class Stop(Exception):
        pass

    class Backend:
        def solve(self, problem, options):
            seen["start"] = options.start
            raise Stop

    monkeypatch.setattr(restricted_mod, "get_backend", lambda name, problem: Backend())
    with pytest.raises(Stop):
        _rung(m, 2)
    f_all = build(s, m["options"], horizon_for(s))
    want = _fleet(f_all, greedy_start(f_all))
    assert _fleet(built[-1], seen["start"]) == want
    assert _fleet(built[-1], greedy_start(built[-1])) != want   # the rules over the rung's own options


def test_carry_start_is_the_same_fleet_in_the_larger_program(monkeypatch):
    # the k = 2 program's solution, carried into the k = 6 program, its integer columns fixed and the rest
    # completed: the same fleet, so the same cost (a wrong index mapping moves replicas to other deployments:
    # another cost, or no completion at all)
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    m = bench_medium()
    small = _rung(m, 2)
    large = _rung(m, 6, previous=None)
    assert small is not None and large is not None
    f_small, sol_small = small.f, small.sol
    f_large = large.f
    assert len(f_large.options.deployments) > len(f_small.options.deployments)
    carried = restricted_mod.carry_start(f_small, sol_small.values, f_large)
    done = solve_mod._complete_start(f_large, "highs", carried, 60.0, 0.0)
    assert done is not None
    assert done.objective == pytest.approx(sol_small.objective, rel=1e-9)
    # every replica of the small program lands on the deployment with the same key
    key_small = {d.index: d.key for d in f_small.options.deployments}
    key_large = {d.index: d.key for d in f_large.options.deployments}
    got = {}
    for j in f_large.problem.block_columns("replicas"):
        _, d, t = f_large.problem.var_key(int(j))
        if done.values[int(j)] > 0.5:
            got[(key_large[d], t)] = round(done.values[int(j)])
    want = {}
    for j in f_small.problem.block_columns("replicas"):
        _, d, t = f_small.problem.var_key(int(j))
        if sol_small.values[int(j)] > 0.5:
            want[(key_small[d], t)] = round(sol_small.values[int(j)])
    assert got == want


def _ladder_1_6(monkeypatch):
    """A ladder of the k = 1 and k = 6 programs on the medium instance, solved to optimality, with its oracle: the
    k = 6 program solved alone; returns (Ladder's arguments, the oracle's rung)."""
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    monkeypatch.setattr(restricted_mod, "RESTRICT_LADDER", (1, 6))
    m = bench_medium()
    s = m["loaded"].scenario
    return (m["loaded"], m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s), "highs"), _rung(m, 6)


def test_the_ladder_next_rung_is_the_larger_programs_optimum(monkeypatch):
    # oracle: the k = 6 program solved alone to optimality; the ladder's next rung, started from k = 1, reaches
    # the same objective (or finds nothing cheaper than k = 1 and returns None)
    args, alone = _ladder_1_6(monkeypatch)
    ladder = restricted_mod.Ladder(*args, lambda stage, info: None)
    first = ladder.first(60.0)
    ladder.start_next(60.0)
    nxt = ladder.next_plan()
    assert first is not None and first.verification.ok and first.status == "feasible"
    if nxt is None:
        assert first.objective_usd_per_hour == pytest.approx(alone.sol.objective, rel=1e-9)
    else:
        assert nxt.verification.ok and nxt.status == "feasible" and "the 6 cheapest options" in nxt.message
        assert nxt.objective_usd_per_hour == pytest.approx(alone.sol.objective, rel=1e-9)
        assert nxt.objective_usd_per_hour < first.objective_usd_per_hour
    assert not any(t.name == "fleetplan-restricted" for t in threading.enumerate())


def test_the_ladder_reraises_what_failed_in_its_thread_and_runs_only_beside_highs(monkeypatch):
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    m = bench_medium()
    s = m["loaded"].scenario
    args = (m["loaded"], m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s))
    ladder = restricted_mod.Ladder(*args, "highs", lambda stage, info: None)
    assert ladder.first(30.0) is not None

    def boom(*a, **k):
        raise RuntimeError("a rung failed")

    monkeypatch.setattr(restricted_mod, "_rung", boom)
    ladder.start_next(30.0)
    with pytest.raises(RuntimeError, match="a rung failed"):
        ladder.next_plan()
    assert ladder.next_plan() is None  # raised once, then nothing
    other = restricted_mod.Ladder(*args, "cbc", lambda stage, info: None)
    other._rung = ("f", "sol", 3)  # as if a first rung had been solved: CBC still gets no thread
    other.start_next(30.0)
    assert other._thread is None and other.next_plan() is None
    short = restricted_mod.Ladder(*args, "highs", lambda stage, info: None)
    short._rung = ("f", "sol", 3)  # ... nor a budget too short for a rung to improve
    short.start_next(restricted_mod.RESTRICT_NEXT_MIN_S - 0.1)
    assert short._thread is None


def test_the_rest_of_the_ladder_runs_when_the_full_program_is_not_solved(monkeypatch):
    # rest(): the next rungs, run now when none ran beside the full solve (its budget was under
    # RESTRICT_NEXT_MIN_S), within the limit less what the first rung took beyond its own; the same oracle as above
    args, alone = _ladder_1_6(monkeypatch)
    ladder = restricted_mod.Ladder(*args, lambda stage, info: None)
    first = ladder.first(60.0)
    assert first is not None and ladder._extra_s >= 0.0
    ladder.start_next(restricted_mod.RESTRICT_NEXT_MIN_S - 0.1)   # too short to run beside the full solve
    assert ladder._thread is None
    nxt = ladder.rest(60.0)
    best = nxt or first
    assert best.verification.ok and best.objective_usd_per_hour == pytest.approx(alone.sol.objective, rel=1e-9)
    assert ladder._started and ladder.rest(60.0) is nxt   # ran once: asked again, the same plan, no second run
    starved = restricted_mod.Ladder(*args, lambda stage, info: None)
    starved._rung, starved._extra_s = ("f", "sol", 1), 5.0   # 1 s left less 5 s of build and verification: no run
    assert starved.rest(1.0) is None and starved._thread is None


def test_the_own_rung_is_the_program_over_the_workloads_choices(monkeypatch):
    # the ladder k = 1 -> own: the second rung's program holds the k = 3 options, the start's, the first rung's and
    # those the workloads' own programs chose; oracle: that program built and solved alone to optimality
    monkeypatch.setattr(restricted_mod, "RESTRICT_GAP", 0.0)
    monkeypatch.setattr(restricted_mod, "RESTRICT_MIN_OPTIONS", 0)
    monkeypatch.setattr(restricted_mod, "RESTRICT_LADDER", (1, restricted_mod.OWN))
    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    first = _rung(m, 1)
    chosen = restricted_mod.workload_choices(s, m["options"], horizon, time.perf_counter() + 60.0)
    also = chosen | {d.key for d in first.f.options.deployments}
    sub = restricted_options(s, m["options"], horizon, RESTRICT_K, also)
    own = _rung(m, restricted_mod.OWN, previous=first)
    assert {d.key for d in own.f.options.deployments} == {d.key for d in sub.deployments} and own.kept == (3, True)
    alone = restricted_mod.build(s, sub, horizon, extra_blocks=hedge_blocks(s))
    oracle = solve_mod._run(alone, "highs", 60.0, 0.0)
    assert own.sol.objective == pytest.approx(oracle.objective, rel=1e-9)
    ladder = restricted_mod.Ladder(m["loaded"], m["options"], horizon, SolveSettings(), hedge_blocks(s), "highs",
                                   lambda stage, info: None)
    ladder.first(60.0)
    ladder.start_next(60.0)
    nxt = ladder.next_plan()   # cheaper than the first rung's plan (M-1: 116.86 against 136.12 USD/h)
    assert nxt is not None and nxt.verification.ok and "own programs chose" in nxt.message
    assert nxt.objective_usd_per_hour == pytest.approx(oracle.objective, rel=1e-9)


def test_the_next_rungs_get_the_longer_share_only_on_one_period_after_a_first_rung_solved_to_its_gap():
    m = bench_medium()
    s = m["loaded"].scenario
    ladder = restricted_mod.Ladder(m["loaded"], m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s),
                                   "highs", lambda stage, info: None)
    assert ladder.next_share() == restricted_mod.RESTRICT_SHARE   # no first rung
    for status, share in (("optimal", restricted_mod.RESTRICT_NEXT_SHARE), ("feasible", restricted_mod.RESTRICT_SHARE)):
        sol = type("Sol", (), {"status": status})()
        ladder._rung = restricted_mod.Rung("f", sol, (3, False))
        assert ladder.next_share() == share
    # on several periods the short share whatever the first rung's envelope did: solved to its gap there (XL-1, from
    # the start of the forty-seventh pass), the longer share went to the "own" rung and left the periods' own programs
    # too little (379-380 USD/h at 120 s against 329-346)
    hours = restricted_mod.Ladder(m["loaded"], m["options"], SimpleNamespace(periods=[0, 1]), SolveSettings(),
                                  hedge_blocks(s), "highs", lambda stage, info: None)
    for status in ("optimal", "feasible"):
        sol = type("Sol", (), {"status": status})()
        hours._rung = restricted_mod.Rung("f", type("Sol", (), {"status": "feasible"})(), (3, False), ("f", sol))
        assert hours.next_share() == restricted_mod.RESTRICT_SHARE


def test_extend_moves_the_next_rungs_deadline_only_later():
    m = bench_medium()
    s = m["loaded"].scenario
    ladder = restricted_mod.Ladder(m["loaded"], m["options"], horizon_for(s), SolveSettings(), hedge_blocks(s),
                                   "highs", lambda stage, info: None)
    ladder._until = 10.0
    ladder.extend(5.0)
    assert ladder._until == 10.0
    ladder.extend(20.0)
    assert ladder._until == 20.0


def test_on_several_periods_bound_beside_takes_every_level_and_the_ladder_reports_the_higher_bound():
    from planner.fleet.options import enumerate_options  # noqa: PLC0415
    from tests.test_workload_bound import _ramp  # noqa: PLC0415

    loaded = _ramp()   # 24 hours; every level: 136 / 24 USD/h, the optimum; four levels: less (test_workload_bound)
    s = loaded.scenario
    horizon = horizon_for(s)
    ladder = restricted_mod.Ladder(loaded, enumerate_options(loaded), horizon, SolveSettings(), hedge_blocks(s),
                                   "highs", lambda stage, info: None)
    ladder.bound_beside(time.perf_counter() + 60.0)
    assert ladder.bound() is None   # the next rungs never ran: nothing beside them
    ladder._started = True
    ladder._bound = 5.0   # what the thread's four levels gave (stand-in)
    ladder.bound_beside(time.perf_counter() + 60.0)
    assert ladder._bound_all == pytest.approx(136 / 24)
    assert ladder.bound() == pytest.approx(136 / 24)
    ladder._bound = 6.0
    assert ladder.bound() == 6.0   # the higher of the two
