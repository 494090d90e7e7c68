"""Parameter counts from the architecture alone (no checkpoint needed).

Symbols (all from :class:`~planner.catalog.records.ModelSpec`):

    V  vocab_size            h  hidden_size           L  layers
    n_q num_heads            n_kv num_kv_heads        d  head_dim
    I  intermediate_size     I_moe moe_intermediate_size
    E  n_routed_experts      k  experts_per_token     s  n_shared_experts
    L_d dense layers = first_dense_layers if MoE else L;   L_moe = L − L_d
    MLA: r_q q_lora_rank, r_kv kv_lora_rank, d_n qk_nope_head_dim, d_r qk_rope_head_dim, d_v v_head_dim

Counts (weights, biases ignored):

    embeddings   P_emb  = V·h·(1 if tied else 2)                     input table + LM head
    attention    P_att  = h·n_q·d + 2·h·n_kv·d + n_q·d·h              q, k, v, o  (MHA / GQA)
      MLA        P_att  = q + kv + o with
                   q  = h·r_q + r_q·n_q·(d_n+d_r)    (r_q > 0, low-rank query)
                      = h·n_q·(d_n+d_r)              (r_q = 0)
                   kv = h·(r_kv+d_r) + r_kv·n_q·(d_n+d_v)
                   o  = n_q·d_v·h
    dense MLP    P_mlp  = 3·h·I                                      gate, up, down (gated MLP)
    MoE MLP      P_moe(e) = e·3·h·I_moe + h·E                        e experts' weights + router
    norms        P_norm = 2·h per layer (+ r_q + r_kv for MLA's latent norms) + h final

    total  = P_emb + L·(P_att + P_norm/L) + L_d·P_mlp + L_moe·P_moe(E + s)
    active = same, with P_moe(k + s): a token reads its k routed experts plus the shared ones,
             every attention weight, the router, and both embedding matrices.

For Llama-3.1-8B this is exactly the checkpoint's 8,030,261,248 weights. Architecture details the record
does not carry (QKV biases of Qwen2, Gemma's extra post-norms, Qwen3/Gemma-3 q/k-norms, DeepSeek's
router bias, DeepSeek-V3's 14B multi-token-prediction module) are omitted: each is < 0.01 % of the total
except the MTP module, which the published 671B excludes too.
"""

from __future__ import annotations

from planner.catalog.records import ModelSpec


def embedding_params(m: ModelSpec) -> int:
    """Input embedding plus LM head (one matrix when tied)."""
    return m.vocab_size * m.hidden_size * (1 if m.tie_word_embeddings else 2)


def attention_params_per_layer(m: ModelSpec) -> int:
    """Projection weights of one attention block (GQA/MHA or MLA)."""
    h = m.hidden_size
    if m.attention == "mla":
        qk_dim = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank * m.num_heads * qk_dim
        else:
            q = h * m.num_heads * qk_dim
        kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * m.num_heads * (
            m.qk_nope_head_dim + m.v_head_dim)
        o = m.num_heads * m.v_head_dim * h
        return q + kv + o
    d = m.head_dim
    return h * m.num_heads * d + 2 * h * m.num_kv_heads * d + m.num_heads * d * h


def norm_params_per_layer(m: ModelSpec) -> int:
    """Two RMSNorm weight vectors per layer, plus MLA's latent norms."""
    extra = (m.q_lora_rank + m.kv_lora_rank) if m.attention == "mla" else 0
    return 2 * m.hidden_size + extra


def dense_mlp_params(m: ModelSpec) -> int:
    """One gated MLP (gate, up, down) of width ``intermediate_size``."""
    return 3 * m.hidden_size * m.intermediate_size


def moe_mlp_params(m: ModelSpec, experts: int) -> int:
    """``experts`` expert MLPs of width ``moe_intermediate_size`` plus the router (h·E)."""
    return experts * 3 * m.hidden_size * m.moe_intermediate_size + m.hidden_size * m.n_routed_experts


def layer_counts(m: ModelSpec) -> tuple[int, int]:
    """(dense-MLP layers, MoE layers)."""
    if not m.is_moe:
        return m.layers, 0
    dense = min(m.first_dense_layers, m.layers)
    return dense, m.layers - dense


def _count(m: ModelSpec, experts_per_moe_layer: int) -> int:
    dense_layers, moe_layers = layer_counts(m)
    return (
        embedding_params(m)
        + m.layers * (attention_params_per_layer(m) + norm_params_per_layer(m))
        + m.hidden_size  # final norm
        + dense_layers * dense_mlp_params(m)
        + moe_layers * moe_mlp_params(m, experts_per_moe_layer)
    )


def total_params(m: ModelSpec) -> int:
    """All weights of the decoder (every expert counted)."""
    return _count(m, m.n_routed_experts + m.n_shared_experts)


def active_params(m: ModelSpec) -> int:
    """Weights one token touches: all but the unrouted experts. Equals the total for dense models."""
    if not m.is_moe:
        return total_params(m)
    return _count(m, m.experts_per_token + m.n_shared_experts)
