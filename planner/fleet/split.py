"""Solve a program whose rows fall into independent blocks block by block (``solve_split``)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from planner.problem import Problem, Solution, SolveOptions, finalize_solution
from solvers.registry import get_backend


def _fixed(arr) -> np.ndarray:
    """Columns whose bounds are equal: constants, which link nothing."""
    return np.isfinite(arr.col_lower) & (arr.col_lower == arr.col_upper)


def block_labels(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(label of each column, label of each row): the connected components of the graph whose nodes are the columns
    and rows and whose edges are the nonzeros of the columns that are not fixed. Two rows with no unfixed column in
    common, directly or through other rows, are in different blocks; a fixed column is in a block of its own."""
    import scipy.sparse as sp  # noqa: PLC0415 - only programs that split need scipy
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    arr, n = problem.to_arrays(), problem.n_vars
    A = arr.A.to_scipy().tocoo()
    live = ~_fixed(arr)[A.col]
    graph = sp.coo_matrix((np.ones(int(live.sum())), (A.col[live], n + A.row[live])), shape=(n + problem.n_rows,) * 2)
    _, labels = connected_components(graph, directed=False)
    return labels[:n], labels[n:]


def _floor(arr, floors: np.ndarray | None, cols: list[int]) -> float:
    """A lower bound on a block's optimum (``solve_split``'s ``floors``)."""
    if floors is not None:
        return float(np.sum(floors[cols]))
    c, lo, hi = arr.c[cols], arr.col_lower[cols], arr.col_upper[cols]
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.where(c > 0, c * lo, np.where(c < 0, c * hi, 0.0))))   # -inf: no finite floor


def solve_split(problem: Problem, solver: str, opts: SolveOptions, workers: int = 1,
                min_block_s: float | None = 1.0, cutoff: float = math.inf,
                floors: np.ndarray | None = None) -> Solution:
    """Solve a program whose rows fall into independent blocks (connected components of the row-variable graph,
    ``block_labels``) block by block. Exact: the optimum of a sum of independent programs is the sum of their optima,
    and so is the bound. Branch and bound on the sum instead multiplies the blocks' trees (seconds instead of
    milliseconds for a month of 24 hours). Variables in no row sit at their cheapest bound. Each block gets what is
    left of ``opts.time_limit_s``, at least ``min_block_s`` (None: no floor, and a block that finds the limit spent is
    not started: the solve ends with status ``error`` and no values). ``workers`` > 1: that many blocks are solved at
    once, in threads (the solvers release the GIL while they run; each block is solved as it would be alone, so the
    same answer).

    ``cutoff``: the solve is left midway once the blocks' bounds show that the program's optimum is at least
    ``cutoff`` (status ``error``, no values, that bound): with L = the constant part + sum over solved blocks of their
    bound + sum over the others of their floor, L <= the optimum at every step. ``floors``: a lower bound on each
    column's part of the optimum (c_j x*_j of an LP optimum of the same program: the relaxation splits into the same
    blocks, so a block's columns sum to its LP optimum, a bound on its integer optimum); without them a block's floor
    is its cheapest point, sum of c_j times the bound it would sit at (0 where costs and lower bounds are >= 0)."""
    t0 = time.perf_counter()
    arr = problem.to_arrays()
    fixed = _fixed(arr)
    x = np.where(fixed, arr.col_lower, 0.0)
    shift = arr.A @ x
    row_lower, row_upper = arr.row_lower - shift, arr.row_upper - shift
    var_label, row_label = block_labels(problem)
    bound, statuses, notes = problem.objective_constant + float(arr.c @ x), set(), []
    csr = arr.A.to_scipy()
    rows_of: dict[int, list[int]] = {}
    for i, lab in enumerate(row_label):
        rows_of.setdefault(int(lab), []).append(i)
    cols_of: dict[int, list[int]] = {}
    for j, lab in enumerate(var_label):
        if not fixed[j]:
            cols_of.setdefault(int(lab), []).append(j)
    subs = []
    for lab, rows in rows_of.items():
        cols = cols_of.get(lab, [])
        if not cols:  # an empty row: 0 must satisfy it
            if row_lower[rows[0]] > 1e-9 or row_upper[rows[0]] < -1e-9:
                return finalize_solution(problem, opts, solver=solver, claimed="infeasible",
                                         seconds=time.perf_counter() - t0,
                                         message=f"empty row {problem.row_key(rows[0])}")
            continue
        sub = Problem(f"{problem.name}#{lab}")
        sub.add_vars("x", cols, arr.col_lower[cols], arr.col_upper[cols], integer=arr.integrality[cols])
        block = csr[rows][:, cols].tocoo()
        lo, hi = row_lower[rows], row_upper[rows]
        for sense, mask, rhs in (("==", lo == hi, lo), ("<=", np.isinf(lo) & (lo != hi), hi),
                                 (">=", ~np.isinf(lo) & (lo != hi), lo),
                                 ("<=", ~np.isinf(lo) & ~np.isinf(hi) & (lo != hi), hi)):
            local = np.flatnonzero(mask)
            if local.size:
                pos = {int(r): k for k, r in enumerate(local)}
                keep = np.isin(block.row, local)
                sub.add_rows(f"r{sense}{len(sub.row_keys)}", [(int(rows[r]), sense) for r in local],
                             [pos[int(r)] for r in block.row[keep]], block.col[keep], block.data[keep], sense,
                             rhs[local])
        sub.add_cost("c", np.arange(len(cols)), arr.c[cols])
        subs.append((cols, sub))

    free = np.flatnonzero(~fixed & ~np.isin(var_label, list(rows_of)))  # variables in no row
    if free.size:
        c, lo, hi = arr.c[free], arr.col_lower[free], arr.col_upper[free]
        if np.any((c < 0) & np.isinf(hi)) or np.any((c > 0) & np.isinf(lo)):
            return finalize_solution(problem, opts, solver=solver, claimed="unbounded",
                                     seconds=time.perf_counter() - t0)
        val = np.where(c < 0, hi, np.where(np.isinf(lo), np.where(np.isinf(hi), 0.0, hi), lo))
        integer = arr.integrality[free]
        val = np.where(integer & (c < 0), np.floor(val + 1e-9), np.where(integer, np.ceil(val - 1e-9), val))
        x[free] = val
        bound += float(c @ val)
    floor_of = [_floor(arr, floors, cols) if math.isfinite(cutoff) else -math.inf for cols, _ in subs]
    low = bound + sum(floor_of)   # a lower bound on the optimum, raised as the blocks are solved

    def solve(sub: Problem) -> Solution:
        left = None if opts.time_limit_s is None else opts.time_limit_s - (time.perf_counter() - t0)
        if left is not None and min_block_s is not None:
            left = max(min_block_s, left)
        elif left is not None and left <= 0:
            return Solution("error", None, None, None, None, solver, 0.0, "time limit reached before this block")
        return get_backend(solver, sub).solve(sub, dataclasses.replace(opts, time_limit_s=left))

    def raised(low: float, k: int, sol: Solution) -> float:
        if not math.isfinite(floor_of[k]):
            return low
        return low + max(sol.bound if sol.bound is not None and math.isfinite(sol.bound) else -math.inf,
                         floor_of[k]) - floor_of[k]

    sols: list[Solution | None] = [None] * len(subs)
    if workers > 1 and len(subs) > 1:
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # noqa: PLC0415

        with ThreadPoolExecutor(max_workers=workers) as pool:
            running = {pool.submit(solve, sub): k for k, (_, sub) in enumerate(subs)}
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    k = running.pop(fut)
                    if fut.cancelled():
                        continue   # never started: left as None
                    sols[k] = fut.result()
                    if sols[k].has_values:
                        low = raised(low, k, sols[k])
                if any(s is not None and not s.has_values for s in sols) or low >= cutoff:
                    for fut in running:
                        fut.cancel()   # blocks already running finish; the rest never start
    else:
        for k, (_, sub) in enumerate(subs):   # one by one: the first block without an answer ends the solve
            sols[k] = solve(sub)
            if not sols[k].has_values:
                break
            low = raised(low, k, sols[k])
            if low >= cutoff and k + 1 < len(subs):
                break
    if low >= cutoff and not all(s is not None and s.has_values for s in sols):
        return finalize_solution(problem, opts, solver=solver, claimed="error", bound=low,
                                 seconds=time.perf_counter() - t0,
                                 message=f"left midway: its blocks' bounds reach {low:.10g} >= the cutoff")
    for (cols, _), sol in zip(subs, sols):
        if sol is None:   # not started: another block ended the solve without an answer
            sol = next(s for s in sols if s is not None and not s.has_values)
        if not sol.has_values:
            return finalize_solution(problem, opts, solver=solver, claimed=sol.status,
                                     seconds=time.perf_counter() - t0, message=sol.message)
        x[cols] = sol.values
        bound += sol.bound if sol.bound is not None else -math.inf
        statuses.add(sol.status)
        if sol.message:
            notes.append(sol.message)
    claimed = "optimal" if statuses <= {"optimal"} else "feasible"
    return finalize_solution(problem, opts, solver=solver, claimed=claimed, x=x, bound=bound,
                             seconds=time.perf_counter() - t0, message="; ".join(dict.fromkeys(notes)))
