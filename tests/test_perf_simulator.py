"""The discrete-event replica simulator: exact on hand-worked cases, M/D/1 under heavy single-slot load,
agreement with the analytic model where both are meant to coincide, and invariants under hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catalog import Catalog
from planner.perf.calibration import default_calibration
from planner.perf.device import KV_DTYPE_BYTES, make_device
from planner.perf.estimate import estimate
from planner.perf.roofline import prefill_time, step_context, step_time
from planner.perf.simulator import simulate, simulate_replica

CAT = Catalog.builtin()


def linear(a=2e-3, per_seq=1e-5, per_tok=5e-6):
    """A synthetic step time: fixed a + per decode sequence + per prefill token (contexts ignored)."""
    return lambda b, t, c, cp, t_rank=None: a + per_seq * b + per_tok * t


def test_one_client_ttft_is_overhead_plus_prefill_chunks_exactly():
    # I = 1000 in chunks of X = 512: steps of 512 and 488 tokens -> 2a + 5e-6·1000; plus t_req
    f = linear()
    r = simulate_replica(f, prompt_tokens=1000, output_tokens=50, kv_tokens=10_000, max_batch=8, chunk_tokens=512,
                         t_request_s=3e-3, concurrency=1, n_requests=50)
    assert r.ttft_mean_ms == pytest.approx((3e-3 + 2 * 2e-3 + 5e-6 * 1000) * 1e3, rel=1e-9)
    assert r.ttft_p_ms == pytest.approx(r.ttft_mean_ms, rel=1e-9)
    # TPOT: each later token one decode step of one sequence
    assert r.tpot_mean_ms == pytest.approx((2e-3 + 1e-5) * 1e3, rel=1e-9)
    # a request cycle = t_req + TTFT part + 49 decode steps; one client -> 60 / cycle per minute
    cycle = 3e-3 + 2 * 2e-3 + 5e-6 * 1000 + 49 * (2e-3 + 1e-5)
    assert r.requests_per_min == pytest.approx(60 / cycle, rel=1e-6)
    assert r.preemptions == 0 and r.completed == 50


def test_single_slot_poisson_queue_is_md1():
    # max_batch 1: one request at a time, deterministic service S -> M/D/1 mean wait ρS / (2(1 − ρ))
    f = linear(a=1e-3, per_seq=0.0, per_tok=0.0)
    O, X = 20, 4096
    service = 1e-3 + (O - 1) * 1e-3               # one prefill step + 19 decode steps
    rho = 0.5
    runs = [simulate_replica(f, prompt_tokens=100, output_tokens=O, kv_tokens=10_000, max_batch=1, chunk_tokens=X,
                             rate_per_s=rho / service, n_requests=3_000, seed=seed) for seed in (1, 2, 3, 4)]
    wait = rho * service / (2 * (1 - rho))
    # 10 %: the sample mean of an M/D/1 wait at ρ = 0.5 over 4 × 2,700 requests (autocorrelated) scatters ~4 %;
    # measured +1 to +4 % (arrival-rate estimate in the window +1.5 %)
    assert np.mean([r.ttft_mean_ms for r in runs]) == pytest.approx((wait + 1e-3) * 1e3, rel=0.10)
    for r in runs:
        assert r.requests_per_min == pytest.approx(60 * rho / service, rel=0.05)


def test_overload_builds_a_queue_and_throughput_caps():
    f = linear(a=1e-3, per_seq=0.0, per_tok=0.0)
    service = 20e-3
    light = simulate_replica(f, prompt_tokens=100, output_tokens=20, kv_tokens=10_000, max_batch=1,
                             chunk_tokens=4096, rate_per_s=0.5 / service, n_requests=2000, seed=1)
    heavy = simulate_replica(f, prompt_tokens=100, output_tokens=20, kv_tokens=10_000, max_batch=1,
                             chunk_tokens=4096, rate_per_s=1.5 / service, n_requests=2000, seed=1)
    assert heavy.ttft_mean_ms > 20 * light.ttft_mean_ms
    assert heavy.requests_per_min == pytest.approx(60 / service, rel=0.02)  # the server's capacity


def test_a_small_kv_pool_preempts_and_still_finishes_everything():
    f = linear()
    r = simulate_replica(f, prompt_tokens=200, output_tokens=200, kv_tokens=1_600, max_batch=16, chunk_tokens=512,
                         concurrency=16, n_requests=200)
    assert r.preemptions > 0 and r.completed == 200


# ------------------------------------------------------------------------------------------ vs the analytic model

def _ctx(model_id="llama-3.1-8b", gpu_id="h100-sxm"):
    cal = default_calibration()
    eng = cal.engine("vllm")
    dev = make_device(CAT.gpu(gpu_id), tp=1, mig_profile=None, precision="bf16", kv_dtype="bf16", engine="vllm")
    return step_context(CAT.model(model_id), dev, bytes_per_weight=2.0, kv_bytes=KV_DTYPE_BYTES["bf16"], cal=cal,
                        eng=eng), eng


# Tolerances, stated: light load 5 % (TTFT = t_req + prefill is the same quantity in both; chunking and the
# 16-token context rounding differ slightly). Saturated closed loop: requests/min 5 %, TPOT 15 % — the
# simulator's steps carry the prompts that actually arrive, in bursts (clients finishing in the same step
# resubmit together), and the step time is convex in the prefill tokens, so the mean step exceeds the step at
# the mean load (Jensen); the formula uses the mean load. Measured (llama-3.1-8b, H100, 1000/200, C = 256):
# TPOT 45.3 vs 39.7 ms (+14 %), 1,646 vs 1,925 requests/min (−14 %): a disagreement the analytic model owes
# an explanation for, bounded here at 20 % so that it cannot silently grow.
def test_light_load_ttft_is_prefill_plus_overhead():
    ctx, eng = _ctx()
    sim = simulate(CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm"), prompt_tokens=2000, output_tokens=100,
                   concurrency=1, n_requests=200)
    expected_ms = (eng.t_request_ms * 1e-3 + float(prefill_time(ctx, 2000))) * 1e3
    assert sim.ttft_mean_ms == pytest.approx(expected_ms, rel=0.05)
    est = estimate(CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm"), prompt_tokens=2000, output_tokens=100,
                   concurrency=1)
    assert sim.ttft_mean_ms == pytest.approx(est.terms["ttft_mean_ms"], rel=0.05)
    # (the formula's TPOT at C = 1 also amortises the request's own prefill over its tokens, 6 % here; a
    # benchmark's TPOT, (latency − TTFT)/(O − 1), does not: the simulator measures the latter)
    # TPOT = the mean single-sequence decode step over contexts 2000..2100
    steps = [float(step_time(ctx, 1, 0, c, 0.0)["total"]) for c in range(2000, 2100)]
    assert sim.tpot_mean_ms == pytest.approx(np.mean(steps) * 1e3, rel=0.01)


def _saturated(cal):
    m, g = CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm")
    sim = simulate(m, g, prompt_tokens=1000, output_tokens=200, concurrency=256, n_requests=3000, calibration=cal)
    est = estimate(m, g, prompt_tokens=1000, output_tokens=200, concurrency=256, calibration=cal)
    return sim, est


def test_saturated_closed_loop_throughput_and_tpot_agree():
    # the queueing structure, without the per-layer cost of a prefill step (next test): measured 2,019 vs
    # 1,963 requests/min, TPOT 38.1 vs 38.0 ms
    sim, est = _saturated(default_calibration().with_values({"vllm.t_prefill_layer_us": 0.0}))
    assert sim.requests_per_min == pytest.approx(est.requests_per_min, rel=0.20)
    assert sim.tpot_mean_ms == pytest.approx(est.tpot_ms, rel=0.20)


@pytest.mark.xfail(strict=False, reason="known, issue 12 open: with the fitted per-layer prefill-step cost "
                   "(vLLM 451 µs × 32 layers = 14.4 ms per chunk step, 2026-12-06) the simulator serves 1,686 "
                   "requests/min (TPOT 45.4 ms) where the formula gives 1,393 (53.2 ms): 21.0 % apart (19.9 % "
                   "at 425 µs): the formula shares chunk steps among Poisson-like arrivals, while the "
                   "simulator's closed-loop clients bunch and share more of them")
def test_saturated_closed_loop_agrees_with_the_fitted_prefill_step_cost():
    sim, est = _saturated(default_calibration())
    assert sim.requests_per_min == pytest.approx(est.requests_per_min, rel=0.20)
    assert sim.tpot_mean_ms == pytest.approx(est.tpot_ms, rel=0.20)


def test_simulate_returns_the_reason_when_the_replica_cannot_run():
    reason = simulate(CAT.model("llama-3.1-405b"), CAT.gpu("l4"), concurrency=1, n_requests=10)
    assert isinstance(reason, str) and "does not fit" in reason


# ------------------------------------------------------------------------------------------ invariants

@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 48), prompt=st.integers(1, 600), out=st.integers(1, 80), chunk=st.integers(64, 2048),
       max_batch=st.integers(1, 64), pool_seqs=st.floats(1.0, 80.0), seed=st.integers(0, 5))
def test_conservation_and_ordering(c, prompt, out, chunk, max_batch, pool_seqs, seed):
    kv = int(math.ceil((prompt + out) / 16 + 1) * 16 * pool_seqs)
    n = 120
    r = simulate_replica(linear(), prompt_tokens=prompt, output_tokens=out, kv_tokens=kv, max_batch=max_batch,
                         chunk_tokens=chunk, t_request_s=1e-3, concurrency=c, n_requests=n, seed=seed)
    assert r.submitted == r.completed == n                 # every request submitted finishes exactly once
    assert 0 < r.requests <= n
    assert r.ttft_mean_ms >= 1.0 + 2.0 - 1e-9              # at least t_req + one step
    assert r.ttft_p_ms >= 1.0 and r.tpot_mean_ms > 0 or out == 1
    assert r.mean_batch <= min(c, max_batch) + 1e-9       # never more running than clients or slots
    eps = 1e-9 * r.ttft_max_ms                              # the mean of equal floats may round above them
    assert r.ttft_p50_ms <= r.ttft_p_ms + eps and r.ttft_p_ms <= r.ttft_max_ms + eps
    assert r.ttft_mean_ms <= r.ttft_max_ms + eps
    # (p95 >= mean holds for the analytic percentile, not for every empirical sample: hypothesis found C = 24,
    # max_batch 3, where 95 % of TTFTs lie within 0.05 ms and a 5 % tail lifts the mean 0.015 % above p95)


@settings(max_examples=15, deadline=None)
@given(c=st.integers(1, 40), prompt=st.integers(1, 1500), out=st.integers(2, 60), seed=st.integers(0, 3))
def test_closed_loop_obeys_littles_law(c, prompt, out, seed):
    # C clients, each cycle = TTFT + (O − 1)·TPOT (a client resubmits when its request finishes): C = λ·E[cycle]
    r = simulate_replica(linear(), prompt_tokens=prompt, output_tokens=out, kv_tokens=1_000_000, max_batch=256,
                         chunk_tokens=1024, t_request_s=1e-3, concurrency=c, n_requests=40 * c + 200, seed=seed)
    cycle_s = (r.ttft_mean_ms + (out - 1) * r.tpot_mean_ms) / 1e3
    assert r.requests_per_min / 60 * cycle_s == pytest.approx(c, rel=0.05)


@pytest.mark.xfail(strict=False, reason="known, issue 12 open: with short outputs the closed-loop simulator can "
                   "phase-lock (c=3, prompt 1023, out 8: TTFT mean 51.8 ms vs 41.7 ms at c=6 once the step "
                   "function gained its prefill compute floor); the property needs a warm-up/steady-state window")
@settings(max_examples=15, deadline=None)
@given(c=st.integers(1, 32), prompt=st.integers(100, 2000), out=st.integers(8, 64), seed=st.integers(0, 3))
def test_more_concurrency_never_lowers_ttft_much(c, prompt, out, seed):
    f = linear(a=2e-3, per_seq=2e-5, per_tok=2e-5)
    kw = dict(prompt_tokens=prompt, output_tokens=out, kv_tokens=1_000_000, max_batch=256, chunk_tokens=2048,
              t_request_s=1e-3, n_requests=600, seed=seed)
    low = simulate_replica(f, concurrency=c, **kw)
    high = simulate_replica(f, concurrency=2 * c, **kw)
    assert high.ttft_mean_ms >= 0.9 * low.ttft_mean_ms     # 10 %: staggered starts differ between runs


def test_cli_simulate_shows_both():
    from typer.testing import CliRunner

    from planner.cli import app

    runner = CliRunner()
    args = ["estimate", "-m", "llama-3.1-8b", "-g", "h100", "--concurrency", "8", "--prompt-tokens", "500",
            "--output-tokens", "50", "--simulate"]
    r = runner.invoke(app, [*args, "--format", "json"])
    assert r.exit_code == 0, r.output
    import json

    data = json.loads(r.stdout)
    sim = data["simulated"]
    assert sim["mode"] == "closed" and sim["requests"] > 0
    assert sim["tpot_mean_ms"] == pytest.approx(data["tpot_ms"], rel=0.25)
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "Analytic vs simulated" in r.stdout and "preemptions" in r.stdout
    r = runner.invoke(app, ["estimate", "-m", "llama-3.1-8b", "--all-gpus", "--simulate"])
    assert r.exit_code == 2 and "--simulate runs one replica" in r.stderr


@pytest.mark.skipif(not __import__("planner.perf.parallel", fromlist=["x"]).ep_dp_supported(),
                    reason="performance model without attention_dp")
def test_attention_dp_replica_is_simulated_as_balanced_ranks():
    m, g = CAT.model("deepseek-r1"), CAT.gpu("h200")
    kw = dict(tp=1, precision="fp8", engine="sglang", prompt_tokens=1000, output_tokens=200, concurrency=64)
    sim = simulate(m, g, attention_dp=8, expert_parallel=8, n_requests=800, **kw)
    est = estimate(m, g, attention_dp=8, expert_parallel=8, **kw)
    assert sim.completed == 800 and sim.preemptions == 0
    # balanced ranks: TPOT 35.2 vs 42.0 ms, 416 vs 398 requests/min with SGLang's own budget (8192 // 8 ranks =
    # 1,024 tokens a rank on H200) and its separate prefill pass, 2026-12-06; bounded at 20 % as above. (Until then
    # each rank had 8,192 and the two disagreed: TPOT 26 against 37 ms, xfail.) Their TTFT still differs (2.7 against
    # 1.3 s): the two place the chunk steps differently in the closed loop.
    assert sim.tpot_mean_ms == pytest.approx(est.tpot_ms, rel=0.20)
    assert sim.requests_per_min == pytest.approx(est.requests_per_min, rel=0.20)


def test_an_attention_dp_balance_hold_waits_for_the_release_clock_at_light_load():
    # 8 ranks, release every 40 steps of 10 ms unless 8 prompts wait: at 1 request/s (an 8th prompt would take
    # ~7 s to come, the clock ticks every 0.4 s) a prompt waits for the clock's next tick, uniform over 0 … 0.4 s:
    # mean 0.2 s, 95th percentile 0.38 s on top of half a running step and its own 10 ms prefill step. Long outputs
    # keep the replica decoding (an idle replica releases at once); 10 %: ~1,800 uniform waits scatter ~1.5 %.
    f = linear(a=1e-2, per_seq=0.0, per_tok=0.0)
    kw = dict(prompt_tokens=100, output_tokens=1500, kv_tokens=1_000_000, max_batch=256, chunk_tokens=8192,
              rate_per_s=1.0, n_requests=2_000, seed=3)
    off = simulate_replica(f, **kw, ranks=8)
    on = simulate_replica(f, **kw, ranks=8, balance_iters=40)
    assert off.ttft_mean_ms == pytest.approx(15.0, rel=0.05)   # half a running step, then its own step
    assert on.ttft_mean_ms - off.ttft_mean_ms == pytest.approx(200.0, rel=0.10)
    assert on.ttft_p_ms - off.ttft_p_ms == pytest.approx(380.0, rel=0.10)
    assert on.tpot_mean_ms == pytest.approx(off.tpot_mean_ms, rel=1e-3)   # steps of 10 ms either way


def test_an_attention_dp_rank_chunks_within_its_own_budget_and_sets_the_step():
    # 2 ranks, 1024 tokens per step in all: 512 per rank. The step time gets the replica's prefill tokens T (the
    # experts' work: 3e-6 s a token) and the busiest rank's T_rank (each rank's own work: 2e-6 s a token), plus
    # a = 2e-3 per step. A lone 1000-token prompt is prefilled on its own rank in chunks of 512 and 488:
    # TTFT = t_req + 2a + (3e-6 + 2e-6)·1000 = 3 + 4 + 5 = 12 ms. Two prompts sent together land on the two ranks
    # and share both steps (T = 1024 then 976, T_rank = 512 then 488): 3 + 4 + 3e-6·2000 + 2e-6·1000 = 15 ms, where
    # charging every rank as the busiest one (T = 2·T_rank: the experts' work counted per rank) would read 17 ms.
    # One rank with 1024 tokens a step prefills the lone prompt in one step: 3 + 2 + 5 = 10 ms.
    def f(b, t, c, cp, t_rank=None):
        return 2e-3 + 1e-5 * b + 3e-6 * t + 2e-6 * (t if t_rank is None else t_rank)

    kw = dict(prompt_tokens=1000, output_tokens=20, kv_tokens=100_000, max_batch=8, chunk_tokens=1024,
              t_request_s=3e-3, n_requests=40)
    lone = simulate_replica(f, **kw, concurrency=1, ranks=2)
    pair = simulate_replica(f, **kw, concurrency=2, ranks=2, stagger=False)
    one = simulate_replica(f, **kw, concurrency=1)
    assert lone.ttft_mean_ms == pytest.approx(12.0, rel=1e-9)
    assert pair.ttft_mean_ms == pytest.approx(15.0, rel=1e-9)
    assert one.ttft_mean_ms == pytest.approx(10.0, rel=1e-9)