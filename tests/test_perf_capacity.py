"""``capacity_for_workload``: one Estimate per size bucket at the workload's SLOs; overrides replace the model."""

from __future__ import annotations

import pytest

from planner.catalog import Catalog
from planner.perf.estimate import estimate, usd_per_million_output_tokens
from planner.perf.many import capacity_for_workload
from planner.scenario.model import CapacityOverride, SizeBucket, Workload

CAT = Catalog.builtin()
M, G = CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm")

MIX = Workload(id="chat", model="llama-3.1-8b", requests_per_min=100, ttft_slo_ms=800, tpot_slo_ms=60,
               size_mix=(SizeBucket(prompt_tokens=200, output_tokens=100, share=0.5),
                         SizeBucket(prompt_tokens=4000, output_tokens=500, share=0.5)))


def test_one_estimate_per_bucket_in_order():
    ests = capacity_for_workload(M, G, MIX)
    assert len(ests) == 2
    for b, e in zip(MIX.buckets, ests):
        direct = estimate(M, G, prompt_tokens=b.prompt_tokens, output_tokens=b.output_tokens, ttft_slo_ms=800,
                          tpot_slo_ms=60)
        assert e.requests_per_min == pytest.approx(direct.requests_per_min)
    assert ests[0].requests_per_min > ests[1].requests_per_min  # short requests: more of them per minute


def test_workload_context_and_kv_dtype_are_used():
    w = Workload(id="long", model="llama-3.1-8b", requests_per_min=1, prompt_tokens=1000, output_tokens=100,
                 context_tokens=32000, ttft_slo_ms=2000, kv_cache_dtype="fp8")
    (e,) = capacity_for_workload(M, G, w)
    assert e.kv_bytes_per_token_per_gpu == 65536  # FP8 KV
    assert e.max_concurrency == estimate(M, G, prompt_tokens=1000, output_tokens=100, context_tokens=32000,
                                         kv_dtype="fp8", ttft_slo_ms=2000).max_concurrency


@pytest.mark.parametrize("override, expect", [
    # 0 = cannot serve this case, with the reason the solver shows
    (dict(requests_per_min=0, source="load test 2026-10"), (0.0, 0.0)),
    # a measured number replaces the model for every bucket
    (dict(requests_per_min=42), (42.0, 42.0)),
    # a bucket-specific override touches only its bucket
    (dict(requests_per_min=7, prompt_tokens=4000, output_tokens=500), (None, 7.0)),
])
def test_overrides(override, expect):
    ov = CapacityOverride(workload="chat", gpu="H100", precision="bf16", tp=1, **override)
    model_only = capacity_for_workload(M, G, MIX)
    ests = capacity_for_workload(M, G, MIX, overrides=(ov,))
    for got, want, base in zip(ests, expect, model_only):
        if want is None:
            assert got.requests_per_min == base.requests_per_min
        else:
            assert got.requests_per_min == want
            assert got.terms["capacity_override_rpm"] == override["requests_per_min"]
    if override["requests_per_min"] == 0:
        assert ests[0].reason == "capacity override: 0 (load test 2026-10)" and not ests[0].fits


def test_bucket_override_beats_a_generic_one():
    generic = CapacityOverride(workload="chat", gpu="h100-sxm", precision="bf16", requests_per_min=10)
    bucket = CapacityOverride(workload="chat", gpu="h100-sxm", precision="bf16", requests_per_min=3,
                              prompt_tokens=200, output_tokens=100)
    ests = capacity_for_workload(M, G, MIX, overrides=(generic, bucket))
    assert [e.requests_per_min for e in ests] == [3.0, 10.0]


@pytest.mark.parametrize("field, value", [("workload", "other"), ("gpu", "a100-80gb"), ("precision", "fp8"),
                                          ("tp", 2), ("mig_profile", "3g.40gb")])
def test_overrides_for_other_cases_are_ignored(field, value):
    ov = CapacityOverride(**{**dict(workload="chat", gpu="h100-sxm", precision="bf16", tp=1, requests_per_min=1),
                             field: value})
    assert ([e.requests_per_min for e in capacity_for_workload(M, G, MIX, overrides=(ov,))]
            == [e.requests_per_min for e in capacity_for_workload(M, G, MIX)])


def test_usd_per_million_tokens_counts_the_gpus_of_a_replica():
    e1 = estimate(M, G, concurrency=16)
    e4 = estimate(M, G, concurrency=16, tp=4)
    assert usd_per_million_output_tokens(e1, 2.0) == pytest.approx(2.0 / 3600 / e1.output_tokens_per_s * 1e6)
    assert usd_per_million_output_tokens(e4, 2.0) == pytest.approx(8.0 / 3600 / e4.output_tokens_per_s * 1e6)
    mig = estimate(M, CAT.gpu("a100-80gb"), mig_profile="3g.40gb", concurrency=4, price_usd_per_hour=2.0)
    assert mig.usd_per_million_output_tokens == pytest.approx(2.0 * 3 / 7 / 3600 / mig.output_tokens_per_s * 1e6)
    assert usd_per_million_output_tokens(e1, None) is None


def test_a_wide_size_mix_gives_each_bucket_what_estimate_gives_it_alone():
    """The buckets are solved in one stacked pass; each must get the Estimate ``estimate`` gives it alone (the
    oracle), field by field, the unservable bucket (its prompt beyond the model's context) with its reason."""
    sizes = [(p, o) for p in (64, 700, 3000, 9000) for o in (32, 400, 2000)] + [(200_000, 100)]
    w = Workload(id="mix", model="llama-3.1-8b", requests_per_min=100, ttft_slo_ms=1500, tpot_slo_ms=80,
                 size_mix=tuple(SizeBucket(prompt_tokens=p, output_tokens=o, share=1 / len(sizes)) for p, o in sizes))
    ests = capacity_for_workload(M, G, w, precision="fp8", tp=2)
    assert len(ests) == len(sizes)
    for (p, o), e in zip(sizes, ests):
        alone = estimate(M, G, tp=2, precision="fp8", prompt_tokens=p, output_tokens=o, ttft_slo_ms=1500,
                         tpot_slo_ms=80)
        assert (e.fits, e.reason) == (alone.fits, alone.reason)
        for name in ("requests_per_min", "ttft_ms", "tpot_ms", "output_tokens_per_s", "max_concurrency"):
            assert getattr(e, name) == pytest.approx(getattr(alone, name), rel=1e-9, abs=1e-12), (p, o, name)
    assert not ests[-1].fits and "context" in ests[-1].reason
