"""``plan demand``: trace columns, chunked reading, rates and profiles worked out by hand, bucketing invariants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.demand.accumulate import accumulate
from planner.demand.buckets import SHARE_DIGITS, Bucket, capacity_error, grid_buckets, kmeans_buckets, mean_bucket
from planner.demand.columns import resolve
from planner.demand.rates import rates, statistic
from planner.demand.read import read_trace
from planner.demand.synth import write
from planner.errors import InputError
from planner.scenario.io import load_scenario
from planner.scenario.model import Workload

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.mark.parametrize("columns, key", [
    (["TIMESTAMP", "ContextTokens", "GeneratedTokens"], None),                                      # Azure LLM traces
    (["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"], "Model"),  # BurstGPT
    (["created", "id", "model", "usage.prompt_tokens", "usage.completion_tokens"], "model"),       # OpenAI-style
    (["arrival_time", "endpoint", "input_len", "output_len"], "endpoint"),
])
def test_public_trace_columns_are_recognised(columns, key):
    got = resolve(columns, "t")
    assert got["timestamp"] == columns[0] and got.get("key") == key
    assert {got["prompt"], got["output"]} <= set(columns)


def test_missing_column_is_one_clear_line():
    with pytest.raises(InputError) as exc:
        resolve(["timestamp", "prompt_tokens", "completion_tokenz"], "t.csv")
    msg = str(exc.value)
    assert msg.startswith("t.csv: no output column") and "accepted: completion_tokens" in msg and "\n" not in msg


def _jsonl_openai(path: Path, frame: pd.DataFrame) -> None:
    with open(path, "w") as fh:
        for r in frame.itertuples():
            fh.write(json.dumps({"created": r.timestamp, "model": r.model,
                                 "usage": {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.output_tokens}})
                     + "\n")


def test_csv_jsonl_parquet_and_any_chunking_give_the_same_summaries(tmp_path):
    write(tmp_path / "t.parquet", 4000, days=1, seed=5)
    frame = pd.read_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    _jsonl_openai(tmp_path / "t.jsonl", frame)
    ref = accumulate(read_trace(tmp_path / "t.parquet", chunk_rows=100_000))
    for name, chunk in (("t.parquet", 777), ("t.csv", 1000), ("t.jsonl", 1500)):
        got = accumulate(read_trace(tmp_path / name, chunk_rows=chunk))
        assert got.rows == 4000 and set(got.keys) == set(ref.keys) == set(frame["model"])
        for k in ref.keys:
            assert got.keys[k].minutes == ref.keys[k].minutes
            assert np.array_equal(got.keys[k].cell_count, ref.keys[k].cell_count)
            assert got.keys[k].prompt_sum == ref.keys[k].prompt_sum == frame.loc[frame.model == k, "prompt_tokens"].sum()


def test_rate_statistics_by_hand():
    counts = np.arange(1, 11)                  # minutes with 1, 2, ..., 10 requests
    assert statistic(counts, "mean") == 5.5 and statistic(counts, "max") == 10
    assert statistic(counts, "p50") == 5.5     # between the 5th and 6th value
    assert statistic(counts, "p95") == pytest.approx(9.55)   # index 0.95 * 9 = 8.55 -> 9 + 0.55


def test_daily_profile_by_hand():
    # two days, relative seconds; every minute of hour h holds h + 1 requests
    minutes = np.arange(2 * 24 * 60)
    counts = (minutes // 60) % 24 + 1
    r = rates(minutes, counts, "max", "daily", relative_time=True)
    assert r.planning_per_min == 24 and r.mean_per_min == pytest.approx(12.5)
    assert r.profile == tuple(round((h + 1) / 24, 4) for h in range(24))


def test_weekly_profile_needs_a_week(tmp_path):
    write(tmp_path / "t.csv", 2000, days=1)
    res = runner.invoke(app, ["demand", str(tmp_path / "t.csv"), "--profile", "weekly"])
    assert res.exit_code == 2 and "needs every hour of the week" in res.output and "Traceback" not in res.output


def test_one_bucket_is_the_mean_and_curvature_error_by_hand():
    n, mp, mo = np.array([1.0, 1.0]), np.array([100.0, 300.0]), np.array([100.0, 300.0])
    (b,) = mean_bucket(n, mp, mo)
    assert (b.prompt_tokens, b.output_tokens, b.share) == (200, 200, 1.0)
    # replica-time 1/c = p*o: truth (1e4 + 9e4)/2 = 5e4; one bucket (200, 200): 4e4 -> -20 %
    err = capacity_error([b], np.array([100, 300]), np.array([100, 300]), lambda p, o: 1.0 / (p * o))
    assert err == pytest.approx(-0.2)
    two = kmeans_buckets(n, mp, mo, 2)
    assert capacity_error(two, np.array([100, 300]), np.array([100, 300]), lambda p, o: 1.0 / (p * o)) == 0.0


cells = st.lists(st.tuples(st.integers(1, 1000), st.floats(1, 30000), st.floats(1, 4000)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells, st.integers(1, 8))
def test_buckets_keep_token_means_and_make_a_valid_size_mix(rows, k):
    n = np.array([r[0] for r in rows], dtype=float)
    mp = np.array([r[1] for r in rows])
    mo = np.array([r[2] for r in rows])
    bks = kmeans_buckets(n, mp, mo, k)
    assert 1 <= len(bks) <= k and sum(b.requests for b in bks) == n.sum()
    Workload(id="w", model="m", requests_per_min=1, ttft_slo_ms=1,
             size_mix=[{"prompt_tokens": b.prompt_tokens, "output_tokens": b.output_tokens, "share": b.share}
                       for b in bks])
    # bucket means keep the total tokens (up to rounding each mean to an integer): linear costs are exact
    for attr, vals in (("prompt_tokens", mp), ("output_tokens", mo)):
        true_mean = (n * vals).sum() / n.sum()
        got = sum(b.requests * getattr(b, attr) for b in bks) / n.sum()
        assert abs(got - true_mean) <= 0.5 + 1e-9 * true_mean
    # shares are the requests' shares rounded to SHARE_DIGITS; the largest takes the others' rounding
    exact = [b.requests / n.sum() for b in bks]
    assert all(abs(b.share - e) <= len(bks) * 0.5 * 10.0 ** -SHARE_DIGITS + 1e-12 for b, e in zip(bks, exact))
    # replica-time linear in the sizes, p + 8 o: with exact shares the bucketed mean is off the truth (requests at
    # their rounded sizes) by at most 1 + 8 x 1 token-times (each mean rounded, <= 0.5, and each request's size
    # rounded for the truth, <= 0.5, in p and in o); the shares' rounding adds sum_b |s_b - exact_b| (p_b + 8 o_b)
    lin = capacity_error(bks, np.repeat(np.rint(mp).astype(int), n.astype(int)),
                         np.repeat(np.rint(mo).astype(int), n.astype(int)), lambda p, o: 1.0 / (p + 8 * o))
    truth = float((n * (np.rint(mp) + 8 * np.rint(mo))).sum() / n.sum())
    slack = 9.0 + sum(abs(b.share - e) * (b.prompt_tokens + 8 * b.output_tokens) for b, e in zip(bks, exact))
    assert abs(lin) <= slack / truth + 1e-9


def test_more_buckets_cut_the_curvature_error_on_a_trace(tmp_path):
    stats = accumulate(read_trace(write(tmp_path / "t.parquet", 20000, days=1, seed=1)))
    ks = stats.keys["llama-3.1-70b"]
    n, mp, mo = ks.cells()
    inv = lambda p, o: 1.0 / (p * (1 + o / 500) + 0.002 * p * p)  # noqa: E731 - a convex replica-time
    errs = [abs(capacity_error(kmeans_buckets(n, mp, mo, k), ks.sample_prompt, ks.sample_output, inv))
            for k in (1, 2, 6, 12)]
    assert errs[-1] < errs[0] and errs[2] < errs[0]
    grid = grid_buckets(n, mp, mo, tuple(2.0 ** i for i in range(16)))
    assert isinstance(grid[0], Bucket)


def test_cli_block_and_whole_scenario(tmp_path):
    trace = write(tmp_path / "t.csv", 6000, days=1, seed=3)
    res = runner.invoke(app, ["demand", str(trace), "--bucket-count", "3", "--rate-statistic", "p99"])
    assert res.exit_code == 0, res.output
    block = yaml.safe_load(res.stdout)
    assert [w["model"] for w in block["workloads"]] == ["llama-3.1-70b", "llama-3.1-8b", "qwen3-30b-a3b"]
    assert all(len(w["size_mix"]) <= 3 and len(w["profile"]["hourly"]) == 24 for w in block["workloads"])
    out = tmp_path / "scenario.yaml"
    res = runner.invoke(app, ["demand", str(trace), "--scenario", str(ROOT / "scenarios/chatbot.yaml"),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    loaded = load_scenario(out)
    ids = {w.id: w for w in loaded.scenario.workloads}
    assert set(ids) == {"chat-8b", "rag-70b", "agent-moe"} and ids["chat-8b"].ttft_slo_ms == 500  # SLOs kept
    frame = pd.read_csv(trace)
    n8 = (frame.model == "llama-3.1-8b").sum()
    assert sum(round(b.share * n8) for b in ids["chat-8b"].buckets) == pytest.approx(n8, abs=2)


def test_unknown_model_asks_for_a_mapping(tmp_path):
    p = tmp_path / "burst.csv"
    p.write_text("Timestamp,Model,Request tokens,Response tokens\n0,ChatGPT,100,20\n5,ChatGPT,300,0\n")
    res = runner.invoke(app, ["demand", str(p), "--profile", "none"])
    assert res.exit_code == 2 and "--model-map 'ChatGPT=CATALOG_ID'" in res.output
    res = runner.invoke(app, ["demand", str(p), "--profile", "none", "--model-map", "ChatGPT=llama-3.1-8b"])
    assert res.exit_code == 0 and "1 with 0 output tokens sized as 1" in res.stdout


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_fuzz_garbage_traces_exit_2_never_a_traceback(tmp_path, blob, ext):
    p = tmp_path / f"junk{ext}"
    p.write_bytes(blob)
    res = runner.invoke(app, ["demand", str(p), "--model", "llama-3.1-8b", "--profile", "none"])
    assert res.exit_code in (0, 2), res.output
    assert "Traceback" not in res.output and "internal error" not in res.output


def test_weekly_profile_is_monday_first_for_epoch_and_relative_times():
    import pandas as pd  # noqa: PLC0415

    from planner.demand.rates import hour_slot

    monday = int(pd.Timestamp("2026-01-05 00:00", tz="UTC").timestamp() // 60)   # a Monday
    assert hour_slot(np.array([monday, monday + 60 * 30, monday - 60]), 168, relative_time=False).tolist() == \
        [0, 30, 167]
    minutes = np.arange(7 * 24 * 60)          # relative: the trace starts on Monday 00:00
    counts = minutes // (24 * 60) + 1         # Monday 1 request a minute ... Sunday 7
    r = rates(minutes, counts, "max", "weekly", relative_time=True)
    assert r.planning_per_min == 7 and r.profile == tuple(round((h // 24 + 1) / 7, 4) for h in range(168))
