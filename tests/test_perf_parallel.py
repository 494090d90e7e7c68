"""Attention data-parallelism, expert parallelism and the paged KV cache in the performance model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.catalog.params import total_params
from planner.errors import InputError
from planner.perf.device import GIB
from planner.perf.estimate import estimate
from planner.perf.memory import (kv_bytes_per_sequence, kv_bytes_per_token, paged_concurrency,
                                 routed_expert_params, weight_bytes_per_gpu)

CAT = Catalog.builtin()


def test_experts_shard_over_every_gpu_and_the_rest_over_the_attention_group():
    m = CAT.model("deepseek-v3")
    px, p = routed_expert_params(m), total_params(m)
    # 256 routed experts × 58 MoE layers × 3·7168·2048 = 6.54e11 of the 6.7e11 parameters
    assert px == 256 * 58 * 3 * 7168 * 2048
    tp8 = weight_bytes_per_gpu(m, 1.0, tp=8)
    dp8 = weight_bytes_per_gpu(m, 1.0, tp=1, dp=8)
    assert tp8 == pytest.approx(p / 8)
    # DP attention replicates the non-expert weights on every rank: (P − P_x)·(1 − 1/8) more per GPU
    assert dp8 - tp8 == pytest.approx((p - px) * (1 - 1 / 8))


def test_dp_ranks_each_hold_their_own_kv_pool():
    m, g = CAT.model("deepseek-v3"), CAT.gpu("b200")
    kw = dict(precision="fp4", engine="sglang", prompt_tokens=1024, output_tokens=1024, concurrency=64)
    tp8 = estimate(m, g, tp=8, **kw)
    dp8 = estimate(m, g, tp=1, attention_dp=8, expert_parallel=8, **kw)
    assert tp8.fits and dp8.fits
    # MLA keeps one latent KV per rank: TP8 replicates it 8×, DP8 splits the batch 8 ways
    assert dp8.max_concurrency > 4 * tp8.max_concurrency
    assert dp8.terms["gpus_per_replica"] == 8.0 and dp8.terms["attention_dp"] == 8.0


def test_parallel_arguments_are_checked():
    m, g = CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm")
    dense = estimate(m, g, tp=2, expert_parallel=2, concurrency=4)
    assert not dense.fits and "mixture-of-experts" in dense.reason
    with pytest.raises(InputError, match="expert_parallel"):
        estimate(CAT.model("deepseek-v3"), CAT.gpu("b200"), tp=2, expert_parallel=3, concurrency=4)
    with pytest.raises(InputError, match="attention_dp"):
        estimate(m, g, attention_dp=0, concurrency=4)
    big = estimate(CAT.model("deepseek-v3"), CAT.gpu("b200"), tp=4, attention_dp=4, precision="fp4", concurrency=4)
    assert not big.fits and "NVLink domain" in big.reason
    multi = estimate(CAT.model("deepseek-v3"), CAT.gpu("b200"), tp=4, attention_dp=4, precision="fp4",
                     concurrency=4, allow_multi_node=True)
    assert multi.fits


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "deepseek-v3", "gemma-2-27b"]),
       tp=st.sampled_from([1, 2, 4, 8]), pool=st.floats(0.5, 400.0), prompt=st.integers(1, 32_000),
       output=st.integers(1, 8_000))
def test_paged_concurrency_is_the_largest_batch_within_the_pool_one_sigma_up(model, tp, pool, prompt, output):
    m = CAT.model(model)
    b = paged_concurrency(m, 2.0, tp, pool, prompt, output)
    k_mean = kv_bytes_per_sequence(m, 2.0, tp, max(1, round(prompt + output / 2)))
    k_tok = kv_bytes_per_token(m, 2.0, tp)

    def need(n):
        return n * k_mean + k_tok * output * math.sqrt(n / 12)

    f = pool * GIB
    full = int(f // kv_bytes_per_sequence(m, 2.0, tp, prompt + output))
    # never fewer than reserving the whole context for every sequence (that never preempts) ...
    assert b >= full
    # ... and otherwise the largest batch whose live tokens stay within the pool one standard deviation up
    if b > full:
        assert need(b) <= f * (1 + 1e-9)
    assert need(b + 1) > f * (1 - 1e-9) or b + 1 <= full


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["llama-3.1-8b", "deepseek-v3", "mixtral-8x7b", "gemma-2-27b", "qwen3.5-397b-a17b"]),
       layout=st.sampled_from([(1, 1, 1), (4, 1, 1), (8, 1, 8), (2, 4, 8), (1, 8, 8)]),
       b=st.floats(0.0, 2000.0), t=st.floats(0.0, 16_000.0), ctx=st.integers(1, 30_000),
       share=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_the_fast_step_time_equals_the_term_by_term_one(model, layout, b, t, ctx, share):
    from planner.perf.calibration import default_calibration
    from planner.perf.device import make_device
    from planner.perf.roofline import step_context, step_time
    from planner.perf.step_coef import step_fn

    m = CAT.model(model)
    tp, dp, ep = layout
    if ep > 1 and not m.is_moe:
        ep = 1
    if m.num_heads % tp:
        return
    dev = make_device(CAT.gpu("b200"), tp=tp, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="sglang",
                      attention_dp=dp, expert_parallel=ep)
    cal = default_calibration()
    ctx_ = step_context(m, dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal, eng=cal.engine("sglang"))
    slow = float(step_time(ctx_, b, t, float(ctx), ctx / 2.0)["total"])
    assert float(step_fn(ctx_, float(ctx), ctx / 2.0)(b, t)) == pytest.approx(slow, rel=1e-9)
    if share is not None:   # the busiest rank carries between 1/dp of the chunk and all of it
        rank = t / dp + share * (t - t / dp)
        slow = float(step_time(ctx_, b, t, float(ctx), ctx / 2.0, rank_prefill=rank)["total"])
        fast = step_fn(ctx_, float(ctx), ctx / 2.0).pair(b, t, dp * rank)[1]
        assert float(fast) == pytest.approx(slow, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["deepseek-v3", "mixtral-8x22b", "qwen3.5-397b-a17b", "llama-3.1-8b"]),
       layout=st.sampled_from([(2, 4, 8), (1, 8, 8), (4, 2, 8), (8, 1, 1)]),
       b=st.floats(0.0, 2000.0), t=st.floats(1.0, 16_000.0), share=st.floats(0.0, 1.0), ctx=st.integers(1, 30_000))
def test_a_step_waits_for_its_busiest_rank_and_counts_the_experts_work_once(model, layout, b, t, share, ctx):
    """``rank_prefill``: T/dp (balanced) is the default step; more on the busiest rank only lengthens the step, and
    never past the step of dp ranks each carrying the busiest rank's tokens (the charge that counts the experts'
    work dp times); the weights read (the experts the replica's tokens touch) does not move; each rank's attention
    work is the busiest rank's: with every prefill token on one rank, dp times the balanced prefill share."""
    from planner.perf.calibration import default_calibration
    from planner.perf.device import make_device
    from planner.perf.roofline import step_context, step_time

    m = CAT.model(model)
    tp, dp, ep = layout
    if ep > 1 and not m.is_moe:
        return
    dev = make_device(CAT.gpu("b200"), tp=tp, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="vllm",
                      attention_dp=dp, expert_parallel=ep)
    if isinstance(dev, str) or m.num_heads % tp:
        return
    cal = default_calibration()
    c = step_context(m, dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal, eng=cal.engine("vllm"))
    rank = t / dp + share * (t - t / dp)          # between balanced and all on one rank
    step = lambda t_, r=None: step_time(c, b, t_, float(ctx), ctx / 2.0, rank_prefill=r)   # noqa: E731
    base, even, busy, every = step(t), step(t, t / dp), step(t, rank), step(dp * rank, rank)
    for k in base:
        assert float(even[k]) == pytest.approx(float(base[k]), rel=1e-12)
    assert float(busy["total"]) >= float(base["total"]) * (1 - 1e-12)
    assert float(busy["total"]) <= float(every["total"]) * (1 + 1e-12)
    assert float(busy["weights_read"]) == pytest.approx(float(base["weights_read"]), rel=1e-12)
    dec = float(step(0.0)["attention_compute"])   # the decodes' share
    if dp > 1 and share == 1.0:
        assert float(busy["attention_compute"]) - dec == pytest.approx(dp * (float(base["attention_compute"]) - dec),
                                                                        rel=1e-9, abs=1e-15)


def test_a_decode_step_reads_and_writes_back_the_linear_state():
    """Qwen3.5 at tp=8 (B200, FP8 KV): the KV term of a decode step of b sequences is b·(k_s(c) + s_lin)/(BW·η): the
    15 full-attention layers' KV at context c plus the 45 Gated DeltaNet states, read and written (hand values)."""
    from planner.perf.calibration import default_calibration
    from planner.perf.device import make_device
    from planner.perf.roofline import step_context, step_time

    m = CAT.model("qwen3.5-397b-a17b")
    dev = make_device(CAT.gpu("b200"), tp=8, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="sglang")
    cal = default_calibration()
    ctx = step_context(m, dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal, eng=cal.engine("sglang"))
    state = 45 * 1_085_440 * 8 / 64 * 4                   # bytes per sequence per GPU, FP32
    kv = 15 * 2 * 1 * 256 * 1 * 2048                      # 15 layers · K,V · 1 head · 256 · 1 B · 2048 tokens
    got = float(step_time(ctx, 32.0, 0.0, 2048.0, 0.0)["kv_read"])
    assert got == pytest.approx(32 * (kv + 2 * state) / ctx.bw_eff, rel=1e-12)


def _added_ms(model: str, dev, constant: str, value: float, b: float, t: float, ctx: float) -> tuple[float, float]:
    """Milliseconds one step gains when the engine constant ``constant`` (``engine.field``) goes from 0 to
    ``value``: by the term-by-term step time and by the fast closure (they must agree)."""
    from planner.perf.calibration import default_calibration
    from planner.perf.roofline import step_context, step_time
    from planner.perf.step_coef import step_fn

    engine = constant.split(".")[0]
    base = default_calibration().with_values({constant: 0.0})
    more = base.with_values({constant: value})
    ctxs = [step_context(CAT.model(model), dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=c, eng=c.engine(engine))
            for c in (base, more)]
    slow = [float(step_time(c, b, t, ctx, ctx / 2.0)["total"]) for c in ctxs]
    fast = [float(step_fn(c, ctx, ctx / 2.0)(b, t)) for c in ctxs]
    return (slow[1] - slow[0]) * 1e3, (fast[1] - fast[0]) * 1e3


@pytest.mark.parametrize("dp,b,expected_ms", [(1, 64.0, 1.28), (4, 64.0, 0.32), (1, 0.0, 0.0)])
def test_host_time_per_sequence_adds_to_every_step_per_scheduler(dp, b, expected_ms):
    """t_seq_us = 20: one scheduler per attention rank handles b/dp sequences, 20 µs each (hand values)."""
    from planner.perf.device import make_device

    dev = make_device(CAT.gpu("b200"), tp=8 // dp, mig_profile=None, precision="fp8", kv_dtype="fp8",
                      engine="sglang", attention_dp=dp, expert_parallel=8 if dp > 1 else 1)
    for t in (0.0, 2048.0):
        slow, fast = _added_ms("deepseek-v3", dev, "sglang.t_seq_us", 20.0, b, t, 3000.0)
        assert slow == pytest.approx(expected_ms, abs=1e-9)
        assert fast == pytest.approx(expected_ms, abs=1e-9)


@pytest.mark.parametrize("model,t,expected_ms", [("deepseek-v3", 2048.0, 61 * 0.4), ("llama-3.1-8b", 512.0, 32 * 0.4),
                                                 ("llama-3.1-8b", 0.0, 0.0)])
def test_a_step_with_prefill_pays_its_per_layer_cost_once(model, t, expected_ms):
    """t_prefill_layer_us = 400: a step carrying prefill tokens pays 0.4 ms × layers (61 for DeepSeek-V3, 32 for
    Llama-3.1-8B) once, whatever its size; a pure decode step pays nothing (hand values)."""
    from planner.perf.device import make_device

    dev = make_device(CAT.gpu("h100-sxm"), tp=8, mig_profile=None, precision="fp8", kv_dtype="fp8",
                      engine="vllm", attention_dp=1, expert_parallel=1)
    for b in (1.0, 96.0):
        slow, fast = _added_ms(model, dev, "vllm.t_prefill_layer_us", 400.0, b, t, 2000.0)
        assert slow == pytest.approx(expected_ms, abs=1e-9)
        assert fast == pytest.approx(expected_ms, abs=1e-9)
