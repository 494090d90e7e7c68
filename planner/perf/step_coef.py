"""The step time of :mod:`planner.perf.roofline` in coefficient form: what does not depend on the batch computed
once per case, so that the queueing fixed point evaluates a step in a handful of array operations.

``step_time(ctx, b, t, c, c_p)["total"]`` and ``eval_step(step_coef(ctx, c, c_p), b, t)`` are the same arithmetic
(``tests/test_perf_memory.py`` checks them against each other, a separate prefill pass included); a stacked batch
(:func:`stack_coefs`) carries one entry per evaluated point in every field.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from planner.perf.memory import kv_read_bytes_per_sequence, state_bytes_per_sequence
from planner.perf.roofline import StepContext, attention_flop_per_token


class StepCoef(NamedTuple):
    """The coefficients of :func:`step_time` that do not depend on ``b`` and ``t`` (see :func:`step_coef`).

    Every field is a float for one case or an array (one entry per evaluated point) for a stacked batch of
    cases (:func:`stack_coefs`); :func:`eval_step` computes the same arithmetic either way."""

    w_fixed: Any    # s: weights read every step
    w_exp_e: Any    # s: E routed experts' weights (0 for a dense model)
    keep: Any       # 1 − k/E (1 for a dense model)
    g_n: Any        # s per token in the pass: GEMM compute (g_r of it each rank's own, the rest the experts')
    g_r: Any        # s per token: the dense GEMMs (attention projections, dense MLPs), work of the token's rank
    g_b: Any        # s per decode token: LM head
    kv_b: Any       # s per decoding sequence: KV (and linear state) read
    a_b: Any        # s per decoding sequence: attention compute
    a_t: Any        # s per prefill token: attention compute
    c_n: Any        # s per token: collectives' bandwidth term
    fixed: Any      # s per step: per-layer launches, step overhead, collectives' latency
    c0: Any         # s per step: the collectives' latency alone (part of ``fixed``)
    seq: Any        # s per decoding sequence: host bookkeeping
    t_pf: Any       # s per step that carries prefill
    sep: Any        # 1.0 where a prefill chunk is a forward pass of its own (EngineFactors.separate_prefill)
    p: float        # smooth-roofline exponent (one value per batch)


def step_coef(ctx: StepContext, decode_context: float, prefill_context: float) -> StepCoef:
    """The coefficients of :func:`step_time` at these contexts, computed once per case."""
    s, tp, dp, ep = ctx.shape, ctx.dev.tp, ctx.dev.dp, ctx.dev.ep
    gpus = tp * dp
    w_fixed = ctx.bytes_per_weight * s.p_fixed / tp / ctx.bw_eff
    w_exp = ctx.bytes_per_weight * s.p_expert / gpus / ctx.exp_bw_eff
    e, k = s.n_experts, s.k_experts
    keep = (1.0 - k / e) if e else 1.0
    g_r = 2.0 * (s.p_active_body - s.p_active_experts) / dp / tp / ctx.gemm_eff
    g_n = g_r + 2.0 * s.p_active_experts / gpus / ctx.moe_eff
    g_b = 2.0 * s.lm_head / dp / tp / ctx.gemm_eff
    seq_kv = (kv_read_bytes_per_sequence(ctx.model, ctx.kv_bytes, tp, max(1, int(round(decode_context))))
              + state_bytes_per_sequence(ctx.model, tp))
    kv_b = seq_kv / dp / ctx.bw_eff
    heads_tp = min(tp, s.q_heads)
    a_b = attention_flop_per_token(ctx, decode_context, s.attn_dec) * s.layers / heads_tp / ctx.attn_eff / dp
    a_t = attention_flop_per_token(ctx, prefill_context, s.attn_pf) * s.layers / heads_tp / ctx.attn_eff / dp
    c0, c_n = 0.0, 0.0
    if tp > 1:
        ar_layers = s.layers + (s.layers - s.moe_layers if (dp > 1 or ep > 1) else s.layers)
        c0 += ar_layers * ctx.t_ar_s
        c_n += ar_layers * 2.0 * (tp - 1) / tp / dp * s.hidden * 2.0 / ctx.link_eff
    if gpus > 1 and (dp > 1 or ep > 1) and s.moe_layers:
        c0 += s.moe_layers * 2.0 * ctx.t_ar_s
        c_n += s.moe_layers * 2.0 / gpus * k * s.hidden * 2.0 * (gpus - 1) / gpus / ctx.link_eff
    return StepCoef(w_fixed=w_fixed, w_exp_e=(w_exp * e if e else 0.0), keep=keep, g_n=g_n, g_r=g_r, g_b=g_b,
                    kv_b=kv_b, a_b=a_b, a_t=a_t, c_n=c_n, fixed=ctx.t_layers_s + ctx.t_step_s + c0, c0=c0,
                    seq=ctx.t_seq_s / dp, t_pf=ctx.t_pf_s, sep=1.0 if ctx.eng.separate_prefill else 0.0,
                    p=float(ctx.p))


def stack_coefs(coefs: Sequence[StepCoef], counts: Sequence[int]) -> StepCoef:
    """One StepCoef whose fields are arrays: ``coefs[j]`` repeated ``counts[j]`` times, in order (all ``p``
    equal)."""
    ps = {c.p for c in coefs}
    if len(ps) != 1:
        raise ValueError(f"stack_coefs: one smooth-roofline exponent per batch, got {sorted(ps)}")
    reps = np.asarray(counts, dtype=np.intp)
    cols = {f: np.repeat(np.array([getattr(c, f) for c in coefs], dtype=float), reps)
            for f in StepCoef._fields if f != "p"}
    return StepCoef(**cols, p=ps.pop())


def _smax(a, b, p: float):
    if p == 2.0:  # the default: one ufunc (hypot also never overflows a·a)
        return np.hypot(a, b)
    if math.isfinite(p):
        hi = np.maximum(np.maximum(a, b), 1e-300)
        return hi * ((a / hi) ** p + (b / hi) ** p) ** (1.0 / p)
    return np.maximum(a, b)


def _weights(c: StepCoef, n):
    """Seconds to read the weights a pass over ``n`` tokens touches: the fixed part, and the routed experts
    hit at least once, ``E·(1 − (1 − k/E)^n)`` of them (a dense model: the fixed part alone)."""
    if isinstance(c.w_exp_e, float) and c.w_exp_e == 0.0:
        return c.w_fixed
    return c.w_fixed + c.w_exp_e * (1.0 - c.keep ** n)


def _pair(c: StepCoef, b, t, t_rank=None):
    """(decode-only step, step with ``t`` prefill tokens) for ``b`` decoding sequences; see :func:`eval_step`.

    The step with a chunk is ``S(w(b + t), g_n·b + g_b·b + g_r·u + (g_n − g_r)·t) + S(kv_b·b, a_b·b + a_t·u) +
    c_n·(b + u) + fixed + seq·b + t_pf`` (S the smooth maximum, w the weights a pass over that many tokens touches),
    and never less than the decode step plus ``t_pf`` and the chunk at full compute, ``u·(g_r + a_t + c_n) +
    t·(g_n − g_r)``. ``u`` = ``t_rank``, the chunk's tokens as every rank would carry if each carried the busiest
    rank's (``dp`` × that rank's; :func:`step_time`'s ``rank_prefill``): a rank's own work (dense GEMMs, attention,
    collectives) is the busiest rank's, the experts' the replica's; by default ``u = t`` (balanced ranks).
    Where the chunk is a pass of its own (``sep``) and ``b > 0``: the decode step plus that pass, the mixed
    formula's step at (0, t), at least the mixed step (:func:`step_time`)."""
    u = t if t_rank is None else t_rank
    decode, total = _mixed(c, b, t, u)
    sep = c.sep if isinstance(c.sep, float) else np.any(c.sep)   # (np.any on one float costs more than the test)
    if not sep:   # no case of this (stacked) batch runs a separate pass: the mixed step only
        return decode, total
    # the chunk's own pass: the mixed step at b = 0, whose decode part is the weight read and the fixed costs
    pf = c.t_pf * (t > 0)
    work = u * (c.g_r + c.a_t + c.c_n) + t * (c.g_n - c.g_r)
    alone = _smax(_weights(c, t), c.g_r * u + (c.g_n - c.g_r) * t, c.p) + c.a_t * u + c.c_n * u + pf + c.fixed
    alone = np.maximum(alone, c.w_fixed + c.fixed + pf + work)
    return decode, np.where((np.asarray(c.sep) > 0) & (b > 0) & (t > 0), np.maximum(total, decode + alone), total)


def _mixed(c: StepCoef, b, t, u):
    """:func:`_pair` with the chunk inside the decode step (every engine's step but a separate pass's)."""
    ab = c.a_b * b
    t_kv = c.kv_b * b
    gbb = (c.g_n + c.g_b) * b
    per_b = (c.c_n + c.seq) * b + c.fixed        # collectives' bandwidth on the decodes, host cost, fixed costs
    pf = c.t_pf * (t > 0)
    decode = _smax(_weights(c, b), gbb, c.p) + _smax(t_kv, ab, c.p) + per_b
    total = (_smax(_weights(c, b + t), gbb + c.g_r * u + (c.g_n - c.g_r) * t, c.p) + _smax(t_kv, ab + c.a_t * u, c.p)
             + (c.c_n * u + pf + per_b))
    # prefill tokens are compute-bound: never hidden under the decode part's weight and KV reads
    return decode, np.maximum(total, decode + (pf + u * (c.g_r + c.a_t + c.c_n) + t * (c.g_n - c.g_r)))


def decode_terms(c: StepCoef, b) -> dict[str, np.ndarray]:
    """The terms of a decode-only step of ``b`` sequences from the coefficients: what :func:`step_time`
    returns at ``t = 0`` (to rounding), for one case or, with a stacked batch's coefficients, for every
    point of the stack in one pass."""
    b = np.asarray(b, dtype=float)
    t_w = np.zeros_like(b) + _weights(c, b)
    gemm = (c.g_n + c.g_b) * b
    kv = c.kv_b * b
    attn = c.a_b * b
    allreduce = c.c0 + c.c_n * b
    overhead = (c.fixed - c.c0) + c.seq * b
    total = _smax(t_w, gemm, c.p) + _smax(kv, attn, c.p) + allreduce + overhead
    return {"total": total, "weights_read": t_w, "gemm_compute": gemm, "kv_read": kv, "attention_compute": attn,
            "allreduce": allreduce, "overhead": overhead}


def eval_step(c: StepCoef, b, t):
    """Seconds of a step with ``b`` decoding sequences and ``t`` prefill tokens: the total of
    :func:`step_time`, term for term, from the precomputed coefficients (which broadcast with ``b``, ``t``)."""
    return _pair(c, np.asarray(b, dtype=float), np.asarray(t, dtype=float))[1]


class CoefStep:
    """``(b, t) -> seconds`` from precomputed coefficients: one case (scalar fields) or a stacked batch
    (:func:`stack_coefs`, point ``j`` uses coefficients ``j``); ``take(idx)`` restricts a batch to the points
    ``idx`` (the fixed point drops the points it has solved), ``pair`` gives the decode-only and the
    with-a-chunk step of the same batches at once."""

    def __init__(self, coef: StepCoef):
        self.coef = coef

    def __call__(self, b, t):
        return eval_step(self.coef, b, t)

    def pair(self, b, t, t_rank=None):
        """(step of ``b`` decodes alone, step of ``b`` decodes and ``t`` prefill tokens): :func:`eval_step` at
        ``(b, 0)`` and ``(b, t)``, sharing the decode part (at t = 0 the step is its decode part); ``t_rank`` as
        in :func:`_pair` (default ``t``: the ranks share the chunk evenly)."""
        return _pair(self.coef, b, t, t_rank)

    def take(self, idx: np.ndarray) -> "CoefStep":
        return CoefStep(StepCoef(*(v[idx] if isinstance(v, np.ndarray) else v for v in self.coef)))


def step_fn(ctx: StepContext, decode_context: float, prefill_context: float):
    """``(b, t) -> seconds``: the total of :func:`step_time` with every coefficient that does not depend on
    ``b`` and ``t`` computed once (the queueing fixed point evaluates it dozens of times per estimate)."""
    return CoefStep(step_coef(ctx, decode_context, prefill_context))
