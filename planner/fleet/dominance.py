r"""Deployments a workload's own program never needs: each is dominated by another deployment of the same workload.

The program is ``planner.fleet.workload_programs.program_rows`` with no room rows (no caps, no owned nodes), as
``planner.fleet.workload_bound`` and ``planner.fleet.cap_bound`` solve it. Symbols as there: c_d the replica's price
in the program, a_d its availability, cap_{d,b} its capacity for bucket b, pool(d) its spot pool (none off spot).
Deployment i dominates j (i != j) when

    c_i <= c_j                                   a replica of i costs no more
    a_i cap_{i,b} >= a_j cap_{j,b}   every b     it carries at least as much of every bucket, derated
    pool(i) = none  or  pool(i) = pool(j)        it survives every pool-loss set that j survives

and, where all three hold with equality (equal price, capacities and pool), i < j: of equal deployments the first is
kept.

**Fixing the dominated replicas to 0 leaves the program's optimum unchanged.** Take any point with r_j > 0 and i
dominating j; move j's replicas to i (r_i += r_j, r_j = 0), its loads x_{j,b} to x_{i,b} and its pool-loss routing
y^S_{j,b} to y^S_{i,b}. Row by row: the minimum replicas count every replica alike; the demand rows and the
pool-loss rows sum loads, which are unchanged, and every set S whose rows route over j also routes over i (i is off
spot, or in j's pool, so it survives S whenever j does); i's capacity rows grow by x/(a_i cap_{i,b}) <= x/(a_j
cap_{j,b}) per unit moved while j's gave up as much and i's right-hand side grows by rho r_j (1 in the pool-loss
rows); the non-spot floor keeps its loads (j off spot implies i off spot). The cost changes by (c_i − c_j) r_j <= 0.
Dominance is transitive and the ties are broken by a strict order (the index), so there is no cycle: repeating the
move ends at a deployment nothing dominates, which is kept. Hence every point maps to one as cheap on the kept
deployments, and the optimum, and every proven bound of it, is that of the whole program.

Not valid with room rows: the dominating deployment's offer may be full (``workload_programs.workload_choices``
keeps every deployment).

On L-2's 200 programs of two price vectors, 17,683 of 19,984 deployments are dominated (the same GPU and node sold
by several offers at different prices, and configurations of one GPU that carry less at the same price), and the
programs solve in 3.0 s instead of 10.8 s with the same optima (docs/BENCHMARKS.md, fiftieth pass).
"""

from __future__ import annotations

import numpy as np

from planner.fleet.options import Deployment
from planner.scenario.model import Scenario

MAX_DEPLOYMENTS = 2048  # beyond this many a workload's pairs (n² booleans, 4 MB an array) are not compared


class Dominance:
    """The price-independent part of the relation for one workload's deployments (capacities and pools);
    :meth:`dominated` completes it for one price vector."""

    def __init__(self, s: Scenario, deps: list[Deployment]):
        n = len(deps)
        self._n = n
        if n > MAX_DEPLOYMENTS or n < 2:
            self._carries = None
            return
        offers = {o.id: o for o in s.offers}
        derated = np.array([[d.availability * c for c in d.capacity_rpm] for d in deps], dtype=float)
        carries = np.ones((n, n), dtype=bool)   # [i, j]: i carries at least j's load of every bucket
        more = np.zeros((n, n), dtype=bool)     # ... and more of some bucket
        for b in range(derated.shape[1]):
            col = derated[:, b]
            carries &= col[:, None] >= col[None, :]
            more |= col[:, None] > col[None, :]
        pools = [offers[d.offer].pool_effective if offers[d.offer].market == "spot" else None for d in deps]
        ids = {p: k for k, p in enumerate(sorted({p for p in pools if p is not None}))}
        pid = np.array([-1 if p is None else ids[p] for p in pools])
        off_spot = pid == -1
        survives = off_spot[:, None] | (pid[:, None] == pid[None, :])
        np.fill_diagonal(carries, False)
        self._carries = carries & survives
        self._better = more | (off_spot[:, None] & ~off_spot[None, :])   # strictly, whatever the prices
        self._first = np.triu(np.ones((n, n), dtype=bool), k=1)           # i < j: the tie-break

    def dominated(self, cost) -> np.ndarray:
        """Boolean per deployment: dominated at replica prices ``cost`` (none when the pairs were not compared)."""
        if self._carries is None:
            return np.zeros(self._n, dtype=bool)
        c = np.asarray(cost, dtype=float)
        cheaper = c[:, None] < c[None, :]
        beats = self._carries & (c[:, None] <= c[None, :]) & (self._better | cheaper | self._first)
        return beats.any(axis=0)
