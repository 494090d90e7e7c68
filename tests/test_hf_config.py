"""Importing Hugging Face config.json files: the imported architecture must count the same parameters as
the catalog's hand-entered record, and every problem must name the file and the key."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os

import pytest

from planner.catalog import Catalog
from planner.catalog.hf_config import model_from_hf_config
from planner.catalog.params import active_params, total_params
from planner.errors import CatalogError, InputError

CAT = Catalog.builtin()

# Field values copied from the public config.json files (irrelevant keys such as token ids trimmed).
LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
}
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
    "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False, "vocab_size": 32000,
}
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "decoder_sparse_step": 1,
    "head_dim": 128, "hidden_size": 2048, "intermediate_size": 6144, "max_position_embeddings": 40960,
    "max_window_layers": 48, "mlp_only_layers": [], "moe_intermediate_size": 768, "norm_topk_prob": True,
    "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8, "num_hidden_layers": 48,
    "num_key_value_heads": 4, "sliding_window": None, "tie_word_embeddings": False,
    "use_sliding_window": False, "vocab_size": 151936,
}
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "first_k_dense_replace": 3,
    "hidden_size": 7168, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
    "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
    "n_shared_experts": 1, "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61,
    "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "tie_word_embeddings": False, "topk_group": 4, "v_head_dim": 128,
    "vocab_size": 129280,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
}
# google/gemma-3-27b-it: text fields nested; vocab_size, max_position_embeddings and the layer pattern are
# left to transformers' Gemma3TextConfig defaults in the published file.
GEMMA_3_27B = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "mm_tokens_per_image": 256,
    "text_config": {
        "head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "model_type": "gemma3_text",
        "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
        "query_pre_attn_scalar": 168, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
    },
    "vision_config": {"hidden_size": 1152, "image_size": 896, "model_type": "siglip_vision_model",
                      "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14},
}
GEMMA_2_27B = {
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "head_dim": 128, "hidden_size": 4608,
    "intermediate_size": 36864, "max_position_embeddings": 8192, "num_attention_heads": 32,
    "num_hidden_layers": 46, "num_key_value_heads": 16, "sliding_window": 4096, "vocab_size": 256000,
}
MISTRAL_7B_V01 = {
    "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "sliding_window": 4096, "tie_word_embeddings": False,
    "vocab_size": 32000,
}
PHI_4 = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 5120, "intermediate_size": 17920,
    "max_position_embeddings": 16384, "num_attention_heads": 40, "num_hidden_layers": 40,
    "num_key_value_heads": 10, "tie_word_embeddings": False, "vocab_size": 100352,
}


def _write(tmp_path, data, folder="cfg") -> "os.PathLike[str]":
    d = tmp_path / folder
    d.mkdir(parents=True, exist_ok=True)
    path = d / "config.json"
    path.write_text(json.dumps(data))
    return path


# (catalog id, config): each import must count what the catalog counts.
IMPORTS = [
    ("llama-3.1-8b", LLAMA_31_8B),     # dense GQA
    ("mixtral-8x7b", MIXTRAL_8X7B),    # MoE, expert width in intermediate_size
    ("qwen3-30b-a3b", QWEN3_30B_A3B),  # MoE, num_experts + moe_intermediate_size, head_dim > hidden/heads
    ("deepseek-v3", DEEPSEEK_V3),      # MLA + shared expert + 3 leading dense layers
    ("gemma-3-27b", GEMMA_3_27B),      # nested text_config, transformers defaults, 5:1 local/global
    ("gemma-2-27b", GEMMA_2_27B),      # tied embeddings by default, alternating windows
    ("mistral-7b", MISTRAL_7B_V01),    # one window on all layers
    ("phi-4", PHI_4),                  # phi3 model_type
]


@pytest.mark.parametrize("model_id, config", IMPORTS, ids=[r[0] for r in IMPORTS])
def test_import_counts_match_catalog(tmp_path, model_id, config):
    spec = model_from_hf_config(_write(tmp_path, config), id=model_id)
    ref = CAT.model(model_id)
    assert total_params(spec) == pytest.approx(total_params(ref), rel=0.001)
    assert active_params(spec) == pytest.approx(active_params(ref), rel=0.001)
    for field in ("layers", "hidden_size", "num_heads", "num_kv_heads", "head_dim", "vocab_size",
                  "tie_word_embeddings", "attention", "n_routed_experts", "experts_per_token",
                  "moe_intermediate_size", "n_shared_experts", "first_dense_layers", "kv_lora_rank",
                  "sliding_window", "sliding_window_layers", "max_context"):
        assert getattr(spec, field) == getattr(ref, field), field


def test_import_records_provenance(tmp_path):
    path = tmp_path / "config.json"  # in pytest's own folder, whose name is no model id
    path.write_text(json.dumps(LLAMA_31_8B))
    os.utime(path, (0, dt.datetime(2025, 3, 4, 12).timestamp()))
    spec = model_from_hf_config(path)
    assert spec.source == f"hf config.json: {path}"
    assert spec.as_of == "2025-03-04"
    assert spec.published_total_params_b == pytest.approx(8.030261248)  # computed, and the notes say so
    assert "computed" in spec.notes
    assert spec.id == "llama"  # falls back to model_type


def test_import_names_defaults_and_mtp(tmp_path):
    gemma = model_from_hf_config(_write(tmp_path, GEMMA_3_27B, "a"))
    assert "vocab_size=262208" in gemma.notes and "tie_word_embeddings=true" in gemma.notes
    ds = model_from_hf_config(_write(tmp_path, DEEPSEEK_V3, "b"))
    assert "multi-token-prediction" in ds.notes


def test_id_from_name_or_path_and_folder(tmp_path):
    named = dict(LLAMA_31_8B, _name_or_path="meta-llama/Llama-3.1-8B-Instruct")
    spec = model_from_hf_config(_write(tmp_path, named, "x"))
    assert (spec.id, spec.hf_id) == ("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct")
    folder = model_from_hf_config(_write(tmp_path, LLAMA_31_8B, "My_Finetune-8B").parent)  # a folder works too
    assert folder.id == "my-finetune-8b"


LAYER_PATTERNS = [
    # (description, config, expected sliding layers)
    ("gemma-3 with explicit layer_types",
     {**GEMMA_3_27B, "text_config": {**GEMMA_3_27B["text_config"], "layer_types": [
         "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(62)]}}, 52),
    ("gemma-3 with sliding_window_pattern 2",
     {**GEMMA_3_27B, "text_config": {**GEMMA_3_27B["text_config"], "sliding_window_pattern": 2}}, 31),
    ("qwen3 with use_sliding_window off ignores sliding_window", {**QWEN3_30B_A3B, "sliding_window": 4096}, 0),
    ("qwen3 with use_sliding_window on slides layers >= max_window_layers",
     {**QWEN3_30B_A3B, "sliding_window": 4096, "use_sliding_window": True, "max_window_layers": 40}, 8),
]


@pytest.mark.parametrize("desc, config, expected", LAYER_PATTERNS, ids=[r[0] for r in LAYER_PATTERNS])
def test_sliding_layer_patterns(tmp_path, desc, config, expected):
    assert model_from_hf_config(_write(tmp_path, config)).sliding_window_layers == expected


def _without(config: dict, dotted: str) -> dict:
    out = copy.deepcopy(config)
    *parents, key = dotted.split(".")
    node = out
    for p in parents:
        node = node[p]
    del node[key]
    return out


MISSING = [
    # (config, key removed, key the message must name)
    (LLAMA_31_8B, "hidden_size", "hidden_size"),
    (LLAMA_31_8B, "vocab_size", "vocab_size"),                    # llama has no default vocabulary
    (MIXTRAL_8X7B, "num_experts_per_tok", "num_experts_per_tok"),
    (QWEN3_30B_A3B, "moe_intermediate_size", "moe_intermediate_size"),
    (DEEPSEEK_V3, "kv_lora_rank", "kv_lora_rank"),
    (GEMMA_3_27B, "text_config.num_hidden_layers", "text_config.num_hidden_layers"),
    (MISTRAL_7B_V01, "max_position_embeddings", "max_position_embeddings"),
    (LLAMA_31_8B, "model_type", "model_type"),
]


@pytest.mark.parametrize("config, removed, named", MISSING, ids=[f"{c['model_type']}-{r}" for c, r, _ in MISSING])
def test_missing_key_is_named(tmp_path, config, removed, named):
    path = _write(tmp_path, _without(config, removed))
    with pytest.raises(CatalogError) as info:
        model_from_hf_config(path)
    assert str(path) in str(info.value) and f"'{named}'" in str(info.value)


BAD_FILES = [
    # (description, file content or None for no file, error type, words in the message)
    ("no such file", None, InputError, "no such file"),
    ("not JSON", "{not json", InputError, "not valid JSON"),
    ("JSON but not an object", "[1, 2]", InputError, "expected a JSON object"),
    ("unsupported architecture", json.dumps({**LLAMA_31_8B, "model_type": "mamba"}), CatalogError, "unsupported model_type 'mamba'"),
    ("string where a number belongs", json.dumps({**LLAMA_31_8B, "hidden_size": "4096"}), CatalogError, "'hidden_size' must be an integer"),
    ("interleaved dense/MoE layers", json.dumps({**QWEN3_30B_A3B, "decoder_sparse_step": 2}), CatalogError, "decoder_sparse_step"),
    ("zero layers", json.dumps({**LLAMA_31_8B, "num_hidden_layers": 0}), CatalogError, "layers"),
]


@pytest.mark.parametrize("desc, content, error, words", BAD_FILES, ids=[r[0] for r in BAD_FILES])
def test_bad_files(tmp_path, desc, content, error, words):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(error) as info:
        model_from_hf_config(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_imported_model_extends_the_catalog(tmp_path):
    spec = model_from_hf_config(_write(tmp_path, QWEN3_30B_A3B), id="my-qwen3-moe")
    cat = CAT.extended(models=[spec])
    assert cat.model("MY-QWEN3-MOE") == spec


# The 2025-26 families added to the importer, each from its published config.json (trimmed). Counts worked out by
# hand from planner.catalog.params' formulas; the published sizes (model cards) are the independent check.
QWEN3_8B_TEXT = {  # Qwen/Qwen3-VL-8B-Instruct: its text_config is Qwen3-8B's decoder
    "head_dim": 128, "hidden_size": 4096, "intermediate_size": 12288, "max_position_embeddings": 262144,
    "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
    "vocab_size": 151936,
}
QWEN3_VL_8B = {"architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl",
               "text_config": QWEN3_8B_TEXT, "tie_word_embeddings": False,
               "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "model_type": "qwen3_vl"}}
QWEN3_VL_30B_A3B = {"architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
                    "text_config": {**{k: v for k, v in QWEN3_30B_A3B.items() if k != "architectures"},
                                    "model_type": "qwen3_vl_moe_text", "max_position_embeddings": 262144},
                    "tie_word_embeddings": False, "vision_config": {"depth": 27, "hidden_size": 1152}}
QWEN3_CODER_480B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "decoder_sparse_step": 1, "head_dim": 128,
    "hidden_size": 6144, "intermediate_size": 8192, "max_position_embeddings": 262144, "mlp_only_layers": [],
    "moe_intermediate_size": 2560, "num_attention_heads": 96, "num_experts": 160, "num_experts_per_tok": 8,
    "num_hidden_layers": 62, "num_key_value_heads": 8, "shared_expert_intermediate_size": 0,
    "tie_word_embeddings": False, "use_sliding_window": False, "vocab_size": 151936,
}
QWEN3_5_27B = {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
               "tie_word_embeddings": False, "text_config": {
                   "attn_output_gate": True, "head_dim": 256, "hidden_size": 5120, "intermediate_size": 17408,
                   "layer_types": ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(64)],
                   "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
                   "linear_num_value_heads": 48, "linear_value_head_dim": 128, "max_position_embeddings": 262144,
                   "mlp_only_layers": [], "model_type": "qwen3_5_text", "mtp_num_hidden_layers": 1,
                   "num_attention_heads": 24, "num_hidden_layers": 64, "num_key_value_heads": 4,
                   "vocab_size": 248320}}
STEP_37_FLASH = {
    "architectures": ["Step3p7FlashForCausalLM"], "model_type": "step3p7", "num_hidden_layers": 45,
    "hidden_size": 4096, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128896,
    "max_position_embeddings": 65536, "intermediate_size": 11264, "sliding_window": 512,
    "layer_types": ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(45)],
    "first_k_dense_replace": 3, "num_experts": 288, "num_experts_per_tok": 8, "moe_intermediate_size": 1280,
    "share_expert_dim": 1280, "n_shared_experts": 1, "num_nextn_predict_layers": 3,
}
MIMO_7B = {
    "architectures": ["MiMoForCausalLM"], "model_type": "mimo", "num_hidden_layers": 36, "hidden_size": 4096,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 11008,
    "vocab_size": 151680, "max_position_embeddings": 32768, "attention_bias": True, "sliding_window": 32768,
    "max_window_layers": 32, "use_sliding_window": False, "num_nextn_predict_layers": 1, "tie_word_embeddings": False,
}


def test_qwen3_vl_reads_its_text_decoder(tmp_path):
    spec = model_from_hf_config(_write(tmp_path, QWEN3_VL_8B, "a"))
    # 151936*4096*2 + 36*(4096*32*128*2 + 2*4096*8*128 + 3*4096*12288 + 2*4096) + 4096; the checkpoint's decoder
    # has 8,190,735,360 (the q/k norms, 36*256, are not counted)
    assert total_params(spec) == active_params(spec) == 8_190_726_144
    assert (spec.num_kv_heads, spec.head_dim, spec.attention, spec.sliding_window_layers) == (8, 128, "gqa", 0)
    assert "vision encoder (vision_config) is not counted" in spec.notes and "qwen3_vl_text" in spec.notes
    moe = model_from_hf_config(_write(tmp_path, QWEN3_VL_30B_A3B, "b"))
    ref = CAT.model("qwen3-30b-a3b")
    assert (total_params(moe), active_params(moe)) == (total_params(ref), active_params(ref))


def test_qwen3_coder_zero_shared_expert_width_is_no_shared_expert(tmp_path):
    spec = model_from_hf_config(_write(tmp_path, QWEN3_CODER_480B, "a"))
    # 151936*6144*2 + 62*(163,577,856 attention + 160*3*6144*2560 experts + 6144*160 router + 2*6144) + 6144
    assert total_params(spec) == 480_154_859_520
    assert total_params(spec) == pytest.approx(480e9, rel=0.001)         # published: 480B total, 35B active
    assert active_params(spec) == pytest.approx(35e9, rel=0.02)
    assert spec.n_shared_experts == 0
    with pytest.raises(CatalogError, match="shared_expert_intermediate_size"):
        model_from_hf_config(_write(tmp_path, {**QWEN3_CODER_480B, "shared_expert_intermediate_size": 2560}, "b"))


def test_qwen3_5_dense_reads_its_gated_deltanet_layers(tmp_path):
    spec = model_from_hf_config(_write(tmp_path, QWEN3_5_27B))
    assert (spec.linear_attention_layers, spec.kv_cache_layers, spec.n_routed_experts) == (48, 16, 0)
    assert (spec.linear_num_value_heads, spec.linear_key_head_dim, spec.intermediate_size) == (48, 128, 17408)
    assert spec.confidence == "medium" and "Gated DeltaNet" in spec.notes
    # 248320*5120*2 + 16*73,400,320 full attention + 48*115,875,840 Gated DeltaNet + 64*(3*5120*17408 + 2*5120) + 5120
    assert total_params(spec) == 26_392_663_040
    # the published 27B adds the ~0.46B vision encoder and the output gate (16 * 5120*24*256 = 0.50B), both uncounted
    assert (total_params(spec) + 0.46e9 + 0.50e9) / 1e9 == pytest.approx(27, rel=0.02)


def test_step_3_7_flash(tmp_path):
    spec = model_from_hf_config(_write(tmp_path, STEP_37_FLASH))
    assert (spec.sliding_window, spec.sliding_window_layers, spec.first_dense_layers) == (512, 33, 3)
    assert (spec.n_routed_experts, spec.experts_per_token, spec.n_shared_experts) == (288, 8, 1)
    assert total_params(spec) / 1e9 == pytest.approx(196, rel=0.01)     # Step-3.5-Flash's shape: 196B total, 11B active
    assert active_params(spec) / 1e9 == pytest.approx(11, rel=0.02)
    assert "3 multi-token-prediction" in spec.notes
    with pytest.raises(CatalogError, match="share_expert_dim 2560 differs"):
        model_from_hf_config(_write(tmp_path, {**STEP_37_FLASH, "share_expert_dim": 2560}, "b"))


def test_mimo_is_read_as_qwen2_and_named_by_its_file(tmp_path):
    path = tmp_path / "XiaomiMiMo--MiMo-7B-Base_config.json"
    path.write_text(json.dumps(MIMO_7B))
    spec = model_from_hf_config(path)
    assert spec.id == "xiaomimimo-mimo-7b-base"
    assert spec.sliding_window_layers == 0                  # use_sliding_window false, as Qwen2
    assert "imported from mimo config" in spec.notes and "1 multi-token-prediction" in spec.notes
    # 151680*4096*2 + 36*(4096*32*128*2 + 2*4096*8*128 + 3*4096*11008 + 2*4096) + 4096
    assert total_params(spec) == 7_622_397_952


REFUSED = [
    # (description, config, words): a family the record cannot express names what it lacks
    ("DeepSeek-V4, an Infinity in a key nobody reads",
     {"model_type": "deepseek_v4", "compress_ratios": [0, 4, 128], "hc_eps": float("inf"), "num_hidden_layers": 3,
      "hidden_size": 8}, "unsupported model_type 'deepseek_v4': compressed attention"),
    ("Kimi-Linear", {"model_type": "kimi_linear", "linear_attn_config": {}}, "'kimi_linear': Kimi Delta Attention"),
    ("ModelOpt's hf_quant_config.json", {"producer": {"name": "modelopt", "version": "0.45.0"},
                                         "quantization": {"quant_algo": "NVFP4"}},
     "this is a quantization file (modelopt hf_quant_config.json)"),
    ("a quantization file without a producer", {"quantization": {"quant_algo": "FP8"}},
     "this is a quantization file (hf_quant_config.json)"),
    ("a producer name that is not a plain name", {"producer": {"name": "\x1b[31mred"}, "quantization": {}},
     "this is a quantization file (hf_quant_config.json)"),
]


@pytest.mark.parametrize("desc, config, words", REFUSED, ids=[r[0] for r in REFUSED])
def test_refusals_name_what_the_record_lacks(tmp_path, desc, config, words):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))  # json writes inf as Infinity, as transformers does
    with pytest.raises(CatalogError) as info:
        model_from_hf_config(path)
    assert words in str(info.value) and str(path) in str(info.value) and "\x1b" not in str(info.value)


# XiaomiMiMo/MiMo-V2-Flash config.json (trimmed): 9 full-attention and 39 sliding layers, values narrower than keys
MIMO_V2_FLASH = {
    "architectures": ["MiMoV2FlashForCausalLM"], "model_type": "mimo_v2_flash", "num_hidden_layers": 48,
    "hidden_size": 4096, "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 192, "v_head_dim": 128,
    "intermediate_size": 16384, "vocab_size": 152576, "max_position_embeddings": 262144, "sliding_window": 128,
    "swa_num_attention_heads": 64, "swa_num_key_value_heads": 8, "swa_head_dim": 192, "swa_v_head_dim": 128,
    "hybrid_layer_pattern": [0, 1, 1, 1, 1, 0] + [1, 1, 1, 1, 1, 0] * 7,
    "moe_layer_freq": [0] + [1] * 47, "moe_intermediate_size": 2048, "n_routed_experts": 256,
    "n_shared_experts": None, "num_experts_per_tok": 8, "tie_word_embeddings": False,
}


def test_mimo_v2_flash_two_kv_head_counts_and_narrow_values(tmp_path):
    from planner.perf.memory import kv_bytes_per_sequence, kv_bytes_per_token
    from planner.perf.roofline import model_shape
    m = model_from_hf_config(_write(tmp_path, MIMO_V2_FLASH))
    assert (m.num_kv_heads, m.global_kv_heads, m.head_dim, m.v_head_dim) == (8, 4, 192, 128)
    assert (m.sliding_window, m.sliding_window_layers, m.first_dense_layers) == (128, 39, 1)
    # 2*152576*4096 + 9 full (4096*64*192 + 4096*4*(192+128) + 64*128*4096) + 39 sliding (the same with 8 KV heads)
    # + 1 dense MLP 3*4096*16384 + 47 MoE (256*3*4096*2048 + 4096*256) + 48*2*4096 + 4096
    assert total_params(m) == 308_778_766_336
    assert total_params(m) / 1e9 == pytest.approx(309, rel=0.002)      # Xiaomi: 309B total, 15B active
    assert active_params(m) / 1e9 == pytest.approx(15, rel=0.04)
    # BF16, TP 1: 39 sliding layers * 8 heads * (192 + 128) * 2 B + 9 full layers * 4 heads * 320 * 2 B
    assert kv_bytes_per_token(m, 2.0, 1) == 39 * 5120 + 9 * 2560
    assert kv_bytes_per_sequence(m, 2.0, 1, 4096) == 39 * 5120 * 128 + 9 * 2560 * 4096
    assert model_shape(m).attn_dec == 64 * (2 * 192 + 2 * 128)
    with pytest.raises(CatalogError, match="dense layers after MoE ones"):
        model_from_hf_config(_write(tmp_path, {**MIMO_V2_FLASH, "moe_layer_freq": [1, 0] + [1] * 46}, "b"))
    with pytest.raises(CatalogError, match="swa_head_dim 128 differs"):
        model_from_hf_config(_write(tmp_path, {**MIMO_V2_FLASH, "swa_head_dim": 128}, "c"))


# nvidia/Llama-3_3-Nemotron-Super-49B-v1: the layer shapes of its block_configs, in order (attention kept or not,
# ffn_mult), run-length encoded
NAS_RUNS = [(True, 2.625, 1), (True, 5.25, 5), (False, 2.625, 2), (True, 5.25, 3), (False, 3.28125, 1),
            (True, 5.25, 30), (False, 1.3125, 1), (False, 2.625, 2), (False, 1.3125, 1), (False, 5.25, 1),
            (False, 1.3125, 1), (False, 2.625, 1), (False, 1.3125, 3), (True, 5.25, 1), (False, 1.3125, 1),
            (False, 1.0, 2), (False, 1.3125, 1), (False, 1.0, 3), (False, 1.3125, 2), (False, 0.5, 2), (False, 1.0, 2),
            (False, 0.5, 2), (False, 1.0, 1), (False, 0.5, 2), (True, 5.25, 9)]
NAS_BLOCKS = [{"attention": {"n_heads_in_group": 8 if keep else None, "no_op": not keep, "replace_with_linear": False,
                             "sparsify": None, "window_length": None, "num_sink_tokens": None},
               "ffn": {"ffn_mult": mult, "no_op": False, "replace_with_linear": False, "sparsify": None}}
              for keep, mult, n in NAS_RUNS for _ in range(n)]
NEMOTRON_NAS = {"architectures": ["DeciLMForCausalLM"], "model_type": "nemotron-nas", "block_configs": NAS_BLOCKS,
                "hidden_size": 8192, "intermediate_size": None, "max_position_embeddings": 131072,
                "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": None,
                "tie_word_embeddings": False, "vocab_size": 128256}


def test_nemotron_nas_layers_without_attention_and_mlps_of_many_widths(tmp_path):
    from planner.perf.memory import kv_bytes_per_token
    m = model_from_hf_config(_write(tmp_path, NEMOTRON_NAS))
    assert (m.layers, m.attention_free_layers, m.kv_cache_layers, m.num_kv_heads, m.mlp_free_layers) == \
        (80, 31, 49, 8, 0)
    # block by block: 2*128256*8192 + 8192, 49 attention layers (2*8192*8192 + 2*8192*1024 + 8192), 80 MLPs of
    # 3*8192*ceil(int(2*mult*8192/3)/256)*256 + 8192
    widths = [math.ceil(int(2 * b["ffn"]["ffn_mult"] * 8192 / 3) / 256) * 256 for b in NAS_BLOCKS]
    exact = 2 * 128256 * 8192 + 8192 + 49 * (2 * 8192 * 8192 + 2 * 8192 * 1024 + 8192) \
        + sum(3 * 8192 * w + 8192 for w in widths)
    assert exact == 49_867_145_216
    assert abs(total_params(m) - exact) <= 3 * 8192 * 80 / 2      # the mean width stands for the 80 widths
    assert total_params(m) / 1e9 == pytest.approx(49.9, rel=0.002)  # the name's 49B
    assert kv_bytes_per_token(m, 2.0, 1) == 49 * 2 * 8 * 128 * 2    # only the 49 attention layers cache
    with pytest.raises(CatalogError, match="KV head groups differ"):
        odd = [dict(b, attention=dict(b["attention"], n_heads_in_group=4)) if i == 0 else b
               for i, b in enumerate(NAS_BLOCKS)]
        model_from_hf_config(_write(tmp_path, {**NEMOTRON_NAS, "block_configs": odd}, "b"))
    with pytest.raises(CatalogError, match="one linear layer"):
        lin = [dict(b, ffn=dict(b["ffn"], replace_with_linear=True)) if i == 3 else b for i, b in enumerate(NAS_BLOCKS)]
        model_from_hf_config(_write(tmp_path, {**NEMOTRON_NAS, "block_configs": lin}, "c"))
