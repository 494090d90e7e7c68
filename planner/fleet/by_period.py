r"""Plans over several periods (``plan solve`` with an hourly profile) solved exactly, one reserved level at a time.

In ``plan solve``'s program the periods share only the reserved node columns m (one per reserved offer and epoch: a
reserved node is paid every hour, whether it serves or not). Every other column and row belongs to one period, the
hourly budget row too once m is fixed. With c_r the reserved columns' cost and F_t(m) the least cost of period t's
fleet when m reserved nodes are held (+inf where period t cannot be served):

    min_x c.x  =  min_m [ c_r.m + sum_t F_t(m) ]          m integer, 0 <= m <= the columns' upper bounds

For a fixed m the program falls apart into independent blocks, a period each or finer, solved one by one
(``planner.fleet.split.solve_split``; exact: the optimum of a sum of independent programs is the sum of their
optima). Every other cost is >= 0 (checked), so F_t >= 0 and a level whose reserved cost alone reaches the best total
found cannot win. Branch and bound over the levels (``_Walk``):

- *Bounds.* A level's bound is max(c_r.m, LP(m)), LP(m) the program's LP relaxation with m fixed
  (``planner.fleet.level_bound``: one HiGHS object re-solved warm, milliseconds a level). Levels are taken from the
  lattice in increasing c_r.m (``_levels``) while c_r.m is below the least bound taken, so the level solved next is
  always the one of least bound; a level whose bound reaches the best total is never solved.
- *Cut-off.* A level being solved is left midway (``solve_split``'s ``cutoff``) once its solved blocks' bounds plus
  the other blocks' parts of LP(m) reach the best total: it cannot beat it.
- *Lower bound* of the walk: the least over the levels solved of their bound, over the levels taken and not solved
  of theirs, and c_r.m of the first level not taken. Optimal when every level solved was proven and no level left
  below the best total.

On the generator's forecast days the two cut the levels solved from 9 to 6 (seed 4) and 7 to 3 (seed 1), and leave
most of the others midway (docs/BENCHMARKS.md, thirty-fourth pass).

Why: branch and bound on the whole program multiplies the periods' trees. ``scenarios/forecast-growth.yaml`` under
``plan solve`` (24 hours, one reserved offer of up to 6 nodes, a spot node) took HiGHS 15.6 s and 2,915 nodes to
prove; its three levels below the optimum's reserved cost take about 2 s (docs/BENCHMARKS.md, thirty-third pass).
Small programs the whole solve proves at once are not split: the caller (``planner.fleet.solve._by_period``) tries
the whole program for ``WHOLE_FIRST_S`` first and hands the levels its incumbent. The issue's rule, decompose by hour
only where one hour solves in about a second, is ``applies``: at least two blocks, none above ``MAX_BLOCK_COLUMNS``
columns, in a program of at most ``MAX_PROGRAM_COLUMNS`` (XL's hours are 10,000s of columns: solved whole, from its
start); every cost >= 0; no commitments (``plan forecast`` has its own decomposition over monthly levels,
``planner.forecast.decompose``); and at most ``MAX_LEVELS`` level vectors visited (past them, or past the time
limit, the best level's plan is the whole program's start, with its bound).
"""

from __future__ import annotations

import heapq
import math
import time

import numpy as np

from planner.fleet.formulation import Formulation
from planner.fleet.level_bound import LevelBounds
from planner.fleet.split import block_labels, solve_split
from planner.problem import Solution, SolveOptions, finalize_solution

MAX_BLOCK_COLUMNS = 1_000  # the largest block, columns (forecast-growth: ~40 an hour; M's single period: 1,311)
MAX_PROGRAM_COLUMNS = 200_000  # above it the blocks are not looked for (seconds on XL's millions of columns, whose
# hours are each far above MAX_BLOCK_COLUMNS anyway)
MAX_LEVELS = 64  # level vectors solved at most; past them the best found is the whole program's start
MAX_BOUNDED = 256  # level vectors whose LP bound is computed at most (milliseconds each); past them the walk stops
COST_EPS = 1e-9  # relative: a level whose reserved cost is within this of the best total is not visited


def may_apply(f: Formulation) -> bool:
    """The cheap half of ``applies``: several periods, no commitments, a program of at most ``MAX_PROGRAM_COLUMNS``."""
    return f.horizon.commitments is None and len(f.horizon.periods) >= 2 and f.problem.n_vars <= MAX_PROGRAM_COLUMNS


def applies(f: Formulation) -> np.ndarray | None:
    """The reserved columns when the program splits by period as the module docstring says, else None."""
    if not may_apply(f):
        return None
    p = f.problem
    arr = p.to_arrays()
    res = p.block_columns("reserved")   # reserved nodes bought beyond the owned ones, ("reserved", offer, epoch)
    if (arr.c < 0).any() or (res.size and (arr.c[res] <= 0).any()):
        return None  # the pruning needs F_t >= 0, and a free reserved node has no last level
    q = p.with_bounds(res, arr.col_lower[res], arr.col_lower[res]) if res.size else p
    var_label, row_label = block_labels(q)
    live = np.isin(var_label, np.unique(row_label)) & ~np.isin(np.arange(p.n_vars), res)
    sizes = np.bincount(var_label[live]) if live.any() else np.zeros(0, dtype=np.int64)
    sizes = sizes[sizes > 0]
    if sizes.size < 2 or sizes.max() > MAX_BLOCK_COLUMNS:
        return None
    return res


def _levels(lower: np.ndarray, upper: np.ndarray, cost: np.ndarray):
    """Level vectors m (lower <= m <= upper, integer; upper may be inf) in nondecreasing cost.m (cost >= 0), best
    first over the lattice. A vector's parent is the vector with its last raised coordinate (the highest index above
    its lower bound) one lower, so a popped vector pushes m + e_i for i from its own last raised coordinate on, and
    every vector is pushed exactly once; a child costs at least its parent, so the heap pops in cost order."""
    start = tuple(int(v) for v in lower)
    heap = [(float(cost @ np.asarray(start, dtype=float)), start, 0)]
    while heap:
        c, m, first = heapq.heappop(heap)
        yield c, np.asarray(m, dtype=float)
        for i in range(first, len(m)):   # raise coordinate i >= the last one raised: each vector from one parent
            if m[i] + 1 <= upper[i]:
                nxt = m[:i] + (m[i] + 1,) + m[i + 1:]
                heapq.heappush(heap, (c + float(cost[i]), nxt, i))


class _Walk:
    """Level vectors handed out best first by their lower bound, max(c_r.m, LP(m)) plus the program's constant.

    ``levels`` yields (c_r.m, m) in nondecreasing c_r.m (``_levels``). A level is taken from it, and its LP bound
    computed (``LevelBounds``), while its floor c_r.m is below both the cut (the best plan's cost) and the least bound
    taken so far; the least bound taken is the next level to solve. So no level is solved while another with a lower
    bound waits, and a level whose bound reaches the cut is never solved (``pruned``). Every level not handed out
    costs at least ``floor()``. At most ``MAX_BOUNDED`` levels are taken (``capped``: the walk then stops)."""

    def __init__(self, levels, constant: float, lp: LevelBounds):
        self._levels, self._constant, self._lp = levels, constant, lp
        self._head = next(levels, None)
        self._heap: list[tuple] = []   # (bound, order taken, floor, m, the columns' costs at the LP's optimum)
        self.taken, self.infeasible, self.capped, self._cut = 0, 0, False, math.inf

    def _head_floor(self) -> float:
        return math.inf if self._head is None else self._head[0] + self._constant

    def floor(self) -> float:
        """The least cost of any level not handed out yet."""
        return min(self._heap[0][0] if self._heap else math.inf, self._head_floor())

    @property
    def pruned(self) -> int:
        """Levels whose reserved cost alone was below the last cut but that were not handed out: their LP bound
        reached it, or their relaxation is infeasible."""
        return self.infeasible + sum(1 for b, _, fl, _, _ in self._heap if fl < self._cut <= b)

    def next(self, cut: float, left_s: float) -> tuple[float, np.ndarray, np.ndarray | None] | None:
        """(bound, m, the columns' costs at the LP's optimum or None) of the next level to solve; None when every
        level left costs at least ``cut``."""
        deadline, self._cut = time.perf_counter() + left_s, cut
        while self._head_floor() < cut and (not self._heap or self._head_floor() < self._heap[0][0]):
            if self.taken >= MAX_BOUNDED:
                self.capped = True
                break
            usd, m = self._head
            fl = usd + self._constant
            self._head = next(self._levels, None)
            self.taken += 1
            lb, parts = self._lp(m, deadline - time.perf_counter())
            if lb == math.inf:
                self.infeasible += 1   # the relaxation cannot serve every period at m: neither can the program
                continue
            heapq.heappush(self._heap, (fl if lb is None else max(fl, lb), self.taken, fl, m, parts))
        if not self._heap or self._heap[0][0] >= cut:
            return None
        bound, _, _, m, parts = heapq.heappop(self._heap)
        return bound, m, parts


def solve_by_period(f: Formulation, solver: str, time_limit_s: float, mip_gap: float,
                    incumbent: Solution | None = None, reserved: np.ndarray | None = None,
                    workers: int = 1) -> Solution | None:
    """The program solved level by level (module docstring); None when it does not apply or no level gave a plan.
    ``incumbent``: a solution of ``f.problem`` already in hand (the whole program's, stopped early): levels that
    cannot beat it are not solved, and it is the answer if no level beats it. ``reserved``: ``applies(f)``, if the
    caller has it. ``workers``: blocks solved at once (``solve_split``; the same answer). The solution is of
    ``f.problem`` itself (the reserved columns at the chosen level): ``optimal`` when every level solved was proven,
    else ``feasible`` with the bound known so far (the caller then solves the whole program from it)."""
    res = applies(f) if reserved is None else reserved
    if res is None:
        return None
    t0 = time.perf_counter()
    p = f.problem
    arr = p.to_arrays()
    upper = np.where(np.isfinite(arr.col_upper[res]), arr.col_upper[res], np.inf)
    walk = _Walk(_levels(arr.col_lower[res], upper, arr.c[res]), p.objective_constant, LevelBounds(p, res))
    best = incumbent if incumbent is not None and incumbent.has_values else None
    bound, proven, visited, stopped, cut_off = math.inf, True, 0, "", 0
    while True:
        left = time_limit_s - (time.perf_counter() - t0)
        cut = math.inf if best is None else best.objective - COST_EPS * max(1.0, abs(best.objective))
        nxt = walk.next(cut, left)
        if nxt is None:   # every level left reaches the best plan: this one and every later one cost at least that
            bound = min(bound, walk.floor())   # ... or the cap stopped the walk short of the levels below it
            if walk.capped:
                stopped, proven = f"stopped after {visited} levels (the level cap)", False
            break
        lb, m, parts = nxt
        left = time_limit_s - (time.perf_counter() - t0)
        if visited >= MAX_LEVELS or left <= 0 or walk.capped:
            why = "the time limit" if left <= 0 else "the level cap"
            stopped = f"stopped after {visited} levels ({why})"
            bound, proven = min(bound, lb, walk.floor()), False
            break
        visited += 1
        sol = solve_split(p.with_bounds(res, m, m), solver, SolveOptions(time_limit_s=left, mip_gap=mip_gap),
                          workers, min_block_s=None, cutoff=cut, floors=parts)
        if sol.status == "infeasible":
            continue   # F = +inf at this level
        if not sol.has_values and sol.bound is not None and sol.bound >= cut:
            cut_off += 1   # its blocks' bounds so far reach the best plan: this level cannot beat it
            bound = min(bound, sol.bound)
            continue
        if not sol.has_values:
            stopped, proven = f"level {visited} not finished ({sol.message or sol.status})", False
            bound = min(bound, lb, walk.floor())
            break
        bound = min(bound, sol.bound if sol.bound is not None and math.isfinite(sol.bound) else lb)
        proven &= sol.status == "optimal"
        if best is None or sol.objective < best.objective:
            best = sol
    if best is None:
        return None   # no level served the demand in time: the whole program says why
    opts = SolveOptions(mip_gap=mip_gap)
    note = f"exact decomposition by period over {visited} reserved level{'s' if visited != 1 else ''}"
    why = [f"{walk.pruned} more bounded out by their LP relaxation"] if walk.pruned else []
    why += [f"{cut_off} of them left midway once their blocks' bounds reached the best plan"] if cut_off else []
    note += f" ({'; '.join(why)})" if why else ""
    return finalize_solution(p, opts, solver=solver, claimed="optimal" if proven and not stopped else "feasible",
                             x=best.values, bound=bound, seconds=time.perf_counter() - t0,
                             message=f"{note}; {stopped}" if stopped else note)
