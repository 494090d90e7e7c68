"""Benchmark results (vLLM, GenAI-Perf, guidellm) -> runs -> measurement rows / capacity_overrides; fit refusal.

The fixture files in tests/fixtures/bench_results follow each tool's documented layout: vLLM's ``--save-result``
JSON (``request_rate`` "inf" or a number, ``max_concurrency``, ``mean_ttft_ms``, ``pNN_ttft_ms``), GenAI-Perf's
``profile_export_genai_perf.json`` (metric dicts + ``input_config``) and ``.csv`` (two tables, thousands
separators) and guidellm's report (``benchmarks[].args.strategy.type_``, ``metrics.*.successful``).
"""

from __future__ import annotations

import dataclasses

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from planner.catalog import Catalog
from planner.cli import app
from planner.errors import InputError
from planner.perf.bench_import import (ROW_COLUMNS, capacity_overrides, check_identifiable, measurement_rows,
                                       read_runs)
from planner.perf.measurements import parse_rows
from planner.scenario.io import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests/fixtures/bench_results"
CHATBOT = ROOT / "scenarios/chatbot.yaml"
H100 = {"gpu": "h100-sxm", "tp": "1", "precision": "bf16"}
runner = CliRunner()


@pytest.mark.parametrize("name, tool, loads", [
    ("vllm_concurrency16.json", "vLLM", [("concurrency", 16, None)]),
    ("vllm_rate4.json", "vLLM", [("rate", None, 4.0)]),
    ("vllm_maxload.json", "vLLM", [("max_load", None, None)]),
    ("profile_export_genai_perf.json", "GenAI-Perf", [("concurrency", 8, None)]),
    ("genai-perf-llama-3.1-8b-openai-chat-concurrency8/profile_export_genai_perf.csv", "GenAI-Perf",
     [("concurrency", 8, None)]),
    ("guidellm_report.json", "guidellm", [("concurrency", 1, None), ("concurrency", 4, None), ("rate", None, 6.0),
                                          ("max_load", None, None)]),
])
def test_each_format_is_recognised_with_its_load_kind(name, tool, loads):
    runs, bad = read_runs(FIX / name)
    assert [r.tool for r in runs] == [tool] * len(loads)
    assert [(r.load, r.concurrency, r.rate_rps) for r in runs] == loads
    assert all(r.prompt_tokens == pytest.approx(1000, rel=0.02) and r.output_tokens == pytest.approx(250, rel=0.01)
               for r in runs)
    if tool == "guidellm":  # the fifth benchmark has a strategy we do not know: listed, not guessed
        assert len(bad) == 1 and "sweepish" in bad[0].reason


def test_values_are_read_as_written():
    (v,) = read_runs(FIX / "vllm_concurrency16.json")[0]
    assert (v.request_throughput_rps, v.output_tok_s, v.ttft_ms, v.tpot_mean_ms) == \
        (8.17, 2042.5, {"mean": 61.3, "p50": 58.2, "p99": 95.4}, 7.6)
    assert v.meta == {"gpu": "h100-sxm", "tp": "1", "precision": "bf16", "engine": "vllm"}
    (c,) = read_runs(FIX / "genai-perf-llama-3.1-8b-openai-chat-concurrency8/profile_export_genai_perf.csv")[0]
    (j,) = read_runs(FIX / "profile_export_genai_perf.json")[0]
    assert (c.output_tok_s, c.request_throughput_rps, c.ttft_ms["p95"], c.tpot_mean_ms) == (1255.0, 5.02, 110.0, 6.1)
    assert c.ttft_ms == j.ttft_ms and c.output_tok_s == j.output_tok_s


def test_genai_perf_csv_without_a_load_is_listed(tmp_path):
    p = tmp_path / "profile_export_genai_perf.csv"
    p.write_text((FIX / "genai-perf-llama-3.1-8b-openai-chat-concurrency8/profile_export_genai_perf.csv").read_text())
    runs, bad = read_runs(p)
    assert runs == [] and "does not record the load" in bad[0].reason
    runs, _ = read_runs(p, ("rate", 2.5))
    assert runs[0].load == "rate" and runs[0].rate_rps == 2.5


def test_rows_tell_closed_loop_from_rate_runs_and_go_through_parse_rows():
    runs = [r for f in ("vllm_concurrency16.json", "vllm_rate4.json", "vllm_maxload.json")
            for r in read_runs(FIX / f)[0]]
    rows, bad = measurement_rows(runs, H100)
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    got = {(r.batch_or_concurrency, r.metric): r.value for r in frame.itertuples()}
    assert got == {("concurrency 16", "output_tok_s"): 2042.5, ("concurrency 16", "ttft_mean_ms"): 61.3,
                   ("concurrency 16", "tpot_mean_ms"): 7.6,
                   ("max load (infinite request rate)", "output_tok_s"): 6250.0}
    assert any(b.source == "vllm_rate4.json" and "open-loop" in b.reason for b in bad)
    cases, skipped = parse_rows(frame, Catalog.builtin())
    assert not skipped and sorted({(c.kind, c.batch) for c in cases}) == [("closed", 16), ("offline", 0)]
    assert {c.model for c in cases} == {"llama-3.1-8b"} and {(c.prompt_tokens, c.output_tokens) for c in cases} == \
        {(1000, 250)}


def test_runs_without_gpu_are_listed_with_the_reason():
    rows, bad = measurement_rows(read_runs(FIX / "vllm_rate4.json")[0] + read_runs(FIX / "vllm_maxload.json")[0], {})
    assert rows == [] and any("gpu, tp, precision not stated" in b.reason for b in bad)


def test_a_row_carries_the_precision_a_scenario_names_or_the_run_is_listed():
    # before: 'fp9' was written into the row, and plan calibrate skipped it later ("precision 'fp9' not recognised")
    (run,) = read_runs(FIX / "vllm_concurrency16.json")[0]
    rows, bad = measurement_rows([dataclasses.replace(run, meta={**run.meta, "precision": "fp9"})], H100)
    assert rows == [] and len(bad) == 1
    assert "precision 'fp9' is not one a scenario takes" in bad[0].reason and "did you mean 'fp8'" in bad[0].reason
    # a torch dtype name, as engines log it, is the scenario's name in the row
    rows, bad = measurement_rows([dataclasses.replace(run, meta={**run.meta, "precision": "bfloat16"})], H100)
    assert {r["precision"] for r in rows} == {"bf16"} and not bad


def test_fit_refuses_more_constants_than_the_rows_identify():
    rows, _ = measurement_rows(read_runs(FIX / "vllm_concurrency16.json")[0], {})
    cases, _ = parse_rows(pd.DataFrame(rows, columns=list(ROW_COLUMNS)), Catalog.builtin())
    assert len(cases) == 3
    with pytest.raises(InputError) as exc:
        check_identifiable(cases)
    assert "3 usable row(s) identify at most" in str(exc.value)


def _runs(*names):
    return [r for n in names for r in read_runs(FIX / n)[0]]


def test_capacity_prefers_rate_runs_that_meet_the_slo():
    loaded = load_scenario(CHATBOT)
    recs, bad = capacity_overrides(_runs("vllm_rate4.json", "vllm_rate40.json", "vllm_concurrency16.json"),
                                   loaded.scenario, loaded.catalog, H100)
    # chat-8b: p95 TTFT <= 500 ms, TPOT <= 50 ms. rate 4: p95 80 ms, achieved 3.99 req/s -> 239.4 req/min;
    # rate 40: p95 4100 ms and only 24.97 of 40 req/s -> fails; concurrency 16 is ignored when rate runs exist.
    assert recs == [{"workload": "chat-8b", "gpu": "h100-sxm", "precision": "bf16", "tp": 1,
                     "requests_per_min": pytest.approx(239.4), "source": recs[0]["source"]}]
    assert "p95 TTFT 80 ms" in recs[0]["source"]


def test_capacity_from_closed_loop_uses_a_conservative_percentile():
    loaded = load_scenario(CHATBOT)
    recs, _ = capacity_overrides(_runs("vllm_concurrency16.json"), loaded.scenario, loaded.catalog, H100)
    # vLLM printed only mean, median and p99 TTFT: p99 (95.4 ms) stands in for the p95 SLO
    assert recs[0]["requests_per_min"] == pytest.approx(8.17 * 60) and "p99 TTFT 95 ms" in recs[0]["source"]


def test_capacity_targets_the_matching_bucket(tmp_path):
    d = json.loads((FIX / "vllm_rate4.json").read_text())
    d.update(model_id="llama-3.1-70b", total_input_tokens=16200 * 1000, total_output_tokens=480 * 1000,
             p95_ttft_ms=1500.0, mean_tpot_ms=60.0, request_throughput=0.5, request_rate=0.5)
    p = tmp_path / "rag.json"
    p.write_text(json.dumps(d))
    loaded = load_scenario(CHATBOT)
    recs, _ = capacity_overrides(read_runs(p)[0], loaded.scenario, loaded.catalog,
                                 {"gpu": "h200", "tp": "2", "precision": "fp8"})
    assert [(r["workload"], r["prompt_tokens"], r["output_tokens"], r["requests_per_min"]) for r in recs] == \
        [("rag-70b", 16000, 500, 30.0)]
    data = dict(loaded.raw, capacity_overrides=recs)
    scenario_from_dict(data)  # a valid scenario


def test_cli_import_merge_loads_and_lists_unused(tmp_path):
    out = tmp_path / "s.yaml"
    files = [str(p) for p in sorted(FIX.glob("*.json"))]
    res = runner.invoke(app, ["capacity", "import", *files, "--scenario", str(CHATBOT), "--gpu", "h100-sxm",
                              "--tp", "1", "--precision", "bf16", "--merge", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "not used: vllm_maxload.json: max load" in res.output
    ov = [c for c in load_scenario(out).scenario.capacity_overrides if c.gpu == "h100-sxm"]
    assert [(c.workload, c.requests_per_min) for c in ov] == [("chat-8b", pytest.approx(357.0))]  # guidellm rate 6


def test_cli_rows_then_plan_calibrate_reads_them(tmp_path):
    out = tmp_path / "m.csv"
    res = runner.invoke(app, ["capacity", "rows", str(FIX / "profile_export_genai_perf.json"),
                              str(FIX / "guidellm_report.json"), "--gpu", "h100-sxm", "--tp", "1",
                              "--precision", "bf16", "--out", str(out)])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(ROW_COLUMNS) and len(frame) == 10  # 3 closed loops x 3 metrics + 1 max load
    cases, skipped = parse_rows(frame, Catalog.builtin())
    assert len(cases) == 10 and not skipped


def test_not_a_benchmark_file_is_one_line(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    res = runner.invoke(app, ["capacity", "rows", str(p)])
    assert res.exit_code == 2 and "not a recognised benchmark result" in res.output and "Traceback" not in res.output
    assert yaml  # noqa - imported for symmetry with other CLI tests


def test_cli_rows_neutralise_formula_like_text_from_the_result_file(tmp_path):
    # the model name comes from the user's result file: a spreadsheet must not run it as a formula
    data = json.loads((FIX / "profile_export_genai_perf.json").read_text())
    data["input_config"]["model"] = ["=HYPERLINK(\"http://x\")"]
    src = tmp_path / "r.json"
    src.write_text(json.dumps(data))
    out = tmp_path / "m.csv"
    res = runner.invoke(app, ["capacity", "rows", str(src), "--gpu", "h100-sxm", "--tp", "1", "--precision", "bf16",
                              "--model", "llama-3.1-8b", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cells = set(pd.read_csv(out)["model"])
    assert cells <= {"llama-3.1-8b", "'=HYPERLINK(\"http://x\")"}, cells
    assert not any(str(c).startswith("=") for c in cells)


# ---------------------------------------------------------------- fields of the wrong kind (found by fuzzing)
def _variant(tmp_path, name: str, change) -> Path:
    d = json.loads((FIX / name).read_text())
    change(d)
    p = tmp_path / name
    p.write_text(json.dumps(d, allow_nan=True))
    return p


@pytest.mark.parametrize("name, change, words", [
    ("vllm_concurrency16.json", lambda d: d.update(max_concurrency="NaN"),
     "max_concurrency: expected a whole number of clients (1 or more), got 'NaN'"),
    ("vllm_concurrency16.json", lambda d: d.update(max_concurrency=[16]),
     "max_concurrency: expected a whole number of clients (1 or more), got '[16]'"),
    ("vllm_concurrency16.json", lambda d: d.update(max_concurrency=2.5),
     "max_concurrency: expected a whole number of clients (1 or more), got '2.5'"),
    ("profile_export_genai_perf.json", lambda d: d["input_config"].update(concurrency=0),
     "input_config.concurrency: expected a whole number of clients"),
])
def test_a_load_that_is_not_a_number_of_clients_is_one_line_exit_2(tmp_path, name, change, words):
    # before: int() of the value, an internal error (exit 1), or 2.5 clients read as 2
    p = _variant(tmp_path, name, change)
    with pytest.raises(InputError, match=re.escape(f"{p}: {words}")):
        read_runs(p)
    res = runner.invoke(app, ["capacity", "rows", str(p), "--gpu", "h100-sxm", "--tp", "1", "--precision", "bf16"])
    assert res.exit_code == 2 and words in res.stderr and "internal error" not in res.output


def test_metric_blocks_of_the_wrong_type_read_as_absent_and_the_run_says_so(tmp_path):
    # before: AttributeError ('list' object has no attribute 'get'), exit 1
    p = _variant(tmp_path, "profile_export_genai_perf.json",
                 lambda d: d.update(input_sequence_length=[1000], output_token_throughput=7, input_config=[1]))
    assert read_runs(p) == ([], [read_runs(p)[1][0]]) and "neither concurrency nor request_rate" in \
        read_runs(p)[1][0].reason   # input_config a list: no load stated
    p = _variant(tmp_path, "profile_export_genai_perf.json", lambda d: d.update(input_sequence_length=[1000]))
    (run,), _ = read_runs(p)
    assert run.prompt_tokens is None and run.concurrency == 8
    rows, bad = measurement_rows([run], H100 | {"model": "llama-3.1-8b"})
    assert rows == [] and [b.reason for b in bad] == ["mean input/output tokens not in the file"]


def test_guidellm_records_that_are_not_mappings_are_listed(tmp_path):
    p = _variant(tmp_path, "guidellm_report.json", lambda d: d["benchmarks"].insert(0, [1, 2]))
    runs, bad = read_runs(p)
    # the fixture's five benchmarks give four runs and one unknown strategy, whatever comes before them
    assert len(runs) == 4 and "benchmarks[0]: expected a benchmark record (a mapping), got list" in bad[0].reason
    p = _variant(tmp_path, "guidellm_report.json",
                 lambda d: d["benchmarks"][1]["args"]["strategy"].update(streams=1.5))
    runs, bad = read_runs(p)
    assert [r.concurrency for r in runs if r.load == "concurrency"] == [1]   # the 4-stream run is listed instead
    assert any("args.strategy.streams: expected a whole number of clients (1 or more), got '1.5'" in b.reason
               for b in bad)


def test_measurement_rows_list_a_tp_that_is_not_a_number_of_gpus(tmp_path):
    # before: int() of it, so "2.5" became a TP-2 row and "-4" a TP -4 one for plan calibrate to refuse
    runs = read_runs(_variant(tmp_path, "vllm_concurrency16.json", lambda d: d.update(tp="2.5")))[0]
    rows, bad = measurement_rows(runs, H100 | {"model": "llama-3.1-8b"})
    assert rows == [] and [b.reason for b in bad] == ["tp '2.5' is not a whole number of GPUs (1 or more)"]


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(request_throughput=1e19), "request throughput 1e+19 req/s is not a rate a replica serves"),
    (lambda d: d.update(request_throughput=-3.0), "request throughput -3 req/s is not a rate a replica serves"),
    (lambda d: d.update(tp="2.5"), "tp '2.5' is not a whole number of GPUs"),
    # found by the fuzz test at 5x its examples: a precision of [[[[[1]]]]] was written and the scenario refused it
    (lambda d: d.update(precision=[[1]]), "precision '[[1]]' is not one a scenario takes (fp16, bf16, fp8"),
    (lambda d: d.update(precision="fp9"), "precision 'fp9' is not one a scenario takes"),
    (lambda d: d.update(mig_profile="9g.1tb"), "MIG profile '9g.1tb' is not one of h100-sxm's (1g.10gb"),
])
def test_capacity_import_lists_runs_no_override_could_hold(tmp_path, change, words):
    # before: the override was written and the scenario then refused it, naming the scenario, not the result file
    p = _variant(tmp_path, "vllm_rate4.json", change)
    loaded = load_scenario(CHATBOT)
    recs, bad = capacity_overrides(read_runs(p)[0], loaded.scenario, loaded.catalog, H100)
    assert recs == [] and any(words in b.reason for b in bad), [b.reason for b in bad]


def test_capacity_import_reads_torch_dtype_names_as_precisions(tmp_path):
    p = _variant(tmp_path, "vllm_rate4.json", lambda d: d.update(precision="BFloat16"))
    loaded = load_scenario(CHATBOT)
    recs, bad = capacity_overrides(read_runs(p)[0], loaded.scenario, loaded.catalog, H100)
    assert {r["precision"] for r in recs} == {"bf16"}, [b.reason for b in bad]
