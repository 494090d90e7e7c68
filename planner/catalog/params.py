"""Parameter counts from the architecture alone (no checkpoint needed).

Symbols (all from :class:`~planner.catalog.records.ModelSpec`):

    V  vocab_size            h  hidden_size           L  layers
    n_q num_heads            n_kv num_kv_heads        d  head_dim
    I  intermediate_size     I_moe moe_intermediate_size
    E  n_routed_experts      k  experts_per_token     s  n_shared_experts
    L_0 mlp_free_layers      g  MLP matrices: 3 gated (gate, up, down), 2 plain (up, down: ``mlp_gated`` false)
    ℓ  moe_latent_size (0: the routed experts work in h; else a latent MoE)
    L_d dense layers = first_dense_layers if MoE else L − L_0;   L_moe = L − L_d − L_0 (0 for dense models)
    MLA: r_q q_lora_rank, r_kv kv_lora_rank, d_n qk_nope_head_dim, d_r qk_rope_head_dim, d_v v_head_dim

Counts (weights, biases ignored):

    embeddings   P_emb  = V·h·(1 if tied else 2)                     input table + LM head
    attention    P_att  = h·n_q·d + 2·h·n_kv·d + n_q·d·h              q, k, v, o  (MHA / GQA)
                        = h·n_q·d + h·n_kv·(d + d_v) + n_q·d_v·h    values narrower than keys (``v_head_dim``)
      global     the full-attention layers of a model with a head shape of their own (Gemma 4): d_g, n_g, and
                 one k projection for both keys and values where they coincide (``global_k_eq_v``)
      MLA        P_att  = q + kv + o with
                   q  = h·r_q + r_q·n_q·(d_n+d_r)    (r_q > 0, low-rank query)
                      = h·n_q·(d_n+d_r)              (r_q = 0)
                   kv = h·(r_kv+d_r) + r_kv·n_q·(d_n+d_v)
                   o  = n_q·d_v·h
    dense MLP    P_mlp  = g·h·I                                      gate, up, down (gated MLP; plain: up, down)
    MoE MLP      P_moe(e) = e·p_e + s·g·h·I_moe + h·E + 2·h·ℓ       e routed experts, the shared ones, router,
                 p_e = g·(ℓ or h)·I_moe                              and a latent MoE's down/up projections
      DSA indexer  + r_q·n_i·d_i + h·d_i + h·n_i       (query from the q latent, one key, head weights)
    linear attn  P_lin  = h·(2·n_k·d_k + 2·n_v·d_v) + h·2·n_v + (2·n_k·d_k + n_v·d_v)·K + n_v·d_v·h
                 (Gated DeltaNet: q, k, v, z projections, the b/a gates, a depthwise conv of width K, out)
    norms        P_norm = 2·h per layer (+ r_q + r_kv for MLA's latent norms) + h final

    total  = P_emb + (L − L_lin)·P_att + L_lin·P_lin + L·P_norm + h + L_d·P_mlp + L_moe·P_moe(E)
             (L_lin linear-attention layers; :func:`attention_params_per_layer` is the mean over all L layers,
              so ``L · attention_params_per_layer`` is the attention total for every kind of model)
    active = same, with P_moe(k): a token reads its k routed experts plus the shared ones,
             every attention weight, the router, and both embedding matrices.

For Llama-3.1-8B this is exactly the checkpoint's 8,030,261,248 weights. Architecture details the record
does not carry (QKV biases of Qwen2, Gemma's extra post-norms, Qwen3/Gemma-3 q/k-norms, DeepSeek's
router bias, DeepSeek-V3's 14B multi-token-prediction module) are omitted: each is < 0.01 % of the total
except the MTP module, which the published 671B excludes too. Where the layer order does not matter to the count
(Llama-4 Maverick interleaves dense and MoE layers), ``first_dense_layers`` holds the number of dense layers.

Hybrid stacks whose blocks are each one kind (Nemotron-H: ``hybrid_override_pattern`` of Mamba-2 ``M``, attention
``*``, MLP ``-`` and MoE ``E`` blocks) are counted as L = mixer blocks (``M`` and ``*``), each with the MLP block
that follows it, and L_0 mixer blocks with none. A Mamba-2 block is a linear-attention layer with n_k = n_groups,
d_k = ssm_state_size, n_v = mamba_num_heads, d_v = mamba_head_dim: its in-projection (x, z, B, C, dt) is
h·(2·n_v·d_v + 2·n_k·d_k + n_v), so P_lin counts h·n_v more than it has (0.02 % of Nemotron-3-Nano), and its state
(heads × head_dim × state) and convolution window are S_lin exactly. Norms are one vector per block there, not two
per layer (< 0.001 %).

Recurrent state of a linear-attention layer, per sequence (elements; the engine keeps it in FP32 or BF16):

    S_lin = n_v·d_k·d_v + (2·n_k·d_k + n_v·d_v)·(K − 1)     (the delta-rule state plus the conv window)
"""

from __future__ import annotations

import functools

from planner.catalog.records import ModelSpec


def embedding_params(m: ModelSpec) -> int:
    """Input embedding plus LM head (one matrix when tied)."""
    return m.vocab_size * m.hidden_size * (1 if m.tie_word_embeddings else 2)


def attention_params_per_layer(m: ModelSpec) -> float:
    """Attention weights per layer, averaged over the layers (exact integer for models of one layer kind).

    Hybrid models mix full-attention blocks (:func:`full_attention_params_per_layer`) and linear-attention
    blocks (:func:`linear_attention_params_per_layer`); the mean keeps ``layers × this`` the exact total.
    """
    n_lin = min(m.linear_attention_layers, m.layers)
    if not n_lin and not has_global_shape(m) and not m.attention_free_layers and not m.index_shared_layers:
        return full_attention_params_per_layer(m)
    return (kv_attention_params(m) + n_lin * linear_attention_params_per_layer(m)) / m.layers


def linear_attention_params_per_layer(m: ModelSpec) -> int:
    """Weights of one Gated DeltaNet block (0 for models without linear attention)."""
    h = m.hidden_size
    key_dim = m.linear_num_key_heads * m.linear_key_head_dim
    value_dim = m.linear_num_value_heads * m.linear_value_head_dim
    conv = (2 * key_dim + value_dim) * m.linear_conv_kernel_dim
    return h * (2 * key_dim + 2 * value_dim) + h * 2 * m.linear_num_value_heads + conv + value_dim * h


def linear_state_elements_per_sequence(m: ModelSpec) -> int:
    """Recurrent-state elements one sequence keeps in ONE linear-attention layer (S_lin above; 0 without)."""
    if not m.linear_attention_layers:
        return 0
    key_dim = m.linear_num_key_heads * m.linear_key_head_dim
    value_dim = m.linear_num_value_heads * m.linear_value_head_dim
    state = m.linear_num_value_heads * m.linear_key_head_dim * m.linear_value_head_dim
    return state + (2 * key_dim + value_dim) * max(0, m.linear_conv_kernel_dim - 1)


def full_attention_params_per_layer(m: ModelSpec) -> int:
    """Projection weights of one full attention block (GQA/MHA, or MLA with its DSA indexer if any)."""
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
        return q + kv + o + index_params_per_layer(m)
    return _gqa_params(m, global_layer=False)


def index_params_per_layer(m: ModelSpec) -> int:
    """One DSA indexer: its query projection from the q latent (r_q·n_i·d_i), key (h·d_i) and head weights (h·n_i);
    0 without sparse attention. A layer that shares the indices before it (``index_shared_layers``) has none."""
    if not m.sparse_attention_topk:
        return 0
    h = m.hidden_size
    return (m.q_lora_rank or h) * m.index_n_heads * m.index_head_dim + h * m.index_head_dim + h * m.index_n_heads


def has_global_shape(m: ModelSpec) -> bool:
    """The full-attention layers have a head shape of their own (Gemma 4), unlike the sliding ones."""
    return bool(m.global_head_dim or m.global_kv_heads or m.global_k_eq_v) and m.attention != "mla"


def attention_shape(m: ModelSpec, global_layer: bool = False) -> tuple[int, int, int]:
    """(KV heads, key width, value width) of one GQA/MHA layer: the default shape, or with ``global_layer`` the
    full-attention layers' own one where the model has it (Gemma 4's d_g, n_g). Values are as wide as the keys
    unless ``v_head_dim`` narrows them (MiMo-V2-Flash: 128 against 192); a global head dim, or keys that double as
    values, bring values of the key width."""
    if global_layer and has_global_shape(m):
        d = m.global_head_dim or m.head_dim
        dv = d if (m.global_head_dim or m.global_k_eq_v) else (m.v_head_dim or d)
        return m.global_kv_heads or m.num_kv_heads, d, dv
    return m.num_kv_heads, m.head_dim, m.v_head_dim or m.head_dim


def _gqa_params(m: ModelSpec, global_layer: bool) -> int:
    """q, k, v, o of one GQA/MHA block in the shape of :func:`attention_shape`; no v where keys double as values."""
    h = m.hidden_size
    kv, d, dv = attention_shape(m, global_layer)
    v = 0 if (global_layer and has_global_shape(m) and m.global_k_eq_v) else h * kv * dv
    return h * m.num_heads * d + h * kv * d + v + m.num_heads * dv * h


def global_attention_params_per_layer(m: ModelSpec) -> int:
    """Projection weights of one full-attention block in the global shape: q, k (and v unless keys double as
    values), o with d_g = ``global_head_dim`` and n_g = ``global_kv_heads``; the default shape without one."""
    if not has_global_shape(m):
        return full_attention_params_per_layer(m)
    return _gqa_params(m, global_layer=True)


def kv_attention_layers(m: ModelSpec) -> tuple[int, int]:
    """(full-attention layers, sliding-window layers) among the layers that are neither linear attention nor
    attention-free (``attention_free_layers``: no attention block at all)."""
    n_kv = m.kv_cache_layers
    n_sw = min(m.sliding_window_layers, n_kv) if m.sliding_window else 0
    return n_kv - n_sw, n_sw


def kv_attention_params(m: ModelSpec) -> int:
    """Attention weights of all the non-linear layers: full ones in the global shape, sliding ones in the default;
    the layers that share the indices before them without their indexer."""
    n_full, n_sw = kv_attention_layers(m)
    return (n_full * global_attention_params_per_layer(m) + n_sw * full_attention_params_per_layer(m)
            - m.index_shared_layers * index_params_per_layer(m))


def norm_params_per_layer(m: ModelSpec) -> int:
    """Two RMSNorm weight vectors per layer, plus MLA's latent norms."""
    extra = (m.q_lora_rank + m.kv_lora_rank) if m.attention == "mla" else 0
    return 2 * m.hidden_size + extra


def mlp_matrices(m: ModelSpec) -> int:
    """Weight matrices of one MLP: 3 gated (gate, up, down), 2 plain (up, down)."""
    return 3 if m.mlp_gated else 2


def expert_params(m: ModelSpec) -> int:
    """One routed expert MLP of width ``moe_intermediate_size``: g·h·I_moe, or g·ℓ·I_moe in a latent MoE."""
    return mlp_matrices(m) * (m.moe_latent_size or m.hidden_size) * m.moe_intermediate_size


def moe_fixed_params(m: ModelSpec) -> int:
    """What every token of a MoE layer reads besides its routed experts: the shared experts (in h, s·g·h·I_moe),
    the router (h·E), a latent MoE's projections down to ℓ and back (2·h·ℓ) and a dense MLP beside the experts
    (``dense_mlp_beside_moe``: g·h·I)."""
    h = m.hidden_size
    beside = dense_mlp_params(m) if m.dense_mlp_beside_moe else 0
    return (m.n_shared_experts * mlp_matrices(m) * h * m.moe_intermediate_size + h * m.n_routed_experts
            + 2 * h * m.moe_latent_size + beside)


def dense_mlp_params(m: ModelSpec) -> int:
    """One MLP (gate, up, down; plain: up, down) of width ``intermediate_size``."""
    return mlp_matrices(m) * m.hidden_size * m.intermediate_size


def moe_mlp_params(m: ModelSpec, experts: int) -> int:
    """One MoE layer with ``experts`` of its routed experts: theirs plus :func:`moe_fixed_params`."""
    return experts * expert_params(m) + moe_fixed_params(m)


def layer_counts(m: ModelSpec) -> tuple[int, int]:
    """(dense-MLP layers, MoE layers); the ``mlp_free_layers`` have neither."""
    with_mlp = max(0, m.layers - m.mlp_free_layers)
    if not m.is_moe:
        return with_mlp, 0
    dense = min(m.first_dense_layers, with_mlp)
    return dense, with_mlp - dense


def _count(m: ModelSpec, experts_per_moe_layer: int) -> int:
    dense_layers, moe_layers = layer_counts(m)
    return (
        embedding_params(m)
        + kv_attention_params(m)
        + min(m.linear_attention_layers, m.layers) * linear_attention_params_per_layer(m)
        + m.layers * norm_params_per_layer(m)
        + m.hidden_size  # final norm
        + dense_layers * dense_mlp_params(m)
        + moe_layers * moe_mlp_params(m, experts_per_moe_layer)
    )


@functools.lru_cache(maxsize=1024)   # the options stage asks for every (workload bucket, GPU, TP) of a model
def total_params(m: ModelSpec) -> int:
    """All weights of the decoder (every expert counted)."""
    return _count(m, m.n_routed_experts)


@functools.lru_cache(maxsize=1024)
def active_params(m: ModelSpec) -> int:
    """Weights one token touches: all but the unrouted experts. Equals the total for dense models."""
    if not m.is_moe:
        return total_params(m)
    return _count(m, m.experts_per_token)
