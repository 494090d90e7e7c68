r"""The restricted master LP of the caps' Lagrangian dual (``planner.fleet.cap_bound``): which prices on the capped
offers the workloads' programs are solved at next.

Symbols as in ``planner.fleet.cap_bound``. For one period, each column k of workload w is an integer point of w's
program that some earlier pricing returned (or a plan's replicas of w): its cost c_k = sum_d pi_d s_d r_d at the
offers' own prices and its use u_{k,o} = sum_{d on o} s_d r_d of each capped offer o. The master is

    min   sum_k c_k l_k + sum_o M e_o
    s.t.  sum_{k of w} l_k = 1                        all w        (convexity)
          sum_k u_{k,o} l_k - e_o <= G_o U_o            all o        (caps; e_o their excess at price M)
          l, e >= 0

(Dantzig–Wolfe: over all integer points of every program its value is the Lagrangian dual, the LP over the convex
hulls of the programs with the caps kept; over some of them it is at least that). The caps' duals nu_o in [0, M]
are the next prices to try. The excess columns keep the master feasible before any column fits the caps; M bounds
the prices tried, never the bound's validity (every nu >= 0 gives one). The master proves nothing itself: its value
only says when more pricing can lift the bound little (``cap_bound``'s stopping rule), and only when no excess is
used. The caps are loosened a little (``LOOSEN``) so that a degenerate master, whose caps' duals are not unique,
returns the least of them: the prices at which one more GPU share is worth its cost.
"""

from __future__ import annotations

import numpy as np

# the caps are loosened by this share (and this many GPU shares): the duals are then the least among the master's
# optimal ones, the prices of one more share, where a degenerate master (a cap met exactly by a plan's columns) would
# let HiGHS return any up to the penalty (the by-hand case of tests/test_cap_bound.py: 12 where 2 is the price)
LOOSEN = 1e-6


class Master:
    """The master LP of the module docstring over ``n_workloads`` workloads (indices 0..) and the capped offers
    ``caps`` (offer id -> G_o U_o, GPU shares), excess priced at ``penalty`` (USD per GPU share and hour)."""

    def __init__(self, n_workloads: int, caps: dict[str, float], penalty: float):
        self.offers = list(caps)
        self._row = {o: i for i, o in enumerate(self.offers)}
        self._caps = np.asarray([caps[o] for o in self.offers], dtype=float)
        self._n, self._penalty = n_workloads, float(penalty)
        self._cols: list[tuple[int, float, dict[int, float]]] = []
        self._seen: set[tuple] = set()

    def add(self, w: int, cost: float, use: dict[str, float]) -> bool:
        """Add workload ``w``'s point of cost ``cost`` using ``use`` (capped offer -> GPU shares; other offers are
        ignored); False when the same point is there already."""
        used = {self._row[o]: v for o, v in use.items() if o in self._row and v > 0}
        key = (w, round(cost, 9), tuple(sorted((j, round(v, 9)) for j, v in used.items())))
        if key in self._seen:
            return False
        self._seen.add(key)
        self._cols.append((w, float(cost), used))
        return True

    def solve(self) -> tuple[float, dict[str, float], float] | None:
        """(the master's value, the caps' duals nu_o in [0, penalty], the excess used) or None while some workload
        has no column yet or HiGHS finds no optimum."""
        import highspy  # noqa: PLC0415

        from solvers.highs import new_highs  # noqa: PLC0415

        if len({w for w, _, _ in self._cols}) < self._n:
            return None
        n_cols, n_caps = len(self._cols), len(self.offers)
        starts, index, value = [0], [], []
        for w, _, used in self._cols:
            index.append(w)
            value.append(1.0)
            for j, v in used.items():
                index.append(self._n + j)
                value.append(v)
            starts.append(len(index))
        for j in range(n_caps):   # the excess columns
            index.append(self._n + j)
            value.append(-1.0)
            starts.append(len(index))
        n = n_cols + n_caps
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, self._n + n_caps
        lp.col_cost_ = np.asarray([c for _, c, _ in self._cols] + [self._penalty] * n_caps, dtype=float)
        lp.col_lower_, lp.col_upper_ = np.zeros(n), np.full(n, np.inf)
        lp.row_lower_ = np.concatenate([np.ones(self._n), np.full(n_caps, -np.inf)])
        lp.row_upper_ = np.concatenate([np.ones(self._n), self._caps * (1.0 + LOOSEN) + LOOSEN])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, lp.num_row_
        lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(value, dtype=float)
        h = new_highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        # HiGHS' row duals of a minimisation: <= 0 on a binding <= row; the caps' prices are their negatives
        duals = -np.asarray(sol.row_dual[self._n:], dtype=float)
        nu = {o: float(min(max(duals[j], 0.0), self._penalty)) for j, o in enumerate(self.offers)}
        excess = float(np.sum(np.asarray(sol.col_value[n_cols:], dtype=float)))
        return float(h.getInfo().objective_function_value), nu, excess
