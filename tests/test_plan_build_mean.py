"""``plan_build._mean``: the mean TTFT a plan's option line shows is numpy's mean to the bit, however it is computed."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.fleet.plan_build import _mean

FLOATS = st.floats(allow_nan=False, allow_infinity=True, width=64)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


@settings(max_examples=400, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=9))
def test_mean_is_numpys_to_the_bit(xs):
    with np.errstate(all="ignore"):   # sums that overflow: inf (or nan) in both
        want = float(np.mean(np.array(xs, dtype=float)))
        got = _mean(tuple(xs))
    assert type(got) is float
    assert _bits(got) == _bits(want) or (got != got and want != want)   # inf - inf: both nan


def test_two_values_whose_sum_rounds():
    # 0.1 + 0.2 rounds up (0.30000000000000004); the mean is that sum halved, as numpy's is
    assert _mean((0.1, 0.2)) == float(np.mean([0.1, 0.2])) == 0.15000000000000002
    with np.errstate(over="ignore"):
        assert _mean((1e308, 1e308)) == float(np.mean([1e308, 1e308])) == float("inf")   # the sum overflows first
    assert _mean((-0.0,)) == 0.0 and _bits(_mean((-0.0,))) == _bits(float(np.mean([-0.0])))
