"""bench/perf_timing.py's evaluation count: the host-independent column of the estimate timings."""

from __future__ import annotations

import pytest

import planner.perf.queueing as queueing
from bench.perf_timing import evaluations


def _calling(n: int):
    """A function that calls the fixed point's terms ``n`` times (with nothing to evaluate: only the call counts)."""
    def fn():
        for _ in range(n):
            try:
                queueing._at(None, None, None, None)
            except (AttributeError, TypeError):
                pass
    return fn


def test_the_count_is_the_calls_of_the_fixed_points_terms_and_the_real_function_comes_back():
    real = queueing._at
    assert evaluations(lambda: None) == 0
    assert evaluations(_calling(3)) == 3
    assert queueing._at is real
    with pytest.raises(ZeroDivisionError):
        evaluations(lambda: 1 / 0)
    assert queueing._at is real
