"""The SLO search's loads below one request in service (``planner.perf.estimate._slo_search``, ``LOW_LOADS``).

At equal load (mean requests in service) a faster replica serves more requests/s, so more prompts overlap and its
TTFT percentile at load 1 can be higher than a slower replica's. A search whose lowest load was 1 declared such SLOs
unreachable on the faster GPU while the slower one met them (a deeper run of
``tests/test_perf_properties.py::test_a_bigger_gpu_of_the_same_family_never_predicts_less`` found the case below).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.perf.estimate import LOW_LOADS, _curve, _prepare, estimate, slo_grid
from planner.perf.many import Request, _none_met, _solve_stack, estimate_many
from tests.test_perf_properties import SETTINGS, configs

CAT = Catalog.builtin()
CASE = dict(tp=1, precision="int4", engine="vllm", prompt_tokens=2583, output_tokens=749)


def _prep(model, gpu, **kw):
    """``_prepare`` as ``estimate(model, gpu, **kw)`` calls it with its defaults (p95, auto KV, one rank)."""
    return _prepare(model, gpu, mig_profile=None, kv_dtype="auto", context_tokens=None, ttft_percentile=95.0,
                    calibration=None, attention_dp=1, expert_parallel=1, allow_multi_node=False, **kw)


def _ttft_p_at(model, gpu, loads, **kw):
    """The open-loop p95 TTFT (s) at ``loads``, from the model's own curve."""
    prep = _prep(model, gpu, **kw)
    return np.asarray(_curve(prep[0], np.asarray(loads, dtype=float), open_loop=True)["ttft_p"], dtype=float)


def test_the_faster_a100_meets_an_slo_the_slower_one_meets():
    m, big, small = CAT.model("mistral-7b"), CAT.gpu("a100-80gb"), CAT.gpu("a100-40gb")
    # the case: at load 1 the A100-80GB's p95 TTFT is past 220 ms (230 ms: its shorter hold puts more requests/s
    # through the same one request in service; the 40 GB's is 216 ms), at load 0.1 it is ~204 ms (vLLM's 2,048-token
    # budget on A100: the 2,583-token prompt takes two chunk steps)
    at_one, at_low = _ttft_p_at(m, big, [1.0, 0.1], **CASE)
    assert at_one > 0.220 > at_low
    assert _ttft_p_at(m, small, [1.0], **CASE)[0] < 0.220
    e_big = estimate(m, big, ttft_slo_ms=220.0, **CASE)
    e_small = estimate(m, small, ttft_slo_ms=220.0, **CASE)
    assert e_small.requests_per_min > 0 and e_big.reason is None
    assert e_big.requests_per_min >= e_small.requests_per_min
    assert e_big.ttft_ms == pytest.approx(220.0, rel=1e-6)   # the search interpolates to where the SLO binds
    assert e_big.terms["concurrency"] < 1.0


def test_an_slo_below_every_load_names_the_lowest_load_and_its_ttft():
    m, g = CAT.model("mistral-7b"), CAT.gpu("a100-80gb")
    e = estimate(m, g, ttft_slo_ms=150.0, **CASE)
    assert e.requests_per_min == 0 and e.reason.startswith("TTFT SLO unreachable: best TTFT at concurrency 0.1 ")
    assert e.ttft_ms == pytest.approx(1e3 * _ttft_p_at(m, g, [LOW_LOADS[0]], **CASE)[0], rel=1e-9)


@SETTINGS
@given(cfg=configs, where=st.floats(0.05, 0.95))
def test_an_slo_between_the_lowest_loads_ttft_and_load_ones_is_met_below_load_one(cfg, where):
    # an SLO the replica meets at load 0.1 but not at load 1 is met, at a load below 1, exactly where it binds (or
    # below, where TPOT binds); the old search (loads from 1 up) called it unreachable
    m, g = CAT.model(cfg["model"]), CAT.gpu(cfg["gpu"])
    rest = {k: v for k, v in cfg.items() if k not in ("model", "gpu")}
    prep = _prep(m, g, **rest)
    if not isinstance(prep, tuple) or prep[0].c_max < 2:
        return
    low, one = (float(v) for v in _curve(prep[0], np.array([LOW_LOADS[0], 1.0]), open_loop=True)["ttft_p"])
    if not low < one:
        return
    slo_ms = 1e3 * (low + where * (one - low))
    e = estimate(m, g, ttft_slo_ms=slo_ms, **rest)
    assert e.reason is None and e.requests_per_min > 0
    assert e.ttft_ms <= slo_ms * (1 + 1e-9)
    # below 1 exactly when no load of the grid from 1 meets it (a one-token request's TTFT can fall with the load)
    grid = slo_grid(prep[0])
    met = (_curve(prep[0], grid, open_loop=True)["ttft_p"] <= slo_ms / 1e3).any()
    assert (e.terms["concurrency"] < 1.0) == (grid[0] >= 1 and not met)


def test_the_stacked_batch_searches_below_load_one_as_one_estimate_does():
    # planner.perf.many solves the loads below 1 of every case that needs them in one more stacked pass: the
    # planner's options get the answer estimate() gives alone (both GPUs, met and unreachable SLOs)
    m = CAT.model("mistral-7b")
    reqs = [Request(m, CAT.gpu(g), {**CASE, "ttft_slo_ms": slo}) for g in ("a100-80gb", "a100-40gb")
            for slo in (150.0, 195.0, 208.0, 400.0)]
    # which cases the stacked pass sends below load 1: those whose grid from 1 meets no SLO, case by case
    items = [(k, _prep(r.model, r.gpu, **CASE)[0]) for k, r in enumerate(reqs)]
    items = [(k, case, slo_grid(case)) for k, case in items]
    slos = {k: (r.kwargs["ttft_slo_ms"] / 1e3, float("inf")) for k, r in enumerate(reqs)}
    curves, whole = _solve_stack(items)
    none_met = _none_met(items, whole, slos)
    assert none_met == {k for k, _, grid in items
                        if grid[0] >= 1 and not (curves[k]["ttft_p"] <= slos[k][0]).any()}
    assert none_met and all(reqs[k].kwargs["ttft_slo_ms"] < 400 for k in none_met)   # 400 ms: met from load 1 up
    for r, got in zip(reqs, estimate_many(reqs)):
        want = estimate(r.model, r.gpu, **r.kwargs)
        assert got.reason == want.reason
        assert got.requests_per_min == pytest.approx(want.requests_per_min, rel=1e-9, abs=1e-12)
        assert got.ttft_ms == pytest.approx(want.ttft_ms, rel=1e-9)
