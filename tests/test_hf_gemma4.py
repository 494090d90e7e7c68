"""Gemma 4 configs (planner.catalog.hf_gemma4): two head shapes and a dense MLP beside the experts, counted by hand
and against Google's sizes, and carried through the KV cache and the attention FLOPs."""

from __future__ import annotations

import json

import pytest

from planner.catalog import Catalog
from planner.catalog.hf_config import model_from_hf_config
from planner.catalog.params import active_params, total_params
from planner.errors import CatalogError
from planner.perf.calibration import default_calibration
from planner.perf.device import make_device
from planner.perf.memory import kv_bytes_per_sequence, kv_bytes_per_token
from planner.perf.roofline import attention_flop_per_token, model_shape, step_context

LAYER_TYPES_31B = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(60)]
# google/gemma-4-31B-it text_config (nvidia's NVFP4 copy; trimmed to the keys an import reads)
GEMMA_4_31B = {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "text_config": {
    "attention_k_eq_v": True, "enable_moe_block": False, "global_head_dim": 512, "head_dim": 256,
    "hidden_size": 5376, "hidden_size_per_layer_input": 0, "intermediate_size": 21504, "layer_types": LAYER_TYPES_31B,
    "max_position_embeddings": 262144, "model_type": "gemma4_text", "num_attention_heads": 32, "num_experts": None,
    "num_global_key_value_heads": 4, "num_hidden_layers": 60, "num_key_value_heads": 16, "num_kv_shared_layers": 0,
    "sliding_window": 1024, "tie_word_embeddings": True, "top_k_experts": None, "use_double_wide_mlp": False,
    "vocab_size": 262144}, "vision_config": {"model_type": "gemma4_vision"}}
GEMMA_4_26B_A4B = {**GEMMA_4_31B, "text_config": {
    **GEMMA_4_31B["text_config"], "enable_moe_block": True, "hidden_size": 2816, "intermediate_size": 2112,
    "layer_types": LAYER_TYPES_31B[:30], "moe_intermediate_size": 704, "num_experts": 128,
    "num_global_key_value_heads": 2, "num_attention_heads": 16, "num_hidden_layers": 30, "num_key_value_heads": 8,
    "top_k_experts": 8}}


def _import(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return model_from_hf_config(path)


def test_gemma_4_31b_counts_and_cache(tmp_path):
    m = _import(tmp_path, GEMMA_4_31B)
    assert (m.sliding_window, m.sliding_window_layers, m.global_head_dim, m.global_kv_heads, m.global_k_eq_v) == \
        (1024, 50, 512, 4, True)
    # tied 262144*5376 embedding + 50 sliding (2*5376*32*256 + 2*5376*16*256) + 10 full, keys = values
    # (2*5376*32*512 + 5376*4*512) + 60 MLPs 3*5376*21504 + 60*2*5376 norms + 5376
    assert total_params(m) == 30_696_664_320
    assert total_params(m) / 1e9 == pytest.approx(31, rel=0.011)      # the name's 31B (text decoder; vision apart)
    # KV per token, BF16, TP 1: 50 * 2*16*256*2 B + 10 * 2*4*512*2 B (keys and values both cached)
    assert kv_bytes_per_token(m, 2.0, 1) == 50 * 16384 + 10 * 8192
    # a 4,096-token sequence: the sliding layers hold 1,024 tokens, the full ones all 4,096
    assert kv_bytes_per_sequence(m, 2.0, 1, 4096) == 50 * 16384 * 1024 + 10 * 8192 * 4096
    assert m.confidence == "medium" and "keys double as values" in m.notes


def test_gemma_4_attention_flops_weight_the_full_layers_by_their_head_dim(tmp_path):
    m = _import(tmp_path, GEMMA_4_31B)
    cal = default_calibration()
    dev = make_device(Catalog.builtin().gpu("h100-sxm"), tp=1, mig_profile=None, precision="bf16", kv_dtype="bf16",
                      engine="vllm")
    ctx = step_context(m, dev, bytes_per_weight=2.0, kv_bytes=2.0, cal=cal, eng=cal.engine("vllm"))
    per_token = model_shape(m).attn_dec                   # 32 heads * 4 * 256, the sliding layers' rate
    assert per_token == 32 * 4 * 256
    # at 8,192 tokens: 10 full layers attend all of it at twice the head width, 50 sliding ones 1,024 tokens
    want = (10 * 8192 * 2 + 50 * 1024) / 60 * per_token
    assert attention_flop_per_token(ctx, 8192.0, per_token) == pytest.approx(want, rel=1e-12)


def test_gemma_4_26b_a4b_runs_a_dense_mlp_beside_the_experts(tmp_path):
    m = _import(tmp_path, GEMMA_4_26B_A4B)
    assert (m.n_routed_experts, m.experts_per_token, m.dense_mlp_beside_moe, m.first_dense_layers) == (128, 8, True, 0)
    # Google: 25.2B total, 3.8B active (text decoder)
    assert total_params(m) / 1e9 == pytest.approx(25.2, rel=0.003)
    assert active_params(m) / 1e9 == pytest.approx(3.8, rel=0.01)
    without = m.model_copy(update={"dense_mlp_beside_moe": False})
    assert total_params(m) - total_params(without) == 30 * 3 * 2816 * 2112   # the MLP beside, in every layer
    s = model_shape(m)
    assert s.p_fixed - model_shape(without).p_fixed == 30 * 3 * 2816 * 2112  # ... streamed every step


@pytest.mark.parametrize("change, words", [
    ({"hidden_size_per_layer_input": 256}, "per-layer input embeddings"),
    ({"num_kv_shared_layers": 20}, "reuse another layer's KV cache"),
    ({"use_double_wide_mlp": True}, "double-wide MLP"),
    ({"attention_k_eq_v": "yes"}, "must be true or false"),
])
def test_gemma_4_variants_the_record_cannot_hold(tmp_path, change, words):
    cfg = {**GEMMA_4_31B, "text_config": {**GEMMA_4_31B["text_config"], **change}}
    with pytest.raises(CatalogError, match=words):
        _import(tmp_path, cfg)
