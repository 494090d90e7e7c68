"""Solver-neutral MILP container: plain data (numpy arrays, a ``planner.csr.CsrMatrix``), no solver imports.

This module is longer than ~400 lines because it holds the one contract every backend translates: the problem,
its arrays, the solution and the status rules that keep a time-limited answer from reading "optimal".

Every problem is a **minimisation** (a maximisation is written as ``minimise -f``):

    minimise    cᵀx + c₀
    subject to  row_lower ≤ A x ≤ row_upper
                col_lower ≤ x ≤ col_upper
                x_j ∈ ℤ   for every j with integrality[j]

Variables and rows live in named *blocks* and carry structured, hashable tuple keys whose first
element is the block name: ``("nodes", "h100-od")``, ``("replicas", "chat-8b", 17)``,
``("load", "chat-8b", 0, 17, "p0")``. Keys are never names to be parsed back; backends see only
column and row numbers. The cost vector c is the sum of named cost *terms* (``add_cost``), so a
report can say how much each term contributes; c₀ is ``objective_constant``.

Build large blocks vectorised: ``add_vars`` takes a list of keys and bound arrays, ``add_rows``
takes a COO triplet (local row, column, value). Duplicate (row, column) entries are summed.

``Solution`` is what every backend returns; ``finalize_solution`` is the single place that turns a
backend's raw claim into an honest status (see its docstring). Status vocabulary (linopy's):

    optimal     the solver proved x is optimal within ``SolveOptions.mip_gap``
    feasible    x satisfies the constraints but optimality is not proven (time limit); see ``gap``
    infeasible  proven: no x satisfies the constraints
    unbounded   proven: feasible, and the objective decreases without limit
    error       anything else: a crash, a limit hit before any solution, an undecided
                infeasible-or-unbounded, a point that fails ``Problem.violations``, or a solver
                answer contradicted by the checks in ``solvers.registry.checked_solve``

``gap = (objective − bound) / max(|objective|, 1e-9)``, where ``bound`` is the best proven lower
bound; differences below ``ZERO_GAP_ABS + ZERO_GAP_REL·|objective|`` count as zero (solver tolerances).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Literal, NamedTuple

import numpy as np

from planner.csr import CsrMatrix
from planner.errors import SolverError

VarKey = tuple[Hashable, ...]
Sense = Literal["<=", ">=", "=="]
Status = Literal["optimal", "feasible", "infeasible", "unbounded", "error"]
STATUSES: tuple[str, ...] = ("optimal", "feasible", "infeasible", "unbounded", "error")

ZERO_GAP_ABS = 1e-6  # HiGHS' default mip_abs_gap; smaller objective − bound differences are noise
# ... and so are relative differences within the backends' feasibility tolerances (1e-6: SCIP's feastol; a point
# that far off a row can sit that far above the optimum): SCIP "optimal" at 4.000003 over its bound 4, HiGHS at a
# relative 1.5e-7, both on random 5-column programs of tests/test_solvers.py (2026-12-06), were "feasible" at 1e-9
ZERO_GAP_REL = 1e-6


def zero_gap(value: float) -> float:
    """The objective − bound difference at ``value`` that counts as zero (the two tolerances above)."""
    return ZERO_GAP_ABS + ZERO_GAP_REL * abs(value)


def cheaper_than(value: float, than: float) -> bool:
    """Whether an objective of ``value`` improves on one of ``than`` by more than 1e-9 relative (rounding noise)."""
    return value < than - 1e-9 * max(1.0, abs(than))

INTEGRALITY_TOL = 1e-6  # integer columns within this of an integer are snapped to it
VIOLATION_TOL = 1e-5  # a returned point violating a row/bound by more than this is flagged


@dataclass(frozen=True)
class SolveOptions:
    """What every backend honours.

    Attributes:
        time_limit_s: wall-clock limit for the solver, None for no limit.
        mip_gap: relative gap at which the solver may stop and still report ``optimal``.
        threads: solver threads; 1 keeps runs deterministic.
        msg: let the solver write its log to stdout (the library itself never prints).
        start: a MIP start ``(columns, values)``, possibly partial: HiGHS takes it as its first incumbent and,
            when partial, completes it with the given integer columns fixed (``setSolution``); other backends
            ignore it. It changes how fast a solution is found, never which optimum is reported.
        on_incumbent: called with each improving solution (all the problem's columns) as HiGHS finds it, from the
            solving thread; other backends ignore it. It is told, never asked: what it returns changes nothing.
    """

    time_limit_s: float | None = None
    mip_gap: float = 0.0
    threads: int = 1
    msg: bool = False
    start: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False, repr=False)
    on_incumbent: Callable[[np.ndarray], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive or None, got {self.time_limit_s}")
        if not 0.0 <= self.mip_gap < 1.0:
            raise ValueError(f"mip_gap must be in [0, 1), got {self.mip_gap}")
        if self.threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {self.threads}")


def _integer_bounds(lo: np.ndarray, hi: np.ndarray, integ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``lo``, ``hi`` (modified in place) with an integer column's bounds rounded inwards: an equivalent model
    that every backend can take (HiGHS 1.15 mishandles fractional ones)."""
    lo[integ], hi[integ] = np.ceil(lo[integ] - 1e-9), np.floor(hi[integ] + 1e-9)
    return lo, hi


class ProblemArrays(NamedTuple):
    """The matrix form HiGHS and OR-Tools' model_builder take (infinite bounds are ±inf); ``A.to_scipy()`` where
    a backend wants scipy's matrix."""

    c: np.ndarray
    A: CsrMatrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray


def row_violation(arr: ProblemArrays, act: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Each row's violation at activity ``act`` (A x), relative to max(1, |bound|, ``size``) with ``size`` =
    sum_j |a_ij x_j|, so solver tolerances on large coefficients do not count; <= 0 where the row holds."""
    scale = np.maximum(1.0, size)
    lo_fin = np.where(np.isfinite(arr.row_lower), arr.row_lower, 0.0)
    hi_fin = np.where(np.isfinite(arr.row_upper), arr.row_upper, 0.0)
    with np.errstate(invalid="ignore"):
        lo_v = (arr.row_lower - act) / np.maximum(scale, np.abs(lo_fin))
        hi_v = (act - arr.row_upper) / np.maximum(scale, np.abs(hi_fin))
    return np.maximum(lo_v, hi_v)


@dataclass(frozen=True)
class BlockSummary:
    """Size of one named block (a name may hold variables, rows, or both)."""

    name: str
    n_vars: int = 0
    n_integer: int = 0
    n_rows: int = 0
    n_nonzeros: int = 0


def _full_key(block: str, key: Hashable) -> VarKey:
    """A key already starting with ``block`` is kept; any other index gets the block prepended."""
    if isinstance(key, tuple):
        return key if key and key[0] == block else (block, *key)
    return (block, key)


def _broadcast(value, n: int, default: float, what: str) -> np.ndarray:
    if value is None:
        arr = np.full(n, default, dtype=float)
    else:
        arr = np.asarray(value)
        if arr.dtype == object:  # a list holding None entries: None means the default (±inf for bounds)
            arr = np.array([default if v is None else v for v in arr.ravel()], dtype=float).reshape(arr.shape)
        arr = arr.astype(float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{what}: expected a scalar or {n} values, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{what}: NaN")
    return arr


class Problem:
    """A minimisation MILP built from named blocks of keyed variables and rows."""

    def __init__(self, name: str = "fleetplan"):
        self.name = name
        self.objective_constant = 0.0
        self._keys: list[VarKey] = []
        self._index: dict[VarKey, int] = {}
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._var_ranges: dict[str, list[tuple[int, int]]] = {}
        self._row_keys: list[VarKey] = []
        self._row_index: dict[VarKey, int] = {}
        self._coo: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._row_lo: list[np.ndarray] = []
        self._row_hi: list[np.ndarray] = []
        self._row_ranges: dict[str, list[tuple[int, int]]] = {}
        self._nnz_by_block: dict[str, int] = {}
        self._costs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._cache: ProblemArrays | None = None

    # ---------------------------------------------------------------- variables
    def add_vars(self, block: str, keys: Sequence[Hashable], lb=0.0, ub=None,
                 integer: bool | np.ndarray = False) -> np.ndarray:
        """Add one variable per key; returns their column indices.

        Args:
            block: block name, the first element of every key.
            keys: full keys (``(block, ...)``) or index parts (``("chat-8b", 17)`` or a scalar),
                which get the block prepended.
            lb, ub: scalars or arrays; ``ub=None`` means +inf, ``lb=-np.inf`` a free variable.
            integer: one flag for the block, or a bool array.
        """
        full = [_full_key(block, k) for k in keys]
        n, start = len(full), len(self._keys)
        lo = _broadcast(lb, n, 0.0, f"{block}.lb")
        hi = _broadcast(ub, n, np.inf, f"{block}.ub")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            raise ValueError(f"{full[bad[0]]}: lower bound {lo[bad[0]]} > upper bound {hi[bad[0]]}")
        integ = np.broadcast_to(np.asarray(integer, dtype=bool), (n,)).copy()
        return self._append_vars(full, lo, hi, integ, [(block, start, start + n)])

    def _append_vars(self, full: Sequence[VarKey], lo: np.ndarray, hi: np.ndarray, integ: np.ndarray,
                     runs: list[tuple[str, int, int]]) -> np.ndarray:
        """Index, store and file under their blocks (``runs``: block, first and end column) the checked new
        columns; a duplicate key is refused with nothing added."""
        n, start = len(full), len(self._keys)
        self._index.update(zip(full, range(start, start + n)))
        if len(self._index) != start + n:
            for k in full:  # roll back, then name the first duplicate
                self._index.pop(k, None)
            self._index.update(zip(self._keys, range(start)))
            seen: set = set()
            dup = next(k for k in full if k in self._index or k in seen or seen.add(k))
            raise ValueError(f"duplicate variable key {dup!r}")
        self._keys.extend(full)
        self._lb.append(lo)
        self._ub.append(hi)
        self._int.append(integ)
        for block, a, b in runs:
            self._var_ranges.setdefault(block, []).append((a, b))
        self._cache = None
        return np.arange(start, start + n)

    def add_keyed_vars(self, keys: Sequence[VarKey], lb: Sequence[float], ub: Sequence[float],
                       integer: Sequence[bool]) -> np.ndarray:
        """Add one variable per full key, keys of several blocks interleaved (``key[0]`` is the block; ``ub`` may
        be ``inf``): the same columns, keys, bounds and blocks as one ``add_vars`` call per run of consecutive
        keys of one block, in one call. Returns their column indices."""
        n, start = len(keys), len(self._keys)
        lo, hi = np.array(lb, dtype=float), np.array(ub, dtype=float)
        integ = np.array(integer, dtype=bool)
        if not (lo.shape == hi.shape == integ.shape == (n,)):
            raise ValueError(f"add_keyed_vars: {n} keys but {lo.size} lower, {hi.size} upper bounds and "
                             f"{integ.size} integrality flags")
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise ValueError("add_keyed_vars: NaN bound")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            raise ValueError(f"{keys[bad[0]]}: lower bound {lo[bad[0]]} > upper bound {hi[bad[0]]}")
        runs: list[tuple[str, int, int]] = []   # (block, first column, end) of each run of keys of one block
        bad_key = next((k for k in keys if type(k) is not tuple or not k), None)
        if bad_key is None:   # the block name is checked once per run, not once per key
            at = start
            for block, same in groupby(k[0] for k in keys):
                if not isinstance(block, str):
                    bad_key = next(k for k in keys if k[0] is block)
                    break
                n_run = len(list(same))
                runs.append((block, at, at + n_run))
                at += n_run
        if bad_key is not None:
            raise ValueError(f"a variable key is a tuple whose first element is the block name, got {bad_key!r}")
        return self._append_vars(keys, lo, hi, integ, runs)

    def add_var(self, key: VarKey, lb: float = 0.0, ub: float | None = None, integer: bool = False) -> int:
        """Add one variable; ``key[0]`` is its block. Returns its column index."""
        if not isinstance(key, tuple) or not key or not isinstance(key[0], str):
            raise ValueError(f"a variable key is a tuple whose first element is the block name, got {key!r}")
        return int(self.add_vars(key[0], [key], lb, ub, integer)[0])

    # ---------------------------------------------------------------- rows
    def add_rows(self, block: str, keys: Sequence[Hashable], rows, cols, vals, sense: Sense, rhs) -> np.ndarray:
        """Add ``len(keys)`` rows given as COO triplets; returns their global row indices.

        Args:
            rows: local row numbers 0..len(keys)-1, one per nonzero.
            cols: column indices (from ``add_vars``), one per nonzero.
            vals: coefficients, one per nonzero; duplicates of a (row, col) pair are summed.
            sense: "<=", ">=" or "==", shared by the block.
            rhs: scalar or one value per row.
        """
        full = [_full_key(block, k) for k in keys]
        m, start = len(full), len(self._row_keys)
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        v = np.asarray(vals, dtype=float).ravel()
        if not (r.shape == c.shape == v.shape):
            raise ValueError(f"{block}: rows, cols and vals differ in length ({r.size}, {c.size}, {v.size})")
        if r.size and (r.min() < 0 or r.max() >= m):
            raise ValueError(f"{block}: local row index outside 0..{m - 1}")
        if c.size and (c.min() < 0 or c.max() >= len(self._keys)):
            raise ValueError(f"{block}: column index outside 0..{len(self._keys) - 1}")
        if not np.isfinite(v).all():
            raise ValueError(f"{block}: non-finite coefficient")
        b = _broadcast(rhs, m, 0.0, f"{block}.rhs")
        if sense == "<=":
            lo, hi = np.full(m, -np.inf), b
        elif sense == ">=":
            lo, hi = b, np.full(m, np.inf)
        elif sense == "==":
            lo, hi = b, b.copy()
        else:
            raise ValueError(f"{block}: sense must be '<=', '>=' or '==', got {sense!r}")
        self._row_index.update(zip(full, range(start, start + m)))
        if len(self._row_index) != start + m:
            for k in full:
                self._row_index.pop(k, None)
            self._row_index.update(zip(self._row_keys, range(start)))
            raise ValueError(f"{block}: duplicate row key")
        self._row_keys.extend(full)
        self._coo.append((r + start, c, v))
        self._row_lo.append(lo)
        self._row_hi.append(hi)
        self._row_ranges.setdefault(block, []).append((start, start + m))
        self._nnz_by_block[block] = self._nnz_by_block.get(block, 0) + r.size
        self._cache = None
        return np.arange(start, start + m)

    def add_constraint(self, block: str, key: Hashable, coeffs: Mapping[VarKey | int, float],
                       sense: Sense, rhs: float) -> int:
        """Add one row ``Σ coeffs[k]·x[k] (sense) rhs``; coefficient keys are variable keys or columns."""
        cols = [self._column(k) for k in coeffs]
        vals = [float(a) for a in coeffs.values()]
        return int(self.add_rows(block, [key], np.zeros(len(cols), dtype=np.int64), cols, vals, sense, rhs)[0])

    # ---------------------------------------------------------------- objective
    def add_cost(self, term: str, cols, coeffs) -> None:
        """Add ``Σ coeffs·x[cols]`` to the objective under the cost term ``term`` (accumulates)."""
        cols = np.asarray([self._column(k) for k in cols] if not isinstance(cols, np.ndarray) else cols,
                          dtype=np.int64).ravel()
        vals = _broadcast(coeffs, cols.size, 0.0, f"cost {term}")
        if cols.size and (cols.min() < 0 or cols.max() >= len(self._keys)):
            raise ValueError(f"cost {term}: column index outside 0..{len(self._keys) - 1}")
        if not np.isfinite(vals).all():
            raise ValueError(f"cost {term}: non-finite coefficient")
        self._costs.setdefault(term, []).append((cols, vals))
        self._cache = None

    # ---------------------------------------------------------------- lookups
    def _column(self, key: VarKey | int) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= key < len(self._keys):
                raise KeyError(f"column {key} out of range 0..{len(self._keys) - 1}")
            return int(key)
        return self.index(key)

    def index(self, key: VarKey) -> int:
        """Column index of a variable key."""
        try:
            return self._index[key]
        except (KeyError, TypeError):
            block = key[0] if isinstance(key, tuple) and key else None
            hint = f"; block {block!r} has {self._count(self._var_ranges, block)} variables" if block else ""
            raise KeyError(f"no variable {key!r}{hint}") from None

    def find(self, key: VarKey) -> int | None:
        """Column index of a variable key, or None when there is no such variable."""
        return self._index.get(key)

    def row_index(self, key: VarKey) -> int:
        """Global row index of a row key."""
        try:
            return self._row_index[key]
        except (KeyError, TypeError):
            raise KeyError(f"no row {key!r}") from None

    @staticmethod
    def _count(ranges: dict[str, list[tuple[int, int]]], block) -> int:
        return sum(b - a for a, b in ranges.get(block, []))

    @property
    def var_keys(self) -> list[VarKey]:
        """Keys by column (a copy)."""
        return list(self._keys)

    @property
    def row_keys(self) -> list[VarKey]:
        """Keys by row (a copy)."""
        return list(self._row_keys)

    def var_key(self, col: int) -> VarKey:
        return self._keys[col]

    def row_key(self, row: int) -> VarKey:
        return self._row_keys[row]

    @property
    def n_vars(self) -> int:
        return len(self._keys)

    @property
    def n_rows(self) -> int:
        return len(self._row_keys)

    @property
    def n_nonzeros(self) -> int:
        return sum(r.size for r, _, _ in self._coo)

    @property
    def has_continuous(self) -> bool:
        return bool(self.n_vars) and not bool(np.concatenate(self._int).all())

    @property
    def has_integer(self) -> bool:
        return bool(self.n_vars) and bool(np.concatenate(self._int).any())

    @property
    def cost_terms(self) -> list[str]:
        return list(self._costs)

    def block_columns(self, block: str) -> np.ndarray:
        """Column indices of a variable block, in creation order."""
        return np.concatenate([np.arange(a, b) for a, b in self._var_ranges.get(block, [])] or [np.arange(0)])

    def block_rows(self, block: str) -> np.ndarray:
        """Row indices of a row block, in creation order."""
        return np.concatenate([np.arange(a, b) for a, b in self._row_ranges.get(block, [])] or [np.arange(0)])

    @property
    def blocks(self) -> dict[str, BlockSummary]:
        """Size of every block, in order of first use."""
        integ = np.concatenate(self._int) if self._int else np.zeros(0, bool)
        out: dict[str, BlockSummary] = {}
        for name in dict.fromkeys([*self._var_ranges, *self._row_ranges]):
            cols = self.block_columns(name)
            out[name] = BlockSummary(name, cols.size, int(integ[cols].sum()),
                                     self._count(self._row_ranges, name), self._nnz_by_block.get(name, 0))
        return out

    # ---------------------------------------------------------------- matrix form
    def to_arrays(self) -> ProblemArrays:
        """c, A (CSR, duplicates summed, explicit zeros dropped), row and column bounds, integrality.

        Integer columns get ⌈lb⌉ and ⌊ub⌋ (an equivalent model that every backend can take).
        """
        if self._cache is not None:
            return self._cache
        n, m = self.n_vars, self.n_rows
        cat = lambda parts, dt=float: (np.concatenate(parts).astype(dt, copy=False)  # noqa: E731
                                       if parts else np.zeros(0, dt))
        c = np.zeros(n)
        for parts in self._costs.values():
            for cols, vals in parts:
                np.add.at(c, cols, vals)
        A = CsrMatrix.from_coo(cat([v for _, _, v in self._coo]), cat([r for r, _, _ in self._coo], np.int64),
                               cat([k for _, k, _ in self._coo], np.int64), (m, n))
        integ = cat(self._int, bool)
        lo, hi = _integer_bounds(cat(self._lb), cat(self._ub), integ)
        arrays = ProblemArrays(c, A, cat(self._row_lo), cat(self._row_hi), lo, hi, integ)
        for a in arrays:
            if isinstance(a, np.ndarray):
                a.setflags(write=False)
        self._cache = arrays
        return arrays

    # ---------------------------------------------------------------- evaluation
    def objective_value(self, x: np.ndarray) -> float:
        """cᵀx + c₀."""
        return float(self.to_arrays().c @ np.asarray(x, dtype=float) + self.objective_constant)

    def cost_breakdown(self, x: np.ndarray) -> dict[str, float]:
        """Contribution of each named cost term at x (the constant is not included)."""
        x = np.asarray(x, dtype=float)
        return {t: float(sum(vals @ x[cols] for cols, vals in parts)) for t, parts in self._costs.items()}

    def violations(self, x: np.ndarray, tol: float = VIOLATION_TOL) -> list[tuple[VarKey, float]]:
        """Rows, bounds and integrality violated at x, worst first, as (key, relative violation).

        A row's violation is divided by max(1, |bound|, Σⱼ|aᵢⱼxⱼ|), a bound's by max(1, |bound|),
        so solver tolerances on large coefficients are not flagged; reported when above ``tol``.
        """
        arr = self.to_arrays()
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_vars,):
            return [(("shape",), math.inf)]
        out: list[tuple[VarKey, float]] = []
        row_v = row_violation(arr, arr.A @ x, abs(arr.A) @ np.abs(x))
        out += [(self._row_keys[i], float(row_v[i])) for i in np.flatnonzero(row_v > tol)]
        col_scale = np.maximum(1.0, np.abs(x))
        col_v = np.maximum(arr.col_lower - x, x - arr.col_upper) / col_scale
        out += [(self._keys[j], float(col_v[j])) for j in np.flatnonzero(col_v > tol)]
        int_v = np.where(arr.integrality, np.abs(x - np.round(x)), 0.0)
        out += [(("integrality", *self._keys[j]), float(int_v[j])) for j in np.flatnonzero(int_v > tol)]
        return sorted(out, key=lambda kv: -kv[1])

    def with_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> "Problem":
        """A copy whose columns ``cols`` get new bounds (e.g. fixed to a start's values); the rest is shared.

        The copy is for solving only: add nothing to it (its key maps are the original's).
        """
        import copy  # noqa: PLC0415

        new = copy.copy(self)
        lo, hi = np.concatenate(self._lb), np.concatenate(self._ub)
        cols = np.asarray(cols, dtype=np.int64)
        lo[cols], hi[cols] = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        if (lo > hi).any():
            raise ValueError("with_bounds: a lower bound above its upper bound")
        new._lb, new._ub = [lo], [hi]
        new._int = [np.concatenate(self._int)] if self._int else []
        new._cache = None
        if self._cache is not None:   # the matrix form shares c, A and the row bounds (seconds on XL programs)
            base = self._cache
            lo_c, hi_c = _integer_bounds(lo.copy(), hi.copy(), base.integrality)
            for a in (lo_c, hi_c):
                a.setflags(write=False)
            new._cache = ProblemArrays(base.c, base.A, base.row_lower, base.row_upper, lo_c, hi_c, base.integrality)
        return new

    def may_be_unbounded(self) -> bool:
        """False when the bounds alone rule out an unbounded objective (no column with c < 0 and no
        upper bound, none with c > 0 and no lower bound): every improving ray needs such a column."""
        arr = self.to_arrays()
        up = (arr.c < 0) & ~np.isfinite(arr.col_upper)
        down = (arr.c > 0) & ~np.isfinite(arr.col_lower)
        return bool(up.any() or down.any())

    def empty_row_conflicts(self) -> list[VarKey]:
        """Rows with no nonzero whose bounds exclude 0: the problem is infeasible as written."""
        arr = self.to_arrays()
        empty = np.diff(arr.A.indptr) == 0
        bad = empty & ((arr.row_lower > 0) | (arr.row_upper < 0))
        return [self._row_keys[i] for i in np.flatnonzero(bad)]

    def __repr__(self) -> str:
        return f"Problem({self.name!r}: {self.n_vars} vars, {self.n_rows} rows, {self.n_nonzeros} nonzeros)"


@dataclass(frozen=True, eq=False)
class Solution:
    """A backend's answer. ``values`` is indexed by column; None unless optimal or feasible."""

    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    values: np.ndarray | None
    solver: str
    solve_seconds: float
    message: str = ""
    problem: Problem | None = field(default=None, repr=False)

    @property
    def has_values(self) -> bool:
        return self.values is not None and self.status in ("optimal", "feasible")

    def _need(self) -> tuple[Problem, np.ndarray]:
        if not self.has_values or self.problem is None:
            raise SolverError(f"{self.solver}: no solution values (status {self.status}: {self.message})")
        return self.problem, self.values

    def value(self, key: VarKey) -> float:
        """Value of one variable."""
        problem, x = self._need()
        return float(x[problem.index(key)])

    def values_by_block(self, block: str) -> dict[VarKey, float]:
        """``{key: value}`` for every variable of a block; KeyError for a block with no variables."""
        problem, x = self._need()
        if block not in problem._var_ranges:
            raise KeyError(f"no variable block {block!r}; blocks: {', '.join(problem._var_ranges)}")
        return {problem.var_key(j): float(x[j]) for j in problem.block_columns(block)}

    def cost_breakdown(self) -> dict[str, float]:
        """Contribution of each named cost term."""
        problem, x = self._need()
        return problem.cost_breakdown(x)


def finalize_solution(problem: Problem, options: SolveOptions, *, solver: str, claimed: str,
                      x: Iterable[float] | None = None, bound: float | None = None,
                      seconds: float = 0.0, message: str = "") -> Solution:
    """Turn a backend's raw claim into an honest ``Solution``; every backend ends here.

    Rules: the objective is recomputed from the returned point (integer columns snapped to
    integers), never copied from the solver. ``optimal`` needs a proof: the solver's claim with
    ``gap ≤ mip_gap`` (a claim whose gap is larger is downgraded to ``feasible``), or a reported
    bound that closes the gap to within ``mip_gap`` (a time-limited run that in fact proved
    optimality is upgraded). A claimed optimum without a bound gets ``bound = objective`` (the
    solver proved it). A ``feasible`` claim without a bound has ``bound = -inf``, ``gap = inf``.
    """
    if claimed not in STATUSES:
        return Solution("error", None, None, None, None, solver, seconds,
                        f"backend returned unknown status {claimed!r}. {message}".strip(), problem)
    if claimed not in ("optimal", "feasible"):
        # an error (e.g. a time limit before any solution) keeps a proven bound, if the solver had one
        kept = bound if claimed == "error" and bound is not None and math.isfinite(bound) else None
        return Solution(claimed, None, kept, None, None, solver, seconds, message, problem)  # type: ignore[arg-type]
    if x is None:
        return Solution("error", None, None, None, None, solver, seconds,
                        f"solver claimed {claimed} but returned no values. {message}".strip(), problem)
    arr = problem.to_arrays()
    vals = np.array(x, dtype=float).ravel()
    if vals.shape != (problem.n_vars,) or not np.isfinite(vals).all():
        return Solution("error", None, None, None, None, solver, seconds,
                        f"solver returned {vals.size} values (finite: {np.isfinite(vals).all()}) "
                        f"for {problem.n_vars} variables. {message}".strip(), problem)
    rounded = np.round(vals)
    snap = arr.integrality & (np.abs(vals - rounded) <= INTEGRALITY_TOL)
    vals[snap] = rounded[snap]
    clipped = np.clip(vals, arr.col_lower, arr.col_upper)
    vals = np.where(np.abs(clipped - vals) <= VIOLATION_TOL, clipped, vals)  # solver noise only
    objective = problem.objective_value(vals)
    notes = [message] if message else []
    tol = zero_gap(objective)

    if bound is None or math.isnan(bound):
        bound = objective if claimed == "optimal" else -math.inf
    if bound > objective + tol:
        notes.append(f"solver bound {bound:.10g} lies above the objective {objective:.10g}; using the objective")
        bound = objective
    if objective - bound <= tol:
        bound, gap = min(bound, objective), 0.0
    else:
        gap = (objective - bound) / max(abs(objective), 1e-9) if math.isfinite(bound) else math.inf

    status = claimed
    if claimed == "optimal" and gap > options.mip_gap + 1e-9:
        status = "feasible"
        notes.append(f"solver reported optimal, but gap {gap:.3g} exceeds mip_gap {options.mip_gap:g}")
    elif claimed == "feasible" and gap <= options.mip_gap:
        status = "optimal"
        notes.append("stopped early, but the proven bound closes the gap")
    worst = problem.violations(vals)
    if worst:  # a point that breaks the model is no solution, whatever the solver says
        key, amount = worst[0]
        notes.append(f"solver said {claimed}, but its point violates {len(worst)} constraint(s) beyond "
                     f"{VIOLATION_TOL:g} (relative), worst {key!r} by {amount:.3g}; not reported as a solution")
        # values kept for diagnosis (has_values is False for an error)
        return Solution("error", None, None, None, vals, solver, seconds, "; ".join(notes), problem)
    return Solution(status, objective, float(bound), float(gap), vals, solver, seconds,  # type: ignore[arg-type]
                    "; ".join(notes), problem)
