"""Properties of the scenario schema itself (no catalog, no files)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from planner.scenario.model import SHARE_TOLERANCE, Offer, SizeBucket, Workload
from planner.scenario.io import issues_from_validation

BASE = {"id": "w", "model": "llama-3.1-8b", "requests_per_min": 60, "ttft_slo_ms": 1000}


@st.composite
def size_mixes(draw):
    """1–6 distinct (prompt, output) buckets whose shares sum to exactly 1 (up to float rounding)."""
    n = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.tuples(st.integers(1, 32_000), st.integers(1, 4_000)), min_size=n, max_size=n,
                          unique=True))
    weights = draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
    total = sum(weights)
    shares = [w / total for w in weights]
    return [{"prompt_tokens": p, "output_tokens": o, "share": s} for (p, o), s in zip(sizes, shares)]


@settings(max_examples=200, deadline=None)
@given(size_mixes())
def test_any_mix_summing_to_one_validates(mix):
    w = Workload.model_validate({**BASE, "size_mix": mix})
    assert len(w.buckets) == len(mix)
    assert abs(sum(b.share for b in w.buckets) - 1.0) <= SHARE_TOLERANCE


@settings(max_examples=200, deadline=None)
@given(size_mixes(), st.data())
def test_perturbed_share_fails_on_size_mix(mix, data):
    i = data.draw(st.integers(0, len(mix) - 1))
    # Shares live in (0, 1]: push one share off by more than the tolerance in a direction that stays in range.
    delta = data.draw(st.floats(min_value=10 * SHARE_TOLERANCE, max_value=0.5))
    share = mix[i]["share"]
    new = share - delta if share - delta > 0 else share + delta  # share < delta <= 0.5 -> new < 1
    mix = [dict(b) for b in mix]
    mix[i]["share"] = new
    with pytest.raises(ValidationError) as err:
        Workload.model_validate({**BASE, "size_mix": mix})
    paths = [issue.path for issue in issues_from_validation(err.value, Workload)]
    assert "size_mix" in paths, paths


def test_single_size_is_one_bucket():
    w = Workload.model_validate({**BASE, "prompt_tokens": 1000, "output_tokens": 250})
    assert w.buckets == (SizeBucket(prompt_tokens=1000, output_tokens=250, share=1.0),)
    assert w.context_for(w.buckets[0]) == 1250


def test_context_tokens_overrides_bucket_context():
    w = Workload.model_validate({**BASE, "prompt_tokens": 1000, "output_tokens": 250, "context_tokens": 8192})
    assert w.context_for(w.buckets[0]) == 8192


@settings(max_examples=100, deadline=None)
@given(price=st.floats(min_value=0.01, max_value=100, allow_nan=False), k=st.integers(0, 6))
def test_node_price_is_gpu_price_times_gpus(price, k):
    gpus = 2 ** k
    o = Offer(id="o", gpu="h100-sxm", market="on_demand", price_usd_per_gpu_hour=price, gpus_per_node=gpus)
    assert o.price_usd_per_node_hour_effective == pytest.approx(price * gpus)


def test_node_price_given_directly_is_kept():
    o = Offer(id="o", gpu="h100-sxm", market="on_demand", price_usd_per_node_hour=98.32, gpus_per_node=8)
    assert o.price_usd_per_node_hour_effective == 98.32


def test_records_are_frozen():
    w = Workload.model_validate({**BASE, "prompt_tokens": 10, "output_tokens": 10})
    with pytest.raises(ValidationError):
        w.requests_per_min = 5  # type: ignore[misc]
