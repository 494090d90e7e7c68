"""The constructive start's two rules (``planner.fleet.start``): node share and marginal whole nodes, the cheaper kept.

Worked by hand on one GPU type sold two ways: a 1-GPU node at 3 USD/h and an 8-GPU node at 16 USD/h (2 USD per GPU).
Every workload needs one replica of one GPU (10 requests/min against 40 per replica at 80 % utilisation).
- The share rule charges a replica its GPU's share of the node: 2 on the big node against 3 on the small one, so every
  workload goes on the big offer, whose nodes are then bought whole: one 16 USD/h node for up to eight replicas.
- The packing rule charges what the offer must add in whole nodes: 16 for the big offer's first replica against 3,
  then 3 again for the small offer's next node, so each workload gets a 1-GPU node: 3 USD/h a workload.
Two workloads: 16 against 6, the packing rule's start is kept. Eight: 16 against 24, the share rule's.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.fleet.formulation import build, fleet_cost
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.start import RULES, greedy_start, greedy_values, start_options
from tests.solve_helpers import offer, override, scenario, workload


def _case(n: int):
    wids = [f"w{i}" for i in range(n)]
    loaded = scenario([workload(w, 10) for w in wids],
                      [offer("small", "l40s", 3.0), offer("big", "l40s", 2.0, gpus_per_node=8)],
                      [override(w, "l40s", 40.0) for w in wids])
    s = loaded.scenario
    return s, enumerate_options(loaded), horizon_for(s)


def _nodes(values: dict) -> dict:
    return {k[1]: v for k, v in values.items() if k[0] == "nodes"}


def _cost(f, start) -> float:
    x = np.zeros(f.problem.n_vars)
    x[start[0]] = start[1]
    return sum(fleet_cost(f, x).values())


@pytest.mark.parametrize("n, share_nodes, packing_nodes, kept", [
    (2, {"big": 1.0}, {"small": 2.0}, 6.0),
    (8, {"big": 1.0}, {"small": 8.0}, 16.0),
])
def test_each_rule_by_hand_and_the_cheaper_kept(n, share_nodes, packing_nodes, kept):
    s, options, horizon = _case(n)
    assert _nodes(greedy_values(s, options, horizon, "share")) == share_nodes
    assert _nodes(greedy_values(s, options, horizon, "packing")) == packing_nodes
    f = build(s, options, horizon)
    assert _cost(f, greedy_start(f)) == pytest.approx(kept)


def test_a_tie_keeps_the_share_rule():
    # three workloads, the small node at 16/3 USD/h: one big node (share rule) and three small ones (packing rule)
    # both cost 16 USD/h, and the share rule's fleet is kept
    wids = ["a", "b", "c"]
    loaded = scenario([workload(w, 10) for w in wids],
                      [offer("small", "l40s", 16.0 / 3.0), offer("big", "l40s", 2.0, gpus_per_node=8)],
                      [override(w, "l40s", 40.0) for w in wids])
    s = loaded.scenario
    options, horizon = enumerate_options(loaded), horizon_for(s)
    f = build(s, options, horizon)
    share = greedy_values(s, options, horizon, "share")
    start = greedy_start(f)
    assert _nodes(share) == {"big": 1.0}
    assert _cost(f, start) == pytest.approx(16.0)
    x_share = {f.problem.var_key(int(c)): v for c, v in zip(*start)}
    assert x_share[("nodes", "big", 0)] == 1.0


def test_the_union_of_both_starts_holds_both():
    s, options, horizon = _case(2)
    sub = start_options(s, options, horizon)
    offers_used = {d.offer for d in sub.deployments}
    assert offers_used == {"small", "big"}
    for rule in RULES:   # each rule over the union makes the choices it made over every option
        assert _nodes(greedy_values(s, sub, horizon, rule)) == _nodes(greedy_values(s, options, horizon, rule))
