r"""A problem with some columns fixed, cut down to what the fixing leaves open: the completion of a start.

Completing the constructive start (``planner.fleet.solve``) fixes every integer column the start gives and asks the
solver for the rest. On XL programs that rest is a few thousand columns out of millions (the spot hedge's routing
and state columns of deployments the start does not use), yet the solver had to be handed all of them: passing
and presolving the 6.8 M columns of XL-2 took longer than the completion's whole share of the time limit. This
module drops, before the solver sees anything, every column the fixing decides.

Problem: minimise c^T x + c_0 subject to L <= A x <= U, l <= x <= u, x_j integer for j in I. A fixing x_F = v_F.

1. **Forced zeros.** With a_F x_F the fixed columns' activity of a row and J its free columns, a row with
   U - a_F v_F <= 0, a_j > 0 and l_j >= 0 for all j in J forces x_j = 0 on J (a sum of non-negative terms at most
   0); so does a row with L - a_F v_F >= 0, a_j < 0 and l_j >= 0 on J. Forced columns join the fixing at 0 and
   the pass repeats (at most ``ROUNDS`` times; what is left free stays in the problem, which is always safe).
   A forced column whose lower bound is above 0 makes the fixing infeasible.
2. **Decided rows.** A row with no free column left must hold at the fixing (to ``TOL``, scaled as
   ``Problem.violations`` scales: ``planner.problem.row_violation``); if one does not, the fixing is
   infeasible: ``restrict`` returns None.
3. **The rest.** The free columns (their keys, bounds, integrality and costs), the rows that still have one (their
   keys, their bounds less the fixed activity), and c_0 + c_F v_F.

Exact: x_F = v_F together with the forced zeros is implied by the fixing, so the restricted problem's feasible
points are those of the fixed problem, with the same objective values (to the solver's row tolerance, since
step 1 uses no tolerance and step 2 the check's own). ``Restriction.expand`` maps a point back; the caller checks
the expanded point against the full problem (``finalize_solution``), and the plan is verified independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.problem import Problem, Solution, SolveOptions, VIOLATION_TOL, finalize_solution, row_violation
from solvers.registry import get_backend

ROUNDS = 8  # propagation passes; each costs a few vectorised sweeps over the matrix' entries
TOL = VIOLATION_TOL


@dataclass(frozen=True)
class Restriction:
    """The problem on the columns a fixing leaves free, and how to map its points back."""

    problem: Problem      # the restricted problem
    free: np.ndarray      # its column j is the full problem's column free[j]
    base: np.ndarray      # a full point: the fixing and the forced zeros, 0 on the free columns
    forced: int           # columns fixed to 0 by propagation (beyond the given fixing)

    def expand(self, x_sub: np.ndarray) -> np.ndarray:
        """The full problem's point: the fixing, the forced zeros and ``x_sub`` on the free columns."""
        x = self.base.copy()
        x[self.free] = np.asarray(x_sub, dtype=float)
        return x


def restrict(p: Problem, cols: np.ndarray, vals: np.ndarray, name: str = "completion") -> Restriction | None:
    """``p`` with columns ``cols`` fixed to ``vals``, every column that fixing forces to 0 dropped, and every row
    left without a free column checked; None when the fixing violates a row (steps 1-3 of the module docstring)."""
    arr = p.to_arrays()
    A, n = arr.A, p.n_vars
    fixed = np.zeros(n, dtype=bool)
    value = np.zeros(n)
    cols = np.asarray(cols, dtype=np.int64)
    fixed[cols], value[cols] = True, np.asarray(vals, dtype=float)
    rows_of = A.row_of_nonzeros()
    m = A.shape[0]
    positive = A.data > 0   # stored entries are never 0 (CsrMatrix drops them), so the rest are negative
    nonneg = (arr.col_lower >= 0.0)[A.indices]
    before = int(fixed.sum())
    for round_ in range(ROUNDS + 1):
        act = A @ np.where(fixed, value, 0.0)
        free_ent = ~fixed[A.indices]
        n_free = np.bincount(rows_of, weights=free_ent, minlength=m)
        n_pos = np.bincount(rows_of, weights=free_ent & positive, minlength=m)
        n_nonneg = np.bincount(rows_of, weights=free_ent & nonneg, minlength=m)
        ok = (n_free > 0) & (n_nonneg == n_free)
        forcing = ok & (((n_pos == n_free) & (arr.row_upper - act <= 0.0))
                        | ((n_pos == 0) & (arr.row_lower - act >= 0.0)))
        if round_ == ROUNDS or not forcing.any():   # act and n_free describe the final fixing
            break
        newly = np.zeros(n, dtype=bool)
        newly[A.indices[free_ent & forcing[rows_of]]] = True
        if (arr.col_lower[newly] > 0.0).any():
            return None
        fixed |= newly
        value[newly] = 0.0
    decided = n_free == 0
    if (decided & (row_violation(arr, act, abs(A) @ np.abs(np.where(fixed, value, 0.0))) > TOL)).any():
        return None
    bad = fixed & ((value < arr.col_lower - TOL) | (value > arr.col_upper + TOL))
    if bad.any():
        return None
    free = np.flatnonzero(~fixed)
    kept = np.flatnonzero(~decided)
    sub = _build(p, arr, free, kept, act, name)
    sub.objective_constant = p.objective_constant + float(arr.c[fixed] @ value[fixed])
    base = np.where(fixed, value, 0.0)
    return Restriction(sub, free, base, int(fixed.sum()) - before)


def _build(p: Problem, arr, free: np.ndarray, kept: np.ndarray, act: np.ndarray, name: str) -> Problem:
    """The restricted Problem: the free columns block by block (their keys kept), the kept rows grouped by block
    and sense, bounds less the fixed activity ``act``."""
    A = arr.A
    sub = Problem(name)
    new_col = np.full(p.n_vars, -1, dtype=np.int64)
    new_col[free] = np.arange(free.size)
    keys = [p.var_key(int(j)) for j in free]
    start = 0
    while start < free.size:   # runs of one block (columns are added block by block)
        block, end = keys[start][0], start + 1
        while end < free.size and keys[end][0] == block:
            end += 1
        idx = free[start:end]
        sub.add_vars(block, keys[start:end], arr.col_lower[idx], arr.col_upper[idx], arr.integrality[idx])
        start = end
    if free.size:
        sub.add_cost("objective", np.arange(free.size), arr.c[free])
    lo, hi = arr.row_lower[kept] - act[kept], arr.row_upper[kept] - act[kept]
    eq, le, ge = lo == hi, np.isneginf(lo), np.isposinf(hi)
    if (~(eq | le | ge)).any():   # Problem.add_rows writes one side or an equality: a ranged row cannot come from it
        raise ValueError("restrict: a row with two finite, different bounds")
    sense_of = np.where(eq, "==", np.where(le, "<=", ">="))
    groups: dict[tuple[str, str], list[int]] = {}
    for k, (i, sense) in enumerate(zip(kept.tolist(), sense_of.tolist())):
        groups.setdefault((p.row_key(i)[0], sense), []).append(k)
    for (block, sense), ks in groups.items():
        ks_arr = np.asarray(ks, dtype=np.int64)
        rows_g = kept[ks_arr]
        starts, ends = A.indptr[rows_g], A.indptr[rows_g + 1]
        lens = (ends - starts).astype(np.int64)
        ent = np.repeat(starts - np.cumsum(np.concatenate(([0], lens[:-1]))), lens) + np.arange(lens.sum())
        local = np.repeat(np.arange(ks_arr.size), lens)
        c_new = new_col[A.indices[ent]]
        keep = c_new >= 0
        rhs = hi[ks_arr] if sense == "<=" else lo[ks_arr]
        sub.add_rows(block, [p.row_key(int(i)) for i in rows_g], local[keep], c_new[keep], A.data[ent][keep], sense,
                     rhs)
    return sub


def complete(p: Problem, solver: str, start: tuple[np.ndarray, np.ndarray], limit_s: float,
             mip_gap: float) -> Solution | None:
    """A start's integer columns fixed and the rest solved (the spot hedge's binaries and routing: an LP, or a small
    MIP): a solution of ``p`` checked against all its rows (``finalize_solution``), or None when the fixing breaks
    a row or the solver found nothing. ``start``: (columns, values); its continuous columns are left free. The
    solver sees only what the fixing leaves open (``restrict``)."""
    cols, vals = start
    fix = p.to_arrays().integrality[cols]
    part = restrict(p, cols[fix], vals[fix])
    if part is None:
        return None
    done = get_backend(solver, part.problem).solve(part.problem, SolveOptions(time_limit_s=limit_s, mip_gap=mip_gap))
    if not done.has_values:
        return None
    sol = finalize_solution(p, SolveOptions(mip_gap=mip_gap), solver=done.solver, claimed="feasible",
                            x=part.expand(done.values), seconds=done.solve_seconds)
    return sol if sol.has_values else None
