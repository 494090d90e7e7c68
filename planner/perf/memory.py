"""Memory side of the performance model: weights, KV cache per token and per sequence, fit, max concurrency.

Symbols (per replica; ``tp`` GPUs, quantities *per GPU* unless said otherwise):

    P          total parameters (``planner.catalog.params.total_params``)
    b_w        bytes per weight of the precision (bf16 2, fp8/int8 1, int4 0.53, fp4 0.5625)
    b_kv       bytes per KV element (bf16 2, fp8 1)
    L, L_sw    layers, and how many of them use a sliding window of W tokens
    n_kv, d    KV heads and head dim;  MLA: r_kv latent rank, d_r rope dim
    M          memory the engine sees (GiB): ``vram_gib_usable``, or the MIG label
    u, ws      engine memory utilisation (vLLM 0.9) and workspace reserve (GiB)
    X, B_max   the engine's prefill chunk (tokens per step) and batch cap; V vocabulary

    workspace        ws  = ws_0 + X·(2·h + (n_q + 2·n_kv)·d/tp + 2·I_act/tp)·2 B + B_max·V·4 B / tp
                     (base reserve, BF16 activations of one chunk through attention and the widest MLP,
                      FP32 logits of a full batch, vocab-parallel)

    weights/GPU      W   = (P − P_x)·b_w / tp + P_x·b_w / (tp·dp)                  [bytes]
                     P_x routed-expert params (0 for dense models): the experts are sharded over all
                     tp·dp GPUs of the replica (moe_tp × ep), the rest over the attention TP group
                     and replicated on each of the dp attention data-parallel ranks
    KV per token     k_t = 2·L_kv·ceil(n_kv/tp)·d·b_kv       (GQA/MHA; heads replicate when tp > n_kv)
                         (a global head shape, Gemma 4: the L_kv − L_sw full-attention layers with n_g, d_g)
                         = L_kv·(r_kv + d_r)·b_kv            (MLA latent, replicated on every rank)
                         = L_kv·k_lat + L_idx·(d_i + 4)      (MLA with DeepSeek sparse attention, DSA: the latent
                     k_lat = (r_kv + d_r)·b_kv at 16 bits, and FlashMLA's FP8 layout at 8 bits, r_kv FP8 values,
                     one FP32 scale per 128 of them and the rope part in BF16: r_kv + 4·r_kv/128 + 2·d_r = 656 B
                     for r_kv = 512, d_r = 64; plus the indexer's key, d_i FP8 values and one FP32 scale, on the
                     L_idx = L − ``index_shared_layers`` layers that run an indexer: GLM-5.2's shared layers keep none)
                     L_kv = L − L_lin: linear-attention (Gated DeltaNet) layers keep no KV cache
    state/sequence   s_lin = L_lin·S_lin·⌈n_v/tp⌉/n_v·b_s    (their recurrent state, ``params.py``; value heads
                     split over tp; b_s = 4: FP32, SGLang's default ``--mamba-ssm-dtype float32``; vLLM makes it
                     configurable, ``--mamba-ssm-cache-dtype``; charged as FP32 for every engine)
    KV per sequence  k_s(ctx) = k_t/L_kv · [ (L_kv−L_sw)·⌈ctx⌉₁₆ + L_sw·⌈min(ctx, W)⌉₁₆ ] + s_lin   (16-token blocks)
    KV read/step     r_s(ctx) = k_s(ctx) for every model but DSA ones, whose decode step reads the latent of the
                     top-k tokens the indexer picks and every token's indexer key:
                     r_s = L_kv·k_lat·⌈min(ctx, K_s)⌉₁₆ + L_idx·(d_i + 4)·⌈ctx⌉₁₆   (K_s: sparse_attention_topk)
    KV pool          F = u·M − W − ws             (vLLM, SGLang: utilisation of the whole memory)
                       = u·(M − W − ws)           (TensorRT-LLM: share of the memory left after the engine)
    KV capacity      floor(F / k_t) tokens
    max concurrency  dp · min( floor(F / k_s(ctx)), engine batch cap )    (each dp rank has its own KV pool)

The replica fits when the weights and workspace fit and at least one sequence of the context fits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from planner.catalog.params import (
    attention_shape, expert_params, has_global_shape, layer_counts, linear_state_elements_per_sequence, total_params)
from planner.catalog.records import ModelSpec
from planner.perf.device import GIB, Device

BLOCK_TOKENS = 16
STATE_BYTES = 4.0   # bytes per element of a linear-attention layer's recurrent state: FP32, SGLang's default
                    # (--mamba-ssm-dtype float32, docs.sglang.io "Qwen3-Next Usage", read 2026-12-02)


def workspace_gib(model: ModelSpec, tp: int, base_gib: float, chunk_tokens: int, max_batch: int) -> float:
    """Per-GPU memory outside weights and KV: base reserve + one chunk's activations + a batch of logits."""
    h = model.hidden_size
    mlp = model.intermediate_size
    if model.is_moe:
        mlp = max(mlp if model.first_dense_layers else 0,
                  (model.experts_per_token + model.n_shared_experts) * model.moe_intermediate_size)
    qkv = (model.num_heads + 2 * model.num_kv_heads) * model.head_dim
    if has_global_shape(model):  # the wider of the two head shapes (Gemma 4's full-attention layers)
        qkv = max(qkv, (model.num_heads + 2 * (model.global_kv_heads or model.num_kv_heads))
                  * (model.global_head_dim or model.head_dim))
    if model.dense_mlp_beside_moe:
        mlp = max(mlp, model.intermediate_size)
    act = chunk_tokens * (2 * h + qkv / tp + 2 * mlp / tp) * 2.0
    logits = max_batch * model.vocab_size * 4.0 / tp
    return base_gib + (act + logits) / GIB


def weight_bytes_total(model: ModelSpec, bytes_per_weight: float) -> float:
    """All weights of the model at ``bytes_per_weight`` (every expert counted)."""
    return total_params(model) * bytes_per_weight


def routed_expert_params(model: ModelSpec) -> float:
    """Parameters of all routed experts over all MoE layers (0 for a dense model)."""
    if not model.is_moe:
        return 0.0
    _, moe_layers = layer_counts(model)
    return float(moe_layers * model.n_routed_experts * expert_params(model))


def weight_bytes_per_gpu(model: ModelSpec, bytes_per_weight: float, tp: int, dp: int = 1) -> float:
    """Weights one GPU holds: experts over all tp·dp GPUs, the rest over tp (replicated per dp rank)."""
    px = routed_expert_params(model)
    return ((total_params(model) - px) / tp + px / (tp * dp)) * bytes_per_weight


INDEX_SCALE_BYTES = 4  # one FP32 scale per cached indexer key (DeepSeek-V3.2's reference ``act_quant``, block 128)


def mla_latent_bytes(model: ModelSpec, kv_bytes: float) -> float:
    """Bytes of one token's MLA latent in one layer's cache: ``(r_kv + d_r)·b_kv``; a DSA model's FP8 cache uses
    the layout of FlashMLA's sparse kernels (SGLang's ``flashmla_kv`` decode, FlashMLA README): FP8 latent, an
    FP32 scale per 128 values, the rope part in BF16 (656 B for r_kv = 512, d_r = 64)."""
    if model.sparse_mla and kv_bytes == 1:
        return model.kv_lora_rank + 4 * math.ceil(model.kv_lora_rank / 128) + 2 * model.qk_rope_head_dim
    return (model.kv_lora_rank + model.qk_rope_head_dim) * kv_bytes


def index_key_bytes(model: ModelSpec) -> float:
    """Bytes of one token's DSA indexer key in one layer (FP8 and one FP32 scale; 0 without sparse attention),
    averaged over the layers: those that share the indices before them (``index_shared_layers``) cache none."""
    return (model.index_head_dim + INDEX_SCALE_BYTES) * model.index_layers / model.layers


@functools.lru_cache(maxsize=4096)
def kv_bytes_per_token_per_layer(model: ModelSpec, kv_bytes: float, tp: int, global_layer: bool = False) -> float:
    """Bytes one token adds to one layer's KV cache on one GPU; ``global_layer``: a full-attention layer of a model
    whose full-attention layers have a head shape of their own (Gemma 4), which caches keys and values apart even
    where the keys double as values (the engines' first implementations; the saving is a later cache layout)."""
    if model.attention == "mla":
        return mla_latent_bytes(model, kv_bytes) + index_key_bytes(model)  # replicated per rank
    kv_heads, d, dv = attention_shape(model, global_layer)
    heads = math.ceil(kv_heads / tp)  # >= 1: replicated when tp > n_kv
    return heads * (d + dv) * kv_bytes


def linear_layers(model: ModelSpec) -> int:
    """Linear-attention layers: a fixed recurrent state per sequence, no KV cache (0 for most models)."""
    return min(model.linear_attention_layers, model.layers)


def kv_layers(model: ModelSpec) -> int:
    """Layers that keep a KV cache (full or sliding-window attention): L_kv = L − L_lin, less attention-free ones."""
    return model.kv_cache_layers


@functools.lru_cache(maxsize=65536)
def kv_bytes_per_token(model: ModelSpec, kv_bytes: float, tp: int) -> float:
    """KV bytes per token per GPU with every KV layer holding the full context (the headline figure)."""
    if has_global_shape(model):
        l_sw = window_layers(model)
        return ((kv_layers(model) - l_sw) * kv_bytes_per_token_per_layer(model, kv_bytes, tp, True)
                + l_sw * kv_bytes_per_token_per_layer(model, kv_bytes, tp))
    return kv_layers(model) * kv_bytes_per_token_per_layer(model, kv_bytes, tp)


def state_bytes_per_sequence(model: ModelSpec, tp: int) -> float:
    """Recurrent-state bytes one sequence keeps on one GPU over the linear-attention layers (0 without)."""
    n_lin = linear_layers(model)
    if not n_lin:
        return 0.0
    heads = max(1, model.linear_num_value_heads)
    share = math.ceil(heads / tp) / heads
    return n_lin * linear_state_elements_per_sequence(model) * share * STATE_BYTES


def _blocks(tokens: float) -> float:
    return math.ceil(tokens / BLOCK_TOKENS) * BLOCK_TOKENS


def window_layers(model: ModelSpec) -> int:
    """Layers that keep only a sliding window of KV (0 without a window)."""
    return min(model.sliding_window_layers, model.layers) if model.sliding_window else 0


@functools.lru_cache(maxsize=65536)   # the options stage asks again for every GPU of the same (model, TP, context)
def kv_bytes_per_sequence(model: ModelSpec, kv_bytes: float, tp: int, context_tokens: int) -> float:
    """KV bytes one sequence of ``context_tokens`` holds on one GPU, block-rounded, sliding windows applied,
    plus the recurrent state of its linear-attention layers."""
    per_layer = kv_bytes_per_token_per_layer(model, kv_bytes, tp)
    l_sw = window_layers(model)
    full = max(0, kv_layers(model) - l_sw) * _blocks(context_tokens)
    windowed = l_sw * _blocks(min(context_tokens, model.sliding_window or context_tokens))
    if has_global_shape(model):
        return (kv_bytes_per_token_per_layer(model, kv_bytes, tp, True) * full + per_layer * windowed
                + state_bytes_per_sequence(model, tp))
    return per_layer * (full + windowed) + state_bytes_per_sequence(model, tp)


@functools.lru_cache(maxsize=65536)
def kv_read_bytes_per_sequence(model: ModelSpec, kv_bytes: float, tp: int, context_tokens: int) -> float:
    """KV bytes a decode step reads for one sequence of ``context_tokens`` on one GPU: its whole cache
    (:func:`kv_bytes_per_sequence`), except on a DSA model, where attention gathers the latent of the
    ``sparse_attention_topk`` tokens the indexer picks and the indexer reads every token's key."""
    if not model.sparse_mla:
        return kv_bytes_per_sequence(model, kv_bytes, tp, context_tokens)
    picked = _blocks(min(context_tokens, model.sparse_attention_topk))
    return kv_layers(model) * (mla_latent_bytes(model, kv_bytes) * picked
                               + index_key_bytes(model) * _blocks(context_tokens)) + state_bytes_per_sequence(model, tp)


@dataclass(frozen=True)
class MemoryPlan:
    """Memory budget of one replica (per GPU)."""

    weights_gib_per_gpu: float
    usable_gib: float                  # memory the engine may fill with weights, KV and workspace
    kv_pool_gib: float                 # what is left for the KV cache (may be negative)
    kv_bytes_per_token_per_gpu: float
    kv_bytes_per_sequence: float
    kv_capacity_tokens: int
    kv_limited_concurrency: int        # sequences of the context that fit the pool
    max_concurrency: int               # ... capped by the engine's batch limit
    fits: bool
    reason: str | None


def _no_fit(dev: Device, w_gib: float, room: float, k_s: float, pool: float, context_tokens: int, mem_util: float,
            mem_mode: str, workspace_gib: float) -> str:
    """Why a replica does not fit: the weights (beyond ``room`` GiB), else no room for one sequence's KV."""
    m = dev.mem_gib
    where = f"{dev.label}" + (f" at tp={dev.tp}" if dev.tp > 1 else "")
    how = (f"{mem_util:.2f} × ({m:.1f} GiB − weights − {workspace_gib:.1f} GiB workspace)" if mem_mode == "free"
           else f"{mem_util:.2f} × {m:.1f} GiB − {workspace_gib:.1f} GiB workspace")
    if w_gib > room:
        return (f"does not fit: weights need {w_gib:.1f} GiB per GPU but only {room:.1f} GiB is usable "
                f"({how.replace(' − weights', '')}) on {where}")
    return (f"does not fit: no room for one {context_tokens:,}-token sequence: it needs "
            f"{k_s / GIB:.2f} GiB of KV per GPU, {max(0.0, pool):.2f} GiB left after "
            f"{w_gib:.1f} GiB of weights ({how}) on {where}")


def memory_plan(model: ModelSpec, dev: Device, *, bytes_per_weight: float, kv_bytes: float,
                context_tokens: int, mem_util: float, mem_mode: str, workspace_gib: float,
                max_batch: int) -> MemoryPlan:
    """Weights, KV pool and concurrency limit of one replica; ``fits`` False with a reason when it cannot hold
    the weights or a single sequence of ``context_tokens``."""
    tp, dp = dev.tp, dev.dp
    w_gib = weight_bytes_per_gpu(model, bytes_per_weight, tp, dp) / GIB
    m = dev.mem_gib
    if mem_mode == "free":
        usable = m
        pool = mem_util * (m - w_gib - workspace_gib)
    else:
        usable = mem_util * m
        pool = usable - w_gib - workspace_gib
    k_t = kv_bytes_per_token(model, kv_bytes, tp)
    k_s = kv_bytes_per_sequence(model, kv_bytes, tp, context_tokens)
    pool_b = max(0.0, pool) * GIB
    cap_tokens = int(pool_b // k_t) * dp
    kv_conc = int(pool_b // k_s) * dp
    max_conc = min(kv_conc, max_batch * dp)
    room = usable - workspace_gib if mem_mode == "total" else m - workspace_gib
    reason = None
    if w_gib > room or kv_conc < 1:   # worded only when it does not fit (the options stage asks thousands of times)
        reason = _no_fit(dev, w_gib, room, k_s, pool, context_tokens, mem_util, mem_mode, workspace_gib)
    return MemoryPlan(weights_gib_per_gpu=w_gib, usable_gib=usable, kv_pool_gib=pool,
                      kv_bytes_per_token_per_gpu=k_t, kv_bytes_per_sequence=k_s,
                      kv_capacity_tokens=cap_tokens if reason is None else max(cap_tokens, 0),
                      kv_limited_concurrency=max(kv_conc, 0), max_concurrency=max(max_conc, 0) if reason is None else 0,
                      fits=reason is None, reason=reason)


def paged_concurrency(model: ModelSpec, kv_bytes: float, tp: int, pool_gib: float, prompt_tokens: int,
                      output_tokens: int) -> int:
    """Sequences one paged KV pool (vLLM, SGLang, TensorRT-LLM allocate blocks as tokens arrive) holds at once.

    A sequence's live context runs from I to I + O while it decodes, I + O/2 on average, uniform with variance
    O²/12. Admitting B sequences, the live tokens sum to B·(I + O/2) with standard deviation O·√(B/12); the
    engine preempts (recomputes) a sequence when the sum outgrows the pool. We admit the largest B whose sum
    stays within the pool one standard deviation above its mean::

        B·k_s(I + O/2) + k_t·O·√(B/12) <= F    →   √B = (−β + √(β² + 4·k̄·F)) / (2·k̄),  β = k_t·O/√12

    (k̄ = k_s(I + O/2) bytes, k_t bytes per token over all layers, F the pool), and never fewer than
    ``floor(F / k_s(I + O))`` (every sequence at its full context fits: no preemption at all). Preemptions
    beyond the margin are not charged separately: the margin stands in for them.
    """
    pool = max(0.0, pool_gib) * GIB
    k_mean = kv_bytes_per_sequence(model, kv_bytes, tp, max(1, int(round(prompt_tokens + output_tokens / 2.0))))
    k_tok = kv_bytes_per_token(model, kv_bytes, tp)
    beta = k_tok * output_tokens / math.sqrt(12.0)
    root = (-beta + math.sqrt(beta * beta + 4.0 * k_mean * pool)) / (2.0 * k_mean)
    k_full = kv_bytes_per_sequence(model, kv_bytes, tp, prompt_tokens + output_tokens)
    return max(int(root * root), int(pool // k_full))  # full reservation never preempts: never fewer
