r"""A lower bound on the cheapest fleet, in closed form: every request served on the GPU share it needs at the
cheapest price per request, with no node, packing or integrality constraint.

A plan made without the full program (``planner.fleet.solve._first_plan``: the constructive start, completed)
has no solver bound; this one gives it a proven gap. Symbols as in ``planner.fleet.formulation``.

A replica of d occupies g_d GPUs: tp_d, or c_q / 7 of a GPU for a MIG instance of profile q with c_q compute
slices (a partitioned GPU holds at most 7 compute slices, so its instances' shares add up to at most 1). It serves
the bucket loads x_{d,b,t} with sum_b x_{d,b,t} / (a_d cap_{d,b}) <= rho r_{d,t} (_replica_capacity). The GPUs
of offer o in use are at most G_o N_{o,t} (_node_packing, _mig_instances), and N_{o,t} costs p_{o,t} per hour,
so for every feasible point, with pi_{d,t} = p_{o_d,t} / G_{o_d} the price of one of its GPUs per hour:

    P_t = sum_o p_{o,t} N_{o,t} >= sum_o (p_{o,t} / G_o) sum_{d on o} g_d r_{d,t}
        >= sum_d pi_{d,t} g_d sum_b x_{d,b,t} / (rho a_d cap_{d,b})
        >= sum_{w,b} sigma_{w,b} lambda_{w,t} min_{d in D_w, cap_{d,b} > 0} pi_{d,t} g_d / (rho a_d cap_{d,b})

(the last step: _demand_cover routes all of sigma_{w,b} lambda_{w,t} over D_w). The objective is
(1/H) sum_t h_t P_t, hence

    bound = (1/H) sum_t h_t sum_{w,b} sigma_{w,b} lambda_{w,t} u_{w,b,t},   u = that minimum.

Owned reserved nodes cost nothing (R_o is sunk), so a deployment on an offer with owned nodes has pi = 0 (valid,
weak). Not given (None): with unmet demand allowed (a penalty term enters the objective) or with commitment
options (``plan forecast``: reserved terms priced by signing month, their tails and upfront fees). Every other
block of the program (minimum replicas, budget, caps, the spot hedge) only removes feasible points.

``tests/test_share_bound.py`` checks it by hand and against solved optima.
"""

from __future__ import annotations

from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.scenario.model import Scenario


def share_bound(s: Scenario, options: OptionSet, horizon: Horizon, allow_unmet: bool = False) -> float | None:
    """The bound above, USD/hour; None where it is not given (see the module docstring) or where some demand has
    no deployment at all (the program is then infeasible, not bounded by this)."""
    terms = share_terms(s, options, horizon, allow_unmet)
    return None if terms is None else hourly_mean(terms, horizon)


def hourly_mean(terms: dict[tuple[str, int], float], horizon: Horizon) -> float:
    """(1/H) sum_t h_t sum_w terms[w, t]: per-period USD/hour terms as the objective weighs them."""
    return sum(horizon.periods[t].hours * c for (_, t), c in terms.items()) / sum(p.hours for p in horizon.periods)


def share_terms(s: Scenario, options: OptionSet, horizon: Horizon,
                allow_unmet: bool = False) -> dict[tuple[str, int], float] | None:
    """Each workload's term of the bound in each period with demand, (w, t) -> USD/hour (the sum over buckets,
    at least max(1, min_replicas) replicas); None as ``share_bound``."""
    if allow_unmet or horizon.commitments is not None:
        return None
    offers = {o.id: o for o in s.offers}
    rho = s.policy.target_utilization
    by_workload: dict[str, list] = {}
    for d in options.deployments:
        by_workload.setdefault(d.workload, []).append(d)
    if sum(per.hours for per in horizon.periods) <= 0:
        return None
    out: dict[tuple[str, int], float] = {}
    for t, per in enumerate(horizon.periods):
        for w in s.workloads:
            demand = per.demand_rpm.get(w.id, 0.0)
            if demand <= 0:
                continue
            deps = by_workload.get(w.id, ())
            # c_d = pi_{d,t} g_d, what one replica's GPUs cost per hour
            replica = [(d, gpu_price(offers[d.offer], per) * d.gpu_share) for d in deps]
            served = 0.0
            for b, bucket in enumerate(w.buckets):
                unit = [c / (rho * d.availability * d.capacity_rpm[b]) for d, c in replica if d.capacity_rpm[b] > 0]
                if not unit:
                    return None
                served += bucket.share * demand * min(unit)
            # at least max(1, min_replicas) replicas of w run (demand > 0; _min_replicas)
            fewest = max(1, w.min_replicas) * min(c for _, c in replica)
            out[(w.id, t)] = max(served, fewest)
    return out


def gpu_price(o, per) -> float:
    """pi: one GPU of offer o per hour in period per (0 on an offer with owned, sunk, nodes)."""
    return 0.0 if o.owned_nodes else o.price_usd_per_node_hour_effective * per.price_multiplier(o.id) / o.gpus_per_node
