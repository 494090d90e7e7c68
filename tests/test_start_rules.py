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

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.fleet.formulation import build, fleet_cost
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.start import (MOVE_PASSES, RULES, _candidates, _moves, _reindexed, greedy_start, greedy_values,
                                  start_columns, start_options)
from tests.solve_helpers import offer, override, scenario, workload
from tests.test_first_plan import CASES, case_options


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


def test_the_union_of_the_starts_holds_each():
    s, options, horizon = _case(2)
    sub = start_options(s, options, horizon)
    assert {d.offer for d in sub.deployments} == {"small", "big"}   # share: both on big; packing: both on small
    f = build(s, sub, horizon)
    for rule in RULES:   # each rule's start is a point of the union's program: the nodes it buys are there
        cols, vals = start_columns(f, _reindexed(greedy_values(s, options, horizon, rule), options, sub))
        assert {f.problem.var_key(int(c)): v for c, v in zip(cols, vals) if v and f.problem.var_key(int(c))[0] ==
                "nodes"} == {("nodes", o, 0): n for o, n in _nodes(greedy_values(s, options, horizon, rule)).items()}
    assert _cost(f, greedy_start(f, over=options)) == pytest.approx(6.0)


def test_a_move_fills_a_node_already_paid_for():
    # two offers: A an 8-GPU node at 16 USD/h, B a 1-GPU node at 5 USD/h; w0 on B (5), w1 on A (16): 21 USD/h.
    # Moving w0 onto A's node frees B's node (-5) and adds no node to A (its 8 GPUs hold both): 16 USD/h. w0 moves
    # first (the workloads' order); then moving w1 to B would add a B node (+5) and free nothing on A (w0 is there):
    # the moves stop at 16
    terms = {"A": (16.0, 1.0, 8, 0, np.inf), "B": (5.0, 1.0, 1, 0, np.inf)}
    a0, b0 = SimpleNamespace(offer="A", tp=1), SimpleNamespace(offer="B", tp=1)
    a1, b1 = SimpleNamespace(offer="A", tp=1), SimpleNamespace(offer="B", tp=1)
    picks = [(b0, 1, 5.0), (a1, 1, 2.0)]
    got = _moves([[(a0, 1), (b0, 1)], [(a1, 1), (b1, 1)]], terms, picks)
    assert [(d.offer, r) for d, r, _ in got] == [("A", 1), ("A", 1)]
    # A allowed one GPU (max_nodes): w0 cannot join w1 there, so w1 leaves A for a second B node (+5 - 16): 10 USD/h
    full = {"A": (16.0, 1.0, 8, 0, 1), "B": (5.0, 1.0, 1, 0, np.inf)}
    assert [(d.offer, r) for d, r, _ in _moves([[(a0, 1), (b0, 1)], [(a1, 1), (b1, 1)]], full, picks)] == [
        ("B", 1), ("B", 1)]


@pytest.mark.parametrize("kind, seed", CASES)
def test_moves_never_raise_the_cost_of_one_period(kind, seed):
    # one period: the whole nodes the moves count (owned reserved nodes free) are the program's own cost terms, so
    # a rule's start after its moves costs no more than before them, and greedy_start is the cheapest of all
    s, options, horizon = case_options(kind, seed)
    assert len(horizon.periods) == 1
    f = build(s, options, horizon)
    cost = {rule: None if (v := greedy_values(s, options, horizon, rule)) is None else _cost(f, start_columns(f, v))
            for rule in RULES}
    for rule in ("share", "packing"):
        if cost[rule] is not None:
            assert cost[f"{rule}+moves"] <= cost[rule] + 1e-9
    start = greedy_start(f)
    if start is not None:
        assert _cost(f, start) == pytest.approx(min(c for c in cost.values() if c is not None), abs=1e-9)


def _reference_moves(sized, terms, picks, passes):
    """The moves written the slow way, an oracle for ``_moves`` over ``_candidates``: every option of a workload tried
    (ties by node share, then the options' order), each move's gain the whole fleet's node cost recomputed."""
    def fleet(p):
        g = {}
        for d, r, _ in p:
            g[d.offer] = g.get(d.offer, 0) + r * d.tp
        return g, sum(max(0, -(-n // terms[o][2]) - terms[o][3]) * terms[o][0] * terms[o][1] for o, n in g.items())

    picks = list(picks)
    for _ in range(passes):
        moved = False
        for i, cands in enumerate(sized):
            _, before = fleet(picks)
            best = None
            for d, r in sorted(cands, key=lambda dr: dr[1] * dr[0].tp * terms[dr[0].offer][0] / terms[dr[0].offer][2]):
                trial = picks[:i] + [(d, r, None)] + picks[i + 1:]
                g, after = fleet(trial)
                if d is picks[i][0] or g[d.offer] > terms[d.offer][4]:
                    continue
                key = (after - before, r * d.tp * terms[d.offer][0] / terms[d.offer][2])
                if key[0] < -1e-9 and (best is None or key < best[2]):
                    best = (d, r, key)
            if best is not None:
                picks[i] = best
                moved = True
        if not moved:
            break
    return picks


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_moves_over_the_pruned_candidates_are_the_moves_over_all(data):
    # integer prices and one multiplier: every sum exact, so the two must agree move for move, ties included (this
    # fails if _candidates dropped an option a move would take, or the skip of workloads that free no node skipped
    # one whose move gains)
    n_off = data.draw(st.integers(1, 4))
    terms = {f"o{k}": (float(data.draw(st.integers(1, 20))), 1.0, data.draw(st.sampled_from([1, 2, 4, 8])),
                       data.draw(st.integers(0, 2)), data.draw(st.sampled_from([np.inf, 8, 16])))
             for k in range(n_off)}
    sized = []
    for _ in range(data.draw(st.integers(1, 6))):
        cands = [(SimpleNamespace(offer=f"o{data.draw(st.integers(0, n_off - 1))}",
                                  tp=data.draw(st.sampled_from([1, 2, 4]))), data.draw(st.integers(1, 3)))
                 for _ in range(data.draw(st.integers(1, 6)))]
        sized.append(cands)
    picks = [(*c[data.draw(st.integers(0, len(c) - 1))], None) for c in sized]
    used = {}
    for d, r, _ in picks:
        used[d.offer] = used.get(d.offer, 0) + r * d.tp
    assume(all(g <= terms[o][4] for o, g in used.items()))
    got = _moves(_candidates(sized, terms)[0], terms, picks)
    want = _reference_moves(sized, terms, picks, MOVE_PASSES)
    assert [(d.offer, r * d.tp) for d, r, _ in got] == [(d.offer, r * d.tp) for d, r, _ in want]
