"""Time of one engine step (a forward pass over a batch), as a per-operator roofline. Vectorised over batches.

One step carries ``B`` decode tokens (one per running sequence, mean context ``c``) and ``T`` prefill tokens
(chunked prefill mixes them into the same pass; they attend to ``c_p`` earlier tokens on average). Per GPU of
a TP group of ``tp`` (all times in seconds, bytes in bytes, FLOP in FLOP):

    N          = B + T                                        tokens in the pass
    experts    E_t(N) = E·(1 − (1 − k/E)^N)                  routed experts touched per MoE layer
    weights    Q_w = b_w·[P_fix + L_moe·p_e·E_t(N)] / tp     bytes read: everything but the input embedding;
                                                               p_e = 3·h·I_moe, P_fix = attention, norms,
                                                               dense MLPs, shared experts, routers, LM head
    GEMM FLOP  F_g = [2·(P_act − P_ek)·N + 2·V·h·B] / tp      P_act = active params without embeddings;
                                                               LM head only for tokens that sample
               F_e = 2·P_ek·N / tp                            P_ek = k routed experts' params (MoE)
    KV bytes   Q_kv = B·(r_s(c) + s_lin)                       (``perf_memory``, sliding windows applied; the
                                                               linear layers' state is read and written back;
                                                               DSA: the picked tokens' latent, every indexer key)
    attn FLOP  F_a = [B·c_eff·a_dec + T·c_p·a_pf]·L / tp      a = n_q·(2·d_qk + 2·d_v) per context token;
                                                               MLA decode runs on the latent (absorbed);
                                                               c_eff, c_p: mean context over all L layers
                                                               (windows cap it, linear-attention layers 0,
                                                               Gemma 4's full layers weighted by d_g/d,
                                                               DSA attends to min(c, K_s) picked tokens)
               + [B·c + T·c_p]·a_idx·L / tp                   DSA indexer: a_idx = 2·n_i·d_i per context
                                                               token, every token scored (charged at the
                                                               attention rate, though its kernel is FP8)
    GEMMs      t_g = smax(Q_w / (BW·η_bw), F_g / (peak·η_c) + F_e / (peak·η_c·η_moe))
                                                              (the experts' part of Q_w over BW·η_bw·ρ on the
                                                              weight-only INT4 path of a group-scaled INT4
                                                              checkpoint: ρ = the engine's ``wna16_moe_read``,
                                                              0.28 on vLLM, 1 elsewhere)
    attention  t_a = smax(Q_kv / (BW·η_bw), F_a / (peak_bf16·η_attn))
    smax(a, b) = (a^p + b^p)^(1/p)                            smooth roofline, p = ``roofline_p`` (2);
                                                               p → ∞ is the plain max
    all-reduce t_c = [tp > 1]·2·L·( t_AR + 2·(tp−1)/tp · N·h·2 / (link·η_link) )   ring, BF16 activations
                                                               (η_pcie instead of η_link over PCIe)
    step       t   = t_g + t_a + t_c + L·t_layer + L_moe·t_moe_layer + L_dsa·t_sparse_layer + t_step + t_seq·B/dp
                     + [T > 0]·L·t_pf                         L_dsa: layers with a DSA indexer of their own
                                                               (``ModelSpec.index_layers``; 0 without DSA)
                                                               t_seq: host time per running sequence on one
                                                               rank's scheduler (bookkeeping, sampling, output);
                                                               t_pf: per layer of a step that carries prefill
                                                               (a pass outside the decode CUDA graphs)

``η`` are the calibration's efficiencies times the engine's and the GPU's ``speed`` (capped at 1), ``peak`` is the
precision's GEMM peak (``perf_device``), ``link`` NVLink (one direction) or PCIe per GPU.
GEMMs and attention are separate kernels, so their times add; each is bounded by its own roofline. The
smooth maximum charges the transition region, where a kernel is neither purely bandwidth- nor compute-bound
(p = 2 adds 41 % when both sides are equal, 12 % at a 2:1 ratio, 0.5 % at 10:1); it never goes below the
plain roofline, so bandwidth and compute ceilings still hold.

An engine that runs a prefill chunk as a forward pass of its own (SGLang without ``--enable-mixed-chunk``:
``EngineFactors.separate_prefill``) pays, for a step with B > 0 decodes and a chunk of T tokens, the decode step and
the chunk's own pass, t(B, 0) + t(0, T), each with its fixed costs and weight read (at least the mixed t(B, T)).
The same arithmetic in coefficient form, computed once per case for the fixed point: ``planner.perf.step_coef``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from planner.catalog.params import (
    attention_params_per_layer, attention_shape, dense_mlp_params, expert_params, has_global_shape, layer_counts,
    moe_fixed_params, norm_params_per_layer)
from planner.catalog.records import ModelSpec
from planner.perf.calibration import Calibration, EngineFactors
from planner.perf.device import INT4_PATH, Device
from planner.perf.memory import kv_read_bytes_per_sequence, linear_layers, state_bytes_per_sequence, window_layers


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a model the step time needs, computed once per model."""

    layers: int
    hidden: int
    vocab: int
    p_fixed: float          # params read every step regardless of routing (excl. input embedding)
    p_expert: float         # params of one routed expert, summed over the MoE layers
    n_experts: int
    k_experts: int
    p_active_body: float    # params one token multiplies (no embedding, no LM head)
    p_active_experts: float  # ... of which in its k routed experts
    lm_head: float          # V·h
    attn_dec: float         # attention FLOP per (token × context token × layer), decode
    attn_pf: float          # same, prefill
    q_heads: int
    moe_layers: int = 0
    index_flops: float = 0.0  # DSA indexer FLOP per (token × context token × layer): 2·n_i·d_i·L_idx/L


@functools.lru_cache(maxsize=512)
def model_shape(m: ModelSpec) -> ModelShape:
    """Split the parameters into what is streamed and what is multiplied per token."""
    h = m.hidden_size
    dense_layers, moe_layers = layer_counts(m)
    lm_head = float(m.vocab_size * h)
    per_layer = attention_params_per_layer(m) + norm_params_per_layer(m)
    router_shared = 0.0
    p_e = 0.0
    if m.is_moe:
        p_e = float(expert_params(m))
        router_shared = moe_layers * moe_fixed_params(m)
    fixed = m.layers * per_layer + dense_layers * dense_mlp_params(m) + router_shared + h + lm_head
    active_body = fixed - lm_head - h + moe_layers * m.experts_per_token * p_e
    if m.attention == "mla":
        d_qk_dec, d_v_dec = m.kv_lora_rank + m.qk_rope_head_dim, m.kv_lora_rank
        d_qk_pf, d_v_pf = m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim
    else:   # values may be narrower than keys (MiMo-V2-Flash's v_head_dim)
        _, d_qk_dec, d_v_dec = attention_shape(m)
        d_qk_pf, d_v_pf = d_qk_dec, d_v_dec
    return ModelShape(
        layers=m.layers, hidden=h, vocab=m.vocab_size, p_fixed=fixed, p_expert=moe_layers * p_e,
        n_experts=m.n_routed_experts, k_experts=m.experts_per_token, p_active_body=active_body,
        p_active_experts=moe_layers * m.experts_per_token * p_e,
        lm_head=lm_head, attn_dec=m.num_heads * (2.0 * d_qk_dec + 2.0 * d_v_dec),
        attn_pf=m.num_heads * (2.0 * d_qk_pf + 2.0 * d_v_pf), q_heads=m.num_heads, moe_layers=moe_layers,
        index_flops=2.0 * m.index_n_heads * m.index_head_dim * m.index_layers / m.layers)


def experts_touched(shape: ModelShape, tokens: np.ndarray) -> np.ndarray:
    """Expected distinct routed experts per MoE layer for ``tokens`` tokens: E·(1 − (1 − k/E)^N)."""
    if shape.n_experts == 0:
        return np.zeros_like(tokens, dtype=float)
    e, k = shape.n_experts, shape.k_experts
    return e * (1.0 - (1.0 - k / e) ** np.asarray(tokens, dtype=float))


@dataclass(frozen=True)
class StepContext:
    """Everything fixed for one (model, device, precision, kv dtype, engine, calibration) case."""

    model: ModelSpec
    shape: ModelShape
    dev: Device
    bytes_per_weight: float
    kv_bytes: float
    eng: EngineFactors
    bw_eff: float        # BW·η_bw·speed, bytes/s
    exp_bw_eff: float    # the same for the routed experts' weights: × ρ on the WNA16 path, else equal
    gemm_eff: float      # peak·η_c·speed, FLOP/s
    moe_eff: float       # gemm_eff·η_moe
    attn_eff: float      # peak_bf16·η_attn·speed, FLOP/s
    t_layers_s: float    # fixed per-layer time of every step: L·t_layer + L_moe·t_moe_layer + L_dsa·t_sparse_layer
    t_step_s: float
    t_pf_s: float        # fixed time of a step that carries prefill tokens: L·t_prefill_layer
    t_seq_s: float       # host time per running sequence per step (one attention rank's scheduler)
    p: float             # smooth-roofline exponent
    t_ar_s: float
    link_eff: float      # link·η_link, bytes/s


def step_context(model: ModelSpec, dev: Device, *, bytes_per_weight: float, kv_bytes: float,
                 cal: Calibration, eng: EngineFactors) -> StepContext:
    """Pre-multiply the constants so that :func:`step_time` is a handful of array operations."""
    eta_c = getattr(cal, dev.eta_key)
    speed = eng.speed * cal.gpu_speed.get(dev.gpu_id, 1.0)
    t_ar = {"nvlink": eng.t_ar_us if eng.t_ar_us is not None else cal.t_ar_nvlink_us,
            "network": cal.t_ar_network_us}.get(dev.link_kind, cal.t_ar_pcie_us)
    shape = model_shape(model)
    bw_eff = dev.bw_gbps * 1e9 * min(1.0, cal.eta_bw * speed)
    wna16 = model.is_moe and dev.compute_path == INT4_PATH and model.weight_only_4bit == "wna16"
    t_layer_us = cal.t_layer_us if eng.t_layer_us is None else eng.t_layer_us
    return StepContext(
        model=model, shape=shape, dev=dev, bytes_per_weight=bytes_per_weight, kv_bytes=kv_bytes,
        eng=eng, bw_eff=bw_eff, exp_bw_eff=bw_eff * (eng.wna16_moe_read if wna16 else 1.0),
        gemm_eff=dev.peak_tflops * 1e12 * min(1.0, eta_c * speed),
        moe_eff=dev.peak_tflops * 1e12 * min(1.0, eta_c * speed * cal.eta_moe * eng.moe_speed),
        attn_eff=dev.peak_bf16_tflops * 1e12 * min(1.0, cal.eta_attn * speed),
        p=cal.roofline_p, t_step_s=eng.t_step_ms * 1e-3, t_seq_s=eng.t_seq_us * 1e-6, t_ar_s=t_ar * 1e-6,
        t_layers_s=(shape.layers * t_layer_us + shape.moe_layers * eng.t_moe_layer_us
                    + model.index_layers * eng.t_sparse_layer_us) * 1e-6,
        t_pf_s=model.layers * eng.t_prefill_layer_us * 1e-6,
        link_eff=dev.link_gbps * 1e9 * (cal.eta_pcie if dev.link_kind == "pcie" else cal.eta_link))


def smooth_max(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    """(a^p + b^p)^(1/p): the plain maximum as p → ∞, never below it."""
    if not math.isfinite(p):
        return np.maximum(a, b)
    hi = np.maximum(np.maximum(a, b), 1e-300)
    return hi * ((a / hi) ** p + (b / hi) ** p) ** (1.0 / p)


def effective_context(model: ModelSpec, context: float, full_weight: float = 1.0) -> float:
    """Mean attended context per layer, over all L layers: sliding-window layers attend to at most W tokens,
    linear-attention layers to none (their per-token state update is negligible next to the GEMMs), a DSA
    model's layers to the ``sparse_attention_topk`` tokens its indexer picks (the indexer itself is charged
    apart: it scores every token, ``ModelShape.index_flops``). ``full_weight`` scales the full-attention layers'
    share (Gemma 4's d_g / d, :func:`attention_flop_per_token`)."""
    if model.sparse_mla:
        context = min(context, model.sparse_attention_topk)
    l_sw, l_lin = window_layers(model), linear_layers(model) + model.attention_free_layers
    if not l_sw and not l_lin and full_weight == 1.0:
        return context
    full = max(0, model.layers - l_sw - l_lin) * full_weight
    return (full * context + l_sw * min(context, model.sliding_window or context)) / model.layers


def attention_flop_per_token(ctx: StepContext, context: float, per_context_token: float) -> float:
    """Attention FLOP of one token in one layer at ``context`` tokens of context: the attended context times
    ``per_context_token`` (``ModelShape.attn_dec`` or ``attn_pf``), plus a DSA model's indexer, which scores every
    token of the context. Where the full-attention layers have a head shape of their own (Gemma 4: d_g), their
    share of the attended context is weighted by d_g / d, ``per_context_token`` being the sliding layers' rate."""
    m = ctx.model
    weight = (m.global_head_dim or m.head_dim) / m.head_dim if has_global_shape(m) else 1.0
    return effective_context(m, context, weight) * per_context_token + context * ctx.shape.index_flops


def step_time(ctx: StepContext, decode_seqs, prefill_tokens, decode_context: float,
              prefill_context: float, mixed: bool = False, rank_prefill=None) -> dict[str, np.ndarray]:
    """Seconds of one step, with every term of the formula above (arrays broadcast together).

    ``decode_seqs`` and ``prefill_tokens`` are the replica's totals; with ``dp`` attention ranks each rank
    runs 1/dp of them (balanced), and the routed experts see all of them. An engine that runs a prefill chunk
    as a forward pass of its own (``EngineFactors.separate_prefill``) takes, for a step with both, the decode
    step plus the chunk's own pass (``τ(b, 0) + τ(0, t)``, each with its fixed costs and weight read), never
    less than the mixed step; ``mixed=True`` gives the mixed step whatever the engine.

    ``rank_prefill``: the prefill tokens of the busiest attention rank, where the ranks do not share the chunk
    evenly (default ``prefill_tokens / dp``, balanced). A rank's own work (its dense GEMMs, attention,
    all-reduces, its GPUs' share of the all-to-all) is done by every rank at once and the step waits for the
    busiest (the experts' all-to-all joins the ranks in every MoE layer), so those terms take its tokens; the
    experts' GEMMs and weight reads see every rank's tokens, the replica's total. Decodes stay balanced (b/dp).
    """
    s, tp, dp, ep = ctx.shape, ctx.dev.tp, ctx.dev.dp, ctx.dev.ep
    gpus = tp * dp
    b = np.asarray(decode_seqs, dtype=float)
    t = np.asarray(prefill_tokens, dtype=float)
    n = b + t
    t_r = t / dp if rank_prefill is None else np.asarray(rank_prefill, dtype=float)   # the busiest rank's
    b_r = b / dp
    n_r = b_r + t_r   # per attention rank (the busiest)
    t_w = ctx.bytes_per_weight * (s.p_fixed / tp / ctx.bw_eff + s.p_expert * experts_touched(s, n) / gpus
                                  / ctx.exp_bw_eff)
    t_gc = ((2.0 * (s.p_active_body - s.p_active_experts) * n_r + 2.0 * s.lm_head * b_r) / tp / ctx.gemm_eff
            + 2.0 * s.p_active_experts * n / gpus / ctx.moe_eff)
    seq_kv = (kv_read_bytes_per_sequence(ctx.model, ctx.kv_bytes, tp, max(1, int(round(decode_context))))
              + state_bytes_per_sequence(ctx.model, tp))
    t_kv = b_r * seq_kv / ctx.bw_eff
    heads_tp = min(tp, s.q_heads)
    # attention FLOP per layer of one decode token and of one prefill token (the DSA indexer's included)
    f_dec = attention_flop_per_token(ctx, decode_context, s.attn_dec)
    f_pf = attention_flop_per_token(ctx, prefill_context, s.attn_pf)
    t_ac = (b_r * f_dec + t_r * f_pf) * s.layers / heads_tp / ctx.attn_eff
    t_comm = np.zeros_like(n)
    moe_layers = s.moe_layers
    if tp > 1:  # attention output all-reduce in every layer; the MLP one too where the MLP is tensor-parallel
        ar_layers = s.layers + (s.layers - moe_layers if (dp > 1 or ep > 1) else s.layers)
        t_comm = t_comm + ar_layers * (ctx.t_ar_s + 2.0 * (tp - 1) / tp * n_r * s.hidden * 2.0 / ctx.link_eff)
    if gpus > 1 and (dp > 1 or ep > 1) and moe_layers:
        # all-to-all dispatch + combine: each GPU sends its tokens' k expert copies, (gpus-1)/gpus leave it
        a2a_bytes = 2.0 * n_r / tp * s.k_experts * s.hidden * 2.0 * (gpus - 1) / gpus
        t_comm = t_comm + moe_layers * (2.0 * ctx.t_ar_s + a2a_bytes / ctx.link_eff)
    t_gemm = smooth_max(t_w, t_gc, ctx.p)
    t_attn = smooth_max(t_kv, t_ac, ctx.p)
    fixed = ctx.t_layers_s + ctx.t_step_s + ctx.t_seq_s * b_r + ctx.t_pf_s * (t > 0)
    total = t_gemm + t_attn + t_comm + fixed
    # prefill tokens are compute-bound: the step is never shorter than its decode part plus the prefill
    # tokens at full compute (the smooth maximum's knee would otherwise hide them under the weight read)
    if np.any(t > 0):
        dec = step_time(ctx, b, np.zeros_like(t), decode_context, prefill_context)
        rank_tok = (2.0 * (s.p_active_body - s.p_active_experts) / tp) / ctx.gemm_eff \
            + f_pf * s.layers / heads_tp / ctx.attn_eff           # per prefill token on the busiest rank
        moe_tok = 2.0 * s.p_active_experts / gpus / ctx.moe_eff   # per prefill token of the replica
        total = np.maximum(total, dec["total"] + ctx.t_pf_s * (t > 0) + t_r * rank_tok + t * moe_tok
                           + (t_comm - dec["allreduce"]))
        if ctx.eng.separate_prefill and not mixed:
            alone = step_time(ctx, np.zeros_like(b), t, decode_context, prefill_context, mixed=True,
                              rank_prefill=rank_prefill)["total"]
            total = np.where((b > 0) & (t > 0), np.maximum(total, dec["total"] + alone), total)
    return {"total": total, "weights_read": t_w, "gemm_compute": t_gc, "kv_read": t_kv,
            "attention_compute": t_ac, "allreduce": t_comm, "overhead": np.full_like(total, fixed)}


def prefill_time(ctx: StepContext, prompt_tokens: int, decode_seqs=0.0, extra_tokens=0.0,
                 decode_context: float = 0.0) -> np.ndarray:
    """Seconds to prefill ``prompt_tokens`` (+ ``extra_tokens`` of other prompts in the same steps) in chunks
    of the engine's budget, while ``decode_seqs`` sequences keep decoding in those steps."""
    b = np.asarray(decode_seqs, dtype=float)
    total_tokens = prompt_tokens + np.asarray(extra_tokens, dtype=float)
    budget = np.maximum(ctx.eng.chunk_tokens - b, 1.0)
    chunks = np.maximum(1.0, np.ceil(total_tokens / budget))
    step = step_time(ctx, b, total_tokens / chunks, decode_context, prompt_tokens / 2.0)
    return chunks * step["total"]
