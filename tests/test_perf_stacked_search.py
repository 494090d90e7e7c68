"""The SLO search's best load over a whole stack (``planner.perf.stacked_search.best_loads``) against the per-case
search it replaces in ``planner.perf.many`` (``planner.perf.estimate._best_load``, the oracle): the same answer, to
the bit, on random stacks of curves (ties, settled loads, infinite and missing values, neighbours beyond the SLOs),
and the same estimates through ``estimate_many`` as with the per-case search."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import planner.perf.many as many
from planner.catalog import Catalog
from planner.perf.estimate import CurveRows, _best_load
from planner.perf.many import Request, estimate_many
from planner.perf.stacked_search import best_loads

ROWS = ("ttft_p", "tpot", "rps", "settled", "hold")
# few distinct values, so that ties between loads and SLOs met exactly are common; inf and nan where curves have them
VALUE = st.sampled_from([0.0, 0.05, 0.1, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, math.inf]) | st.floats(0.0, 3.0)


@st.composite
def stacks(draw):
    counts = draw(st.lists(st.integers(1, 7), min_size=1, max_size=6))
    n = sum(counts)
    grids = [np.cumsum(draw(st.lists(st.sampled_from([0.5, 1.0, 1.5, 7.0]), min_size=c, max_size=c)))
             for c in counts]
    cols = []
    for _ in range(n):
        ttft, tpot, rps = draw(VALUE), draw(VALUE), draw(VALUE | st.just(math.nan))
        settled = draw(st.sampled_from([0.0, 0.0, 0.0, 1.0]))
        cols.append([ttft, tpot, rps, settled, draw(VALUE | st.just(math.nan) | st.just(-math.inf))])
    matrix = np.array(cols, dtype=float).T.copy()
    slos = [(draw(st.sampled_from([0.1, 0.3, 1.0, math.inf])), draw(st.sampled_from([0.1, 0.2, 2.0, math.inf])))
            for _ in counts]
    return counts, grids, matrix, slos


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@settings(max_examples=400, deadline=None)
@given(stacks())
def test_each_grid_gets_the_per_case_searchs_load_and_values_to_the_bit(stack):
    counts, grids, matrix, slos = stack
    row = {k: i for i, k in enumerate(ROWS)}
    got = best_loads(np.concatenate(grids), CurveRows(row, matrix), counts,
                     np.array([s[0] for s in slos]), np.array([s[1] for s in slos]))
    start = 0
    for k, (n, grid) in enumerate(zip(counts, grids)):
        vals = CurveRows(row, matrix[:, start:start + n])
        ref = _best_load(grid, vals, *slos[k])
        if got[k] is None:   # left to the per-case search: only where it finds nothing, or a rate is not a number
            ok = ((vals["ttft_p"] <= slos[k][0]) & (vals["tpot"] <= slos[k][1]) & (vals["settled"] == 0))
            assert ref is None or np.isnan(vals["rps"][ok]).any()
        else:
            assert ref is not None
            found, load, values = ref
            assert found and _same(got[k][0], load)
            assert got[k][1].keys() == values.keys()
            assert all(_same(got[k][1][key], values[key]) for key in values)
        start += n


def test_the_options_stages_estimates_are_those_of_the_per_case_search(monkeypatch):
    # every SLO case of a small mixed batch (models, GPUs, SLOs tight and loose, short and long answers), solved
    # through estimate_many with the stacked search and with the per-case one: every field the same
    cat = Catalog.builtin()
    reqs = [Request(cat.model(m), cat.gpu(g), dict(tp=tp, prompt_tokens=p, output_tokens=o, ttft_slo_ms=t,
                                                      tpot_slo_ms=d))
            for m, g, tp in (("llama-3.1-8b", "h100-sxm", 1), ("llama-3.1-70b", "h100-sxm", 4),
                             ("qwen3-32b", "b200", 2), ("llama-3.1-8b", "l40s", 1))
            for p, o in ((1000, 250), (8000, 2), (200, 1500))
            for t, d in ((200.0, 20.0), (1000.0, 50.0), (5000.0, None), (30.0, None))]
    stacked = estimate_many(reqs)
    calls = []
    monkeypatch.setattr(many, "best_loads", lambda conc, whole, counts, a, b: calls.append(1) or [None] * len(counts))
    alone = estimate_many(reqs)
    assert calls
    assert sum(e.fits and e.requests_per_min > 0 for e in stacked) >= 24
    for a, b in zip(stacked, alone):
        assert (a.fits, a.reason, a.concurrency, a.requests_per_min, a.ttft_ms, a.tpot_ms) == \
            (b.fits, b.reason, b.concurrency, b.requests_per_min, b.ttft_ms, b.tpot_ms)
        assert dict(a.terms) == dict(b.terms)
