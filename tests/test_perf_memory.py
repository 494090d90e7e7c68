"""Memory side of the performance model: hand-checked facts, KV layouts, fit, and the 'cannot serve' reasons.

Every number asserted here is computed by hand in the comment next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.catalog import Catalog
from planner.errors import InputError
from planner.perf.estimate import estimate
from planner.perf.device import GIB, make_device, mig_memory_gib, resolve_kv_dtype
from planner.perf.memory import (
    kv_bytes_per_sequence, kv_bytes_per_token, kv_read_bytes_per_sequence, memory_plan, state_bytes_per_sequence,
    weight_bytes_total, workspace_gib)
from planner.perf.roofline import effective_context, model_shape, step_context, step_time
from planner.perf.step_coef import eval_step, step_coef

CAT = Catalog.builtin()
M = CAT.model
G = CAT.gpu


# ------------------------------------------------------------------------------------ hand-checked facts

@pytest.mark.parametrize("model, kv_bytes, tp, expected", [
    ("llama-3.1-8b", 2, 1, 131_072),     # 2 (K,V) · 32 layers · 8 kv heads · 128 dim · 2 B
    ("llama-3.1-70b", 2, 1, 327_680),    # 2 · 80 · 8 · 128 · 2
    ("llama-3.1-70b", 2, 8, 40_960),     # one kv head per GPU: 2 · 80 · 1 · 128 · 2
    ("llama-3.1-70b", 2, 16, 40_960),    # tp > n_kv: heads replicate, per-GPU KV stops shrinking
    ("llama-3.1-70b", 1, 1, 163_840),    # FP8 KV halves it
    ("deepseek-v3", 2, 1, 70_272),       # MLA latent: 61 layers · (512 + 64) · 2 B
    ("deepseek-v3", 2, 8, 70_272),       # ... replicated on every TP rank
    ("llama-2-7b", 2, 1, 524_288),       # MHA: 2 · 32 · 32 heads · 128 · 2
])
def test_kv_bytes_per_token(model, kv_bytes, tp, expected):
    assert kv_bytes_per_token(M(model), kv_bytes, tp) == expected


def test_llama_3_1_70b_fp8_weights_are_70_6_gb():
    # 70.55e9 parameters (planner.catalog.params) × 1 byte
    assert weight_bytes_total(M("llama-3.1-70b"), 1.0) / 1e9 == pytest.approx(70.6, abs=0.1)


def test_llama_3_1_405b_bf16_needs_more_than_8x_h100_but_fits_8x_h200():
    m = M("llama-3.1-405b")
    # 405.85e9 · 2 B / 8 = 101.5 GB = 94.5 GiB per GPU > 0.9 · 79.65 GiB
    on_h100 = estimate(m, G("h100-sxm"), tp=8, precision="bf16")
    assert not on_h100.fits
    assert "94.5 GiB" in on_h100.reason and "h100-sxm" in on_h100.reason
    # 0.9 · 140.4 GiB = 126.4 GiB: 94.5 GiB of weights leave ~30 GiB for KV
    on_h200 = estimate(m, G("h200"), tp=8, precision="bf16")
    assert on_h200.fits and on_h200.max_concurrency >= 1
    assert on_h200.weights_gib_per_gpu == pytest.approx(405.85e9 * 2 / 8 / GIB, rel=1e-3)


def test_70b_bf16_does_not_fit_one_h200():
    # 141 GB of BF16 weights on one 141 GB GPU: no room for any KV (reference pitfall)
    e = estimate(M("llama-3.1-70b"), G("h200"), precision="bf16")
    assert not e.fits and "does not fit" in e.reason


# ------------------------------------------------------------------------------------ KV per sequence

def test_block_rounding_to_16_tokens():
    m = M("llama-3.1-8b")
    # 1001 tokens occupy 63 blocks = 1008 tokens
    assert kv_bytes_per_sequence(m, 2, 1, 1001) == 1008 * 131_072
    assert kv_bytes_per_sequence(m, 2, 1, 1008) == 1008 * 131_072


def test_sliding_window_layers_hold_only_the_window():
    m = M("gemma-2-27b")  # 46 layers, 23 with a 4096-token window
    per_layer = 2 * 16 * 128 * 2  # 16 kv heads · 128 dim · K,V · 2 B
    assert kv_bytes_per_sequence(m, 2, 1, 2048) == 46 * 2048 * per_layer  # below the window: all layers full
    long = kv_bytes_per_sequence(m, 2, 1, 8192)
    assert long == (23 * 8192 + 23 * 4096) * per_layer
    assert long < kv_bytes_per_token(m, 2, 1) * 8192


def test_linear_attention_layers_keep_a_state_not_a_kv_cache():
    """Qwen3.5-397B-A17B: 60 layers, 45 Gated DeltaNet (64 value heads, 16 key heads, head dims 128, conv 4), 15
    full attention (2 kv heads of 256). Only the 15 hold KV; the 45 hold an FP32 state per sequence."""
    m = M("qwen3.5-397b-a17b")
    # KV per token at tp=8: 15 layers · K,V · ceil(2/8) = 1 head · 256 · 2 B
    assert kv_bytes_per_token(m, 2, 8) == 15 * 2 * 1 * 256 * 2 == 15_360
    # state per layer: 64·128·128 + (2·16·128 + 64·128)·(4 − 1) = 1,085,440 elements; tp=8 keeps 8 of 64 heads
    state = 45 * 1_085_440 * 8 / 64 * 4
    assert state_bytes_per_sequence(m, 8) == pytest.approx(state) == pytest.approx(24_422_400)
    assert kv_bytes_per_sequence(m, 2, 8, 2048) == pytest.approx(15 * 2048 * 1024 + 24_422_400)
    assert state_bytes_per_sequence(M("llama-3.1-8b"), 1) == 0.0
    # attention reads the context in the 15 full layers only: mean context over all 60 layers is a quarter
    assert effective_context(m, 4000.0) == pytest.approx(4000.0 * 15 / 60)


def test_sparse_attention_caches_the_latent_and_the_indexer_key_and_reads_the_picked_tokens():
    """GLM-5 (DeepSeek sparse attention): 78 MLA layers, latent 512 + rope 64, indexer 32 heads of 128, top-2048.
    Cached per token and layer: the latent, (512 + 64)·2 B = 1,152 B in BF16, or FlashMLA's FP8 layout 512 +
    4·512/128 + 2·64 = 656 B; plus the indexer key, 128 FP8 + a 4 B scale = 132 B. A decode step reads the
    picked tokens' latent and every token's key. DeepSeek-V3 (dense MLA) keeps (512 + 64)·1 B = 576 B in FP8."""
    m = M("glm-5")
    assert kv_bytes_per_token(m, 2, 8) == 78 * (1152 + 132) == 100_152
    assert kv_bytes_per_token(m, 1, 8) == 78 * (656 + 132) == 61_464
    assert kv_bytes_per_token(M("deepseek-v3"), 1, 8) == 61 * 576
    # up to the top-k every token is picked: the step reads the whole cache
    assert kv_read_bytes_per_sequence(m, 1, 8, 2048) == kv_bytes_per_sequence(m, 1, 8, 2048) == 78 * 788 * 2048
    # 9,216 tokens (576 blocks of 16): the latent of 2,048, the key of all 9,216
    assert kv_read_bytes_per_sequence(m, 1, 8, 9216) == 78 * (656 * 2048 + 132 * 9216) == 199_680_000
    assert kv_bytes_per_sequence(m, 1, 8, 9216) == 78 * 788 * 9216 == 566_452_224
    # attention attends to the picked tokens; the indexer scores every one: 2·32·128 FLOP per context token
    assert effective_context(m, 9216.0) == 2048.0 and effective_context(m, 1000.0) == 1000.0
    assert model_shape(m).index_flops == 2 * 32 * 128 and model_shape(M("deepseek-v3")).index_flops == 0.0


def test_sparse_attention_step_costs_less_than_dense_mla_at_long_context_and_both_step_paths_agree():
    """The same weights with dense MLA (sparse_attention_topk = 0) read the whole latent at 32k tokens of context;
    GLM-5 reads 2,048 tokens' latent and 32k keys, so its decode step is shorter there and equal-or-longer (the
    indexer's extra work) at short context. The explicit step (``step_time``) and the coefficient form
    (``eval_step``) are the same arithmetic."""
    from planner.perf.calibration import default_calibration  # noqa: PLC0415

    sparse = M("glm-5")
    dense = sparse.model_copy(update={"sparse_attention_topk": 0, "index_n_heads": 0, "index_head_dim": 0})
    cal = default_calibration()
    eng = cal.engine("sglang")
    dev = make_device(G("b200"), tp=8, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="sglang")
    ctx_s, ctx_d = (step_context(m, dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal, eng=eng)
                    for m in (sparse, dense))
    long_s, long_d = (float(step_time(c, 64, 0, 32768.0, 16384.0)["kv_read"]) for c in (ctx_s, ctx_d))
    assert long_s < 0.4 * long_d
    short_s, short_d = (float(step_time(c, 64, 0, 1000.0, 500.0)["total"]) for c in (ctx_s, ctx_d))
    assert short_s >= short_d
    for b, t, c, cp in ((1, 0, 500.0, 250.0), (64, 0, 32768.0, 16384.0), (16, 4096, 9000.0, 2048.0)):
        assert float(eval_step(step_coef(ctx_s, c, cp), b, t)) == pytest.approx(
            float(step_time(ctx_s, b, t, c, cp)["total"]), rel=1e-9)


def test_engines_without_sparse_attention_rows_carry_sglangs_indexer_cost():
    """Only SGLang's rows hold a DSA model, so only its fit knows the indexer's per-layer cost; vLLM and TRT-LLM
    ship the same value (carried over, said in their source), not 0, and their fits still start from 0. On GLM-5
    (78 layers) a vLLM decode step pays 78 × 84.5 µs more than with the prior."""
    from planner.perf.calibration import default_calibration, prior_calibration  # noqa: PLC0415

    shipped, prior = default_calibration(), prior_calibration()
    sglang = shipped.engine("sglang").t_sparse_layer_us
    assert sglang == pytest.approx(84.5)
    for eng in ("vllm", "trtllm"):
        assert shipped.engine(eng).t_sparse_layer_us == sglang and prior.engine(eng).t_sparse_layer_us == 0.0
        assert "t_sparse_layer_us: carried over from SGLang's fit" in shipped.engine(eng).source
    dev = make_device(G("b200"), tp=8, mig_profile=None, precision="fp8", kv_dtype="bf16", engine="vllm")
    steps = [float(step_time(step_context(M("glm-5"), dev, bytes_per_weight=1.0, kv_bytes=2.0, cal=cal,
                                          eng=cal.engine("vllm")), 8, 0, 1000.0, 500.0)["total"])
             for cal in (shipped, shipped.with_values({"vllm.t_sparse_layer_us": 0.0}))]
    assert steps[0] - steps[1] == pytest.approx(78 * 84.5e-6, rel=1e-9)


# ------------------------------------------------------------------------------------ engine memory rules

def test_vllm_and_trtllm_size_the_kv_pool_differently():
    m, g = M("llama-3.1-8b"), G("h100-sxm")
    dev = make_device(g, tp=1, mig_profile=None, precision="bf16", kv_dtype="bf16", engine="vllm")
    w = weight_bytes_total(m, 2) / GIB
    common = dict(bytes_per_weight=2, kv_bytes=2, context_tokens=2000, workspace_gib=2.0, max_batch=10 ** 6)
    total = memory_plan(m, dev, mem_util=0.9, mem_mode="total", **common)
    free = memory_plan(m, dev, mem_util=0.9, mem_mode="free", **common)
    assert total.kv_pool_gib == pytest.approx(0.9 * 79.65 - w - 2.0)      # vLLM gpu_memory_utilization
    assert free.kv_pool_gib == pytest.approx(0.9 * (79.65 - w - 2.0))     # TRT-LLM free-memory fraction
    assert total.kv_capacity_tokens == int(total.kv_pool_gib * GIB // 131_072)


def test_batch_cap_limits_max_concurrency():
    e = estimate(M("llama-3.2-1b"), G("h200"), engine="vllm", prompt_tokens=100, output_tokens=100)
    assert e.max_concurrency == 256  # vLLM max_num_seqs, far below what the KV pool holds
    assert e.kv_capacity_tokens // 208 > 256


def test_workspace_grows_with_the_model_and_batch():
    small = workspace_gib(M("llama-3.2-1b"), 1, 1.0, 8192, 256)
    big = workspace_gib(M("llama-3.1-70b"), 1, 1.0, 8192, 2048)
    assert 1.0 < small < big < 5.0


def test_kv_dtype_auto():
    assert resolve_kv_dtype("auto", "fp8", "trtllm") == "fp8"   # trtllm-bench: FP8 quantization sets FP8 KV
    assert resolve_kv_dtype("auto", "fp8", "vllm") == "bf16"    # vLLM 'auto' = model dtype
    assert resolve_kv_dtype("auto", "fp16", "vllm") == "fp16"
    # NVFP4 (ModelOpt) exports name FP8 KV in hf_quant_config.json, and every engine follows it
    assert resolve_kv_dtype("auto", "fp4", "vllm") == "fp8"
    assert resolve_kv_dtype("auto", "fp4", "sglang") == "fp8"
    assert resolve_kv_dtype("fp8", "bf16", "vllm") == "fp8"
    # SGLang's nsa backend keeps a DSA model's cache in FP8 on Blackwell, BF16 on Hopper; other engines as above
    assert resolve_kv_dtype("auto", "bf16", "sglang", sparse_mla=True, arch="blackwell") == "fp8"
    assert resolve_kv_dtype("auto", "fp8", "sglang", sparse_mla=True, arch="hopper") == "bf16"
    assert resolve_kv_dtype("auto", "fp8", "vllm", sparse_mla=True, arch="blackwell") == "bf16"
    assert resolve_kv_dtype("auto", "fp8", "sglang", sparse_mla=False, arch="blackwell") == "bf16"
    assert resolve_kv_dtype("bf16", "fp8", "sglang", sparse_mla=True, arch="blackwell") == "bf16"
    with pytest.raises(InputError, match="did you mean 'fp8'"):
        resolve_kv_dtype("fp9", "bf16", "vllm")


# ------------------------------------------------------------------------------------ MIG

def test_mig_slice_gets_its_label_memory_and_share_of_bandwidth_and_compute():
    g = G("h100-sxm")
    dev = make_device(g, tp=1, mig_profile="3g.40gb", precision="bf16", kv_dtype="bf16", engine="vllm")
    assert dev.mem_gib == pytest.approx(40e9 / GIB)       # 37.25 GiB
    assert dev.bw_gbps == pytest.approx(3350 * 4 / 8)      # 4 of 8 memory slices
    assert dev.peak_tflops == pytest.approx(989.5 * 3 / 7)  # 3 of 7 compute slices
    assert dev.gpu_share == pytest.approx(3 / 7)
    assert mig_memory_gib("1g.18gb") == pytest.approx(18e9 / GIB)


def test_mig_1g_vs_1g2m_slot_comes_from_the_profile_order():
    # On A100-40GB the second slot (1g with 2 memory slices) is called 1g.10gb
    dev = make_device(G("a100-40gb"), tp=1, mig_profile="1g.10gb", precision="bf16", kv_dtype="bf16", engine="vllm")
    assert dev.bw_gbps == pytest.approx(1555 * 2 / 8)


# ------------------------------------------------------------------------------------ cannot serve: reasons

@pytest.mark.parametrize("model, gpu, kwargs, fragment", [
    # FP4 tensor cores are Blackwell-only
    ("llama-3.1-8b", "h100-sxm", dict(precision="fp4"), "FP4 needs Blackwell"),
    # TensorRT-LLM has no FP8 path on Ampere
    ("llama-3.1-8b", "a100-80gb", dict(precision="fp8", engine="trtllm"), "FP8 needs FP8 tensor cores"),
    # TensorRT-LLM is NVIDIA-only
    ("llama-3.1-8b", "mi300x", dict(engine="trtllm"), "only on NVIDIA"),
    # no TP across MIG slices
    ("llama-3.1-8b", "h100-sxm", dict(tp=2, mig_profile="3g.40gb"), "MIG instances cannot talk"),
    # 16 GPUs exceed the 8-GPU NVSwitch domain
    ("llama-3.1-405b", "h100-sxm", dict(tp=16), "exceeds the NVLink domain"),
    # PCIe cards: at most 8 in one host
    ("llama-3.1-70b", "l40s", dict(tp=16), "PCIe GPUs one host holds"),
    # Qwen2.5-7B has 28 attention heads: tp=8 cannot shard them evenly
    ("qwen2.5-7b", "h100-sxm", dict(tp=8), "does not divide the 28 attention heads"),
    # context beyond the model's maximum
    ("llama-2-7b", "h100-sxm", dict(prompt_tokens=4000, output_tokens=1000), "exceeds the 4,096-token maximum"),
    # a 3B model fits a 10 GB slice, a 101k-token context (11 GiB of KV) does not
    ("llama-3.2-3b", "h100-sxm", dict(mig_profile="1g.10gb", prompt_tokens=100_000, output_tokens=1000),
     "no room for one"),
])
def test_cannot_serve_cases_return_a_reason_instead_of_raising(model, gpu, kwargs, fragment):
    e = estimate(M(model), G(gpu), **kwargs)
    assert not e.fits and e.requests_per_min == 0
    assert fragment in e.reason


def test_fp8_on_ampere_with_vllm_is_weight_only_at_the_bf16_rate():
    e = estimate(M("llama-3.1-8b"), G("a100-80gb"), precision="fp8", engine="vllm", concurrency=1)
    assert e.fits
    dev = make_device(G("a100-80gb"), tp=1, mig_profile=None, precision="fp8", kv_dtype="bf16", engine="vllm")
    assert dev.peak_tflops == 312 and "weight-only" in dev.compute_path


def test_pcie_gpus_may_use_tp_over_pcie_and_pay_for_it():
    m = M("llama-3.1-70b")
    from planner.perf.calibration import prior_calibration

    # at the priors (NVLink all-reduce 8 µs, PCIe 30 µs): the fitted engine latencies move the NVLink side
    cal = prior_calibration()
    nvl = estimate(m, G("h200"), tp=8, precision="fp8", concurrency=32, calibration=cal)
    pcie = estimate(m, G("h200-nvl"), tp=8, precision="fp8", concurrency=32, calibration=cal)  # TP8 leaves the bridge
    assert pcie.fits and pcie.terms["link_gbps_per_gpu"] == 64
    assert pcie.terms["decode_allreduce_ms"] > 5 * nvl.terms["decode_allreduce_ms"]


# ------------------------------------------------------------------------------------ nonsense arguments raise

@pytest.mark.parametrize("kwargs, fragment", [
    (dict(precision="fp9"), "did you mean 'fp8'"),
    (dict(tp=3), "power of two"),
    (dict(tp=0), "power of two"),
    (dict(mig_profile="3g.41gb"), "did you mean '3g.40gb'"),
    (dict(engine="vlm"), "did you mean 'vllm'"),
    (dict(kv_dtype="int4"), "unknown kv dtype"),
    (dict(concurrency=4, ttft_slo_ms=500), "either a concurrency or SLOs"),
    (dict(prompt_tokens=0), "prompt_tokens"),
    (dict(context_tokens=10), "context_tokens"),
    (dict(ttft_percentile=100), "ttft_percentile"),
])
def test_nonsense_arguments_raise_input_error(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        estimate(M("llama-3.1-8b"), G("h100-sxm"), **kwargs)


def test_mig_profile_on_a_gpu_without_mig_is_an_input_error():
    with pytest.raises(InputError, match="has no MIG"):
        estimate(M("llama-3.1-8b"), G("l40s"), mig_profile="1g.10gb")


# ------------------------------------------------------------------------------------ every pair answers

def test_every_catalog_model_on_every_catalog_gpu_answers():
    """The done-criterion: an Estimate with fits True or a non-empty reason, never an exception."""
    for m in CAT.models.values():
        for g in CAT.gpus.values():
            for tp in (1, 8):
                e = estimate(m, g, tp=tp, ttft_slo_ms=2000)
                assert e.fits or e.reason, (m.id, g.id, tp)
                if e.fits and not e.reason:
                    assert e.requests_per_min > 0 and math.isfinite(e.ttft_ms), (m.id, g.id, tp)


def test_a_separate_prefill_pass_adds_to_the_decode_step_and_both_step_paths_agree():
    """SGLang (no ``--enable-mixed-chunk``) runs a prefill chunk as a forward pass of its own between decode steps:
    a step with 32 decodes and a 2,048-token chunk costs the decode step plus the chunk's own pass (its fixed costs
    and weight read again), more than the mixed step of the other engines; with no decodes it is the pass alone,
    as in the mixed formula. The coefficient form gives the same, also stacked with a mixed-step case."""
    from planner.perf.calibration import default_calibration  # noqa: PLC0415
    from planner.perf.step_coef import stack_coefs  # noqa: PLC0415

    cal = default_calibration()
    sep = cal.engine("sglang")
    assert sep.separate_prefill
    assert not cal.engine("vllm").separate_prefill and not cal.engine("trtllm").separate_prefill
    mix = sep.model_copy(update={"separate_prefill": False})
    dev = make_device(G("b200"), tp=8, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="sglang")
    ctx_s, ctx_m = (step_context(M("deepseek-v3"), dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal, eng=e)
                    for e in (sep, mix))
    c, cp = 2000.0, 1000.0
    dec = float(step_time(ctx_s, 32, 0, c, cp)["total"])
    alone = float(step_time(ctx_s, 0, 2048, c, cp)["total"])
    both, mixed = (float(step_time(x, 32, 2048, c, cp)["total"]) for x in (ctx_s, ctx_m))
    assert dec == pytest.approx(float(step_time(ctx_m, 32, 0, c, cp)["total"]), rel=1e-12)
    assert mixed < dec + alone and both == pytest.approx(dec + alone, rel=1e-12)
    assert alone == pytest.approx(float(step_time(ctx_m, 0, 2048, c, cp)["total"]), rel=1e-12)
    coef_s, coef_m = step_coef(ctx_s, c, cp), step_coef(ctx_m, c, cp)
    assert float(eval_step(coef_s, 32, 2048)) == pytest.approx(both, rel=1e-9)
    assert float(eval_step(coef_s, 0, 2048)) == pytest.approx(alone, rel=1e-9)
    stacked = eval_step(stack_coefs([coef_s, coef_m], [1, 1]), np.array([32.0, 32.0]), np.array([2048.0, 2048.0]))
    assert stacked == pytest.approx([both, mixed], rel=1e-9)
