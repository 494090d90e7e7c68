"""bench/options_stage.py compares the stacked performance table with one call per case: on a generator
instance the two tables have the same keys and the same capacities (to rounding)."""

from __future__ import annotations

import pytest

from bench import generate
from bench.options_stage import _one_at_a_time, _stacked


@pytest.mark.parametrize("size,seed", [("S", 1), ("S", 2)])
def test_stacked_table_equals_one_call_per_case(size, seed):
    loaded = generate.load(size, seed)
    a, b = _stacked(loaded), _one_at_a_time(loaded)
    assert a.keys() == b.keys() and len(a) > 5
    served = 0
    for k in a:
        for x, y in zip(a[k], b[k]):
            assert x == y or abs(x - y) <= 1e-9 * max(abs(x), abs(y)), (k, x, y)
            served += x > 0
    assert served > 0
