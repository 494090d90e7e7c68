"""bench/fpm_check.py: forward passes measured inside vLLM against the step model.

What CI can check: the committed rows carry their source, the rows are labelled as the docstring says, the
prefill context handed to the step model is the one the docstring states, and the least-squares reading of the
decode steps recovers constants planted in rows built from its own formula (an oracle that shares nothing with
the roofline)."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import fpm_check
from planner.catalog import Catalog
from planner.perf.calibration import default_calibration
from planner.perf.memory import kv_read_bytes_per_sequence
from planner.perf.roofline import model_shape, step_time

CAT = Catalog.builtin()


def _frame(rows):
    cols = ["model", "gpu", "tp", "phase", "ctx_tokens", "ctx_requests", "ctx_kv_tokens", "decode_requests",
            "decode_kv_tokens", "latency_ms"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_committed_rows_carry_their_source():
    df = pd.read_csv(fpm_check.DATA)
    assert len(df) >= 900
    assert (df.licence == "Apache-2.0").all() and df.as_of.notna().all()
    assert all(c in s and s.startswith("https://github.com/ai-dynamo/aiconfigurator/blob/")
               for c, s in zip(df.source_commit, df.source))
    assert set(df.tp) == {1, 2, 4, 8} and (df.latency_ms > 0).all()
    assert {CAT.model(m).id for m in df.model.unique()} == {"qwen3-32b", "qwen3.5-35b-a3b"}
    # one row per step: (file, counter) is unique
    assert not df.duplicated(["model", "tp", "expert_parallel", "counter_id"]).any()
    assert set(zip(df.tp, df.expert_parallel)) == {(1, 1), (2, 1), (4, 1), (8, 1), (4, 4)}


def test_kinds_by_hand():
    df = fpm_check.read_frame(_frame([
        ("Qwen/Qwen3-32B", "b300", 1, "context", 128, 1, 0, 0, 0, 16.0),
        ("Qwen/Qwen3-32B", "b300", 1, "decode", 0, 0, 0, 3, 12300, 13.6),
        ("Qwen/Qwen3-32B", "b300", 1, "decode", 0, 0, 0, 12, 49000, 15.9),
        ("Qwen/Qwen3-32B", "b300", 1, "mixed", 49, 1, 4047, 13, 53284, 17.2),
        ("Qwen/Qwen3-32B", "b300", 1, "mixed", 8190, 3, 4095, 2, 8194, 408.0),
        # a model whose engine split a prompt: its continuation and long-prompt steps are not read
        ("Qwen/Qwen3.6-35B-A3B", "b300", 1, "context", 3168, 1, 0, 0, 0, 80.0),
        ("Qwen/Qwen3.6-35B-A3B", "b300", 1, "context", 928, 1, 3168, 0, 0, 0.4),
        ("Qwen/Qwen3.6-35B-A3B", "b300", 1, "context", 1024, 1, 0, 0, 0, 34.8),
        ("Qwen/Qwen3.6-35B-A3B", "b300", 1, "mixed", 2912, 3, 8448, 11, 45088, 40.2),
    ]))
    assert list(df.kind) == ["context 128", "decode 2-4", "decode 10-14", "decode + <= 64 prompt tokens", "mixed",
                             "context, split prompt (not read)", "context, split prompt (not read)", "context 1024",
                             "mixed, split prompt (not read)"]
    assert list(df.read) == [True] * 5 + [False, False, True, False]


def test_a_split_prompt_is_told_by_the_step_that_continues_it():
    # 528 prompt tokens, then a step continuing them (528 cached): both halves unread; a 128-token prompt followed
    # by a fresh one is read
    df = fpm_check.read_frame(_frame([
        ("Qwen/Qwen3.6-35B-A3B", "b300", 4, "context", 128, 1, 0, 0, 0, 15.8),
        ("Qwen/Qwen3.6-35B-A3B", "b300", 4, "context", 528, 1, 0, 0, 0, 40.1),
        ("Qwen/Qwen3.6-35B-A3B", "b300", 4, "context", 496, 1, 528, 0, 0, 16.3),
    ]).assign(expert_parallel=4))
    assert list(df.read) == [True, False, False]


def test_prefill_context_handed_to_the_step_model():
    # 8,190 prompt tokens of 3 prompts, 4,095 of them cached: context 8190 / 6 + 4095 / 3 = 2,730 per token
    df = fpm_check.read_frame(_frame([("Qwen/Qwen3-32B", "b300", 2, "mixed", 8190, 3, 4095, 2, 8194, 236.0)]))
    got = fpm_check.predict(df).iloc[0]
    cal = default_calibration()
    ctx = fpm_check._context("Qwen/Qwen3-32B", "b300", 2, cal)
    want = step_time(ctx, 2.0, 8190.0, 4097.0, 8190 / 6 + 4095 / 3)
    assert got.model_ms == pytest.approx(1e3 * float(want["total"]), rel=1e-12)
    assert got.allreduce_ms == pytest.approx(1e3 * float(want["allreduce"]), rel=1e-12)


def test_expert_parallel_rows_get_an_expert_parallel_replica():
    row = ("Qwen/Qwen3.6-35B-A3B", "b300", 4, "decode", 0, 0, 0, 4, 4 * 4096, 3.7)
    ep4 = fpm_check.predict(fpm_check.read_frame(_frame([row]).assign(expert_parallel=4))).iloc[0]
    tp4 = fpm_check.predict(fpm_check.read_frame(_frame([row]))).iloc[0]
    cal = default_calibration()
    want = step_time(fpm_check._context("Qwen/Qwen3.6-35B-A3B", "b300", 4, cal, 4), 4.0, 0.0, 4096.0, 0.0)
    assert ep4.model_ms == pytest.approx(1e3 * float(want["total"]), rel=1e-12)
    assert ep4.model_ms != pytest.approx(tp4.model_ms)   # the experts' all-to-all is charged, not an MLP all-reduce


def test_decode_reading_recovers_planted_constants():
    model = CAT.model("qwen3-32b")
    shape = model_shape(model)
    w = 2.0 * (shape.p_fixed + shape.p_expert)
    rate, t_l, t_ar = 5.5e12, 30e-6, 9e-6  # bytes/s, s, s
    rows = []
    for tp in (1, 2, 4, 8):
        for b in (1, 4, 13):
            kv = b * kv_read_bytes_per_sequence(model, 2.0, tp, 4096)
            t = (w / tp + kv) / rate + model.layers * t_l + (tp > 1) * 2 * model.layers * t_ar
            rows.append(("Qwen/Qwen3-32B", "b300", tp, "decode", 0, 0, 0, b, 4096 * b, 1e3 * t))
    got = fpm_check.decode_reading(fpm_check.read_frame(_frame(rows)), "Qwen/Qwen3-32B")
    assert got["read_tb_s"] == pytest.approx(5.5, rel=1e-9)
    assert got["t_layer_us"] == pytest.approx(30.0, rel=1e-9)
    assert got["t_ar_us"] == pytest.approx(9.0, rel=1e-9)


def test_kv_rate_reading_recovers_a_planted_rate():
    model = CAT.model("qwen3-32b")
    one = kv_read_bytes_per_sequence(model, 2.0, 1, 4096)
    big = 24 * kv_read_bytes_per_sequence(model, 2.0, 1, 5000)
    rate = 4.2e12  # bytes/s
    rows = [("Qwen/Qwen3-32B", "b300", 1, "decode", 0, 0, 0, 1, 4096, 13.6),
            ("Qwen/Qwen3-32B", "b300", 1, "decode", 0, 0, 0, 24, 24 * 5000, 13.6 + 1e3 * (big - one) / rate)]
    got = fpm_check.kv_rate_reading(fpm_check.read_frame(_frame(rows)), "Qwen/Qwen3-32B")
    assert got == {1: pytest.approx(4.2, rel=1e-9)}
