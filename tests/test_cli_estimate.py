"""``plan estimate`` and ``plan calibrate`` through the CLI: JSON keys, tables, errors (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.perf.calibration import load_calibration
from planner.catalog import Catalog
from planner.cli import app
from planner.perf.estimate import JSON_KEYS

runner = CliRunner()
CSV = Path(__file__).resolve().parent.parent / "bench" / "data" / "measured-public.csv"


def _est(*args: str):
    return runner.invoke(app, ["estimate", *args])


def test_json_has_exactly_the_documented_keys():
    r = _est("--model", "llama-3.1-8b", "--gpu", "h100", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert list(data) == list(JSON_KEYS)
    assert data["fits"] is True and data["reason"] is None
    assert data["kv_bytes_per_token_per_gpu"] == 131072
    assert data["bound"] in ("memory", "compute")


def test_slo_mode_reports_the_chosen_concurrency():
    r = _est("--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "4", "--precision", "fp8",
             "--ttft-slo-ms", "500", "--tpot-slo-ms", "50", "--format", "json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["concurrency"] >= 1
    assert data["ttft_ms"] <= 500 and data["tpot_ms"] <= 50 and data["requests_per_min"] > 0


def test_unreachable_slo_is_an_answer_not_an_error():
    r = _est("--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "2", "--ttft-slo-ms", "1", "--format", "json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0
    assert data["requests_per_min"] == 0 and data["reason"].startswith("TTFT SLO unreachable")
    assert data["ttft_ms"] > 1


def test_table_and_explain_show_terms_with_units():
    r = _est("--model", "mixtral-8x7b", "--gpu", "h100-sxm", "--tp", "2", "--concurrency", "16", "--explain")
    assert r.exit_code == 0, r.output
    for text in ("TPOT", "TTFT", "decode_weights_read_ms", "decode_allreduce_ms", "experts_touched_per_moe_layer",
                 "bandwidth_ceiling_tok_per_s_per_seq"):
        assert text in r.stdout


def test_explain_json_includes_terms():
    r = _est("--model", "llama-3.1-8b", "--gpu", "l40s", "--format", "json", "--explain")
    data = json.loads(r.stdout)
    assert "terms" in data and data["terms"]["tpot_ms"] == pytest.approx(data["tpot_ms"])


def test_price_gives_cost_per_million_tokens():
    r = _est("--model", "llama-3.1-8b", "--gpu", "h100", "--price-usd-per-hour", "3", "--format", "json")
    data = json.loads(r.stdout)
    # $3/h for one GPU over the replica's token rate
    assert data["usd_per_million_output_tokens"] == pytest.approx(3 / 3600 / data["output_tokens_per_s"] * 1e6)


def test_all_gpus_answers_for_every_catalog_gpu():
    r = _est("--model", "llama-3.1-70b", "--all-gpus", "--tp", "8", "--precision", "fp8", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["gpu"] for row in rows] == list(Catalog.builtin().gpus)
    assert all(row["fits"] or row["reason"] for row in rows)
    table = _est("--model", "llama-3.1-405b", "--all-gpus", "--tp", "8")
    assert table.exit_code == 0 and "does not fit" in table.stdout


def test_mig_profile():
    r = _est("--model", "llama-3.1-8b", "--gpu", "a100-80gb", "--mig-profile", "3g.40gb", "--concurrency", "4",
             "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["fits"]


@pytest.mark.parametrize("args, text", [
    (["--model", "lama-3.1-8b", "--gpu", "h100"], "did you mean 'llama-3.1-8b'"),
    (["--model", "llama-3.1-8b", "--gpu", "h100x"], "did you mean"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--precision", "fp9"], "did you mean 'fp8'"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--tp", "3"], "power of two"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--concurrency", "4", "--ttft-slo-ms", "500"], "not both"),
    (["--model", "llama-3.1-8b"], "exactly one of --gpu"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--all-gpus"], "exactly one of --gpu"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--mig-profile", "3g.41gb"], "did you mean '3g.40gb'"),
    (["--model", "llama-3.1-8b", "--gpu", "h100", "--engine", "tgi"], "unknown engine"),
])
def test_bad_flags_exit_2_with_one_line(args, text):
    r = _est(*args)
    assert r.exit_code == 2, r.output
    assert text in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_help_has_examples():
    r = _est("--help")
    assert r.exit_code == 0 and "plan estimate --model" in r.stdout


# ------------------------------------------------------------------------------------ plan calibrate

@pytest.fixture()
def small_csv(tmp_path):
    rows = pd.read_csv(CSV).iloc[[19, 20, 21, 25, 26, 27, 31, 32, 33, 88, 89, 93, 0, 87]]  # + a SEED, an ambiguous row
    path = tmp_path / "m.csv"
    rows.to_csv(path, index=False)
    return path


def test_calibrate_writes_a_calibration_that_estimate_reads(small_csv, tmp_path):
    out = tmp_path / "cal.yaml"
    r = runner.invoke(app, ["calibrate", str(small_csv), "--out", str(out)])
    assert r.exit_code == 0, r.output
    for text in ("12 rows used, 2 skipped", "SEED", "ambiguous", "Median absolute % error", "before %", "after %",
                 "h100-sxm", "throughput", "ttft"):
        assert text in r.stdout
    cal = load_calibration(out)
    assert "plan calibrate" in cal.source
    e = _est("--model", "llama-3.1-8b", "--gpu", "h100", "--calibration", str(out), "--format", "json")
    assert e.exit_code == 0 and json.loads(e.stdout)["fits"]


def test_calibrate_json(small_csv):
    r = runner.invoke(app, ["calibrate", str(small_csv), "--format", "json"])
    data = json.loads(r.stdout)
    assert data["rows_used"] == 12 and len(data["rows_skipped"]) == 2
    assert {"gpu", "metric", "median_ape_pct_before", "median_ape_pct_after"} <= set(data["error"][0])


def test_calibrate_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("gpu,value\nh100,1\n")
    r = runner.invoke(app, ["calibrate", str(bad)])
    assert r.exit_code == 2 and "missing column" in r.stderr
    r = runner.invoke(app, ["calibrate", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "no such measurements file" in r.stderr
