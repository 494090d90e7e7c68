r"""A constructive start: each workload on one non-spot whole-GPU option, on whole nodes; five rules, the cheapest kept.

For each period t and workload w with demand, every on-demand deployment d (no MIG) that can serve all of w's
buckets needs

    r_d = max(min_replicas_w, ceil( sum_b sigma_b lambda_{w,t} / (a_d cap_{d,b}) / rho ))

replicas to carry the whole demand alone (``_replica_capacity`` with x_{d,b,t} = sigma_b lambda_{w,t}). Among the d
whose offer still has room under ``max_nodes`` a rule picks one (``RULES``):

- ``share``: the least r_d tp_d p_o / G_o, its share of node cost, the workloads in the scenario's order;
- ``packing``: the least marginal cost of whole nodes, p_o (N_o(g + r_d tp_d) − N_o(g)) with g the GPUs the offer
  holds so far and N_o(g) = max(0, ceil(g / G_o) − owned_o) the nodes paid for (owned reserved nodes are sunk), ties
  by the node share; the workloads in decreasing order of the node share the ``share`` rule gave them (biggest first).
  Where the share rule puts a small replica alone on an 8-GPU node this one fills nodes already bought.
- ``share+wide``: the share rule's picks, then (``_moves``) each workload in turn moved to another of its options
  where that lowers the whole nodes paid for most (the same N_o, the freed nodes of its old offer counted), until no
  move lowers them (at most MOVE_PASSES rounds). In a plan of one period N_o is the program's own cost, so moves never
  make a start dearer (``tests/test_start_rules.py``). Of one offer's options only the one with the fewest GPUs
  r_d tp_d is tried (``_candidates``): N_o does not fall as g grows, so it gains at least as much as any other
  there, at a smaller node share.
- ``share+moves``, ``packing+moves``: that rule's picks, the same moves first among each workload's MOVE_K candidates
  of least node share alone, then among all. The moves are a local search whose end depends on its path: on the
  share rule's picks neither kind ends cheaper on every benchmark instance (docs/BENCHMARKS.md, forty-seventh pass),
  so both are kept; the packing rule's fill their nodes, and moves rarely free one there.

then buys n_{o,t} = ceil(sum_d tp_d r_d / G_o) nodes of each offer (on reserved offers the owned nodes first, and
m_{o,e} = the most any period of epoch e needs beyond them). Power-of-two TP degrees that divide G_o pack exactly
(``planner.fleet.formulation``, ``_node_packing``), so either fleet satisfies every base row: demand, capacity,
packing, caps, min_replicas, the node cuts (implied) and the non-spot floor (no spot). What it leaves open (the spot
hedge's binaries and routing) the solver completes with these integers fixed. ``greedy_start`` keeps the cheapest of
the fleets by the program's own cost terms (``fleet_cost``), the first in ``RULES`` on a tie: no rule wins on every
benchmark instance (docs/BENCHMARKS.md, forty-sixth pass).

It is a start, never an answer: 15-50 % above the optimum on the benchmark instances. HiGHS takes it as its first
incumbent (``SolveOptions.start``); ``planner.fleet.solve`` completes it itself when the solver found nothing. The
rules run over every option of the scenario even where the program is smaller (``greedy_start``'s ``over``: the first
plan's program holds only the deployments the starts use, ``start_options``), so the moves may go anywhere.
A rule returns None when some workload has no such option (MIG-only, spot-only, caps exhausted); both do in ``plan
forecast`` (commitments), where the start would have to sign terms.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from planner.fleet.formulation import Formulation, fleet_cost
from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.scenario.model import Scenario


START_BLOCKS = ("nodes", "reserved", "replicas", "mig", "load", "unmet")  # what a start fixes; the solver the rest
# the constructive rules (module docstring), in the order ties are kept; "+moves", "+wide": the rule's picks improved
# by moving one workload at a time to another of its options (``_moves``, ``_improved``)
RULES = ("share", "packing", "share+moves", "packing+moves", "share+wide")
MOVE_K = 4   # "+moves" moves first among each workload's MOVE_K candidates of least node share
MOVE_PASSES = 20


def start_columns(f: Formulation, values: dict[tuple, float]) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of every column of f's START_BLOCKS, from non-zero ``values`` by variable key (0 where a
    key is absent): a partial start the solver completes (``SolveOptions.start``)."""
    p = f.problem
    cols, vals = [], []
    for block in START_BLOCKS:
        for j in p.block_columns(block):
            cols.append(int(j))
            vals.append(values.get(p.var_key(int(j)), 0.0))
    return np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=float)


def greedy_start(f: Formulation, over: OptionSet | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(columns, values) of a feasible fleet of f's base rows (nodes, replicas, loads, MIG patterns), or None: the
    cheapest of the rules' fleets by f's cost terms, the first in ``RULES`` on a tie. The rules run over ``over``
    (default f's own options): options of the same scenario and horizon holding f's, every deployment a start uses
    among f's (``start_options``; ValueError otherwise), matched by key (``_reindexed``)."""
    best = None
    over = f.options if over is None else over
    for values in _starts(f.scenario, over, f.horizon)[0].values():
        if values is None:
            continue
        cols, vals = start_columns(f, values if over is f.options else _reindexed(values, over, f.options))
        x = np.zeros(f.problem.n_vars)
        x[cols] = vals
        cost = sum(fleet_cost(f, x).values())
        if best is None or cost < best[0]:
            best = (cost, (cols, vals))
    return None if best is None else best[1]


def _reindexed(values: dict[tuple, float], over: OptionSet, options: OptionSet) -> dict[tuple, float]:
    """``values`` (keys over ``over``'s deployment indices) with each replicas and load key's index that of the same
    deployment in ``options``. A deployment ``options`` lacks must have no replicas (ValueError otherwise): its loads
    are dropped with it."""
    index = {d.key: d.index for d in options.deployments}
    key = {d.index: d.key for d in over.deployments}
    out = {}
    for k, v in values.items():
        if k[0] in ("replicas", "load"):
            to = index.get(key[k[1]])
            if to is None:
                if k[0] == "replicas" and v > 0.5:
                    raise ValueError(f"deployment {key[k[1]]} has replicas but is not in the program")
                continue
            k = (k[0], to, *k[2:])
        out[k] = v
    return out


def _sized(w, demand: float, shares: list[float], deps: list, rho: float) -> list[tuple]:
    """(d, r_d) for each of w's candidate deployments that can serve all its buckets (module docstring)."""
    out = []
    for d in deps:
        if any(sh > 0 and c <= 0 for sh, c in zip(shares, d.capacity_rpm)):
            continue
        need = sum(sh * demand / (d.availability * c) for sh, c in zip(shares, d.capacity_rpm) if sh > 0)
        r = max(w.min_replicas, math.ceil(need / rho - 1e-9))
        if r * rho < need:  # the tolerance above must never under-provision
            r += 1
        out.append((d, r))
    return out


def _offer_terms(offers: dict, per) -> dict[str, tuple[float, float, int, int, float]]:
    """Per offer in period ``per``: (node price, the period's price multiplier, GPUs per node, owned nodes, GPUs
    allowed: max_nodes or inf)."""
    return {oid: (o.price_usd_per_node_hour_effective, per.price_multiplier(oid), o.gpus_per_node,
                  o.owned_nodes if o.market == "reserved" else 0,
                  math.inf if o.max_nodes is None else o.max_nodes * o.gpus_per_node) for oid, o in offers.items()}


def _node_share(d, r: int, terms: dict) -> float:
    """r_d tp_d p_o m_t / G_o: the share of node cost of r replicas of d (the share rule's cost, in that order)."""
    price, mult, G, _, _ = terms[d.offer]
    return r * d.tp * price * mult / G


def _nodes_paid(term: tuple, g: int) -> int:
    """N_o(g) = max(0, ceil(g / G_o) − owned_o): the offer's nodes paid for when it holds g GPUs (``term``: its
    ``_offer_terms`` entry)."""
    _, _, G, owned, _ = term
    return max(0, -(-g // G) - owned)


def _by_share(sized: list[list[tuple]], terms: dict) -> list[tuple] | None:
    """The ``share`` rule's (d, r, node share) per workload, in order; None where one has no option with room."""
    used: dict[str, int] = {}
    picks = []
    for cands in sized:
        best = None
        for d, r in cands:
            *_, room = terms[d.offer]
            if used.get(d.offer, 0) + r * d.tp > room:
                continue
            cost = _node_share(d, r, terms)
            if best is None or cost < best[2]:
                best = (d, r, cost)
        if best is None:
            return None
        used[best[0].offer] = used.get(best[0].offer, 0) + best[1] * best[0].tp
        picks.append(best)
    return picks


def _by_packing(sized: list[list[tuple]], terms: dict, share: list[tuple] | None) -> list[tuple] | None:
    """The ``packing`` rule's (d, r, key) per workload, in the workloads' order (module docstring); ``share`` is the
    share rule's picks, whose node shares order the workloads."""
    if share is None:
        return None
    used: dict[str, int] = {}
    picks: list = [None] * len(sized)
    for i in sorted(range(len(sized)), key=lambda k: -share[k][2]):   # stable: ties in the scenario's order
        best = None
        for d, r in sized[i]:
            price, mult, G, _, room = terms[d.offer]
            g0, g = used.get(d.offer, 0), r * d.tp
            if g0 + g > room:
                continue
            price *= mult
            added = _nodes_paid(terms[d.offer], g0 + g) - _nodes_paid(terms[d.offer], g0)
            key = (added * price, g * price / G)
            if best is None or key < best[2]:
                best = (d, r, key)
        if best is None:
            return None
        used[best[0].offer] = used.get(best[0].offer, 0) + best[1] * best[0].tp
        picks[i] = best
    return picks


def _candidates(sized: list[list[tuple]], terms: dict) -> tuple[list[list[tuple]], list[list[tuple]]]:
    """(each workload's move candidates (d, r), its MOVE_K options of least node share), from its options ranked by
    node share (ties in the options' order). The candidates are the first of each offer in that ranking, the option
    of fewest GPUs r tp there (the node share grows with r tp on one offer). ``_moves`` takes the same moves over them
    as over every option: a move's gain and its tie key depend on the offer and r tp alone, neither falls as r tp
    grows, and the first of equal keys is kept."""
    moves, near = [], []
    for cands in sized:
        ranked = sorted(cands, key=lambda dr: _node_share(dr[0], dr[1], terms))
        offers: set[str] = set()
        moves.append([dr for dr in ranked if dr[0].offer not in offers and not offers.add(dr[0].offer)])
        near.append(ranked[:MOVE_K])
    return moves, near


def _improved(rule: str, candidates: list[list[tuple]], terms: dict, picks: list[tuple] | None) -> list[tuple] | None:
    """``rule``'s picks after its moves (``RULES``): ``+wide`` moves among all ``candidates``; ``+moves`` among each
    workload's first MOVE_K of them, then among all."""
    if rule.endswith("+wide"):
        return _moves(candidates, terms, picks)
    return _moves(candidates, terms, _moves([c[:MOVE_K] for c in candidates], terms, picks))


def _moves(candidates: list[list[tuple]], terms: dict, picks: list[tuple] | None) -> list[tuple] | None:
    """``picks`` improved by moves of one workload to another of its ``candidates``: in the workloads' order, each
    takes the move that lowers the whole nodes paid for (module docstring's N_o, at the period's prices) most, ties by
    node share, while some move lowers them by more than 1e-9 USD/h (at most MOVE_PASSES rounds). The room under
    ``max_nodes`` is kept; every pick stays one of the workload's candidates, so the fleet meets the base rows as the
    rule's own does. A workload whose leaving frees no node is not tried: every move then costs at least what its
    leaving frees (N_o does not fall as g grows), so none gains."""
    if picks is None:
        return None
    picks = list(picks)
    used: dict[str, int] = {}
    for d, r, _ in picks:
        used[d.offer] = used.get(d.offer, 0) + r * d.tp

    def paid(oid: str, g: int) -> float:
        price, mult, *_ = terms[oid]
        return _nodes_paid(terms[oid], g) * price * mult

    for _ in range(MOVE_PASSES):
        moved = False
        for i, cands in enumerate(candidates):
            d0, r0, _ = picks[i]
            o0, g0 = d0.offer, r0 * d0.tp
            now = paid(o0, used[o0])
            freed = paid(o0, used[o0] - g0) - now
            if freed > -1e-9:
                continue
            best = None
            for d, r in cands:
                if d is d0:
                    continue
                o, g = d.offer, r * d.tp
                price, mult, G, owned, room = terms[o]
                u = used.get(o, 0) - (g0 if o == o0 else 0)
                if u + g > room:
                    continue
                n1 = max(0, -(-(u + g) // G) - owned)   # paid(o, u + g), written out: this loop is the start's cost
                delta = n1 * price * mult - now if o == o0 else \
                    n1 * price * mult - max(0, -(-u // G) - owned) * price * mult + freed
                if delta < -1e-9:
                    key = (delta, _node_share(d, r, terms))
                    if best is None or key < best[2]:
                        best = (d, r, key)
            if best is not None:
                used[o0] -= g0
                used[best[0].offer] = used.get(best[0].offer, 0) + best[1] * best[0].tp
                picks[i] = best
                moved = True
        if not moved:
            break
    return picks


def greedy_values(s: Scenario, options: OptionSet, horizon: Horizon, rule: str = "share") -> dict[tuple, float] | None:
    """The start's non-zero values by variable key (``("replicas", d.index, t)``, ``("nodes", o, t)``, ...; the
    keys of ``planner.fleet.formulation``) under ``rule`` (``RULES``), from the options alone; None where there is no
    start (docstring)."""
    return _starts(s, options, horizon)[0][rule]


def _starts(s: Scenario, options: OptionSet, horizon: Horizon) -> tuple[dict[str, dict[tuple, float] | None],
                                                                         set[int]]:
    """(``greedy_values`` of every rule, the indices of each workload's MOVE_K options of least node share in some
    period, ties in the options' order), each workload's candidates and replicas worked out once per period. Kept on
    ``options`` for the same scenario, horizon and deployments (as ``OptionSet.for_workload`` keeps its index;
    read-only to callers): one ``plan solve`` asks for them up to three times over the same options (the first
    plan's, the restricted ladder's and the full program's start: 0.7-1.6 s each on XL-1)."""
    cached = options.__dict__.get("_starts")
    if cached is not None and cached[0] is s and cached[1] is horizon and cached[2] is options.deployments \
            and cached[3] == len(options.deployments):
        return cached[4]
    got = _work_out_starts(s, options, horizon)
    options.__dict__["_starts"] = (s, horizon, options.deployments, len(options.deployments), got)
    return got


def _work_out_starts(s: Scenario, options: OptionSet, horizon: Horizon) -> tuple[dict, set[int]]:
    """``_starts`` without the memo."""
    near: set[int] = set()
    if horizon.commitments is not None:
        return dict.fromkeys(RULES), near
    T = horizon.periods
    rho = s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    by_w: dict[str, list] = {}
    for d in options.deployments:
        o = offers[d.offer]
        if o.market != "spot" and not d.mig_profile:
            by_w.setdefault(d.workload, []).append(d)
    values: dict[str, dict[tuple, float] | None] = {rule: {} for rule in RULES}
    for t, per in enumerate(T):
        served = [(w, per.demand_rpm[w.id]) for w in s.workloads
                  if per.demand_rpm[w.id] > 0 or w.min_replicas > 0]
        shares = [[b.share for b in w.buckets] for w, _ in served]
        sized = [_sized(w, demand, sh, by_w.get(w.id, []), rho) for (w, demand), sh in zip(served, shares)]
        terms = _offer_terms(offers, per)
        share = _by_share(sized, terms)
        base = {"share": share, "packing": _by_packing(sized, terms, share)}
        candidates, nearest = _candidates(sized, terms)
        near.update(d.index for cands in nearest for d, _ in cands)
        for rule, kept in values.items():
            if kept is not None:
                picks = (base[rule] if rule in base else
                         _improved(rule, candidates, terms, base[rule.split("+")[0]]))
                values[rule] = None if picks is None else _record(kept, picks, served, shares, offers, per, t)
    return values, near


def _record(values: dict, picks: list[tuple], served: list, shares: list, offers: dict, per, t: int) -> dict:
    """``values`` with period t's replicas, loads and nodes of ``picks`` (one (d, r, _) per served workload)."""
    gpus_used: dict[str, int] = {}
    for (w, demand), sh_w, (d, r, _) in zip(served, shares, picks):
        gpus_used[d.offer] = gpus_used.get(d.offer, 0) + r * d.tp
        values[("replicas", d.index, t)] = float(r)
        if demand > 0:
            for b, sh in enumerate(sh_w):
                if sh > 0:
                    values[("load", d.index, b, t)] = sh * demand
    for oid, g in gpus_used.items():
        o = offers[oid]
        n = math.ceil(g / o.gpus_per_node)
        if o.market == "reserved":  # owned nodes first; one reserved count per epoch (the most any period needs)
            key = ("reserved", oid, per.epoch)
            values[key] = max(values.get(key, 0.0), float(max(0, n - o.owned_nodes)))
        else:
            values[("nodes", oid, t)] = float(n)
    return values


def start_options(s: Scenario, options: OptionSet, horizon: Horizon, near: bool = False) -> OptionSet | None:
    """The options any rule's start over ``options`` uses (replicas in some period), with ``near`` also each
    workload's MOVE_K options of least node share in each period (``_starts``; the restricted ladder keeps them),
    renumbered 0.. in their order; None where there is no start.

    The program built over these alone has every rule's start as a point of its base rows (``greedy_start`` with
    ``over=options`` maps them onto it by key), and none of them is on spot, so the spot hedge writes no state rows
    for them. The rules run over these alone could choose otherwise (a move to an option not here): the start is
    worked out over ``options``, not over these. ``planner.fleet.solve`` builds it to have a verified plan before a
    large program is built."""
    values_by_rule, nearby = _starts(s, options, horizon)
    starts = [v for v in values_by_rule.values() if v is not None]
    if not starts:
        return None
    used = {int(k[1]) for values in starts for k, v in values.items() if k[0] == "replicas" and v > 0}
    used = sorted(used | nearby if near else used)
    by_index = {d.index: d for d in options.deployments}
    deps = [replace(by_index[i], index=j) for j, i in enumerate(used)]
    # no rejected options: the first plan lists every option of the scenario once it is made (relist_options)
    return OptionSet(deployments=deps, rejected=[], mig_profiles=options.mig_profiles)


def carry_start(f_from, values, f_to) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of f_to for the fleet ``values`` of f_from, a program over a subset of f_to's deployments
    (same scenario, horizon and settings): the start blocks' values by key, a deployment's index taken through its
    key (``start_columns``: f_to's other replicas and loads 0). What is left open (the spot hedge's columns) the
    solver completes. A deployment of f_from that f_to lacks must have no replicas (ValueError otherwise): its loads
    are dropped with it (``planner.fleet.neighbourhood`` drops the options a step added and did not use)."""
    p = f_from.problem
    by_key = {p.var_key(int(j)): float(values[int(j)]) for block in START_BLOCKS for j in p.block_columns(block)}
    return start_columns(f_to, _reindexed(by_key, f_from.options, f_to.options))
