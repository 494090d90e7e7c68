"""The serving model under load (planner.perf.queueing): hand-derived values on a linear step time, and
properties of estimate() that the issue asks for (a TTFT percentile is never below its mean)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.perf.estimate import curve_terms, estimate
from planner.perf.queueing import Loop, solve

CAT = Catalog.builtin()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def linear(a=2e-3, per_seq=1e-5, per_tok=5e-6):
    """Step time a + per_seq·b + per_tok·t seconds."""
    return lambda b, t: a + per_seq * np.asarray(b, float) + per_tok * np.asarray(t, float)


def test_one_client_ttft_is_overhead_plus_its_prefill_chunks():
    # C = 1: nobody ahead, no step to wait for (a closed-loop client resubmits at a step boundary).
    # I = 1000, budget 512, the client itself decoding (b = 1): n = ceil(1000 / 511) = 2 chunks of 500 tokens,
    # each step 2e-3 + 1e-5 + 500·5e-6 = 4.51e-3 s -> TTFT = 0.05 + 2·4.51e-3 = 0.05902 s
    st_ = solve(linear(), Loop(prompt=1000, output=100, c_max=64, budget=512, t_req_s=0.05), [1])
    assert st_["ttft_service"][0] == pytest.approx(0.05 + 2 * 4.51e-3, rel=1e-9)
    assert st_["wait_prefill"][0] == 0.0 and st_["residual"][0] == 0.0


def test_the_fixed_point_obeys_littles_law_and_the_chunk_share():
    step = linear()
    loop = Loop(prompt=2000, output=200, c_max=48, budget=1024, t_req_s=0.02)
    conc = np.array([1, 2, 8, 32, 48, 100], dtype=float)
    st_ = solve(step, loop, conc)
    in_svc = np.minimum(conc, 48)
    assert np.allclose(st_["x"] * st_["hold"], in_svc, rtol=2e-3)  # to 1e-4, or at a jump of the right side
    # TPOT = (1 − q)·t0 + q·t1 with q = X·n·TPOT (share of steps that carry a chunk), capped at t1
    t0, t1, q = st_["step_decode"], st_["step_chunk"], st_["chunk_share"]
    assert np.allclose(st_["tpot"], np.minimum((1 - q) * t0 + q * t1, t1), rtol=1e-3)
    # M/D/1 wait with the finite-population factor (C_s − 1)/C_s of the C_s = min(C, c_max) requests in service
    # (the 52 clients beyond c_max at C = 100 wait for a slot, not in this queue), phase 0
    rho, s = st_["rho"], st_["prefill_work"]
    # ... never more than the other C_s − 1 prompts' work (finite population)
    expect = np.minimum(rho * s / (2 * (1 - rho)) * (in_svc - 1) / in_svc, (in_svc - 1) * s)
    assert np.allclose(st_["wait_prefill"], expect, rtol=1e-9)


def test_in_phase_clients_wait_for_their_share_of_the_burst():
    step = linear()
    base = dict(prompt=1000, output=100, c_max=64, budget=8192, t_req_s=0.0)
    a = solve(step, Loop(**base), [16])
    b = solve(step, Loop(**base, phase=0.25), [16])
    # the burst term is κ·(C − 1)·S on top of the M/D/1 wait, evaluated at b's own fixed point
    extra = b["wait_prefill"] - b["rho"] * b["prefill_work"] / (2 * (1 - b["rho"])) * 15 / 16
    assert extra[0] == pytest.approx(0.25 * 15 * b["prefill_work"][0], rel=1e-9)
    assert b["ttft_service"][0] > a["ttft_service"][0]


def test_open_loop_single_slot_waits_where_the_closed_loop_client_does_not():
    step = linear()
    closed = solve(step, Loop(prompt=1000, output=50, c_max=8, budget=8192, t_req_s=0.0), [1])
    opened = solve(step, Loop(prompt=1000, output=50, c_max=8, budget=8192, t_req_s=0.0, closed=False), [1])
    assert closed["wait_prefill"][0] == 0.0
    assert opened["wait_prefill"][0] > 0.0


configs = st.fixed_dictionaries({
    "model": st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3"]),
    "gpu": st.sampled_from(["h100-sxm", "a100-80gb", "l40s", "b200", "h200"]),
    "tp": st.sampled_from([1, 2, 4, 8]),
    "precision": st.sampled_from(["bf16", "fp8"]),
    "engine": st.sampled_from(["vllm", "sglang", "trtllm"]),
    "prompt_tokens": st.integers(1, 8000),
    "output_tokens": st.integers(1, 2000),
})


@SETTINGS
@given(cfg=configs, pct=st.floats(50.0, 99.9), load=st.one_of(
    st.integers(1, 512).map(lambda c: ("concurrency", c)),
    st.floats(30.0, 20_000.0).map(lambda s: ("ttft_slo_ms", s))))
def test_a_ttft_percentile_is_never_below_its_mean(cfg, pct, load):
    m, g = CAT.model(cfg["model"]), CAT.gpu(cfg["gpu"])
    e = estimate(m, g, ttft_percentile=pct, **{load[0]: load[1]},
                 **{k: v for k, v in cfg.items() if k not in ("model", "gpu")})
    if not e.fits or e.concurrency == 0:
        return
    assert e.ttft_ms >= e.terms["ttft_mean_ms"] * (1 - 1e-12) or math.isinf(e.terms["ttft_mean_ms"])


def test_the_engine_overhead_adds_to_ttft_one_for_one_at_one_client():
    from planner.perf.calibration import default_calibration

    m, g = CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm")
    base = default_calibration()
    more = base.with_values({"vllm.t_request_ms": base.engine("vllm").t_request_ms + 100.0})
    kw = dict(prompt_tokens=1000, output_tokens=200, concurrency=1)
    a, b = estimate(m, g, calibration=base, **kw), estimate(m, g, calibration=more, **kw)
    assert b.terms["ttft_mean_ms"] - a.terms["ttft_mean_ms"] == pytest.approx(100.0, rel=1e-6)
    assert b.tpot_ms == pytest.approx(a.tpot_ms, rel=1e-6)


def test_a_prompt_on_a_data_parallel_rank_waits_behind_its_own_ranks_prompts():
    # M/D/1 on one rank: arrivals X/r, service S (the work one prompt adds to its chunk steps), so the wait is
    # ρ·S/(2(1 − ρ)) with ρ = (X/r)·S — not ρ·(S/r)/(2(1 − ρ)). The loop reports S/r as prefill_work and ρ as
    # rho.
    loop = Loop(prompt=4000, output=200, c_max=256, budget=8192, t_req_s=0.0, ranks=4)
    st_ = solve(linear(), loop, [64])
    rho, s_r = st_["rho"][0], st_["prefill_work"][0]
    mdl = rho * 4 * s_r / (2.0 * (1.0 - rho)) * (63 / 64)   # a = (C − 1)/C closed loop
    assert st_["wait_prefill"][0] == pytest.approx(min(mdl, 63 * s_r), rel=1e-9)


def test_both_equations_of_the_fixed_point_hold_at_the_answer():
    # The decode batch is Little's law on the decode phase at the reported rate and TPOT, b = X·(O − 1)·TPOT
    # (clipped to 1 … C_s), and the TPOT is the mean step at that batch: min(t0/(1 − a·ρ), t1). Until
    # 2026-12-03 the step time came from three rounds of τ ← τ(b(τ)) carried between evaluations, and the two
    # sides disagreed by up to a third of the TPOT at a saturated replica.
    step = linear(a=4e-3, per_seq=2e-4, per_tok=2e-5)
    loop = Loop(prompt=1000, output=250, c_max=200, budget=2048, t_req_s=0.01)
    conc = np.array([1.5, 3, 10, 40, 120, 200, 400], dtype=float)
    for closed in (True, False):
        st_ = solve(step, replace(loop, closed=closed), conc)
        c_s = np.minimum(conc, 200)
        b = np.clip(st_["x"] * 249 * st_["tpot"], np.minimum(c_s, 1), np.maximum(c_s, 1))
        assert np.allclose(st_["decode_batch"], b, rtol=1e-12)
        a = (c_s - 1) / c_s if closed else np.minimum(conc, 1)   # closed: the others in service (C_s of them)
        t0, t1, rho = st_["step_decode"], st_["step_chunk"], st_["rho"]
        assert np.allclose(st_["tpot"], np.minimum(t0 / (1 - a * rho), t1), rtol=1e-12)
        assert np.all(np.abs(st_["x"] * st_["hold"] - c_s) <= 1e-4 * c_s + 1e-12)


@SETTINGS
@given(conc=st.lists(st.floats(0.1, 600.0), min_size=1, max_size=12),
       prompt=st.integers(1, 6000), output=st.integers(2, 1500), closed=st.booleans())
def test_a_load_gets_the_same_answer_whatever_is_solved_beside_it(conc, prompt, output, closed):
    # each load's search stops on its own: solving it alone or among others gives the same numbers
    step = linear(a=3e-3, per_seq=1e-4, per_tok=1e-5)
    loop = Loop(prompt=prompt, output=output, c_max=256, budget=4096, t_req_s=0.02, closed=closed)
    together = solve(step, loop, conc)
    for j, c in enumerate(conc):
        alone = solve(step, loop, [c])
        for key in ("x", "tpot", "ttft_service", "hold"):
            assert alone[key][0] == together[key][j]


def test_more_clients_never_lower_the_rate_of_a_decode_bound_replica():
    # Phi-4 on H200 NVL at TP2 with one-token prompts: the search over X with a carried step time ran
    # 10,797 / 9,917 / 10,001 tok/s at 151 / 158 / 165 clients (a jump of its inner loop); the exact fixed point
    # grows with the load
    m, g = CAT.model("phi-4"), CAT.gpu("h200-nvl")
    rates = [estimate(m, g, tp=2, prompt_tokens=1, output_tokens=347, concurrency=c).output_tokens_per_s
             for c in range(140, 200, 3)]
    assert all(b >= a for a, b in zip(rates, rates[1:])), rates


def test_a_step_that_gets_faster_with_the_batch_still_meets_littles_law():
    # the search's upper end assumes the step time grows with the batch; a caller's own step function need not
    # (here each decode makes the step 5 % faster), and the bracket is then widened until it holds the root
    step = lambda b, t: 0.02 / (1.0 + 0.05 * np.asarray(b, float)) + 1e-6 * np.asarray(t, float)  # noqa: E731
    loop = Loop(prompt=500, output=100, c_max=200, budget=2048, t_req_s=0.001)
    conc = np.array([1.5, 5, 20, 80, 200, 300.0])
    st_ = solve(step, loop, conc)
    c_s = np.minimum(conc, 200)
    assert np.all(np.abs(st_["x"] * st_["hold"] - c_s) <= 1e-4 * c_s)


@SETTINGS
@given(cfg=configs, conc=st.lists(st.integers(1, 1024), min_size=1, max_size=6), closed=st.booleans())
def test_catalog_configurations_meet_both_equations(cfg, conc, closed):
    # through the real step function (roofline coefficients, MoE experts touched, TP collectives): at every load
    # the decode batch is Little's law on the decode phase at the solved rate and TPOT, b = X·(O − 1)·TPOT
    # (clipped to 1 … C_s), exactly; and Little's law on the slots holds to the search's tolerance, or to half
    # a jump where the integer chunk count makes the hold jump across the load (a step time, a few % of it)
    from planner.perf import estimate as est

    m, g = CAT.model(cfg["model"]), CAT.gpu(cfg["gpu"])
    prep = est._prepare(m, g, tp=cfg["tp"], mig_profile=None, precision=cfg["precision"], kv_dtype="auto",
                        engine=cfg["engine"], prompt_tokens=cfg["prompt_tokens"], output_tokens=cfg["output_tokens"],
                        context_tokens=None, ttft_percentile=95.0, calibration=None, attention_dp=1,
                        expert_parallel=1, allow_multi_node=False)
    if isinstance(prep, est.Estimate):   # does not fit, or an invalid layout: nothing to check
        return
    case = prep[0]
    c = np.asarray(conc, dtype=float)
    st_ = solve(est._step_fn(case), est._loop(case, open_loop=not closed), c)
    c_s = np.minimum(c, case.c_max)
    b = np.clip(st_["x"] * (cfg["output_tokens"] - 1) * st_["tpot"], np.minimum(c_s, 1), np.maximum(c_s, 1))
    assert np.allclose(st_["decode_batch"], b, rtol=1e-9)
    assert np.all(np.abs(st_["x"] * st_["hold"] - c_s) <= 0.05 * c_s)


def test_an_attention_dp_balance_hold_waits_for_every_rank_or_the_clock():
    # TensorRT-LLM's attention-DP balance holds a prompt until each of the r ranks has one ((r − 1) more arrivals
    # after the first: (r − 1)/(2X) on average) or its release clock ticks (every B steps: B·τ̄/2 on average).
    # Light load, r = 8: the clock decides (B·τ̄/2 = 5·τ̄ with B = 10); heavy load: the other ranks' arrivals do.
    base = dict(prompt=500, output=400, c_max=512, budget=8192, t_req_s=0.0, ranks=8)
    conc = np.array([2.0, 16.0, 400.0])
    for closed in (True, False):
        off = solve(linear(), Loop(**base, closed=closed), conc)
        on = solve(linear(), Loop(**base, balance=10.0, closed=closed), conc)
        x, tau = on["x"], on["tpot"]
        expect = np.minimum(7.0 / (2.0 * x), 5.0 * tau)
        assert np.allclose(on["wait_balance"], expect, rtol=1e-12)
        assert np.allclose(on["ttft_service"] - on["wait_balance"] - on["wait_prefill"] - on["residual"]
                           - on["prefill"], 0.0, atol=1e-12)
        assert on["wait_balance"][0] == pytest.approx(5.0 * tau[0], rel=1e-12)      # light: the clock
        assert on["wait_balance"][-1] == pytest.approx(7.0 / (2.0 * x[-1]), rel=1e-12)   # heavy: the ranks
        assert np.all(on["hold"] >= off["hold"] * (1 - 1e-9)) and np.all(off["wait_balance"] == 0.0)
    one_rank = solve(linear(), Loop(**{**base, "ranks": 1}, balance=10.0), conc)
    assert np.all(one_rank["wait_balance"] == 0.0)   # nothing to balance on one rank


def test_trtllm_attention_dp_carries_the_balance_hold_and_its_percentile():
    # the engine constant reaches the estimate: TTFT mean rises by exactly the reported hold, and a p-quantile of
    # the hold (uniform over its window) is 2p times its mean
    from planner.perf.calibration import default_calibration

    m, g = CAT.model("deepseek-r1"), CAT.gpu("b200")
    kw = dict(tp=1, precision="fp4", engine="trtllm", prompt_tokens=1000, output_tokens=200, attention_dp=8,
              expert_parallel=8, ttft_percentile=90.0)
    cal = default_calibration()
    off = cal.with_values({"trtllm.adp_balance_iters": 0.0})
    for load in (dict(concurrency=4), dict(concurrency=64)):
        a, b = estimate(m, g, calibration=off, **kw, **load), estimate(m, g, calibration=cal, **kw, **load)
        w = b.terms["ttft_dp_balance_wait_ms"]
        assert w > 0 and a.terms["ttft_dp_balance_wait_ms"] == 0.0
        assert b.terms["ttft_mean_ms"] > a.terms["ttft_mean_ms"]
    # the hold's quantile on its own: a solved point with only the hold and the service (no prefill queue)
    st_ = {k: np.array([0.0]) for k in ("rho", "prefill_work", "wait_prefill", "wait_share", "prefill", "residual",
                                        "chunk_share", "decode_batch")}
    st_.update(hold=np.array([2.0]), x=np.array([4.0]), tpot=np.array([0.01]), ttft_service=np.array([0.35]),
               wait_balance=np.array([0.25]))
    for p in (0.5, 0.9, 0.99):
        v = curve_terms(st_, np.array([8.0]), 64.0, p, False, {})
        assert v["ttft_p"][0] - v["ttft_mean"][0] == pytest.approx((2 * p - 1) * 0.25, abs=1e-12)
    tp8 = estimate(m, g, **{**kw, "tp": 8, "attention_dp": 1, "expert_parallel": 1}, concurrency=16)
    assert tp8.terms["ttft_dp_balance_wait_ms"] == 0.0


def test_clients_beyond_the_only_slot_change_nothing_for_the_one_in_service():
    # c_max = 1 (a KV pool that holds one sequence: Mixtral-8x22B INT4 on one A100-80GB): the other clients wait
    # for the slot, so the request in service sees no other prompt's chunk, no running step to land in and no
    # prompt ahead of it: its rate, TPOT and TTFT in service are those of one client. With the closed-loop share
    # counted over all C clients instead of the C_s in service, two clients gave 0.5 % less throughput than one
    # (the property test in test_perf_properties found it).
    loop = Loop(prompt=172, output=554, c_max=1, budget=8192, t_req_s=0.01)
    st_ = solve(linear(a=4e-3, per_seq=2e-4, per_tok=2e-5), loop, [1, 2, 7])
    for key in ("x", "tpot", "ttft_service", "hold"):
        assert np.allclose(st_[key], st_[key][0], rtol=1e-12), key
    assert np.all(st_["residual"] == 0.0) and np.all(st_["wait_prefill"] == 0.0)


class _RankStep:
    """A step time whose chunk part has an experts' share (``moe`` s per token of the replica) and a rank's own
    share (``rank`` s per token the busiest rank carries, counted as ``t_rank`` = dp × its tokens, as
    ``step_coef.CoefStep.pair``): t(b, t) = a + per_seq·b + moe·t + rank·t_rank."""

    def __init__(self, a=2e-3, per_seq=1e-5, moe=3e-6, rank=2e-6):
        self.a, self.per_seq, self.moe, self.rank = a, per_seq, moe, rank

    def pair(self, b, t, t_rank=None):
        b, t = np.asarray(b, float), np.asarray(t, float)
        u = t if t_rank is None else np.asarray(t_rank, float)
        t0 = self.a + self.per_seq * b
        return t0, t0 + self.moe * t + self.rank * u

    def __call__(self, b, t):
        return self.pair(b, t)[1]


def test_an_attention_dp_chunk_step_is_shared_by_every_rank_in_phase_and_by_few_at_random():
    # 4 ranks, a 1,000-token prompt in one chunk (8,192 tokens a rank). Closed loop, one client: the busy case,
    # every rank charged a chunk and the step shared by the 4 ranks' prompts: S = 4·1000·(moe + rank)/4 = 5 ms.
    # Open loop at a vanishing load: chunks on independent ranks (r·p/(1 − (1 − p)^r) → 1 rank per chunk step), so
    # a prompt's step in the mean (the TPOT's) carries its own chunk alone, the experts' work of its 1,000 tokens and
    # its rank's work as the busiest (every rank as it): S = 1000·moe + 4·1000·rank = 3 + 8 = 11 ms.
    step = _RankStep()
    base = dict(prompt=1000, output=100, c_max=256, budget=8192, t_req_s=0.0, ranks=4)
    closed = solve(step, Loop(**base), [1.0])
    assert closed["prefill_work"][0] == pytest.approx(5e-3, rel=1e-9)
    assert closed["step_chunk"][0] - closed["step_decode"][0] == pytest.approx(4 * 1000 * 5e-6, rel=1e-9)
    light = solve(step, Loop(**base, closed=False), [1e-3])
    assert light["prefill_work"][0] == pytest.approx(11e-3, rel=1e-3)
    # ... while the prompt's own chunk step (its TTFT) stays the busy case's, every rank's chunk beside its own
    assert light["step_chunk"][0] - light["step_decode"][0] == pytest.approx(4 * 1000 * 5e-6, rel=1e-9)
    # under load the open loop's chunk steps fill up with the other ranks' chunks and the work per prompt falls
    # towards the busy case's (never below it)
    heavy = solve(step, Loop(**base, closed=False), [200.0])
    assert 5e-3 * (1 - 1e-9) <= heavy["prefill_work"][0] < light["prefill_work"][0]
    # a balance hold waits for every rank to have a prompt: the busy case in the open loop too
    held = solve(step, Loop(**base, closed=False, balance=60.0), [1e-3])
    assert held["prefill_work"][0] == pytest.approx(5e-3, rel=1e-9)


def test_the_open_loop_capacity_of_an_attention_dp_replica_holds_in_the_simulator():
    # DeepSeek-V3 on 8 B200s as 8 attention-DP ranks with expert parallelism (SGLang), 2,000-token prompts, SLOs
    # 3 s (p95) and 60 ms. Poisson prompts land on the ranks round-robin and mostly alone in their chunk steps;
    # the capacity charged as if every rank's chunk shared one step (659 requests/min before 2026-12-06) put the
    # simulated replica at a TPOT of 260 ms, four times the SLO. Now the simulator, fed the analytic
    # capacity, meets both SLOs within 5 % and serves what it is offered (it measured 51 ms, 566 ms).
    from planner.perf.simulator import simulate

    m, g = CAT.model("deepseek-v3"), CAT.gpu("b200")
    kw = dict(tp=1, precision="fp8", engine="sglang", prompt_tokens=2000, output_tokens=500, attention_dp=8,
              expert_parallel=8)
    est = estimate(m, g, ttft_slo_ms=3000.0, tpot_slo_ms=60.0, **kw)
    sim = simulate(m, g, rate_per_s=est.requests_per_min / 60.0, n_requests=2500, **kw)
    assert sim.tpot_mean_ms <= 60.0 * 1.05 and sim.ttft_p_ms <= 3000.0 * 1.05
    assert sim.requests_per_min == pytest.approx(est.requests_per_min, rel=0.05)


def test_the_root_search_settles_a_bending_load_in_a_few_evaluations(monkeypatch):
    # DeepSeek-V3 at TP8 on B200 (FP4, TensorRT-LLM): the SLO grid's two highest loads, near 2,048 slots, sit where g
    # bends (the step at its cap); halving the stale end's secant value (Illinois) took 13 rounds there, 15
    # evaluations of the 64-load grid in all, where every other load had stopped after 5. The Anderson–Björck factor
    # settles them with the rest: the no-load and upper ends, 4 secant steps and the answer's evaluation
    import planner.perf.queueing as queueing

    calls = []
    real = queueing._at
    monkeypatch.setattr(queueing, "_at", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    e = estimate(CAT.model("deepseek-v3"), CAT.gpu("b200"), tp=8, precision="fp4", ttft_slo_ms=2000,
                 engine="trtllm")
    assert e.fits and e.ttft_ms == pytest.approx(2000.0)
    assert calls == [64] * 7


@pytest.mark.parametrize("open_loop", [False, True])
def test_loads_near_a_full_prefill_queue_meet_littles_law(open_loop):
    # Llama-3.1-8B on one H100, 1,000-token prompts and 2-token answers: the high loads settle where the prefill queue
    # fills (rho 0.97-0.998), where Little's law g(q) = X·hold − C_s rises by ~130 requests over 1 % of q. The search
    # stops there on a bracket 1e-4 of q wide; its ends left g at up to 0.19 % of the load (5 of the grid's loads
    # above the 1e-4 tolerance, closed and open loop alike). The secant point of the two ends meets it on every load
    from planner.perf.estimate import _loop, _step_fn, _throughput_grid, slo_grid
    from planner.perf.queueing import TOL
    from tests.test_perf_slo_search import _prep

    case = _prep(CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm"), tp=1, precision="bf16", engine="vllm",
                 prompt_tokens=1000, output_tokens=2)[0]
    loads = slo_grid(case) if open_loop else _throughput_grid(int(case.c_max))
    st_ = solve(_step_fn(case), _loop(case, open_loop), loads)
    c_s = np.minimum(loads, case.c_max)
    assert np.all(st_["rho"][-10:] > 0.97)   # the case is the one described: the top loads near a full queue
    assert np.all(np.abs(st_["x"] * st_["hold"] - c_s) <= TOL * c_s)


def test_the_closed_loops_corner_is_where_the_prefill_wait_meets_its_cap_by_hand():
    # C = 11 clients, κ = 0.1, one rank: a = 10/11, K = 2·10·0.9/(10/11) = 19.8, ρ* = 19.8/20.8 = 0.951923...
    # On a linear step with the batch at its clip (O large: b = C_s) t0 and S = per_tok·I are constant, so the q* an
    # evaluation reports is exact: ρ there is ρ*, and the wait M/D/1 + κ·10·S just reaches its cap 10·S
    from planner.perf.queueing import _at, _fixed

    step = linear(a=4e-3, per_seq=2e-4, per_tok=2e-5)
    loop = Loop(prompt=1000, output=4000, c_max=64, budget=4096, t_req_s=0.01, phase=0.1)
    fx = _fixed(loop, np.array([11.0]))
    assert fx.corner[0] == pytest.approx(19.8 / 20.8, rel=1e-12)
    _, _, q_star = _at(step, loop, np.array([0.05]), fx, full=False)
    terms = _at(step, loop, q_star, fx)
    s = terms["prefill_work"][0]
    assert s == pytest.approx(2e-5 * 1000, rel=1e-12)
    assert terms["rho"][0] == pytest.approx(19.8 / 20.8, rel=1e-9)
    assert terms["wait_prefill"][0] == pytest.approx(10 * s, rel=1e-9)
    below = _at(step, loop, q_star * (1 - 1e-3), fx)["wait_prefill"][0]
    assert below < 10 * s * (1 - 1e-3)   # below the corner the wait still rises (steeply)
    assert _at(step, loop, q_star * 1.01, fx)["wait_prefill"][0] == pytest.approx(10 * s, rel=1e-12)
    # the open loop has no such cap: no corner, no estimate
    assert _fixed(replace(loop, closed=False), np.array([11.0])).corner is None


def test_a_root_just_below_the_corner_takes_a_few_evaluations_not_two_dozen(monkeypatch):
    # bench/perf_timing.py's "max throughput, roots at the corner" (Qwen3-32B on two B200s, 8,000-token prompts,
    # 2-token answers): the loads at 127-131 of 131 slots have their root within 1e-4 of q below the corner; the secant
    # crept down from the flat side for 23 rounds (27 evaluations in all, 2.0 ms) before the corner was probed. The
    # answer: Little's law at every load solved, and the same load and rate as the search with its tolerance 10^6 times
    # tighter (the path differs, the root does not)
    import planner.perf.queueing as queueing
    from planner.perf.estimate import _loop, _step_fn, _throughput_grid
    from tests.test_perf_slo_search import _prep

    m, g = CAT.model("qwen3-32b"), CAT.gpu("b200")
    calls = []
    real = queueing._at
    monkeypatch.setattr(queueing, "_at", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    e = estimate(m, g, tp=2, prompt_tokens=8000, output_tokens=2)
    assert len(calls) <= 14
    monkeypatch.setattr(queueing, "_at", real)
    case = _prep(m, g, tp=2, precision="bf16", engine="vllm", prompt_tokens=8000, output_tokens=2)[0]
    loads = _throughput_grid(int(case.c_max))
    st_ = solve(_step_fn(case), _loop(case, False), loads)
    c_s = np.minimum(loads, case.c_max)
    assert np.all(np.abs(st_["x"] * st_["hold"] - c_s) <= 1e-4 * c_s)
    monkeypatch.setattr(queueing, "TOL", 1e-10)
    monkeypatch.setattr(queueing, "JUMP_X", 1e-10)
    tight = estimate(m, g, tp=2, prompt_tokens=8000, output_tokens=2)
    assert tight.concurrency == e.concurrency == case.c_max == 131   # the rate grows up to c_max (it read 129 before)
    assert tight.requests_per_min == pytest.approx(e.requests_per_min, rel=1e-4)


def test_a_long_closed_loop_vector_probes_each_load_as_it_would_alone():
    # above SUBSET_MIN loads the search evaluates only the live ones (its q* too: the others read nan); 6,000-token
    # prompts and 3-token answers put many roots near the corner, and each load's answer is still its own
    from planner.perf.queueing import SUBSET_MIN

    step = linear(a=3e-3, per_seq=1e-4, per_tok=1e-5)
    loop = Loop(prompt=6000, output=3, c_max=400, budget=4096, t_req_s=0.02, phase=0.05)
    conc = np.linspace(0.5, 700.0, 600)
    assert len(conc) > SUBSET_MIN
    together = solve(step, loop, conc)
    for j in range(0, 600, 37):
        alone = solve(step, loop, [conc[j]])
        for key in ("x", "tpot", "ttft_service", "hold"):
            assert alone[key][0] == together[key][j]
    c_s = np.minimum(conc, 400)
    assert np.all(np.abs(together["x"] * together["hold"] - c_s) <= 1e-4 * c_s)
