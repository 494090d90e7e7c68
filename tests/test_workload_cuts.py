"""The caps' bound's workload cuts as rows of the full program (``planner.fleet.workload_cuts``): the proven optimum
satisfies every one of them, and the full program's relaxation with them is at least the caps' bound."""

from __future__ import annotations

import time

import highspy
import pytest

from planner.fleet.cap_bound import cap_bound
from planner.fleet.hedge import hedge_blocks
from planner.fleet.horizon import horizon_for
from planner.fleet.solve import SolveSettings, _build_cost, solve_scenario
from planner.fleet.workload_cuts import cut_block
from solvers.highs import highs_lp
from planner.fleet.options import enumerate_options
from tests.solve_helpers import bench_medium, offer, override, scenario, workload

SETTINGS = SolveSettings(solver="highs", baselines=False, tie_break=False, share_routing=True)


def _lp(f) -> float:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(highs_lp(f.problem.to_arrays(), f.problem.objective_constant, integer=False))
    h.run()
    return float(h.getInfo().objective_function_value)


@pytest.fixture(scope="module")
def medium_cuts():
    m = bench_medium()
    s = m["loaded"].scenario
    horizon = horizon_for(s)
    cuts: list = []
    bound = cap_bound(s, m["options"], horizon, time.perf_counter() + 60.0, cuts=cuts)
    return m, horizon, cuts, bound


def test_the_proven_optimum_satisfies_every_cut(medium_cuts):
    # M-1's optimum, 100.707 USD/h (bench/data/frozen-best.csv), solved without the cuts: each workload's replicas
    # at the cut's prices cost at least the LB proven at them (a valid inequality holds at every feasible point)
    m, _, cuts, _ = medium_cuts
    plan = solve_scenario(m["loaded"], SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.status == "optimal" and plan.objective_usd_per_hour == pytest.approx(100.707, abs=1e-3)
    workloads = {w.id for w in m["loaded"].scenario.workloads}
    assert {wid for _, wid, _, _ in cuts} == workloads   # the first step's and the best step's, for every workload
    assert len(cuts) == 2 * len(workloads)
    lines = plan.periods[0].replicas
    tight = 0
    for t, wid, price, lb in cuts:
        paid = sum(price[x.key] * x.count for x in lines if x.workload == wid)
        assert paid >= lb - 1e-6 * max(lb, 1.0), (wid, paid, lb)
        tight += paid <= lb + 1e-6
    assert tight > 0   # some cut is tight at the optimum: the rows are not vacuous


def test_the_relaxation_with_the_cuts_is_at_least_the_caps_bound(medium_cuts):
    # the module docstring's argument: packing and the caps' rows bring every point of the LP with the cuts to at
    # least L(nu); without them M-1's LP is far below (its LP bound is well under the workload bound)
    m, horizon, cuts, bound = medium_cuts
    s = m["loaded"].scenario
    plain = _build_cost(s, m["options"], horizon, SETTINGS, hedge_blocks(s))
    cut = _build_cost(s, m["options"], horizon, SETTINGS, (*hedge_blocks(s), cut_block(cuts)))
    assert cut.problem.n_rows == plain.problem.n_rows + len(cuts)
    lp_plain, lp_cut = _lp(plain), _lp(cut)
    assert lp_plain < bound - 1.0
    assert lp_cut >= bound - 1e-6 * bound
    assert lp_cut < 100.707 + 1e-6   # and never above the optimum
    # and the program with the cuts has the same optimum (an oracle: the cuts cut off no optimal point)
    assert _mip(cut) == pytest.approx(100.707, abs=1e-3)


def _mip(f) -> float:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", 300.0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.passModel(highs_lp(f.problem.to_arrays(), f.problem.objective_constant, integer=True))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)


def test_merged_twins_take_the_least_price_of_their_members():
    # three workloads of one replica each (10 req/min, 24 a replica at rho 0.8); two twin offers of one L40S node at
    # 1 USD/h with room for one replica each (merged: same node, same price), and A100 nodes at 3 USD/h without a
    # cap. The optimum is 1 + 1 + 3 = 5 USD/h; the cuts are rows on the merged column, and keep that optimum
    wls = [workload(w, 10.0) for w in ("a", "b", "c")]
    offs = [offer("twin1", "l40s", 1.0, max_nodes=1), offer("twin2", "l40s", 1.0, max_nodes=1),
            offer("dear", "a100-80gb", 3.0)]
    loaded = scenario(wls, offs, [override(w, g, 24.0) for w in ("a", "b", "c") for g in ("l40s", "a100-80gb")])
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    cuts: list = []
    bound = cap_bound(s, options, horizon, time.perf_counter() + 60.0, cuts=cuts)
    assert bound == pytest.approx(5.0)
    f = _build_cost(s, options, horizon, SETTINGS, (cut_block(cuts),))
    assert f.merge is not None and list(f.merge.groups) == ["twin1"]
    assert f.problem.n_rows == _build_cost(s, options, horizon, SETTINGS, ()).problem.n_rows + len(cuts)
    assert _lp(f) >= 5.0 - 1e-6
    assert _mip(f) == pytest.approx(5.0)


def test_a_workload_with_a_column_no_price_covers_gets_no_cut(medium_cuts):
    m, horizon, cuts, _ = medium_cuts
    s = m["loaded"].scenario
    wid = cuts[0][1]
    dropped = [(t, w, {k: v for j, (k, v) in enumerate(price.items()) if j > 0} if w == wid else price, lb)
               for t, w, price, lb in cuts]
    f = _build_cost(s, m["options"], horizon, SETTINGS, (*hedge_blocks(s), cut_block(dropped)))
    plain = _build_cost(s, m["options"], horizon, SETTINGS, hedge_blocks(s))
    per_workload = sum(1 for _, w, _, _ in cuts if w == wid)
    assert f.problem.n_rows == plain.problem.n_rows + len(cuts) - per_workload
