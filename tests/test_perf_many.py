"""Stacked estimates (planner.perf.many) against the one-case-at-a-time oracle (planner.perf.estimate), and
the property that makes stacking honest: the fixed point of one load does not depend on the others solved
with it."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.perf.estimate import estimate
from planner.perf.many import Request, estimate_many
from planner.perf.queueing import Loop, solve

CAT = Catalog.builtin()
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3", "gpt-oss-120b"]
GPUS = ["h100-sxm", "a100-80gb", "l40s", "b200", "h200", "a10g"]


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _random_request(rng: random.Random) -> Request:
    kw = dict(tp=rng.choice([1, 2, 4, 8]), precision=rng.choice(["bf16", "fp8"]),
              engine=rng.choice(["vllm", "sglang", "trtllm"]), prompt_tokens=rng.randint(1, 8000),
              output_tokens=rng.randint(1, 2000), ttft_slo_ms=rng.choice([None, 200.0, 1000.0, 5000.0]),
              tpot_slo_ms=rng.choice([None, 20.0, 60.0]), ttft_percentile=rng.choice([50.0, 95.0, 99.0]))
    if kw["ttft_slo_ms"] is None and kw["tpot_slo_ms"] is None:
        kw["ttft_slo_ms"] = 2000.0
    return Request(CAT.model(rng.choice(MODELS)), CAT.gpu(rng.choice(GPUS)), kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stack_gives_each_case_what_estimate_gives_it_alone(seed):
    rng = random.Random(seed)
    reqs = [_random_request(rng) for _ in range(60)]
    many = estimate_many(reqs)
    assert len(many) == len(reqs)
    served = 0
    for r, got in zip(reqs, many):
        ref = estimate(r.model, r.gpu, **r.kwargs)
        assert got.fits == ref.fits and got.reason == ref.reason and got.concurrency == ref.concurrency
        for f in ("requests_per_min", "ttft_ms", "tpot_ms", "output_tokens_per_s", "max_concurrency"):
            assert _close(getattr(got, f), getattr(ref, f)), (f, getattr(got, f), getattr(ref, f), r)
        served += got.requests_per_min > 0
    assert served >= 10   # the draw exercises the solve, not only the 'cannot serve' paths


def test_requests_without_an_slo_go_through_estimate():
    m, g = CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm")
    reqs = [Request(m, g, dict(concurrency=8)), Request(m, g, {}), Request(m, g, dict(ttft_slo_ms=500.0))]
    for r, got in zip(reqs, estimate_many(reqs)):
        ref = estimate(r.model, r.gpu, **r.kwargs)
        assert _close(got.requests_per_min, ref.requests_per_min) and _close(got.ttft_ms, ref.ttft_ms)


def _linear(a=2e-3, per_seq=1e-5, per_tok=5e-6):
    return lambda b, t: a + per_seq * np.asarray(b, float) + per_tok * np.asarray(t, float)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conc=st.lists(st.floats(0.1, 300.0), min_size=2, max_size=8), prompt=st.integers(1, 9000),
       out=st.integers(1, 2000), c_max=st.integers(1, 256), closed=st.booleans(), phase=st.floats(0.0, 0.5))
def test_each_load_is_solved_as_if_alone(conc, prompt, out, c_max, closed, phase):
    loop = Loop(prompt=prompt, output=out, c_max=float(c_max), budget=2048.0, t_req_s=0.03,
                phase=phase if closed else 0.0, closed=closed)
    together = solve(_linear(), loop, np.array(conc))
    for j, c in enumerate(conc):
        alone = solve(_linear(), loop, np.array([c]))
        for key in ("x", "tpot", "ttft_service", "hold"):
            assert _close(float(together[key][j]), float(alone[key][0])), (key, c)
