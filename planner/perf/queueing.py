"""Serving one replica under load: closed loop (benchmark clients) and open loop (Poisson), one engine model.

This module is longer than ~400 lines because the engine model it solves is written out here (~120 lines of docstring).

The engine is a step loop. A step with ``b`` decoding sequences and ``t`` prefill tokens takes
``τ(b, t)`` seconds (``planner.perf.roofline.step_time``, every fixed cost included); one step admits at
most ``K`` tokens (the engine's chunk budget: decodes + prefill chunk). Symbols, per replica:

    I, O      prompt and output tokens of a request;  X  completed requests per second (throughput)
    C         requests in the system: closed-loop clients, or the open-loop mean (Little's law)
    c_max     sequences the KV pool and the engine admit at once (``perf_memory``)
    t_req     fixed per-request latency outside the GPU steps (tokenise, schedule, detokenise, stream)

Steps (all vectorised over C). A share ``q`` of the steps carries a prefill chunk; prompts arrive at rate X and
each takes ``n = ceil(I / (K − b))`` chunks. Prompts that arrive while a step runs share the next chunk step:
with ``λ = a·X·τ̄·n`` chunk arrivals per step (Poisson), a step that carries any carries ``m = λ/(1 − e^−λ)`` of
them on average (the zero-truncated mean; 1 at light load, → λ under load), at most ``(K − b)·n/I`` (the
budget) and at most ``min(C, c_max) − b`` (the requests in service that are not decoding). A chunk step
carries ``m·I/n`` tokens and pays its fixed costs (``t_prefill_layer``, launches) once for the m prompts. So
(with ``r`` attention data-parallel ranks, each with its own
scheduler, read ``K − b/r`` for ``K − b`` and ``X/r`` for the arrivals of one rank; see "Data-parallel ranks"
below for the chunk step and the work)::

    b         = X·(O − 1)·τ̄, at least 1                decoding sequences (Little's law on the decode phase)
    q         = min(1, a·X·n·τ̄/m)                      share of steps that carry another request's chunk
    τ̄ (TPOT)  = (1 − q)·τ(b, 0) + q·τ(b, m·I/n)        the mean step: what a decoding sequence sees per token
              = min(τ(b, 0)/(1 − a·ρ), τ(b, m·I/n))    (solving the two lines above; ρ and a below)

Prefill as a queue (M/D/1 on the prefill work). A chunk step takes ``τ(b, I/n)`` — which the step time
(``planner.perf.roofline``) never lets fall below ``τ(b, 0)`` plus the chunk at full compute: a chunk is
compute-bound, not hidden under the decode step's weight read. The work one prompt adds to the loop is
``S = n·(τ(b, m·I/n) − τ(b, 0))/m``, the prefill path's utilisation ``ρ = X·S``. A new prompt first lands in a
running step (``½·τ̄``), then waits for the prompt work ahead of it (Pollaczek–Khinchine, deterministic
service, finite population: of the ``C_s = min(C, c_max)`` requests in service, ``C_s − 1`` can be ahead; the
clients beyond ``c_max`` wait for a slot, ``W_slot`` below, not in this queue)::

    W_pf = ρ·S / (2·(1 − ρ)) · a  +  κ·(C_s − 1)·S
    a    = (C_s − 1)/C_s closed loop (a client's own request is never ahead of it, nor one waiting for a slot),
           min(1, C) open loop
    closed loop: W_pf ≤ (C_s − 1)·S (no more than the other C_s − 1 prompts can be ahead; near ρ → 1 the
    infinite-population M/D/1 formula would exceed it)
    TTFT = t_req + ½·τ̄ + W_pf + n·τ(b, m·I/n) + W_slot

The second term is the closed loop's own burstiness. Benchmark clients all start together and every
request has the same I and O, so they stay in phase: a prompt arrives together with a share κ of the other
C − 1 prompts and waits, on average, for its place in that burst. Measured TTFT grows about linearly in C
with a slope of 0.05–0.3 prefills per extra client, whatever the cycle length, which the M/D/1 term (∝ ρ,
i.e. ∝ 1/cycle) cannot produce. κ (``phase``, fitted per engine, 0 ≤ κ ≤ ½; ½ = all in phase) is 0 for
Poisson arrivals: the open loop has no phase.

Data-parallel ranks. Each of the ``r`` ranks schedules its own prompts; every step waits for the slowest rank
(the experts' all-to-all joins them). A chunk step is charged as every rank carrying one chunk (the busy case),
so ``S`` (the work one prompt adds to its chunk steps) is shared by the ``r`` ranks' prompts in them: the loop
sees ``S/r`` per prompt (``ρ = X·S/r``, one rank's utilisation), a prompt waits in the M/D/1 queue of its own
rank (service ``S``: ``ρ·S/(2(1 − ρ))``), and the burst term and the closed-loop cap count the ``C_s − 1`` others
spread over the ranks (``S/r`` each). The busy case is the measured side of the choice: charging a chunk step with only
the ranks that have a chunk (``1 + (r − 1)·q_r``, ``q_r`` a rank's chunk share; what the default scheduler does)
put the attention-DP rows' median signed TTFT error in-sample at −23 % (vLLM) and −76 % (TensorRT-LLM), against
+10 % and −27 % charged this way (with the M/D/1 wait's service still ``S/r``), for the same TPOT, and raised the
out-of-family error (TTFT 29.0 → 29.5 %, TPOT 10.8 → 11.4 %; ``python -m planner.perf.report --silicon``,
2026-12-03): these runs' prompts wait longer than one rank's chunk alone explains.

The busy case is the closed loop's: benchmark clients in phase send their prompts together. Poisson prompts (the open
loop, what the planner serves) reach the ranks independently (round-robin), so a chunk step carries chunks on
``k = r·p/(1 − (1 − p)^r)`` ranks on average (each rank has one with probability ``p = 1 − e^−λ``, λ its chunk
arrivals per step; the zero-truncated mean, 1 at light load, → r under load). Such a step is as long as its busiest
rank's own work (dense GEMMs, attention, collectives: one chunk, charged as every rank carrying it) plus the experts'
work on the ``k`` chunks (``CoefStep.pair``'s ``t_rank``; ``roofline.step_time``'s ``rank_prefill``), and its
extra time is shared by those ``k`` prompts: ``S = S_rank/k`` in the mean step (the TPOT). A balance hold (below)
waits for every rank to have a prompt, so the open loop keeps the busy case under it. A prompt's own chunk steps
(its TTFT) and its rank's M/D/1 queue keep the busy case's step: when other ranks' prefills overlap a long prompt's
they lengthen every one of its steps, a tail the mean k does not carry (with k in them too, a 19,100-token prompt's
capacity on 8 H100s as DP 2 read 1.6× the simulator's; as it is, 0.5×). Charged as the busy case throughout, the
open-loop capacity of an attention-DP replica whose TPOT binds was 1.1–2.7× what the simulator
(``planner.perf.simulator``, ranks stepping together) sustains at the same SLOs, now 0.85–1.05×; where the TTFT of
long prompts binds the model stays below the simulator (0.5–0.75×); docs/perf-model.md §4, 2026-12-06.

The attention-DP balance hold (TensorRT-LLM's ``attention_dp_config``: ``enable_balance: true``, ``timeout_iters``
B, ``batching_wait_iters: 0``, as its DeepSeek-R1 serving recipes set them; ``balance`` = B, 0 = no hold). The
scheduler holds context requests until every rank has one, or until a counter that advances every step in which
they do not reaches B (then it releases what waits and starts again; it also releases while a rank decodes
nothing). With prompts spread evenly over the ranks, a window closes after the (r − 1) prompts that follow its
first one, (r − 1)/X later, whose prompts wait (r − 1)/(2X) on average; the counter instead is a clock that ticks
every B steps, whose next tick is B·τ̄/2 away on average. The hold is the nearer of the two::

    W_bal = min((r − 1)/(2X), B·τ̄/2)             (r > 1; 0 on one rank)

added to TTFT (service) and so to the hold; a p-quantile adds 2p·W_bal (uniform over its window). X·W_bal =
min((r − 1)/2, q·B/2) grows with q, so Little's law keeps one root. The DeepSeek attention-DP rows of TensorRT-LLM
were predicted at about a quarter of their measured TTFT without it (signed −35 % out of family, −15 % with it).
With ``r = 1`` this is the single-rank loop above.

Slots. At most ``c_max`` requests are in service. Closed loop: the ``C − c_max`` clients beyond it wait
``W_slot = (C − c_max)/X`` (Little's law on the engine queue). Open loop: an M/D/c queue for the ``c_max`` slots
(half the Erlang-C wait, ``planner.perf.estimate``).

The fixed point. Two equations hold at once: the decode batch sets the step time (``b = X·(O − 1)·τ̄``) and
Little's law on the slots sets the rate, ``min(C, c_max) = X·(TTFT_service + (O − 1)·τ̄)``. Both are solved
exactly by searching over ``q = X·τ̄``, the requests that arrive per step. Given q, the decode batch, the chunk
count, the prompts per chunk step (Poisson rate ``a·q·n/r`` per step) and so ``τ(b, 0)``, the chunk step and
``S`` need neither X nor τ̄; τ̄ then has the closed form ``min(τ(b, 0) + a·q·S, τ_c)`` (``ρ = q·S/τ̄`` at most
0.999, where ``τ(b, 0)/(1 − 0.999·a)`` replaces the first term), and ``X = q/τ̄``. Little's law is one equation
in q, ``g(q) = X·hold − min(C, c_max)``: −C_s as q → 0 and >= 0 once every step is the longest one
(``q = x_hi·τ(b_hi, K)``, ``x_hi = C_s/hold(q → 0)``); regula falsi (Anderson–Björck, :func:`solve`) on that
bracket finds the root to 0.01 % of the load, or a jump of g — the chunk count is an integer — bracketed to 1e-4
of q, in 7–8 evaluations for a 64-load SLO grid (``bench/perf_timing.py``'s cases). (Until 2026-12-03 the search
ran over X, with the step time carried between evaluations and three rounds of ``τ̄ ← τ(b(τ̄))`` per evaluation:
the answer then depended on the path the search took, by up to ±6 % of a capacity and 10 % of a closed-loop rate;
``python -m bench.fixed_point`` measures the shipped search against the root to 1e-9.)

Closed versus open loop. Both share the step time, the chunk budget, S and ρ; they differ only in how
requests arrive. Benchmark clients resubmit on completion, so at most C_s − 1 prompts can be ahead of one (the
(C_s − 1)/C_s factor, over the requests in service) and the excess over c_max queues deterministically; Poisson
users can bunch, so the open loop adds the slot queue's Erlang-C wait and reports a percentile of the wait
(exponential tail). The constants are fitted on closed-loop runs and carry over unchanged to the open loop.

Percentile. The M/D/1 wait has ``P(W > 0) = ρ`` and, approximately, an exponential tail with the conditional
mean ``θ = S/(2(1 − ρ))``: ``W_p = θ·ln(a·ρ/(1 − p))⁺``; the κ burst term is added at its mean. A percentile p ≥ 50 % is reported no lower than the
mean (the distribution is right-skewed; the mean is the floor we certify).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, NamedTuple

import numpy as np

StepFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
ITERATIONS = 24
TOL = 1e-4      # the root: Little's law met to this share of the load
JUMP_X = 1e-4   # a bracket this narrow (relative to q) around a jump of g is settled
SUBSET_MIN = 512   # below this many loads the search evaluates every load each round (frozen ones ignored)
AB_FLOOR = 0.2   # the Anderson-Björck factor's floor: a jump of g (m ~ 0) is not shrunk to nothing
RHO_MAX = 0.999   # the prefill queue's utilisation is capped here (its wait stays finite)
SETTLE_C = 0.98      # settling: Little's law taken 2 % short (a load stopped on a jump of g meets it to ~1.4 %)
SETTLE_TAU = 0.99   # ... and the mean step 1 % short of the lower end's (it grows with q below the root)
SETTLE_FROM = 5   # the round from which the bound is checked: most loads have converged by then, and a check costs time
CORNER_PROBES = 2   # closed loop: points a load's search may take at its prefill queue's corner (solve, "Corner")


@dataclass(frozen=True)
class Loop:
    """What is fixed for one case: request sizes, limits and the per-request latency. For a stacked batch of
    cases (one solve for many), every numeric field may be an array with one entry per point instead."""

    prompt: int
    output: int
    c_max: float          # sequences in service at most
    budget: float         # tokens per step of one attention rank (chunk budget)
    t_req_s: float
    ranks: int = 1        # attention data-parallel ranks: each schedules its own prompts
    phase: float = 0.0    # κ: share of the other clients' prompts that arrive in phase with one (closed loop)
    balance: float = 0.0  # steps a prompt may be held until every rank has one (attention-DP balance; 0 = none)
    closed: bool = True   # closed loop (C clients) or open loop (Poisson, C the mean requests in service)

    def take(self, idx: np.ndarray) -> "Loop":
        """The loop of the points ``idx`` of a stacked batch (scalar fields are shared)."""
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self)
                                if isinstance(getattr(self, f.name), np.ndarray)})


def _take(step: StepFn, idx: np.ndarray) -> StepFn:
    """The step function of the points ``idx``: a stacked batch's step (with ``take``) is sliced; a plain
    function of (b, t) has scalar coefficients and serves any subset as it is."""
    return step.take(idx) if hasattr(step, "take") else step


def _num(v):
    """A loop field as a float (one case) or a float array (one entry per point of a stacked batch)."""
    return np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else float(v)


class _Fixed(NamedTuple):
    """What ``_state`` needs of the loads alone (the same in every round of the fixed point)."""

    conc: np.ndarray
    in_svc: np.ndarray    # min(C, c_max): requests in service
    others: np.ndarray    # a: share of the other requests that can be ahead of one
    b_lo: np.ndarray      # the decode batch's bounds: min(C_s, 1) … max(C_s, 1)
    b_hi: np.ndarray
    ahead: np.ndarray     # C_s − 1, at least 0
    zeros: np.ndarray
    corner: np.ndarray | None     # closed loop: ρ* where the prefill wait stops rising (:func:`_corner`); open: None
    corner_inv: np.ndarray | None   # ... and 1/(1 − a·ρ*)
    busy: bool            # a = 1 at every load (the open loop at C >= 1): the products with it are skipped

    def take(self, idx: np.ndarray) -> "_Fixed":
        return _Fixed(*(None if v is None else v[idx] for v in self[:-1]), self.busy)


def _fixed(loop: Loop, conc: np.ndarray) -> _Fixed:
    in_svc = np.minimum(conc, loop.c_max)
    if loop.closed:  # a client's own previous request is never ahead of it, nor do those waiting for a slot run
        others = np.maximum((in_svc - 1.0) / np.maximum(in_svc, 1.0), 0.0)
    else:            # Poisson: busy with probability ~ the load (one slot), fully once C >= 1
        others = np.minimum(np.maximum(conc, 0.0), 1.0)
    ahead = np.maximum(in_svc - 1.0, 0.0)
    corner = inv = None
    if loop.closed:
        corner = _corner(loop, others, ahead)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / (1.0 - others * corner)
    return _Fixed(conc=conc, in_svc=in_svc, others=others, b_lo=np.minimum(in_svc, 1.0),
                  b_hi=np.maximum(in_svc, 1.0), ahead=ahead, zeros=np.zeros(len(conc)), corner=corner,
                  corner_inv=inv, busy=bool(np.all(others == 1.0)))


def _corner(loop: Loop, others: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """The closed loop's ρ* per load: where the prefill wait stops rising with ρ. Below it ``W_pf = ρ·S_rank·a/(2(1 −
    ρ)) + κ·(C_s − 1)·S`` (``S = S_rank/r``); it reaches its cap ``(C_s − 1)·S`` at ``ρ/(1 − ρ) = K``, ``K = 2·(C_s −
    1)·(1 − κ)/(r·a)``, and ρ itself stops at RHO_MAX: ``ρ* = min(K/(1 + K), RHO_MAX)``. A lone client (a = 0) has no
    queue: inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 2.0 * ahead * (1.0 - _num(loop.phase)) / (_num(loop.ranks) * others)
        return np.where(others > 0.0, np.minimum(k / (1.0 + k), RHO_MAX), np.inf)


def _at(step: StepFn, loop: Loop, q: np.ndarray, fx: _Fixed, full: bool = True):
    """Every term of the loop when ``q = X·τ̄`` requests arrive per step (with ``fx``, the loads' own terms):
    explicit, no rounds. Given q the decode batch ``b = q·(O − 1)`` (Little's law on the decode phase, clipped to
    ``[min(C_s, 1), max(C_s, 1)]``), the chunk count, the prompts per chunk step (their Poisson rate per step is
    ``a·q·n/r``) and so the two step times ``t0``, ``t1`` and the prefill work ``S`` follow without τ̄; the mean
    step then solves ``τ̄ = min(t0/(1 − a·min(q·S/τ̄, 0.999)), t1)``, whose right side falls as τ̄ grows (one
    fixed point)::

        τ̄ = min(t0 + a·q·S, t1)               where  q·S/(t0 + a·q·S) <= 0.999
        τ̄ = min(t0/(1 − 0.999·a), t1)          otherwise (the prefill queue's utilisation at its cap)

    and ``X = q/τ̄``. ``full=False``: only (X, hold) and the closed loop's corner estimate q*, what the root search
    needs (:func:`solve`, "Corner"; None in the open loop)."""
    i, o, r = _num(loop.prompt), _num(loop.output), _num(loop.ranks)
    in_svc, others = fx.in_svc, fx.others
    one_rank = _one_rank(loop)     # skip the exact ·1 and /1 (the common case)
    b, room, n = _chunks(loop, q, fx, one_rank)
    # prompts that share one chunk step: Poisson arrivals λ per step, a step with any carries them all
    # (the zero-truncated mean λ/(1 − e^−λ)), as many as the chunk budget holds
    qa = others * q if one_rank else others * q / r     # one rank's arrivals per step from the others
    neg_lam = np.minimum(-(qa * n), -1e-9)   # others: a lone closed-loop client shares nothing
    # ... and no more than the requests in service that are not decoding (with c_max = 1 nothing is shared)
    cap = np.maximum(np.minimum(room * n / i, in_svc - b), 1.0)
    pack = np.minimum(np.maximum(neg_lam / np.expm1(neg_lam), 1.0), cap)
    chunk = pack * i / n if one_rank else pack * i * r / n   # the busy case: every rank carries a chunk
    pair = getattr(step, "pair", None)
    if pair is not None:   # decode alone, and with a chunk, sharing the decode part (t1 >= t0)
        t0, t1 = pair(b, chunk)
        extra, top = t1 - t0, t1
    else:
        both = step(np.stack((b, b)), np.stack((fx.zeros, chunk)))   # rows: decode only, with a chunk
        t0, t1 = both[0], both[1]
        extra, top = np.maximum(t1 - t0, 0.0), np.maximum(t1, t0)
    s_rank = n * extra / pack   # what one prompt adds to the steps it rides in (on its own rank)
    s_busy = s_rank if one_rank else s_rank / r   # ... spread over the r ranks' prompts that share those steps
    s = s_busy
    if not (one_rank or loop.closed or pair is None):
        # the open loop's mean step: a chunk step carries the chunks of the ranks Poisson prompts reach, on average
        # k = r·p / (1 − (1 − p)^r) of them (each rank has one with probability p = 1 − e^−λ; 1 at light load, r
        # under load), its busiest rank's own work (one chunk) and the experts' work on k, shared by k prompts; a
        # balance hold waits for every rank (k = r). The TTFT keeps the busy case's chunk step (every rank's chunk
        # beside its own: what a prompt meets when others' prefills overlap it, which this mean does not carry)
        s, top = _open_dp_step(step, loop, r, i, n, b, pack, neg_lam, chunk, t0, s, top)
    # τ̄ = (1 − share)·t0 + share·t1 with share = a·X·n·τ̄/(r·m) (other requests' chunks: a decoding sequence's own
    # prefill came before its first token) ⇒ τ̄ = t0/(1 − a·ρ), at most t1 (every step carries a chunk)
    a = 1.0 if fx.busy else others
    qs = q * s
    tau_free = t0 + a * qs
    with np.errstate(divide="ignore", invalid="ignore"):
        capped = qs > RHO_MAX * tau_free
    tau = np.minimum(np.where(capped, t0 / (1.0 - RHO_MAX * a), tau_free), top)
    x = q / tau
    rho = np.minimum(x * s_busy, RHO_MAX)   # (X/r)·S_rank: one rank's prefill queue (the busy case's step)
    # only requests in service queue for prefill: the clients beyond c_max wait for a slot (W_slot), not here
    ahead = fx.ahead
    w_pf = rho * s_rank / (2.0 * (1.0 - rho))   # M/D/1 on the prompt's own rank
    if not fx.busy:
        w_pf = w_pf * others
    if not (isinstance(loop.phase, float) and loop.phase == 0.0):   # the open loop has no phase
        w_pf = w_pf + loop.phase * ahead * s
    if loop.closed:  # finite population: at most the C_s − 1 other admitted prompts can be ahead
        w_pf = np.minimum(w_pf, ahead * s)
    residual = 0.5 * tau if fx.busy else 0.5 * tau * others
    prefill = n * t1
    ttft_svc = loop.t_req_s + residual + w_pf + prefill
    w_bal = fx.zeros
    if not (isinstance(loop.balance, float) and loop.balance == 0.0):
        # held until every rank has a prompt ((r − 1) more arrivals after the first: (r − 1)/(2X) on average) or
        # until the release clock's next tick (every ``balance`` steps: half of that on average)
        with np.errstate(divide="ignore", invalid="ignore"):   # q = 0 (X = 0) at the bracket's end; r = 1
            w_bal = np.where(r > 1.0, np.minimum((r - 1.0) / (2.0 * x), 0.5 * _num(loop.balance) * tau), 0.0)
        ttft_svc = ttft_svc + w_bal
    hold = ttft_svc + (o - 1.0) * tau
    if not full:
        if fx.corner is None:
            return x, hold, None
        with np.errstate(divide="ignore", invalid="ignore"):   # (a lone client's ρ* is inf: q* nan, never inside)
            return x, hold, fx.corner * np.minimum(t0 * fx.corner_inv, top) / s_busy
    share = np.minimum(qa * n / pack, 1.0)
    return dict(x=x, tpot=tau, decode_batch=b, wait_share=rho * others, chunks=n, chunk_share=share,
                step_decode=t0, step_chunk=t1, prefill_work=s, rho=rho, wait_prefill=w_pf, wait_balance=w_bal,
                residual=residual, prefill=prefill, ttft_service=ttft_svc, hold=hold, in_service=in_svc)


def _one_rank(loop: Loop) -> bool:
    """Whether every point of the loop has one attention rank, as one number (so ·r and /r can be left out)."""
    r = _num(loop.ranks)
    return isinstance(r, float) and r == 1.0


def _chunks(loop: Loop, q: np.ndarray, fx: _Fixed, one_rank: bool):
    """(decode batch, a rank's room for prompt tokens in a step, chunks of one prompt) when q requests arrive per
    step: ``b = q·(O − 1)`` clipped to ``[b_lo, b_hi]``, ``room = max(K − b/r, 64)``, ``n = ceil(I/room)``. Each grows
    or stays with q (the room shrinks)."""
    # a decoding sequence sees at least itself in the batch (and the weights are read for it)
    b = np.minimum(np.maximum(q * (_num(loop.output) - 1.0), fx.b_lo), fx.b_hi)
    room = np.maximum(loop.budget - (b if one_rank else b / _num(loop.ranks)), 64.0)
    return b, room, np.ceil(_num(loop.prompt) / room)   # n >= 1: I >= 1 and room >= 64


def _open_dp_step(step, loop: Loop, r, i, n, b, pack, neg_lam, chunk, t0, s, top):
    """(S, the mean step's cap) of the open loop's attention-DP points (``_at``): a chunk step carries the chunks of
    k = r·p / (1 − (1 − p)^r) ranks, p = 1 − e^−λ, k = r under a balance hold; the busiest rank's own work is one
    chunk's (``chunk``: every rank as it), the experts' work k chunks', shared by k prompts. Only the points with
    more than one rank are evaluated (a stacked batch's others keep ``s`` and ``top``)."""
    multi = np.asarray(r) > 1.0
    if not np.any(multi):
        return s, top
    idx = None if multi.ndim == 0 or multi.all() else np.flatnonzero(multi)

    def sub(v):
        return v[idx] if idx is not None and isinstance(v, np.ndarray) and v.ndim else v

    r_, n_, b_, pack_, lam_, chunk_, t0_ = (sub(v) for v in (r, n, b, pack, neg_lam, chunk, t0))
    p_rank = np.minimum(-np.expm1(lam_), 1.0 - 1e-12)
    k = np.maximum(r_ * p_rank / -np.expm1(r_ * np.log1p(-p_rank)), 1.0)
    k = np.where(sub(_num(loop.balance)) > 0.0, r_, k)
    part = _take(step, idx) if idx is not None else step
    _, t1_k = part.pair(b_, pack_ * sub(i) * k / n_, chunk_)
    s_k = n_ * (t1_k - t0_) / pack_ / k
    if idx is None:
        return s_k, t1_k
    s, top = np.array(s, dtype=float), np.array(top, dtype=float)
    s[idx], top[idx] = s_k, t1_k
    return s, top


def _upper(step: StepFn, loop: Loop, fx: _Fixed, x_hi: np.ndarray) -> np.ndarray:
    """A q at which ``X·hold >= C_s``: every step is at most ``t(b_hi, K·r)`` (the largest batch with a full chunk
    budget on every rank; the step time grows in both), so at ``q = x_hi·t(b_hi, K·r)`` the rate is at least
    ``x_hi = C_s/hold(q → 0)`` and the hold no shorter than at no load."""
    r = _num(loop.ranks)
    tokens = np.maximum(_num(loop.budget), 64.0) * r + fx.zeros
    pair = getattr(step, "pair", None)
    top = pair(fx.b_hi, tokens)[1] if pair is not None else step(fx.b_hi, tokens)
    return x_hi * top


def solve(step: StepFn, loop: Loop, conc, iterations: int = ITERATIONS, ttft_cap=None,
          tpot_cap=None) -> dict[str, np.ndarray]:
    """The fixed point ``min(C, c_max) = X·hold(X)`` for each C in ``conc``; returns every term there.

    Searched over ``q = X·τ̄`` (requests arriving per step), in which every term is explicit (:func:`_at`):
    ``g(q) = X(q)·hold(q) − C_s`` is ``−C_s`` at q → 0 and >= 0 at :func:`_upper`. The first point is
    ``x_hi·τ(b_lo, 0)`` (the rate and step of no load), then regula falsi on g, which is close to linear in q.
    When the same end of the bracket moves twice in a row, the other end's secant value is scaled by the
    Anderson–Björck factor ``m = 1 − g(q_new)/g(q_end)`` (``q_end``: the end being replaced), at least AB_FLOOR, or
    by ½ (Illinois) where m <= 0: where g bends near the root (a high load's step at its cap) the factor follows how
    little the moving end gained, and the floor keeps a jump of g, where m → 0, from pinning the next point to the
    stale end. Each element stops on its own (on the root to TOL of the load, or on a jump of g
    — the chunk count is an integer — bracketed to JUMP_X of q, where the secant point of the bracket's two ends is
    taken: near a full prefill queue g is continuous but all but vertical, and that point lies far nearer the root
    than either end, where Little's law can be off by a few per cent) and is frozen there: its answer does not
    depend on the other elements of ``conc`` (nor, through the stacked coefficients of a batch, on the other cases
    solved with it), nor on the order of the search.

    Settling (``ttft_cap``, ``tpot_cap``: seconds, one per element or one for all; the SLO search passes its SLOs). An
    element whose TTFT service time or mean step at its root is proven above its cap stops before the root: the search
    only needs to know that such a load misses an SLO. At a root Little's law gives ``hold = C_s·τ̄/q`` (``X = q/τ̄``),
    so::

        TTFT_svc = hold − (O − 1)·τ̄ = τ̄·(C_s/q − (O − 1)) >= τ̄(q_lo)·(C_s/q_hi − (O − 1))

    since the root lies in the bracket (q <= q_hi) and the mean step does not fall as q grows below the root while the
    chunk count stays the same (τ̄ >= τ̄(q_lo) when n(q_lo) = n(q_hi), and n grows or stays with q, :func:`_chunks`).
    That is a property of this model's step, not of every step function: where the chunk count grows the chunk step
    can shorten (a prompt split in two), so the mean step can fall, by up to 2.3 % on random catalog configurations;
    with the count unchanged the largest fall found is 2.2·10⁻⁴ of the step (docs/perf-model.md §9). An element
    settles once that bound, with C_s taken SETTLE_C short (a load stopped on a jump of g meets Little's law to ~1.4 %)
    and τ̄(q_lo) SETTLE_TAU short, exceeds its TTFT cap, or once τ̄(q_lo) SETTLE_TAU short exceeds its TPOT cap (the
    TPOT is τ̄, and τ̄ >= τ̄(q_lo)), and both ends of its bracket have the same chunk count (checked from round
    SETTLE_FROM); at q = 0, τ̄(q_lo) is the idle step. Its terms are returned at the bracket's upper end (not the
    root), flagged in ``"settled"``. Every percentile of the TTFT is at least TTFT_svc (``estimate.curve_terms``), so a
    settled load misses a TTFT SLO equal to its cap or a TPOT SLO equal to its cap; every other element's answer is
    the one the search gives without caps, to the bit.

    Corner (closed loop). The prefill wait rises like ρ/(1 − ρ) until it reaches its cap at ρ* (:func:`_corner`) and
    stays there, so g has a corner at ρ*: its slope falls by orders of magnitude across it (Qwen3-32B on two B200s,
    8,000-token prompts and 2-token answers, 130 clients: ~3·10⁴ per unit of q below, ~10² above). A root just below the
    corner is approached from above by secant points that land on the flat side and move the upper end a little each
    round (23 rounds there, where the other loads took 5). Every evaluation also gives ``q*``, where ρ = q·S/τ̄ reaches
    ρ* with that evaluation's t0, t1 and S (τ̄ = min(t0 + a·q·S, t1) below RHO_MAX; ρ is the larger of q·S/(t0 + a·q·S)
    and q·S/t1, both rising, so it first reaches ρ* at the smaller crossing)::

        q* = ρ*·min(t0/(1 − a·ρ*), t1)/S

    exact where t0, t1 and S do not move with q (they move with the decode batch and the prompts per chunk step). When
    the last point moved the upper end and the latest q* lies inside the bracket, the next point is q* instead of the
    secant's, at most CORNER_PROBES times per load. Any point inside the bracket keeps it a bracket, so each answer is
    still the root to TOL or a jump bracketed to JUMP_X; only the path differs. The open loop has no cap below
    RHO_MAX, where its wait is ~500 prefills, far above any root a search needs, and takes no probes.
    """
    c = np.atleast_1d(np.asarray(conc, dtype=float))
    fx = _fixed(loop, c)
    in_svc = fx.in_svc
    tol = TOL * in_svc
    n_all = len(c)
    idle = _at(step, loop, fx.zeros, fx)   # no load: hold(q) >= hold(0); its step is τ(b_lo, 0)
    hold0 = idle["hold"]
    q_lo, q_hi = np.zeros_like(c), _upper(step, loop, fx, in_svc / hold0)
    x1, hold1, q_star = _at(step, loop, q_hi, fx, full=False)
    g_lo, g_hi = -in_svc, x1 * hold1 - in_svc      # g at the bracket's ends
    for _ in range(60):   # a step time that is not monotone (a caller's own function): widen until g >= 0
        short = g_hi < 0
        if not np.count_nonzero(short):
            break
        q_hi = np.where(short, 2.0 * q_hi, q_hi)
        x1, hold1, star = _at(step, loop, q_hi, fx, full=False)
        g_hi = np.where(short, x1 * hold1 - in_svc, g_hi)
        if star is not None:
            q_star = np.where(short, star, q_star)
    f_lo, f_hi = -in_svc, g_hi.copy()              # the secant's values there (scaled down at a stale end)
    capped = ttft_cap is not None or tpot_cap is not None
    if capped:   # settling (docstring): the rate at the lower end (the mean step is q/X there)
        ttft_cap = np.inf if ttft_cap is None else ttft_cap
        tpot_cap = np.inf if tpot_cap is None else tpot_cap
        x_lo, o1, settled = np.zeros_like(c), _num(loop.output) - 1.0, np.zeros(n_all, dtype=bool)
    side = np.zeros_like(c)
    done = g_hi <= tol   # the upper end is the root already (a load that fills every step)
    q_fin = q_hi.copy()
    probes = None if q_star is None else np.zeros_like(c)   # corner points taken per load (closed loop)

    def live_eval(q, live):
        """(X, hold, q*) at ``q``, evaluated only where the element is still live on long vectors."""
        idx = None if n_all <= SUBSET_MIN else np.flatnonzero(live)
        if idx is None or len(idx) == n_all:   # small vectors: slicing costs more than it saves
            return _at(step, loop, q, fx, full=False)
        x_l, hold_l, star_l = _at(_take(step, idx), loop.take(idx), q[idx], fx.take(idx), full=False)
        x, hold = np.zeros_like(c), np.ones_like(c)
        x[idx], hold[idx] = x_l, hold_l
        star = None
        if star_l is not None:
            star = np.full_like(c, np.nan)
            star[idx] = star_l
        return x, hold, star

    for k in range(iterations + 40):
        live = ~done
        if k == 0:   # first, where every request would take the no-load hold and step: x_hi·τ(b_lo, 0)
            q = np.minimum(q_hi, in_svc / hold0 * idle["tpot"])
        elif k < iterations:   # the scaled secant; then, for rare stiff cases, bisection inside the bracket
            df = f_hi - f_lo
            q = np.where(df > 0, (q_lo * f_hi - q_hi * f_lo) / np.maximum(df, 1e-300), q_hi)
            if probes is not None:   # the corner, where the last point fell above the root (docstring, "Corner")
                at = (q_star < q_hi) & (q_star > q_lo) & (side > 0)
                if np.count_nonzero(at):
                    at &= probes < CORNER_PROBES
                    q = np.where(at, q_star, q)
                    probes += at
        else:
            q = 0.5 * (q_lo + q_hi)
        x, hold, q_star = live_eval(q, live)   # (q* of the loads done: not read)
        g = x * hold - in_svc
        up, dn = live & (g > 0), live & ~(g > 0)
        if k < iterations:   # scale the stale end's value when the same end moves twice in a row (docstring)
            for stale, moved, f_stale in ((up & (side > 0), g_hi, f_lo), (dn & (side < 0), g_lo, f_hi)):
                if np.count_nonzero(stale):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        m = 1.0 - g / moved
                    np.multiply(f_stale, np.where(m > 0.0, np.maximum(m, AB_FLOOR), 0.5), out=f_stale, where=stale)
            np.putmask(side, up, 1.0)
            np.putmask(side, dn, -1.0)
        for end, new, mask in ((q_lo, q, dn), (g_lo, g, dn), (f_lo, g, dn), (q_hi, q, up), (g_hi, g, up),
                               (f_hi, g, up)):
            np.putmask(end, mask, new)
        on_root = np.abs(g) <= tol
        jump = q_hi - q_lo <= JUMP_X * q_hi
        now = live & (on_root | jump)
        if np.count_nonzero(now):   # (count_nonzero: a third of any()'s cost on short vectors)
            with np.errstate(divide="ignore", invalid="ignore"):   # the secant point of the bracket's ends
                inside = np.where(g_hi > g_lo, (q_lo * g_hi - q_hi * g_lo) / (g_hi - g_lo), q_hi)
            q_fin = np.where(now, np.where(on_root, q, inside), q_fin)
            done = done | now
        if capped:
            np.putmask(x_lo, dn, x)
        if capped and k >= SETTLE_FROM:
            with np.errstate(divide="ignore", invalid="ignore"):   # at q = 0 (X = 0) the mean step is the idle one
                tau_lo = np.where(q_lo > 0, q_lo / x_lo, idle["tpot"])
                bound = SETTLE_TAU * tau_lo * (SETTLE_C * in_svc / q_hi - o1)
            now = ~done & ((bound > ttft_cap) | (SETTLE_TAU * tau_lo > tpot_cap))
            if np.count_nonzero(now):   # ... and the chunk count is the same at both ends (so all along the bracket)
                one_rank = _one_rank(loop)
                now &= _chunks(loop, q_lo, fx, one_rank)[2] == _chunks(loop, q_hi, fx, one_rank)[2]
            if np.count_nonzero(now):
                np.putmask(q_fin, now, q_hi)
                settled |= now
                done = done | now
        if np.count_nonzero(done) == n_all:
            break
    else:
        q_fin = np.where(done, q_fin, q)
    out = _at(step, loop, q_fin, fx)
    if capped:
        out["settled"] = settled
    return out


def prefill_wait_percentile(st: dict[str, np.ndarray], p: float) -> np.ndarray:
    """p-quantile of the M/D/1 prefill wait (exponential tail, P(W > 0) = ρ)."""
    rho, s = st["rho"], st["prefill_work"]
    theta = s / (2.0 * (1.0 - rho))
    return theta * np.log(np.maximum(st["wait_share"] / (1.0 - p), 1.0))
