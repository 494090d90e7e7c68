"""A discrete-event simulation of ONE replica, step by step, driven by the analytic model's step time.

Used as the reference the fast closed-form formulas of :mod:`planner.perf.estimate` must agree with, and shown
next to them by ``plan estimate --simulate``. It shares nothing with those formulas except the step time
``t(B, T, c, c_p)`` of :func:`planner.perf.roofline.step_time` (``B`` decode sequences, ``T`` prefill tokens,
``c`` their mean context, ``c_p`` the prefill tokens' mean attended context) and the engine's constants.

Engine (the vLLM V1 / SGLang / TensorRT-LLM in-flight-batching scheduler, reduced to its policy):

- **Continuous batching.** Every step each running sequence past its prefill emits one token (``B`` tokens);
  a finished sequence leaves at the step's end, its slot and KV blocks are free for the next step.
- **Chunked prefill, FCFS, token budget.** A step carries at most ``X`` tokens (``chunk_tokens``): decodes
  first (one each), then the running prompts' next chunks in admission order, then new requests from the
  head of the FCFS queue while fewer than ``max_batch`` sequences run, each taking what budget is left.
  The step that processes a prompt's last chunk samples its first token (TTFT ends there).
- **Paged KV.** The pool holds ``K`` tokens in blocks of 16; a sequence holds ``ceil(cached/16)`` blocks and gets
  new blocks only as its tokens arrive (prefill chunk or decode token). When a decode step needs a block
  and none is free, the most recently admitted running sequence is **preempted** (recompute, as vLLM does):
  its blocks are freed and it returns to the head of the queue, later re-prefilling prompt + generated tokens.
- **Attention-DP ranks** (``ranks`` > 1): request i is on rank i mod ranks, each rank has its own share of the
  token budget, and a step lasts as long as its busiest rank's: the step time is given the replica's prefill
  tokens and the busiest rank's (``step_seconds(B, T, c, c_p, T_rank)``; ``planner.perf.roofline.step_time``'s
  ``rank_prefill``): each rank's own work (dense GEMMs, attention) is the busiest rank's, the experts' work is
  every rank's tokens.
- **Per-request overhead** ``t_req`` (tokenise, schedule, detokenise; the engine's ``t_request_ms``): a request
  reaches the scheduler ``t_req`` after it is submitted, and its TTFT counts from submission.

Load: **closed loop** (``concurrency`` C clients, each submitting its next request when the previous one
finishes — what benchmarks measure) or **open loop** (Poisson arrivals at ``rate_per_s`` — what the planner
serves). Requests all have ``I`` prompt and ``O`` output tokens (one bucket, as the analytic model).

Statistics are over the steady state: requests submitted after a warm-up (the first ``max(n/10, 2·C)``) that
finished before the last submission (after it the load drains and the replica speeds up):
``TTFT = first token − submission``; ``TPOT = (finish − first token)/(O − 1)``; throughput = completions per
second between the first measured submission and the last submission. Quantiles are empirical
(``numpy.percentile``, linear).

Speed: per scheduling event a handful of NumPy operations over the ≤ ``max_batch`` running slots; a
decode-only stretch (no prompt to prefill, nothing arriving, no sequence finishing) is advanced in one go,
its steps' times looked up per 16-token block. The step time is memoised on ``(B, T, ⌈c⌉₁₆, ⌈c_p⌉₁₆, T_rank)``
(contexts rounded up to the KV block, the granularity at which a paged engine reads them). A few thousand
requests take a fraction of a second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

__all__ = ["SimResult", "simulate_replica", "simulate"]

BLOCK = 16


@dataclass(frozen=True)
class SimResult:
    """Measured over the post-warm-up requests. Times in ms, throughput per replica."""

    mode: str                    # "closed" or "open"
    requests: int                # requests measured (completed after warm-up)
    submitted: int               # all requests submitted
    completed: int               # all requests completed
    ttft_mean_ms: float
    ttft_p_ms: float             # at ``percentile``
    percentile: float
    ttft_p50_ms: float
    ttft_max_ms: float
    tpot_mean_ms: float
    tpot_p_ms: float
    requests_per_min: float
    output_tokens_per_s: float
    mean_batch: float            # mean decode sequences per step
    steps: int
    preemptions: int
    sim_seconds: float           # simulated time

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def simulate_replica(step_seconds: Callable[[int, int, float, float], float], *, prompt_tokens: int,
                     output_tokens: int, kv_tokens: int, max_batch: int, chunk_tokens: int,
                     t_request_s: float = 0.0, concurrency: int | None = None, rate_per_s: float | None = None,
                     n_requests: int = 2000, percentile: float = 95.0, seed: int = 0, stagger: bool = True,
                     max_steps: int = 5_000_000, ranks: int = 1, balance_iters: float = 0.0) -> SimResult:
    """Simulate one replica (see the module docstring). ``step_seconds(B, T, c, c_p)`` is the step time; with
    ``ranks`` > 1 it is called with a fifth argument, the busiest rank's prefill tokens.

    Closed loop with ``stagger``: the C clients start at independent uniform times within one uncontended
    request cycle (``t_req`` + prefill + ``O − 1`` single-sequence steps), the steady state of clients that do
    not start in lockstep. ``stagger=False`` starts them together; with identical request sizes they then stay
    synchronised, every cycle prefilling all C prompts at once (the worst case for TTFT).

    ``ranks`` > 1 with ``balance_iters`` > 0: an attention-DP replica that holds new prompts until every rank has
    one (taken as: ``ranks`` prompts waiting) or until its release clock ticks, every ``balance_iters`` steps, or
    while nothing decodes (TensorRT-LLM's ``attention_dp_config.enable_balance``).

    Give exactly one of ``concurrency`` (closed loop) or ``rate_per_s`` (open loop, Poisson). Raises
    ValueError for arguments outside their domain (the callers validate user input first).
    """
    if (concurrency is None) == (rate_per_s is None):
        raise ValueError("give exactly one of concurrency (closed loop) or rate_per_s (open loop)")
    if concurrency is not None and concurrency < 1 or rate_per_s is not None and not rate_per_s > 0:
        raise ValueError("concurrency must be >= 1 and rate_per_s > 0")
    if min(prompt_tokens, output_tokens, max_batch, chunk_tokens, n_requests) < 1:
        raise ValueError("prompt/output tokens, max_batch, chunk_tokens and n_requests must be >= 1")
    total_blocks = kv_tokens // BLOCK
    if total_blocks < -(-(prompt_tokens + output_tokens) // BLOCK):
        raise ValueError(f"the KV pool ({kv_tokens} tokens) cannot hold one sequence of "
                         f"{prompt_tokens + output_tokens} tokens")
    I, O, X = prompt_tokens, output_tokens, chunk_tokens
    n = n_requests
    closed = concurrency is not None
    rng = np.random.default_rng(seed)

    submit = np.full(n, np.nan)
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    generated = np.zeros(n, dtype=np.int64)      # output tokens sampled so far (survives preemption)

    # running slots
    s_req = np.full(max_batch, -1, dtype=np.int64)
    s_done = np.zeros(max_batch, dtype=np.int64)     # prefill tokens processed (of target)
    s_target = np.zeros(max_batch, dtype=np.int64)   # tokens to prefill: I, or I + generated after preemption
    s_cache = np.zeros(max_batch, dtype=np.int64)    # tokens with KV stored
    s_order = np.zeros(max_batch, dtype=np.int64)    # admission counter (preempt the largest)
    free_blocks = total_blocks
    admit_counter = 0

    hold_iters = max(1, round(balance_iters)) if ranks > 1 and balance_iters > 0 else 0
    clock = 0                                        # steps since the balance hold last released
    queue: deque[int] = deque()                      # FCFS, request ids
    pending: list[tuple[float, int]] = []            # (time the request reaches the scheduler, id), sorted
    next_id = 0

    def submit_request(t: float) -> None:
        nonlocal next_id
        if next_id >= n:
            return
        submit[next_id] = t
        pending.append((t + t_request_s, next_id))
        next_id += 1

    def seconds(b: int, t_tokens: int, c: float, c_p: float, t_rank: int) -> float:
        """``step_seconds``, given the busiest rank's prefill tokens only where there are ranks."""
        return float(step_seconds(b, t_tokens, c, c_p, t_rank) if ranks > 1 else step_seconds(b, t_tokens, c, c_p))

    if closed:
        starts = np.zeros(min(concurrency, n))
        if stagger and concurrency > 1:
            x_1 = max(1, X // ranks)   # one request alone: its rank's budget
            cycle = t_request_s + -(-I // x_1) * seconds(0, min(I, x_1), 0.0, I / 2.0, min(I, x_1)) \
                + (O - 1) * seconds(1, 0, float(I + O / 2), 0.0, 0)
            starts = np.sort(rng.uniform(0.0, cycle, size=starts.size))
        for t in starts:
            submit_request(float(t))
    else:
        arrivals = np.cumsum(rng.exponential(1.0 / rate_per_s, size=n))
        for t in arrivals:
            submit_request(float(t))
    pending.sort()
    p_idx = 0

    memo: dict[tuple[int, int, int, int, int], float] = {}

    def step_time(b: int, t_tokens: int, c: float, c_p: float, t_rank: int = 0) -> float:
        key = (b, t_tokens, -(-int(c) // BLOCK), -(-int(c_p) // BLOCK), t_rank)
        v = memo.get(key)
        if v is None:
            v = memo[key] = seconds(b, t_tokens, key[2] * BLOCK, key[3] * BLOCK, t_rank)
        return v

    now = 0.0
    steps = preemptions = completed = 0
    batch_sum = 0
    while completed < n and steps < max_steps:
        # requests that reached the scheduler by now join the queue (closed-loop resubmissions may append)
        if p_idx < len(pending) and closed:
            pending[p_idx:] = sorted(pending[p_idx:])
        while p_idx < len(pending) and pending[p_idx][0] <= now:
            queue.append(pending[p_idx][1])
            p_idx += 1
        active = s_req >= 0
        if not active.any() and not queue:
            if p_idx >= len(pending):
                break  # nothing left to do
            now = max(now, pending[p_idx][0])
            continue

        # 1. decodes: one token each; make room in the KV pool (preempt newest first)
        while True:
            dec = active & (s_done >= s_target)
            need = int(np.count_nonzero(dec & (s_cache % BLOCK == 0)))
            if need <= free_blocks or not active.any():
                break
            victim = int(np.argmax(np.where(active, s_order, -1)))
            free_blocks += -(-int(s_cache[victim]) // BLOCK)
            queue.appendleft(int(s_req[victim]))
            s_req[victim] = -1
            s_cache[victim] = 0
            active[victim] = False
            preemptions += 1
        dec = active & (s_done >= s_target)
        b = int(np.count_nonzero(dec))
        free_blocks -= int(np.count_nonzero(dec & (s_cache % BLOCK == 0)))
        # each attention-DP rank (request id mod ranks) has its own token budget, X/ranks less its decodes
        budgets = [X // ranks - n_r for n_r in np.bincount(s_req[dec] % ranks, minlength=ranks).tolist()]

        # 2. running prompts' next chunks (admission order), 3. new requests (FCFS) while slots are free
        chunks: list[tuple[int, int]] = []           # (slot, tokens)
        pf = np.flatnonzero(active & (s_done < s_target))
        for slot in pf[np.argsort(s_order[pf])]:
            r_ = int(s_req[slot]) % ranks
            if budgets[r_] > 0:
                budgets[r_], free_blocks = _chunk(int(slot), budgets[r_], free_blocks, s_done, s_target, s_cache,
                                                  chunks)
        release = True
        if hold_iters:   # attention-DP balance: every rank has a prompt, or the clock ticks, or nothing decodes
            if len({rid % ranks for rid in queue}) >= ranks:
                clock = 0
            else:
                clock += 1
                release = clock >= hold_iters or b == 0
                if release:
                    clock = 0
        taken = []   # admitted from the queue this step (removed after the walk: no copy of the queue per step)
        for rid in queue if release else ():
            if max(budgets) <= 0:
                break
            if budgets[rid % ranks] <= 0:   # its rank is full this step (one rank: nothing is admitted past here)
                continue
            free = np.flatnonzero(s_req < 0)
            if free.size == 0 or free_blocks == 0:
                break
            slot = int(free[0])
            s_req[slot], s_done[slot], s_target[slot], s_cache[slot] = rid, 0, I + int(generated[rid]), 0
            s_order[slot] = admit_counter
            admit_counter += 1
            taken.append(rid)
            active[slot] = True
            budgets[rid % ranks], free_blocks = _chunk(slot, budgets[rid % ranks], free_blocks, s_done, s_target,
                                                       s_cache, chunks)
        for rid in taken:
            queue.remove(rid)
        t_tokens = sum(k for _, k in chunks)
        t_rank = 0   # several ranks: the busiest rank's prefill tokens (its own work sets the step)
        if ranks > 1 and t_tokens:
            t_rank = int(max(np.bincount(s_req[[c for c, _ in chunks]] % ranks, weights=[k for _, k in chunks],
                                         minlength=ranks)))
        if b == 0 and t_tokens == 0:
            if active.any():
                # every running sequence is mid-prefill and the pool is full: preempt the newest to make room
                victim = int(np.argmax(np.where(active, s_order, -1)))
                free_blocks += -(-int(s_cache[victim]) // BLOCK)
                queue.appendleft(int(s_req[victim]))
                s_req[victim], s_cache[victim] = -1, 0
                preemptions += 1
                continue
            if p_idx < len(pending):
                now = max(now, pending[p_idx][0])
                continue
            break

        c_dec = float(np.mean(s_cache[dec])) if b else 0.0
        c_pf = (sum((s_done[s] - k + s_done[s]) / 2.0 * k for s, k in chunks) / t_tokens) if t_tokens else 0.0
        k_steps = 1
        if t_tokens == 0 and (not queue or not (s_req < 0).any()):
            # decode-only stretch: nothing changes but the contexts until a sequence finishes, a request
            # arrives, or the pool runs short -> all its steps in one vectorised call
            rids = s_req[dec]
            k_max = int(np.min(O - generated[rids]))
            k_max = min(k_max, max_steps - steps)
            if k_max > 1:
                grow = -(-(s_cache[dec] + k_max) // BLOCK) - -(-s_cache[dec] // BLOCK)
                extra = int(grow.sum()) - int(np.count_nonzero(s_cache[dec] % BLOCK == 0))
                if extra <= free_blocks:
                    blocks = np.ceil((c_dec + np.arange(k_max)) / BLOCK).astype(np.int64)
                    uniq, inv = np.unique(blocks, return_inverse=True)
                    dts = np.array([step_time(b, 0, float(u * BLOCK), 0.0) for u in uniq])[inv]
                    ends = now + np.cumsum(dts)
                    if p_idx < len(pending):
                        k_max = min(k_max, int(np.searchsorted(ends, pending[p_idx][0], side="left")) + 1)
                    k_steps = k_max
                    free_blocks -= extra if k_steps == len(ends) else \
                        int((-(-(s_cache[dec] + k_steps) // BLOCK) - -(-s_cache[dec] // BLOCK)).sum()) \
                        - int(np.count_nonzero(s_cache[dec] % BLOCK == 0))
                    now = float(ends[k_steps - 1])
        if hold_iters and k_steps > 1:
            clock = (clock + k_steps - 1) % hold_iters
        if k_steps == 1:
            now += step_time(b, t_tokens, c_dec, c_pf, t_rank)
        steps += k_steps
        batch_sum += b * k_steps

        # results of the step: decodes write their input token's KV and sample one token
        if b:
            s_cache[dec] += k_steps
            rids = s_req[dec]
            generated[rids] += k_steps
        for slot, _ in chunks:
            if s_done[slot] >= s_target[slot]:
                rid = int(s_req[slot])
                if np.isnan(first[rid]):
                    first[rid] = now
                    generated[rid] = 1
                # after a recompute the prefill rebuilt the cache; decoding resumes with the next token
        done_slots = np.flatnonzero((s_req >= 0) & (generated[np.maximum(s_req, 0)] >= O) & (s_done >= s_target))
        for slot in done_slots:
            rid = int(s_req[slot])
            finish[rid] = now
            completed += 1
            free_blocks += -(-int(s_cache[slot]) // BLOCK)
            s_req[slot] = -1
            s_cache[slot] = 0
            if closed:
                submit_request(now)

    # steady state: from the first post-warm-up submission to the last submission (after it the load drains)
    warm = min(max(n // 10, 2 * (concurrency or 0)), n - 1)
    t_a, t_b = float(submit[warm]), float(np.nanmax(submit))
    done = ~np.isnan(finish)
    ok = done & (np.arange(n) >= warm) & (finish <= t_b)
    if np.count_nonzero(ok) < 2:
        ok = done & (np.arange(n) >= warm)      # too short a run for a steady window: take what finished
        t_b = float(np.nanmax(finish))
    m = int(np.count_nonzero(ok))
    if m == 0:
        raise ValueError("no request completed after the warm-up; raise n_requests")
    ttft = (first[ok] - submit[ok]) * 1e3
    tpot = (finish[ok] - first[ok]) / max(1, O - 1) * 1e3
    in_window = int(np.count_nonzero(done & (finish > t_a) & (finish <= t_b)))
    rate = in_window / (t_b - t_a) if t_b > t_a else m / max(float(np.nanmax(finish)), 1e-12)
    return SimResult(mode="closed" if closed else "open", requests=m, submitted=next_id, completed=completed,
                     ttft_mean_ms=float(ttft.mean()), ttft_p_ms=float(np.percentile(ttft, percentile)),
                     percentile=percentile, ttft_p50_ms=float(np.percentile(ttft, 50)),
                     ttft_max_ms=float(ttft.max()), tpot_mean_ms=float(tpot.mean()),
                     tpot_p_ms=float(np.percentile(tpot, percentile)), requests_per_min=60.0 * rate,
                     output_tokens_per_s=rate * O, mean_batch=batch_sum / max(1, steps), steps=steps,
                     preemptions=preemptions, sim_seconds=now)


def _chunk(slot: int, budget: int, free_blocks: int, s_done, s_target, s_cache,
           chunks: list[tuple[int, int]]) -> tuple[int, int]:
    """Give ``slot`` its next prefill chunk within the token budget and the free KV blocks."""
    want = min(int(s_target[slot] - s_done[slot]), budget)
    cached = int(s_cache[slot])
    room = free_blocks * BLOCK + (-cached) % BLOCK     # the last block's free tail plus whole free blocks
    k = min(want, room)
    if k <= 0:
        return budget, free_blocks
    new_blocks = -(-(cached + k) // BLOCK) - -(-cached // BLOCK)
    s_done[slot] += k
    s_cache[slot] += k
    chunks.append((slot, k))
    return budget - k, free_blocks - new_blocks


def simulate(model, gpu, *, tp: int = 1, precision: str = "bf16", kv_dtype: str = "auto", engine: str = "vllm",
             prompt_tokens: int = 1000, output_tokens: int = 250, concurrency: int | None = None,
             rate_per_s: float | None = None, n_requests: int = 2000, ttft_percentile: float = 95.0,
             seed: int = 0, calibration=None, attention_dp: int = 1, expert_parallel: int = 1) -> SimResult | str:
    """Simulate a catalog model on a GPU configuration with the same device, memory and step-time model as
    :func:`planner.perf.estimate.estimate`; returns the reason string when the replica cannot run.

    The KV pool is the estimate's ``kv_capacity_tokens``; batch cap, chunk budget and ``t_req`` are the
    engine's calibrated constants. With ``attention_dp`` = dp ranks the replica holds dp × (batch cap, chunk
    budget, KV); requests are dealt to the ranks round-robin, each rank chunks within its own budget, and a step
    is charged with the replica's prefill tokens and its busiest rank's (``step_time``'s ``rank_prefill``).
    """
    from planner.perf.calibration import default_calibration  # noqa: PLC0415
    from planner.perf.device import KV_DTYPE_BYTES, check_precision, make_device, resolve_kv_dtype  # noqa: PLC0415
    from planner.perf.estimate import estimate  # noqa: PLC0415
    from planner.perf.roofline import step_context, step_time  # noqa: PLC0415

    cal = calibration or default_calibration()
    eng = cal.engine(engine)
    par = {} if attention_dp == expert_parallel == 1 else dict(attention_dp=attention_dp,
                                                                 expert_parallel=expert_parallel)
    est = estimate(model, gpu, tp=tp, precision=precision, kv_dtype=kv_dtype, engine=engine,
                   prompt_tokens=prompt_tokens, output_tokens=output_tokens, concurrency=concurrency or 1,
                   ttft_percentile=ttft_percentile, calibration=cal, **par)
    if not est.fits:
        return est.reason or "does not fit"
    kv_name = resolve_kv_dtype(kv_dtype, precision, engine, sparse_mla=model.sparse_mla, arch=gpu.arch)
    dev = make_device(gpu, tp=tp, mig_profile=None, precision=precision, kv_dtype=kv_name, engine=engine, **par)
    if isinstance(dev, str):
        return dev
    eng = eng.on_device(dev.mem_gib, dev.dp, dev.gpu_id)
    ctx = step_context(model, dev, bytes_per_weight=check_precision(precision), kv_bytes=KV_DTYPE_BYTES[kv_name],
                       cal=cal, eng=eng)

    def step_seconds(b: int, t: int, c: float, c_p: float, t_rank: int | None = None) -> float:
        return float(step_time(ctx, b, t, max(c, 1.0), c_p, rank_prefill=t_rank)["total"])

    return simulate_replica(step_seconds, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                            kv_tokens=int(est.kv_capacity_tokens), max_batch=eng.max_batch * attention_dp,
                            chunk_tokens=eng.chunk_tokens * attention_dp, t_request_s=eng.t_request_ms * 1e-3,
                            concurrency=concurrency, rate_per_s=rate_per_s, n_requests=n_requests,
                            percentile=ttft_percentile, seed=seed, ranks=attention_dp,
                            balance_iters=eng.adp_balance_iters)
