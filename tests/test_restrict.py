"""``planner.fleet.restrict``: a fixing, the zeros it forces, and the problem that is left.

Hand cases check the propagation and the infeasibility verdict; a property test checks the claim of the module
docstring against an independent oracle: HiGHS on the full problem with the same columns fixed by bounds
(``Problem.with_bounds``) finds the same optimum, and says "infeasible" exactly where ``restrict`` returns None
or its restricted problem is infeasible.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.fleet.restrict import restrict
from planner.problem import Problem, SolveOptions
from solvers.registry import solve


def _chain() -> Problem:
    """r fixed to 0 forces y (cap row), then z and w (link row); q stays: z + q >= 1."""
    p = Problem("chain")
    p.add_vars("replicas", [("r",)], 0, 10, integer=True)
    p.add_vars("load", [("y",), ("z",)], 0, None)
    p.add_vars("flag", [("w",)], 0, 1, integer=True)
    p.add_vars("slack", [("q",)], 0, None)
    col = {k[1]: p.index(k) for k in p.var_keys}
    p.add_constraint("cap", "y", {col["y"]: 1.0, col["r"]: -5.0}, "<=", 0.0)
    p.add_constraint("link", "zw", {col["z"]: 1.0, col["w"]: 2.0, col["y"]: -1.0}, "<=", 0.0)
    p.add_constraint("demand", "d", {col["z"]: 1.0, col["q"]: 1.0}, ">=", 1.0)
    p.add_cost("usd", [col["q"], col["r"], col["w"]], [2.0, 3.0, -1.0])
    p.objective_constant = 0.5
    return p


def test_a_fixing_forces_its_zeros_through_chained_rows():
    p = _chain()
    r = p.index(("replicas", "r"))
    part = restrict(p, np.array([r]), np.array([0.0]))
    assert part is not None
    assert part.forced == 3                                   # y by the cap row, then z and w by the link row
    assert [p.var_key(int(j)) for j in part.free] == [("slack", "q")]
    assert part.problem.n_rows == 1                           # only the demand row has a free column left
    sol = solve(part.problem, "highs", SolveOptions())
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(0.5 + 2.0)          # q = 1 at 2 USD, plus the constant
    x = part.expand(sol.values)
    assert p.violations(x) == []
    assert p.objective_value(x) == pytest.approx(2.5)


def test_a_fixing_with_room_forces_nothing_and_keeps_its_activity_in_the_bounds():
    p = _chain()
    r = p.index(("replicas", "r"))
    part = restrict(p, np.array([r]), np.array([2.0]))        # y <= 10 now: nothing is forced
    assert part.forced == 0 and part.problem.n_vars == 4
    cap = part.problem.to_arrays()
    assert cap.row_upper[0] == pytest.approx(10.0)            # y - 5 r <= 0 became y <= 10
    assert part.problem.objective_constant == pytest.approx(0.5 + 3.0 * 2)


def test_a_fixing_that_breaks_a_decided_row_is_refused():
    p = Problem("broken")
    p.add_vars("nodes", [("n",)], 0, 5, integer=True)
    p.add_constraint("floor", "n", {p.index(("nodes", "n")): 1.0}, ">=", 2.0)
    assert restrict(p, np.array([0]), np.array([1.0])) is None
    assert restrict(p, np.array([0]), np.array([2.0])) is not None


def test_a_forced_zero_against_a_positive_lower_bound_is_refused():
    p = Problem("lower")
    p.add_vars("x", [("r",)], 0, 3, integer=True)
    p.add_vars("y", [("must",)], 1.0, None)
    p.add_constraint("cap", "y", {0: -4.0, 1: 1.0}, "<=", 0.0)   # y <= 4 r, y >= 1: r = 0 is infeasible
    assert restrict(p, np.array([0]), np.array([0.0])) is None


@st.composite
def _instances(draw):
    n_int, n_cont, m = draw(st.integers(1, 4)), draw(st.integers(0, 4)), draw(st.integers(1, 5))
    n = n_int + n_cont
    coef = st.sampled_from([-3.0, -1.0, 0.0, 0.0, 1.0, 2.0, 5.0])
    a = np.array([[draw(coef) for _ in range(n)] for _ in range(m)])
    senses = [draw(st.sampled_from(["<=", ">=", "=="])) for _ in range(m)]
    rhs = [draw(st.sampled_from([0.0, 0.0, 1.0, 2.0, 4.0])) for _ in range(m)]
    cost = [draw(st.sampled_from([0.0, 1.0, 2.0, 3.0])) for _ in range(n)]
    fix = [draw(st.booleans()) for _ in range(n_int)]
    vals = [float(draw(st.integers(0, 3))) for _ in range(n_int)]
    return n_int, n_cont, a, senses, rhs, cost, fix, vals


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_the_restricted_problem_has_the_fixed_problems_optimum(inst):
    n_int, n_cont, a, senses, rhs, cost, fix, vals = inst
    p = Problem("random")
    p.add_vars("i", list(range(n_int)), 0, 3, integer=True)
    if n_cont:
        p.add_vars("c", list(range(n_cont)), 0, 6)
    for k, (row, sense, b) in enumerate(zip(a, senses, rhs)):
        nz = np.flatnonzero(row)
        p.add_rows("r", [k], np.zeros(nz.size, dtype=int), nz, row[nz], sense, b)
    p.add_cost("usd", np.arange(p.n_vars), cost)
    cols = np.flatnonzero(fix)
    v = np.asarray(vals, dtype=float)[cols]
    oracle = solve(p.with_bounds(cols, v, v), "highs", SolveOptions())
    part = restrict(p, cols, v)
    if part is None:
        assert oracle.status == "infeasible"
        return
    got = solve(part.problem, "highs", SolveOptions())
    assert got.status == oracle.status
    if got.status == "optimal":
        assert got.objective == pytest.approx(oracle.objective, abs=1e-6)
        x = part.expand(got.values)
        assert p.violations(x) == []
        assert (x[cols] == v).all()
