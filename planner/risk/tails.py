r"""The numbers of the spot risk model (``planner.fleet.hedge`` has the model and the formulation that uses them).

Per spot offer o: rate lambda_o (reclaims per node-hour), recovery R_o (hours), pool P(o). Per pool P:
    Lambda_P = s x min_{o in P} lambda_o            pool-event rate (s = policy.spot.pool_event_share)
    R_P      = max_{o in P} R_o                      how long a pool event keeps the pool impaired
    pi_P     = 1 - exp(-Lambda_P R_P)                share of time P is within R_P of a pool event (Poisson)
Per offer: lambda_o^ind = lambda_o - Lambda_P(o) (independent reclaims) and
    q_o  = min(1, lambda_o^ind R_o)                  a node's share of time down from its own reclaims (an upper
                                                     bound of the exact lambda^ind R / (1 + lambda R))
    m_o  = -ln(1 - q_o)                              node weight: Bernoulli(q_o) <= Poisson(m_o) stochastically,
                                                     so the number of nodes down on their own is <= Poisson(mu)
    mu   = sum_o m_o n_o                             with n_o the offer's nodes: linear in the fleet
Availability target alpha, epsilon = 1 - alpha, split evenly (union bound) between the pool-event term (when some
pi_P > 0) and the node term (when some q_o > 0): epsilon_pool, epsilon_nodes.
    j      = min { j >= 0 : P(more than j pools in an event at once) <= epsilon_pool / 2 }   (pools independent)
    sets   = every set S of 1..j spot pools, with p_S = prod_{P in S} pi_P >= P(exactly the pools of S in an event)
    budget = epsilon_pool - P(more than j pools in an event): shared by the sets not survived (p_S each) and the
             survived ones whose events may meet a node down on its own (p_S P(some node down) each)
    k(mu)  = min { k >= 0 : P(Poisson(mu) > k) <= epsilon_nodes }      nodes that may be down at once on their own
k(mu) is a non-decreasing step function; its *breakpoints* mu_1 < mu_2 < ... are the largest mu at which it is
still below 1, 2, ... (k(mu) = #{i: mu > mu_i}). Thresholds are compared with a relative margin of 1e-9 on the
strict side, so the planner's k, j and budget are never more lenient than the verifier's (which recomputes them
with its own arithmetic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

from planner.scenario.model import Offer, Scenario

MAX_BREAKPOINTS = 2000  # expected down spot nodes the hedge expresses (one binary per breakpoint and period)
STRICT = 1.0 - 1e-9  # planner side: a tail must be below epsilon x STRICT to count as small enough


def spot_offers(s: Scenario) -> list[Offer]:
    return [o for o in s.offers if o.market == "spot"]


def recovery_hours(o: Offer) -> float:
    return o.recovery_minutes_effective / 60.0


def pool_event_rate(s: Scenario, pool: str) -> float:
    """Lambda_P: pool events per hour (every node of the pool reclaimed at once)."""
    rates = [o.interruption_rate_per_hour or 0.0 for o in spot_offers(s) if o.pool_effective == pool]
    return s.policy.spot.pool_event_share * min(rates) if rates else 0.0


def independent_rate(s: Scenario, o: Offer) -> float:
    """lambda_o^ind: reclaims per node-hour that hit this node alone."""
    return max(0.0, (o.interruption_rate_per_hour or 0.0) - pool_event_rate(s, o.pool_effective))


def node_weight(s: Scenario, o: Offer) -> float:
    """m_o = -ln(1 - q_o); inf when a node is always down."""
    q = min(1.0, independent_rate(s, o) * recovery_hours(o))
    return math.inf if q >= 1.0 else -math.log1p(-q)


def poisson_tail(k: int, mu: float) -> float:
    """P(Poisson(mu) > k)."""
    from scipy.special import gammainc  # noqa: PLC0415 - scipy.special/optimize cost ~0.3 s; only spot plans need them

    return float(gammainc(k + 1, mu)) if mu > 0 else 0.0


def poisson_binomial_tail(j: int, probs: list[float]) -> float:
    """P(more than j of independent events with these probabilities happen at once)."""
    dist = [1.0]
    for p in probs:
        nxt = [0.0] * (len(dist) + 1)
        for m, v in enumerate(dist):
            nxt[m] += v * (1.0 - p)
            nxt[m + 1] += v * p
        dist = nxt
    return float(sum(dist[j + 1:]))


@dataclass(frozen=True)
class SpotRisk:
    """The availability-target parameters of one scenario (see the module docstring)."""

    epsilon: float
    pools: tuple[str, ...]                       # spot pools, sorted
    pool_event_probability: dict[str, float]     # pi_P
    node_weight: dict[str, float]                # m_o by spot offer id
    epsilon_pool: float                          # 0 when there is no pool term
    epsilon_nodes: float                         # 0 when there is no node term
    pools_lost: int = 0                          # j
    pool_sets: tuple[tuple[str, ...], ...] = ()  # every set of 1..j pools
    pool_set_probability: dict[tuple[str, ...], float] = field(default_factory=dict)  # p_S
    unsurvived_budget: float = 0.0               # epsilon_pool - P(more than j pools at once)

    def mu(self, nodes: dict[str, int]) -> float:
        return sum(self.node_weight.get(o, 0.0) * n for o, n in nodes.items() if n)

    def k_nodes(self, mu: float) -> int:
        """k(mu): spot nodes that may be down at once on their own."""
        if mu <= 0 or self.epsilon_nodes <= 0:
            return 0
        eps = self.epsilon_nodes * STRICT
        k = 0
        while poisson_tail(k, mu) > eps:
            k += 1
        return k

    def breakpoints(self, mu_max: float) -> list[float]:
        """mu_1 < mu_2 < ... < mu_max: k(mu) = #{i: mu > mu_i} on [0, mu_max].

        There are about mu_max + a few sqrt(mu_max) of them; past ``MAX_BREAKPOINTS`` the hedge is refused (an
        ``InputError`` naming the cause) instead of looping for minutes before the solver starts.
        """
        if mu_max <= 0 or self.epsilon_nodes <= 0:
            return []
        if mu_max > MAX_BREAKPOINTS:
            from planner.errors import InputError  # noqa: PLC0415

            raise InputError(f"spot hedge: up to {mu_max:,.0f} spot nodes could be down at once (expected, with "
                             f"the offers' rates and recovery times and no max_nodes to cap them); the hedge supports "
                             f"{MAX_BREAKPOINTS:,}: give the spot offers max_nodes, or set policy.spot.hedge: false")
        eps = self.epsilon_nodes * STRICT
        out: list[float] = []
        i = 1
        while poisson_tail(i - 1, mu_max) > eps:
            # P(Poisson(mu) > i - 1) grows with mu from 0: its crossing of eps is mu_i
            from scipy.optimize import brentq  # noqa: PLC0415 - see poisson_tail

            out.append(brentq(lambda m: poisson_tail(i - 1, m) - eps, 0.0, mu_max, xtol=1e-14, rtol=1e-12))
            i += 1
        return out


def spot_risk(s: Scenario) -> SpotRisk:
    """Pool-event and node-loss parameters of the availability target for scenario ``s``."""
    offers = spot_offers(s)
    pools = tuple(sorted({o.pool_effective for o in offers}))
    pi = {}
    for p in pools:
        r_p = max(recovery_hours(o) for o in offers if o.pool_effective == p)
        pi[p] = 1.0 - math.exp(-pool_event_rate(s, p) * r_p)
    weight = {o.id: node_weight(s, o) for o in offers}
    epsilon = 1.0 - s.policy.spot.availability_target
    has_pools, has_nodes = any(v > 0 for v in pi.values()), any(v > 0 for v in weight.values())
    share = epsilon / max(1, int(has_pools) + int(has_nodes))
    eps_pool = share if has_pools else 0.0
    j, sets, p_set, budget = 0, (), {}, 0.0
    if has_pools:
        probs = [pi[p] for p in pools]
        while j < len(pools) and poisson_binomial_tail(j, probs) > eps_pool / 2 * STRICT:
            j += 1
        sets = tuple(c for m in range(1, j + 1) for c in combinations(pools, m))
        p_set = {c: math.prod(pi[p] for p in c) for c in sets}
        budget = (eps_pool - poisson_binomial_tail(j, probs)) * STRICT
    return SpotRisk(epsilon=epsilon, pools=pools, pool_event_probability=pi, node_weight=weight,
                    epsilon_pool=eps_pool, epsilon_nodes=share if has_nodes else 0.0, pools_lost=j,
                    pool_sets=sets, pool_set_probability=p_set, unsurvived_budget=budget)
