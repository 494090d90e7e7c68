"""Serving one replica under load: closed loop (benchmark clients) and open loop (Poisson), one engine model.

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
    a    = (C − 1)/C closed loop (a client's own request is never ahead of it), min(1, C) open loop
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
2026-12-03): these runs' prompts wait longer than one rank's chunk alone explains (TensorRT-LLM's optional
``attention_dp_config.enable_balance``, which holds context requests until every rank has one, would; the rows do
not say). With ``r = 1`` this is the single-rank loop above.

Slots. At most ``c_max`` requests are in service. Closed loop: the ``C − c_max`` clients beyond it wait
``W_slot = (C − c_max)/X`` (Little's law on the engine queue). Open loop: an M/D/c queue for the ``c_max`` slots
(half the Erlang-C wait, ``planner.perf.estimate``).

The fixed point. Given X every term above follows; X itself solves
``min(C, c_max) = X·(TTFT_service + (O − 1)·τ̄)`` (Little's law on the slots). The right side grows with X
(every step gets longer, ρ grows), so regula falsi on ``(0, min(C, c_max)/hold(X → 0)]`` finds it (to 0.1 % of the load,
or to 0.1 % of X where the right side jumps — the chunk count is an integer —, typically in 5–15
iterations).

Closed versus open loop. Both share the step time, the chunk budget, S and ρ; they differ only in how
requests arrive. Benchmark clients resubmit on completion, so at most C − 1 prompts can be ahead of one (the
(C − 1)/C factor) and the excess over c_max queues deterministically; Poisson users can bunch, so the open loop
adds the slot queue's Erlang-C wait and reports a percentile of the wait (exponential tail). The constants
are fitted on closed-loop runs and carry over unchanged to the open loop.

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
JUMP_X = 1e-4   # a bracket this narrow (relative to X) around a jump of g is settled
SUBSET_MIN = 512   # below this many loads the fixed point evaluates every load each round (frozen ones ignored)
# rounds of decode batch -> step time per evaluation: two plain rounds, Aitken's extrapolation of them, and one
# round from there. Two plain rounds alone left the open-loop capacities 2.2 % above the settled fixed point on
# average (11.7 % at the 95th percentile, 42 % of the cases more than 1 % off; 24 rounds as the reference, the
# M-1 benchmark's 1,457 capacities); with the extrapolation: -0.05 % on average, 1.0 % at the 95th percentile
INNER = 3
AITKEN_R = 0.9   # the largest contraction the extrapolation trusts (at most 9 more rounds' worth of the last step)


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
    busy: bool            # a = 1 at every load (the open loop at C >= 1): the products with it are skipped

    def take(self, idx: np.ndarray) -> "_Fixed":
        return _Fixed(*(v[idx] for v in self[:-1]), self.busy)


def _fixed(loop: Loop, conc: np.ndarray) -> _Fixed:
    in_svc = np.minimum(conc, loop.c_max)
    if loop.closed:  # a client's own previous request is never ahead of it
        others = np.maximum((conc - 1.0) / np.maximum(conc, 1.0), 0.0)
    else:            # Poisson: busy with probability ~ the load (one slot), fully once C >= 1
        others = np.minimum(np.maximum(conc, 0.0), 1.0)
    return _Fixed(conc=conc, in_svc=in_svc, others=others, b_lo=np.minimum(in_svc, 1.0),
                  b_hi=np.maximum(in_svc, 1.0), ahead=np.maximum(in_svc - 1.0, 0.0), zeros=np.zeros(len(conc)),
                  busy=bool(np.all(others == 1.0)))


def _aitken(t0: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Aitken's extrapolation of the rounds ``t0 → t1 = F(t0) → t2 = F(t1)`` towards the fixed point of F:
    with ``r = (t2 − t1)/(t1 − t0)`` the contraction of the last round, ``t2 + r/(1 − r)·(t2 − t1)``, where
    the rounds converge monotonically (0 ≤ r < 1; r capped at AITKEN_R); elsewhere ``t2``."""
    d1, d2 = t1 - t0, t2 - t1
    with np.errstate(divide="ignore", invalid="ignore"):
        r = d2 / d1
    ok = (r >= 0.0) & (r < 1.0)
    r = np.minimum(np.where(ok, r, 0.0), AITKEN_R)
    return t2 + r / (1.0 - r) * d2


def _state(step: StepFn, loop: Loop, x: np.ndarray, conc: np.ndarray | _Fixed, passes: int = 2,
           tau: np.ndarray | None = None, full: bool = True):
    """Every term at throughput ``x`` (requests/s) with ``conc`` requests in the system (or their
    :func:`_fixed` terms). The decode batch depends on the step time it sets: ``passes`` rounds from ``tau``
    (the previous guess, or one sequence's step); with three or more rounds, the second is extrapolated
    (:func:`_aitken`) before the third. ``full=False``: only (TPOT, hold), what the fixed point's rounds
    need."""
    fx = conc if isinstance(conc, _Fixed) else _fixed(loop, np.asarray(conc, dtype=float))
    i, o, r = _num(loop.prompt), _num(loop.output), _num(loop.ranks)
    in_svc, others, b_lo, b_hi, zeros = fx.in_svc, fx.others, fx.b_lo, fx.b_hi, fx.zeros
    one_rank = isinstance(r, float) and r == 1.0     # skip the exact ·1 and /1 (the common case)
    if tau is None:
        tau = step(b_lo, zeros)
    xo = x * (o - 1.0)
    xa = others * x if one_rank else others * x / r
    pair = getattr(step, "pair", None)
    for k in range(passes):
        # a decoding sequence sees at least itself in the batch (and the weights are read for it)
        b = np.minimum(np.maximum(xo * tau, b_lo), b_hi)
        room = np.maximum(loop.budget - (b if one_rank else b / r), 64.0)
        n = np.ceil(i / room)   # >= 1: I >= 1 and room >= 64
        # prompts that share one chunk step: Poisson arrivals λ per step, a step with any carries them all
        # (the zero-truncated mean λ/(1 − e^−λ)), as many as the chunk budget holds
        neg_lam = np.minimum(-(xa * tau * n), -1e-9)   # others: a lone closed-loop client shares nothing
        # ... and no more than the requests in service that are not decoding (with c_max = 1 nothing is shared)
        cap = np.maximum(np.minimum(room * n / i, in_svc - b), 1.0)
        pack = np.minimum(np.maximum(neg_lam / np.expm1(neg_lam), 1.0), cap)
        chunk = pack * i / n if one_rank else pack * i * r / n   # the busy case: every rank carries a chunk
        if pair is not None:   # decode alone, and with a chunk, sharing the decode part (t1 >= t0)
            t0, t1 = pair(b, chunk)
            extra, top = t1 - t0, t1
        else:
            both = step(np.stack((b, b)), np.stack((zeros, chunk)))   # rows: decode only, with a chunk
            t0, t1 = both[0], both[1]
            extra, top = np.maximum(t1 - t0, 0.0), np.maximum(t1, t0)
        s_rank = n * extra / pack   # what one prompt adds to the steps it rides in (on its own rank)
        s = s_rank if one_rank else s_rank / r   # ... spread over the r ranks' prompts that share those steps
        rho = np.minimum(x * s, 0.999)           # = (X/r)·S_rank: one rank's prefill queue
        # τ = (1 − q)·t0 + q·t1 with q = a·X·n·τ/(r·m) (other requests' chunks: a decoding sequence's own prefill
        # came before its first token)  ⇒  τ = t0 / (1 − a·ρ), at most t1 (every step carries a chunk)
        tau_out = np.minimum(t0 / (1.0 - (rho if fx.busy else others * rho)), top)
        if k == 0 and passes >= 3:
            tau_a, tau = tau, tau_out
        elif k == 1 and passes >= 3:
            tau = _aitken(tau_a, tau, tau_out)
        else:
            tau = tau_out
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
    hold = ttft_svc + (o - 1.0) * tau
    if not full:
        return tau, hold
    q = np.minimum(xa * n * tau / pack, 1.0)
    return dict(x=x, tpot=tau, decode_batch=b, wait_share=rho * others, chunks=n, chunk_share=q, step_decode=t0, step_chunk=t1,
                prefill_work=s, rho=rho, wait_prefill=w_pf, residual=residual, prefill=prefill,
                ttft_service=ttft_svc, hold=hold, in_service=in_svc)


def solve(step: StepFn, loop: Loop, conc, iterations: int = ITERATIONS) -> dict[str, np.ndarray]:
    """The fixed point ``min(C, c_max) = X·hold(X)`` for each C in ``conc``; returns every term there.

    ``g(X) = X·hold(X) − min(C, c_max)`` is negative at X → 0 and >= 0 at ``X_hi = min(C, c_max)/hold(0)``;
    regula falsi (Illinois variant) on that bracket, the step-time guess carried between iterations. Each
    element stops on its own (on the root to 0.1 % of the load, or on a jump of g bracketed to JUMP_X of X)
    and is frozen there: its answer does not depend on the other elements of ``conc`` (nor, through the
    stacked coefficients of a batch, on the other cases solved with it).
    """
    c = np.atleast_1d(np.asarray(conc, dtype=float))
    fx = _fixed(loop, c)
    in_svc = fx.in_svc
    tol = 1e-3 * in_svc
    idle = _state(step, loop, fx.zeros, fx, passes=1)   # hold(X) >= hold(0)
    x_lo, g_lo = np.zeros_like(c), -in_svc   # the bracket: arrays this function owns and updates in place
    x_hi = in_svc / idle["hold"]
    tau0 = step(fx.b_lo, fx.zeros)   # _state's own first guess, made explicit
    tau, hold_hi = _state(step, loop, x_hi, fx, passes=INNER, tau=tau0, full=False)
    g_hi = x_hi * hold_hi - in_svc
    side = np.zeros_like(c)
    done = np.zeros(c.shape, dtype=bool)
    n_all = len(c)
    x_fin, tau_fin = x_hi.copy(), tau0.copy()
    gt_lo, gt_hi = g_lo.copy(), g_hi.copy()   # g itself at the bracket's ends (Illinois scales g_lo, g_hi)
    # the step-time guess each end was evaluated from: the answer is re-evaluated from the same guess, so it
    # is exactly the evaluation that met the test (the decode batch <-> step time loop runs INNER rounds)
    tin_lo, tin_hi = tau0.copy(), tau0.copy()

    def settle(x, g, live, tau_in):
        """Freeze the live elements on the root, or on a jump of g bracketed to JUMP_X of X (the chunk count n
        is an integer): there, the bracket end nearer to Little's law."""
        nonlocal x_fin, tau_fin, done
        on_root = np.abs(g) <= tol
        jump = x_hi - x_lo <= JUMP_X * x_hi
        now = live & (on_root | jump)
        if not np.count_nonzero(now):   # (count_nonzero: a third of any()'s cost on short vectors)
            return
        near_lo = np.abs(gt_lo) <= np.abs(gt_hi)
        x_fin = np.where(now, np.where(on_root, x, np.where(near_lo, x_lo, x_hi)), x_fin)
        tau_fin = np.where(now, np.where(on_root, tau_in, np.where(near_lo, tin_lo, tin_hi)), tau_fin)
        done = done | now

    def live_eval(x, tau_in, live):
        """(TPOT, hold) at ``x``, evaluated only where the element is still live (elsewhere: the old TPOT and
        a placeholder hold)."""
        idx = None if n_all <= SUBSET_MIN else np.flatnonzero(live)
        if idx is None or len(idx) == n_all:   # small vectors: slicing costs more than it saves
            tpot, hold = _state(step, loop, x, fx, passes=INNER, tau=tau_in, full=False)
            return np.where(live, tpot, tau_in), hold
        tpot_l, hold_l = _state(_take(step, idx), loop.take(idx), x[idx], fx.take(idx), passes=INNER,
                                tau=tau_in[idx], full=False)
        tpot, hold = tau_in.copy(), np.ones_like(c)
        tpot[idx], hold[idx] = tpot_l, hold_l
        return tpot, hold

    def move(x, g, up, live, tau_in, illinois: bool):
        """The bracket's new ends, in place: the live elements with g > 0 replace the upper end, the others
        the lower (``putmask``: the bracket arrays are this function's own)."""
        lu, ld = live & up, live & ~up
        if illinois:   # halve the stale end's value when the same end moves twice in a row
            np.multiply(g_lo, 0.5, out=g_lo, where=lu & (side > 0))
            np.multiply(g_hi, 0.5, out=g_hi, where=ld & (side < 0))
            np.putmask(g_lo, ld, g)
            np.putmask(g_hi, lu, g)
            np.putmask(side, lu, 1.0)
            np.putmask(side, ld, -1.0)
        for end, new in ((x_lo, x), (gt_lo, g), (tin_lo, tau_in)):
            np.putmask(end, ld, new)
        for end, new in ((x_hi, x), (gt_hi, g), (tin_hi, tau_in)):
            np.putmask(end, lu, new)

    for _ in range(iterations):
        dg = g_hi - g_lo
        x = np.where(dg > 0, (x_lo * g_hi - x_hi * g_lo) / np.maximum(dg, 1e-300), x_hi)
        tau_in = tau
        live = ~done
        tau, hold = live_eval(x, tau_in, live)
        g = x * hold - in_svc
        move(x, g, g > 0, live, tau_in, illinois=True)
        settle(x, g, live, tau_in)
        if np.count_nonzero(done) == n_all:
            return _state(step, loop, x_fin, fx, passes=INNER, tau=tau_fin)
    for _ in range(40):  # rare stiff cases (ρ → 1) and jumps: finish by bisection inside the bracket
        x = 0.5 * (x_lo + x_hi)
        tau_in = tau
        live = ~done
        tau, hold = live_eval(x, tau_in, live)
        g = x * hold - in_svc
        move(x, g, g > 0, live, tau_in, illinois=False)
        settle(x, g, live, tau_in)
        if np.count_nonzero(done) == n_all:
            break
    x_fin = np.where(done, x_fin, x)
    tau_fin = np.where(done, tau_fin, tau_in)
    return _state(step, loop, x_fin, fx, passes=INNER, tau=tau_fin)


def prefill_wait_percentile(st: dict[str, np.ndarray], p: float) -> np.ndarray:
    """p-quantile of the M/D/1 prefill wait (exponential tail, P(W > 0) = ρ)."""
    rho, s = st["rho"], st["prefill_work"]
    theta = s / (2.0 * (1.0 - rho))
    return theta * np.log(np.maximum(st["wait_share"] / (1.0 - p), 1.0))
