"""bench/nested_scale.py: the jobs it fits, the inner choice, and the nested frame, worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.nested_scale import choose, jobs, nested, score


def _frame(family: str, engine: str, ratio: float, rows: int = 3) -> pd.DataFrame:
    """``rows`` runs measured at 100 ms / 10 ms, predicted ``ratio`` times that (TTFT and TPOT alike)."""
    return pd.DataFrame(dict(family=[family] * rows, engine=[engine] * rows, ttft_ms=[100.0] * rows,
                             tpot_ms=[10.0] * rows, ttft_pred_ms=[100.0 * ratio] * rows,
                             tpot_pred_ms=[10.0 * ratio] * rows))


def test_jobs_one_fit_per_family_alone_and_per_pair_of_one_engine():
    engine_of = {"a": "x", "b": "x", "c": "x", "d": "y"}
    got = jobs(engine_of, grid=(0.1, 0.2))
    # 4 families alone + C(3, 2) pairs of engine x (none for y, alone in its engine), each at two scales
    assert len(got) == (4 + 3) * 2
    assert (("a", "b"), 0.1) in got and (("b", "c"), 0.2) in got
    assert not any(len(k) == 2 and "d" in k for k, _ in got)


def test_score_is_the_median_ape_of_each_latency():
    f = pd.concat([_frame("a", "x", 1.1, 1), _frame("a", "x", 0.7, 1), _frame("a", "x", 1.25, 1)])
    t, p = score(f)
    assert t == pytest.approx(0.25) and p == pytest.approx(0.25)    # |e| = 0.10, 0.30, 0.25 -> median 0.25
    empty = _frame("a", "x", 1.0).assign(ttft_pred_ms=float("nan"))
    assert all(math.isnan(v) for v in score(empty))


def test_choose_least_sum_smaller_scale_on_a_tie_and_nan_loses():
    assert choose({0.05: (0.30, 0.10), 0.1: (0.25, 0.10), 0.2: (0.20, 0.20)}) == 0.1
    assert choose({0.05: (0.30, 0.10), 0.1: (0.20, 0.20)}) == 0.05        # 0.40 each: the smaller scale
    assert choose({0.05: (float("nan"), 0.0), 0.1: (0.9, 0.9)}) == 0.1


def test_nested_predicts_each_family_at_the_scale_its_inner_folds_chose():
    engine_of = {"a": "x", "b": "x", "c": "x"}
    grid = (0.1, 0.2)
    # inner: at 0.1 every left-out family is predicted 1.2x, at 0.2 1.5x, except the two folds of outer b at 0.2
    # (a from the fit without {a, b}, c from the fit without {b, c}), which are exact
    ratio = {(("a", "b"), 0.1): 1.2, (("a", "c"), 0.1): 1.2, (("b", "c"), 0.1): 1.2,
             (("a", "b"), 0.2): 1.5, (("a", "c"), 0.2): 1.5, (("b", "c"), 0.2): 1.5}
    results = {k: {f: _frame(f, "x", r) for f in k[0]} for k, r in ratio.items()}
    results[(("b", "c"), 0.2)]["c"] = _frame("c", "x", 1.0)     # outer b, inner fold c, at 0.2: exact
    results[(("a", "b"), 0.2)]["a"] = _frame("a", "x", 1.0)     # outer b, inner fold a, at 0.2: exact
    for f, r in (("a", 1.3), ("b", 1.05), ("c", 1.4)):          # the outer fits: 0.1 -> r, 0.2 -> 1.0
        results[((f,), 0.1)] = {f: _frame(f, "x", r)}
        results[((f,), 0.2)] = {f: _frame(f, "x", 1.0)}
    frame, chosen = nested(results, engine_of, grid)
    # outer b: inner folds a and c are exact at 0.2 -> 0.2; outer a: folds b (from {a,b}, 1.5x at 0.2) and c
    # (from {a,c}, 1.5x) -> 0.1 (0.2 + 0.2 against 0.5 + 0.5); outer c: folds a ({a,c}: 1.5x) and b ({b,c}: 1.5x)
    assert {f: c[0] for f, c in chosen.items()} == {"a": 0.1, "b": 0.2, "c": 0.1}
    assert chosen["a"][1][0.2] == pytest.approx((0.5, 0.5))
    got = frame.groupby("family").ttft_pred_ms.first().to_dict()
    assert got == pytest.approx({"a": 130.0, "b": 100.0, "c": 140.0})
