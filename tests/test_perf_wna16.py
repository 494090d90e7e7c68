"""The weight-only INT4 MoE path: a group-scaled INT4 checkpoint's experts read at the engine's ``wna16_moe_read``
share of the bandwidth (vLLM 0.28, vllm-project/vllm#32832), OpenAI's MXFP4 experts (gpt-oss) at the full rate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.perf.calibration import WNA16_MOE_READ_VLLM, default_calibration
from planner.perf.device import PRECISION_BYTES, make_device
from planner.perf.roofline import step_context, step_time
from planner.perf.step_coef import step_fn

CAT = Catalog.builtin()
CONFIGS = Path(__file__).parent / "fixtures" / "model_configs"
# Kimi-K2.5's routed experts: 3 x hidden 7168 x expert width 2048 params each, on 61 - 1 (dense first layer) layers
KIMI_EXPERT_PARAMS = 3 * 7168 * 2048 * 60


def _weights_ms(model: str, precision: str, engine: str, read: float, b: float, gpu: str = "b200",
                tp: int = 8) -> tuple[float, float]:
    """Milliseconds of a decode step's weight read with ``engine.wna16_moe_read = read``: term by term and by the
    fast closure's total minus everything else (the closure has no per-term output)."""
    cal = default_calibration().with_values({f"{engine}.wna16_moe_read": read})
    dev = make_device(CAT.gpu(gpu), tp=tp, mig_profile=None, precision=precision, kv_dtype="fp8", engine=engine)
    ctx = step_context(CAT.model(model), dev, bytes_per_weight=PRECISION_BYTES[precision], kv_bytes=1.0, cal=cal,
                       eng=cal.engine(engine))
    terms = step_time(ctx, b, 0.0, 2048.0, 0.0)
    fast = float(step_fn(ctx, 2048.0, 0.0)(b, 0.0))
    assert fast == pytest.approx(float(terms["total"]), rel=1e-9)
    return float(terms["weights_read"]) * 1e3, fast * 1e3


def test_the_shipped_vllm_share_is_the_one_worked_out_from_the_profile():
    """vllm#32832: 234 us (Kimi-K2, INT4 g32, 0.5625 B/weight) against 109 us (DeepSeek-V3.1, FP8, 1 B/weight) for a
    layer's fused-MoE kernels at 16 tokens; experts touched E(1 - (1 - 8/E)^16), worked out here again."""
    kimi = 384 * (1 - (1 - 8 / 384) ** 16)
    ds = 256 * (1 - (1 - 8 / 256) ** 16)
    assert kimi == pytest.approx(109.8, abs=0.05) and ds == pytest.approx(102.0, abs=0.05)
    share = (kimi * 0.5625 / ds) / (234 / 109)
    assert share == pytest.approx(0.282, abs=0.001)
    assert WNA16_MOE_READ_VLLM == round(share, 2)
    assert default_calibration().engine("vllm").wna16_moe_read == WNA16_MOE_READ_VLLM
    assert default_calibration().engine("sglang").wna16_moe_read == 1.0
    assert default_calibration().engine("trtllm").wna16_moe_read == 1.0


def test_one_token_reads_its_eight_int4_experts_at_the_vllm_share():
    """Kimi-K2.5 INT4 on vLLM, 8 x B200, one sequence: 8 of 384 experts touched, 0.53 B x 8 x the expert params over
    8 GPUs; at the share 0.28 that read takes 1/0.28 of its time at the full rate (hand arithmetic)."""
    full, _ = _weights_ms("kimi-k2.5", "int4", "vllm", 1.0, 1.0)
    slow, _ = _weights_ms("kimi-k2.5", "int4", "vllm", 0.28, 1.0)
    ctx_bw = step_context(CAT.model("kimi-k2.5"), make_device(CAT.gpu("b200"), tp=8, mig_profile=None,
                                                              precision="int4", kv_dtype="fp8", engine="vllm"),
                          bytes_per_weight=0.53, kv_bytes=1.0, cal=default_calibration(),
                          eng=default_calibration().engine("vllm")).bw_eff
    expert_ms = 0.53 * KIMI_EXPERT_PARAMS * 8 / 8 / ctx_bw * 1e3
    assert slow - full == pytest.approx(expert_ms * (1 / 0.28 - 1), rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(b=st.floats(0.0, 512.0), read=st.floats(0.05, 1.0))
def test_only_a_group_scaled_int4_moe_checkpoint_on_the_int4_path_is_slowed(b, read):
    """The share touches nothing else: gpt-oss's MXFP4 experts, Kimi at FP4 or FP8, a dense INT4 model."""
    for model, precision, gpu in (("gpt-oss-120b", "int4", "h100-sxm"), ("kimi-k2.5", "fp4", "b200"),
                                  ("kimi-k2.5", "fp8", "b200"), ("llama-3.1-70b", "int4", "b200")):
        assert _weights_ms(model, precision, "vllm", read, b, gpu) == pytest.approx(
            _weights_ms(model, precision, "vllm", 1.0, b, gpu), rel=1e-12)
    slow, full = (_weights_ms("kimi-k2.5", "int4", "vllm", r, b)[0] for r in (read, 1.0))
    assert slow >= full * (1 - 1e-12)


def test_the_importer_reads_the_checkpoint_format():
    from planner.catalog.hf_config import model_from_hf_config

    assert model_from_hf_config(CONFIGS / "openai--gpt-oss-120b.json", id="x").weight_only_4bit == "mxfp4"
    assert model_from_hf_config(CONFIGS / "moonshotai--Kimi-K2.5.json", id="x").weight_only_4bit == "wna16"
    assert CAT.model("gpt-oss-20b").weight_only_4bit == "mxfp4"
    assert CAT.model("kimi-k2.5").weight_only_4bit == "wna16"


def test_the_explain_terms_show_the_share_and_the_ceiling_pays_it():
    """--explain: ``expert_weights_bandwidth_share`` is 0.28 on vLLM's INT4 path and 1 elsewhere; the single-sequence
    bandwidth ceiling reads one token's 8 experts at that share: b_w (P_fix + 8 p_e / 0.28) bytes per GPU-sum
    of bandwidth (hand formula from the model's shape)."""
    from planner.perf.estimate import estimate
    from planner.perf.roofline import model_shape

    m, g = CAT.model("kimi-k2.5"), CAT.gpu("b200")
    terms = {eng: estimate(m, g, tp=8, precision="int4", engine=eng, concurrency=4).terms
             for eng in ("vllm", "sglang")}
    assert terms["vllm"]["expert_weights_bandwidth_share"] == pytest.approx(0.28)
    assert terms["sglang"]["expert_weights_bandwidth_share"] == 1.0
    assert estimate(m, g, tp=8, precision="fp4", engine="vllm", concurrency=4).terms[
        "expert_weights_bandwidth_share"] == 1.0
    s = model_shape(m)
    assert s.p_expert == KIMI_EXPERT_PARAMS   # one routed expert's params over the 60 MoE layers
    for eng, share in (("vllm", 0.28), ("sglang", 1.0)):
        want = g.mem_bw_gbps * 1e9 * 8 / (0.53 * (s.p_fixed + s.p_expert * 8 / share))
        assert terms[eng]["bandwidth_ceiling_tok_per_s_per_seq"] == pytest.approx(want, rel=1e-9)
