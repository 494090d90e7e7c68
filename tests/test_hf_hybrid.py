"""Nemotron-H configs (planner.catalog.hf_hybrid): the hybrid stack read into the record, its counts worked out by
hand and against NVIDIA's published sizes, and every stack the record cannot hold refused with the reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.catalog.hf_config import model_from_hf_config
from planner.catalog.params import (
    active_params, dense_mlp_params, layer_counts, linear_state_elements_per_sequence, total_params)
from planner.catalog.records import ModelSpec
from planner.errors import CatalogError

# nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 config.json (trimmed to the keys an import reads, plus the Infinity
# its sibling Super writes in time_step_limit)
NANO = {
    "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "conv_kernel": 4, "head_dim": 128,
    "hidden_size": 2688, "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
    "intermediate_size": 1856, "mamba_head_dim": 64, "mamba_num_heads": 64, "mamba_ssm_cache_dtype": "float32",
    "max_position_embeddings": 262144, "mlp_hidden_act": "relu2", "moe_intermediate_size": 1856,
    "moe_shared_expert_intermediate_size": 3712, "n_groups": 8, "n_routed_experts": 128, "n_shared_experts": 1,
    "num_attention_heads": 32, "num_experts_per_tok": 6, "num_hidden_layers": 52, "num_key_value_heads": 2,
    "ssm_state_size": 128, "tie_word_embeddings": False, "time_step_limit": [0.0, float("inf")],
    "vocab_size": 131072,
}
KINDS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}


def _import(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))   # inf is written as Infinity, as transformers writes it
    return model_from_hf_config(path)


def test_nemotron_3_nano_counts(tmp_path):
    m = _import(tmp_path, NANO)
    # 52 blocks: 23 Mamba-2 (M), 6 attention (*), 23 MoE (E); a layer = a mixer and the MLP after it
    assert (m.layers, m.linear_attention_layers, m.kv_cache_layers, m.mlp_free_layers) == (29, 23, 6, 6)
    assert layer_counts(m) == (0, 23) and not m.mlp_gated
    # Mamba-2 as linear attention: n_k = 8 groups of d_k = 128 (state), n_v = 64 heads of d_v = 64
    assert (m.linear_num_key_heads, m.linear_key_head_dim, m.linear_num_value_heads, m.linear_value_head_dim) == \
        (8, 128, 64, 64)
    # state per sequence and layer: 64 heads x 64 x 128 + conv window (2*1024 + 4096)*(4 - 1)
    assert linear_state_elements_per_sequence(m) == 64 * 64 * 128 + 6144 * 3
    # the 3712-wide shared expert = 2 experts of 1856 (same weights, same FLOPs)
    assert m.n_shared_experts == 2
    # 2*131072*2688 embeddings + 6 attention (2688*4096*2 + 2*2688*256) + 23 Mamba-2 (38,903,808)
    # + 23 MoE layers (130 experts * 2*2688*1856 + router 2688*128) + 29*2*2688 norms + 2688
    assert total_params(m) == 31_581_670_272
    assert total_params(m) / 1e9 == pytest.approx(31.6, rel=0.002)   # NVIDIA's model card: 31.6B total
    # a token reads 6 + 2 experts: 3.58B with both embedding matrices ("3.6B including embeddings")
    assert active_params(m) == 3_583_806_336
    assert m.confidence == "medium" and "Mamba-2" in m.notes


def test_layers_block_type_reads_as_the_pattern(tmp_path):
    listed = {k: v for k, v in NANO.items() if k != "hybrid_override_pattern"}
    listed["layers_block_type"] = [KINDS[c] for c in NANO["hybrid_override_pattern"]]
    named = {"id", "name", "source", "as_of"}   # from the file's name and date
    a, b = _import(tmp_path, listed).model_dump(), _import(tmp_path, NANO, "other.json").model_dump()
    assert {k: v for k, v in a.items() if k not in named} == {k: v for k, v in b.items() if k not in named}


def test_dense_hybrid_has_plain_mlps_and_mixer_only_layers(tmp_path):
    # Nemotron-H style dense stack: "M-M*-": 3 mixers, 2 MLPs -> one mixer without an MLP
    dense = {k: v for k, v in NANO.items() if not k.startswith(("moe_", "n_routed", "n_shared", "num_experts"))}
    m = _import(tmp_path, {**dense, "hybrid_override_pattern": "M-M*-", "num_hidden_layers": 5})
    assert (m.layers, m.mlp_free_layers, layer_counts(m)) == (3, 1, (2, 0))
    assert dense_mlp_params(m) == 2 * 2688 * 1856                     # up and down, no gate


# nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8: a latent MoE (trimmed as NANO)
SUPER = {**NANO, "hidden_size": 4096, "intermediate_size": 2688, "mamba_num_heads": 128, "moe_intermediate_size": 2688,
         "moe_latent_size": 1024, "moe_shared_expert_intermediate_size": 5376, "n_routed_experts": 512,
         "num_experts_per_tok": 22, "num_hidden_layers": 88,
         "hybrid_override_pattern": "MEMEMEM*EMEMEMEM*EMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEM*"
                                    "EMEMEMEME"}


def test_nemotron_3_super_latent_moe_counts(tmp_path):
    m = _import(tmp_path, SUPER)
    assert (m.layers, m.linear_attention_layers, m.mlp_free_layers, m.moe_latent_size, m.n_shared_experts) == \
        (48, 40, 8, 1024, 2)
    # 2*131072*4096 embeddings + 8 attention (2*4096*4096 + 2*4096*256) + 40 Mamba-2 (110,141,440)
    # + 40 MoE layers: 512 routed experts in the latent width (2*1024*2688 each) + the shared one in h
    #   (2*4096*5376) + router 4096*512 + projections down and back 2*4096*1024; + 48*2*4096 norms + 4096
    assert total_params(m) == 120_688_939_008
    assert total_params(m) / 1e9 == pytest.approx(120, rel=0.006)            # NVIDIA: 120B total ...
    # ... 12B active: 22 + 2 experts a token reads, without the input embedding (131072*4096)
    assert (active_params(m) - 131072 * 4096) / 1e9 == pytest.approx(12, rel=0.03)
    assert "latent MoE" in m.notes
    with pytest.raises(CatalogError, match="moe_latent_size 4096 is not below hidden_size"):
        _import(tmp_path, {**SUPER, "moe_latent_size": 4096}, "wide.json")


REFUSED = [
    ("another MLP activation", {"mlp_hidden_act": "silu"}, "squared ReLU"),
    ("an unknown block letter", {"hybrid_override_pattern": "MEX", "num_hidden_layers": 3}, "unknown block letter 'X'"),
    ("more MLPs than mixers", {"hybrid_override_pattern": "MEE", "num_hidden_layers": 3}, "2 MLP blocks for 1 mixer"),
    ("a pattern shorter than the layers", {"hybrid_override_pattern": "ME"}, "num_hidden_layers 52 differs"),
    ("a shared expert of a fractional width", {"moe_shared_expert_intermediate_size": 2000}, "not a whole number"),
    ("no pattern", {"hybrid_override_pattern": None}, "hybrid_override_pattern"),
    # found by fuzzing the Ultra config (layers_block_type): a list in the list was an internal error
    ("a block type that is not a name", {"hybrid_override_pattern": None, "layers_block_type": [["mamba"], "moe"]},
     "unknown block type"),
    ("Infinity in a key the import reads", {"hidden_size": float("inf")}, "'hidden_size' is not a finite number"),
]


@pytest.mark.parametrize("desc, change, words", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_stacks_say_why(tmp_path, desc, change, words):
    with pytest.raises(CatalogError) as info:
        _import(tmp_path, {**NANO, **change})
    assert words in str(info.value) and str(tmp_path) in str(info.value)


def test_a_record_cannot_have_more_mlp_free_layers_than_layers():
    from planner.catalog import builtin_models
    m = builtin_models()[0]
    with pytest.raises(ValueError, match="mlp_free_layers"):
        ModelSpec(**{**m.model_dump(), "mlp_free_layers": m.layers + 1})


@pytest.mark.parametrize("config", ["NANO", "SUPER", "catalog"])
def test_the_step_models_split_of_the_weights_adds_up_to_the_count(tmp_path, config):
    # what a step streams (p_fixed: all but the input embedding and the routed experts) plus every routed expert plus
    # the input embedding is every weight, for the hybrid imports and every catalog model alike
    from planner.catalog import builtin_models
    from planner.perf.roofline import model_shape
    models = list(builtin_models()) if config == "catalog" else [_import(tmp_path, globals()[config])]
    for m in models:
        s = model_shape(m)
        input_embedding = 0 if m.tie_word_embeddings else m.vocab_size * m.hidden_size
        streamed = s.p_fixed + s.p_expert * m.n_routed_experts + input_embedding
        assert streamed == pytest.approx(total_params(m), rel=1e-12), m.id
        assert s.p_active_body + 2 * m.vocab_size * m.hidden_size + m.hidden_size == pytest.approx(
            active_params(m) + (m.vocab_size * m.hidden_size if m.tie_word_embeddings else 0), rel=1e-12), m.id


def _block_by_block(cfg: dict) -> int:
    """An independent count: walk the pattern, each block with its own weights (Mamba-2's exact in-projection
    x, z, B, C, dt; one norm vector per block), as the published modelling code lays them out."""
    h, V = cfg["hidden_size"], cfg["vocab_size"]
    nv, dv, g, n, k = (cfg["mamba_num_heads"], cfg["mamba_head_dim"], cfg["n_groups"], cfg["ssm_state_size"],
                       cfg["conv_kernel"])
    latent = cfg.get("moe_latent_size") or 0
    block = {
        "M": h * (2 * nv * dv + 2 * g * n + nv) + (nv * dv + 2 * g * n) * k + nv * dv * h,
        "*": 2 * h * (cfg["num_attention_heads"] + cfg["num_key_value_heads"]) * cfg["head_dim"],
        "-": 2 * h * cfg["intermediate_size"],
        "E": (cfg.get("n_routed_experts", 0) * 2 * (latent or h) * cfg.get("moe_intermediate_size", 0)
              + 2 * h * cfg.get("moe_shared_expert_intermediate_size", 0) + h * cfg.get("n_routed_experts", 0)
              + 2 * h * latent),
    }
    pattern = cfg["hybrid_override_pattern"]
    return 2 * V * h + sum(block[b] + h for b in pattern) + h


@settings(max_examples=60, deadline=None, derandomize=True)
@given(blocks=st.lists(st.sampled_from(["M", "*", "-", "E"]), min_size=1, max_size=40),
       latent=st.sampled_from([0, 64]), shared=st.integers(0, 3))
def test_the_import_counts_what_walking_the_blocks_counts(tmp_path_factory, blocks, latent, shared):
    mixers = sum(b in "M*" for b in blocks)
    mlps = len(blocks) - mixers
    assume(mixers >= mlps and mlps > 0 and not ("-" in blocks and "E" not in blocks and latent))
    cfg = {**NANO, "hidden_size": 256, "vocab_size": 1000, "intermediate_size": 96, "moe_intermediate_size": 32,
           "n_routed_experts": 16, "num_experts_per_tok": 2, "moe_shared_expert_intermediate_size": 32 * shared,
           "mamba_num_heads": 8, "mamba_head_dim": 16, "n_groups": 2, "ssm_state_size": 16,
           "hybrid_override_pattern": "".join(blocks), "num_hidden_layers": len(blocks)}
    if latent:
        cfg["moe_latent_size"] = latent
    if "E" not in blocks:   # a dense stack has no expert keys
        cfg = {k: v for k, v in cfg.items() if not k.startswith(("moe_", "n_routed", "n_shared", "num_experts"))}
        cfg["moe_shared_expert_intermediate_size"] = 0
    m = _import(tmp_path_factory.mktemp("h"), cfg)
    # the record's two known differences: P_lin's h·n_v more per Mamba-2 block, and two norms per layer, not one
    # per block
    mamba = blocks.count("M")
    expected = _block_by_block(cfg) + mamba * 256 * 8 + (2 * 256 * m.layers - 256 * len(blocks))
    assert total_params(m) == expected
