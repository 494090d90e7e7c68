"""``Problem.add_keyed_vars``: keys of several blocks interleaved in one call make the same problem as one
``add_vars`` call per run of keys of one block (the spot hedge adds millions of columns this way).

The oracle is ``add_vars`` itself: a property test draws interleaved keys, bounds and integrality flags and
compares every array, key and block summary of the two problems; hand cases check the errors.
"""

from __future__ import annotations

import math
from itertools import groupby

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.problem import Problem

_var = st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 5), st.booleans(), st.booleans())


def _runs_one_by_one(p: Problem, items) -> None:
    """The oracle: one add_vars call per run of consecutive keys of one block."""
    for block, run in groupby(items, key=lambda it: it[0][0]):
        run = list(run)
        p.add_vars(block, [k for k, *_ in run], [0.0] * len(run), [u for _, u, _ in run],
                   np.array([i for *_, i in run]))


@settings(max_examples=150, deadline=None)
@given(st.lists(_var, max_size=30), st.integers(0, 3))
def test_interleaved_keys_make_the_same_problem_as_one_call_per_run(draw, before):
    items = [((blk, j), (math.inf if unbounded else ub), integer) for j, (blk, ub, integer, unbounded) in
             enumerate(draw)]
    one, batch = Problem("one"), Problem("batch")
    for p in (one, batch):   # columns made earlier, one of them in a block the batch continues
        p.add_vars("a", [("early", j) for j in range(before)], 0, 1, integer=True)
    _runs_one_by_one(one, items)
    cols = batch.add_keyed_vars([k for k, *_ in items], [0.0] * len(items), [u for _, u, _ in items],
                                [i for *_, i in items])
    assert cols.tolist() == list(range(before, before + len(items)))
    assert batch.var_keys == one.var_keys
    a, b = one.to_arrays(), batch.to_arrays()
    for x, y in ((a.col_lower, b.col_lower), (a.col_upper, b.col_upper), (a.integrality, b.integrality)):
        assert np.array_equal(x, y)
    assert batch.blocks == one.blocks
    for blk in "abc":
        assert batch.block_columns(blk).tolist() == one.block_columns(blk).tolist()
    for k, *_ in items:
        assert batch.index(k) == one.index(k)


def test_a_duplicate_key_is_refused_and_nothing_is_added():
    p = Problem()
    p.add_vars("a", [("x",)], 0, 1)
    with pytest.raises(ValueError, match=r"duplicate variable key \('a', 'x'\)"):
        p.add_keyed_vars([("b", 1), ("a", "x")], [0, 0], [1, 1], [False, False])
    assert p.n_vars == 1 and p.find(("b", 1)) is None and p.index(("a", "x")) == 0
    with pytest.raises(ValueError, match="duplicate variable key"):
        p.add_keyed_vars([("b", 1), ("b", 1)], [0, 0], [1, 1], [False, False])
    assert p.n_vars == 1


@pytest.mark.parametrize("key, why", [("ab", "a tuple"), ((), "a tuple"), ((3, "x"), "a tuple")])
def test_a_key_that_names_no_block_is_refused(key, why):
    p = Problem()
    with pytest.raises(ValueError, match=f"is {why} whose first element is the block name"):
        p.add_keyed_vars([("a", 1), key], [0, 0], [1, 1], [False, False])
    assert p.n_vars == 0


def test_bounds_must_match_the_keys_and_be_ordered():
    p = Problem()
    with pytest.raises(ValueError, match="2 keys but 1 lower"):
        p.add_keyed_vars([("a", 1), ("a", 2)], [0], [1, 1], [False, False])
    with pytest.raises(ValueError, match=r"\('a', 2\): lower bound 3.0 > upper bound 1.0"):
        p.add_keyed_vars([("a", 1), ("a", 2)], [0, 3], [1, 1], [False, False])
    assert p.n_vars == 0
