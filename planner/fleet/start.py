r"""A constructive start: every workload on its cheapest non-spot whole-GPU option, on whole nodes.

For each period t and workload w with demand, every on-demand deployment d (no MIG) that can serve all of w's
buckets needs

    r_d = max(min_replicas_w, ceil( sum_b sigma_b lambda_{w,t} / (a_d cap_{d,b}) / rho ))

replicas to carry the whole demand alone (``_replica_capacity`` with x_{d,b,t} = sigma_b lambda_{w,t}); the start
picks the d of least r_d tp_d p_o / G_o (its share of node cost) among those whose offer still has room under
``max_nodes``, then buys n_{o,t} = ceil(sum_d tp_d r_d / G_o) nodes of each offer (on reserved offers the owned
nodes first, and m_{o,e} = the most any period of epoch e needs beyond them). Power-of-two TP degrees that
divide G_o pack exactly (``planner.fleet.formulation``, ``_node_packing``), so this fleet satisfies every base
row: demand, capacity, packing, caps, min_replicas, the node cuts (implied) and the non-spot floor (no spot).
What it leaves open (the spot hedge's binaries and routing) the solver completes with these integers fixed.

It is a start, never an answer: 15-50 % above the optimum on the benchmark instances. HiGHS takes it as its first
incumbent (``SolveOptions.start``); ``planner.fleet.solve`` completes it itself when the solver found nothing.
Returns None when some workload has no such option (MIG-only, spot-only, caps exhausted) or in ``plan forecast``
(commitments), where the start would have to sign terms.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from planner.fleet.formulation import Formulation
from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.scenario.model import Scenario


START_BLOCKS = ("nodes", "reserved", "replicas", "mig", "load", "unmet")  # what a start fixes; the solver the rest


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


def greedy_start(f: Formulation) -> tuple[np.ndarray, np.ndarray] | None:
    """(columns, values) of a feasible fleet of f's base rows (nodes, replicas, loads, MIG patterns), or None."""
    values = greedy_values(f.scenario, f.options, f.horizon)
    return None if values is None else start_columns(f, values)


def greedy_values(s: Scenario, options: OptionSet, horizon: Horizon) -> dict[tuple, float] | None:
    """The start's non-zero values by variable key (``("replicas", d.index, t)``, ``("nodes", o, t)``, ...; the
    keys of ``planner.fleet.formulation``), from the options alone; None where there is no start (docstring)."""
    if horizon.commitments is not None:
        return None
    T = horizon.periods
    rho = s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    by_w: dict[str, list] = {}
    for d in options.deployments:
        o = offers[d.offer]
        if o.market != "spot" and not d.mig_profile:
            by_w.setdefault(d.workload, []).append(d)
    values: dict[tuple, float] = {}
    for t, per in enumerate(T):
        gpus_used: dict[str, int] = {}
        for w in s.workloads:
            demand = per.demand_rpm[w.id]
            if demand <= 0 and w.min_replicas <= 0:
                continue
            shares = [b.share for b in w.buckets]
            best = None
            for d in by_w.get(w.id, []):
                if any(sh > 0 and c <= 0 for sh, c in zip(shares, d.capacity_rpm)):
                    continue
                need = sum(sh * demand / (d.availability * c) for sh, c in zip(shares, d.capacity_rpm) if sh > 0)
                r = max(w.min_replicas, math.ceil(need / rho - 1e-9))
                if r * rho < need:  # the tolerance above must never under-provision
                    r += 1
                o = offers[d.offer]
                if o.max_nodes is not None and gpus_used.get(o.id, 0) + r * d.tp > o.max_nodes * o.gpus_per_node:
                    continue
                cost = r * d.tp * o.price_usd_per_node_hour_effective * per.price_multiplier(o.id) / o.gpus_per_node
                if best is None or cost < best[0]:
                    best = (cost, d, r)
            if best is None:
                return None
            _, d, r = best
            gpus_used[d.offer] = gpus_used.get(d.offer, 0) + r * d.tp
            values[("replicas", d.index, t)] = float(r)
            if demand > 0:
                for b, sh in enumerate(shares):
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


def start_options(s: Scenario, options: OptionSet, horizon: Horizon) -> OptionSet | None:
    """The options the start uses (replicas in some period), renumbered 0.. in their order; None where there is no
    start.

    The program built over these alone has the start as a point of its base rows: greedy over them makes the same
    choices (each choice was the cheapest over a superset, ties go to the first in the same order, and the GPUs
    used so far, hence the room under ``max_nodes``, are the same at every step), and none of them is on spot, so
    the spot hedge writes no state rows for them. ``planner.fleet.solve`` builds it to have a verified plan before
    a large program is built."""
    values = greedy_values(s, options, horizon)
    if values is None:
        return None
    used = sorted({int(k[1]) for k, v in values.items() if k[0] == "replicas" and v > 0})
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
    index_to = {d.key: d.index for d in f_to.options.deployments}
    key_from = {d.index: d.key for d in f_from.options.deployments}
    by_key = {}
    for block in START_BLOCKS:
        for j in f_from.problem.block_columns(block):
            key = f_from.problem.var_key(int(j))
            if block in ("replicas", "load"):
                to = index_to.get(key_from[key[1]])
                if to is None:
                    if block == "replicas" and values[int(j)] > 0.5:
                        raise ValueError(f"deployment {key_from[key[1]]} has replicas but is not in the program")
                    continue
                key = (block, to, *key[2:])
            by_key[key] = float(values[int(j)])
    return start_columns(f_to, by_key)
