r"""Exact reductions before the build: options that no optimal plan needs are left out of the integer program.

Dominated offers. Offers o1 != o2 sell the same node when they have the same GPU, GPUs per node and MIG flag: the
performance model, capacity overrides and calibration are per GPU, so every deployment on o2 has a twin on o1 with
the same capacities (availability 1 off spot). If moreover

    o1 and o2 are on-demand, o1 has no max_nodes, and p_{o1} m_{o1,t} <= p_{o2} m_{o2,t} in every period t

(price times the period's price multiplier), then any plan can move every node of o2, with its replicas and loads,
onto o1: every row holds (packing per node, capacity per replica, demand and floors are sums; o1 has no cap; no
spot rule involves on-demand nodes except through sums of on-demand capacity, which do not change), the cost does
not rise, the GPU-hours are the same and the number of distinct offers does not grow. So an optimum of the full
program, and of the lexicographic tie-break (cost, then GPU-hours, then offers), exists without o2's deployments:
dropping them changes no optimal value. Among equally priced uncapped twins the first in the scenario is kept.

o2 stays in the scenario (its node variables stay and cost money, so an optimum leaves them at 0); only its
deployments are dropped, recorded as ``Rejected(state="dominated")`` with the reason. Spot offers (pools, hazard)
and reserved ones (owned nodes, commitments) are never reduced.
"""

from __future__ import annotations

from dataclasses import replace

from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet, Rejected
from planner.scenario.model import Scenario


def dominated_offers(s: Scenario, horizon: Horizon) -> dict[str, str]:
    """{dominated on-demand offer: the uncapped on-demand offer selling the same node that dominates it}."""
    groups: dict[tuple, list] = {}
    for o in s.offers:
        if o.market == "on_demand":
            groups.setdefault((o.gpu, o.gpus_per_node, bool(o.mig)), []).append(o)
    periods = horizon.periods

    def prices(o) -> tuple[float, ...]:
        return tuple(o.price_usd_per_node_hour_effective * per.price_multiplier(o.id) for per in periods)

    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        for o1 in members:
            if o1.max_nodes is not None or o1.id in out:
                continue
            p1 = prices(o1)
            for o2 in members:
                if o2 is o1 or o2.id in out:
                    continue
                p2 = prices(o2)
                if all(a <= b for a, b in zip(p1, p2)) and (p1 != p2 or o2.max_nodes is not None
                                                              or members.index(o1) < members.index(o2)):
                    out[o2.id] = o1.id
    # a dominator that is itself dominated hands its dominated offers on (prices are transitive, o1 uncapped)
    for o2, o1 in list(out.items()):
        while o1 in out:
            o1 = out[o1]
        out[o2] = o1
    return out


def reduced_options(options: OptionSet, s: Scenario, horizon: Horizon) -> OptionSet:
    """The options without the deployments of dominated offers (indices renumbered 0..n-1)."""
    dominated = dominated_offers(s, horizon)
    if not dominated:
        return options
    kept = [d for d in options.deployments if d.offer not in dominated]
    rejected = list(options.rejected) + [
        Rejected(workload=d.workload, offer=d.offer, gpu=d.gpu, precision=d.precision, tp=d.tp,
                 mig_profile=d.mig_profile, state="dominated",
                 reason=f"offer {dominated[d.offer]} sells the same node on demand, uncapped, for no more")
        for d in options.deployments if d.offer in dominated]
    return OptionSet(deployments=[replace(d, index=i) for i, d in enumerate(kept)], rejected=rejected,
                     mig_profiles=dict(options.mig_profiles))
