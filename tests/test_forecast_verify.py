"""Forecast plans through the independent verifier, and the formulation's valid inequalities (``_node_cuts``).

A forecast plan verifies; corrupting a commitment, a trended price, a month's demand or the tail fails the check
that owns it. The node cuts must never cut off a fleet: with and without them the optimum is the same, MIG
patterns that mix profiles included (a 4g + 3g GPU carries more than two 3g or one 4g alone).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import planner.fleet.formulation as formulation
from planner.forecast.run import forecast_horizon, with_overrides
from planner.forecast.decompose import solve_forecast
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.verify import verify_plan
from tests.forecast_helpers import forecast_scenario, option
from tests.solve_helpers import mig_only, offer, override, scenario, workload


@pytest.fixture(scope="module")
def solved():
    trends = [{"gpu": "l40s", "price_change_pct_per_month": -4}]
    # 1 node (2 in the 4 peak hours) for two months, then twice that; the peak stays on demand.
    loaded = with_overrides(forecast_scenario(rpm=80, months=4, trends=trends, growth={"multipliers": [1, 1, 2, 2]},
                                              profile=[1.0] * 20 + [2.0] * 4,
                                              options=[option(4, 0.5, upfront_usd_per_node=40), option(2, 0.8)]))
    plan, _ = solve_forecast(loaded, forecast_horizon(loaded), SolveSettings(baselines=False, tie_break=False))
    return loaded, plan


def _failed(loaded, plan) -> set[str]:
    return {c.name for c in verify_plan(loaded, plan).checks if not c.ok}


def test_forecast_plan_verifies(solved):
    loaded, plan = solved
    assert plan.commitments and plan.status == "optimal"
    assert _failed(loaded, plan) == set()
    assert {p.epoch for p in plan.periods} == {0, 1, 2, 3}
    od = [n for p in plan.periods for n in p.nodes if n.offer == "od"]
    assert od and all(n.price_multiplier == pytest.approx(0.96 ** p.epoch) for p in plan.periods for n in p.nodes
                      if n.offer == "od")


def _replace_commitment(plan, **update):
    first = plan.commitments[0].model_copy(update=update)
    return plan.model_copy(update={"commitments": (first, *plan.commitments[1:])})


def _replace_period(plan, t, **update):
    periods = list(plan.periods)
    periods[t] = periods[t].model_copy(update=update)
    return plan.model_copy(update={"periods": tuple(periods)})


@pytest.mark.parametrize("mutate, check", [
    # a commitment's locked rate that is not the option's rate x the trend at its start month
    (lambda p: _replace_commitment(p, usd_per_node_hour=p.commitments[0].usd_per_node_hour * 1.1), "costs_add_up"),
    # a commitment said to start in another month than its epoch
    (lambda p: _replace_commitment(p, start_month="2031-01"), "node_caps"),
    # a commitment of a term no option offers
    (lambda p: _replace_commitment(p, term_months=7), "node_caps"),
    # the tail after the horizon misstated
    (lambda p: p.model_copy(update={"cost": p.cost.model_copy(update={"reserved_tail_usd_per_hour": 1.0})}),
     "costs_add_up"),
    # an on-demand price without the month's trend
    (lambda p: _replace_period(p, -1, nodes=tuple(n.model_copy(update={"price_multiplier": 1.0})
                                                  for n in p.periods[-1].nodes)), "costs_add_up"),
    # a month's demand without its growth
    (lambda p: _replace_period(p, -1, demand_requests_per_min={"chat": 160.0}), "demand_covered"),
    # a period moved to another month: reserved count and demand no longer match that month
    (lambda p: _replace_period(p, 0, epoch=3), "node_caps"),
    # the reserved line of a period priced at the offer's list rate instead of the commitments' locked rates
    (lambda p: _replace_period(p, -1, nodes=tuple(n.model_copy(update={"usd_per_hour": n.usd_per_hour + 0.1})
                                                  if n.offer == "res" else n for n in p.periods[-1].nodes)),
     "costs_add_up"),
])
def test_corrupted_forecast_plan_fails_its_check(solved, mutate, check):
    loaded, plan = solved
    assert check in _failed(loaded, mutate(plan))


def _objective(loaded, blocks, monkeypatch):
    monkeypatch.setattr(formulation, "BLOCKS", blocks)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    return plan.objective_usd_per_hour


def _without_cuts():
    return tuple(b for b in formulation.BLOCKS if b is not formulation._node_cuts)


def test_node_cuts_keep_mixed_mig_patterns(monkeypatch):
    # One H100 (1-GPU nodes at 2.00/h) runs a 4g (10 req/min) and a 3g (6 req/min) instance: 16 x 0.8 = 12.8.
    # Two 3g make 9.6 and one 4g 8: 12 req/min fits one GPU only as 4g + 3g. A cut using the best single profile
    # per GPU would demand 2 GPUs.
    ovs = mig_only("chat", "h100-sxm", {"4g.40gb": 10, "3g.40gb": 6})
    s = scenario([workload("chat", 12)], [offer("h", "h100-sxm", 2.0, mig=True)], ovs)
    assert _objective(s, formulation.BLOCKS, monkeypatch) == pytest.approx(2.0)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(rpm=st.floats(5, 60), caps=st.lists(st.sampled_from([0, 3, 5, 8, 11]), min_size=4, max_size=4),
       l40s=st.sampled_from([None, 9.0, 25.0]), min_replicas=st.integers(0, 3), gpus=st.sampled_from([1, 2]))
def test_node_cuts_never_change_the_optimum(rpm, caps, l40s, min_replicas, gpus):
    profiles = dict(zip(("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb"), caps))
    if not any(profiles.values()) and l40s is None:
        profiles["1g.10gb"] = 3
    ovs = mig_only("chat", "h100-sxm", profiles)
    offers = [offer("h", "h100-sxm", 2.0, mig=True, gpus_per_node=gpus)]
    if l40s is not None:
        offers.append(offer("l", "l40s", 0.9))
        ovs.append(override("chat", "l40s", l40s))
    s = scenario([workload("chat", rpm, min_replicas=min_replicas)], offers, ovs)
    with pytest.MonkeyPatch.context() as mp:
        with_cuts = _objective(s, formulation.BLOCKS, mp)
        without = _objective(s, _without_cuts(), mp)
    assert with_cuts == pytest.approx(without, rel=1e-9, abs=1e-9)
