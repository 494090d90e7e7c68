"""The broken-scenario corpus: every file in tests/broken/ has exactly one problem, and ``plan validate``
must report it with exit code 2, the file, the field path and the right words, and never a traceback.

Each row: file -> where (a field path, or FILE:LINE:COL for YAML errors) -> expected words.
A field path is checked as ``FILE: path: `` so that ``offers`` cannot match ``offers[0].gpu``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

BROKEN = Path(__file__).parent / "broken"

# (file, field path or location, expected message words). One comment per row says what is wrong.
CASES: list[tuple[str, str, str]] = [
    # --- the file itself
    ("empty-file.yaml", "", "file is empty"),                                    # zero bytes
    ("comments-only.yaml", "", "file is empty (no YAML content, only comments)"),  # comments, no data
    ("yaml-syntax-error.yaml", ":11:7", "YAML syntax error"),                       # unclosed [ ; line and column
    ("top-level-list.yaml", "", "the top level must be a mapping"),               # a list instead of a mapping
    ("duplicate-yaml-key.yaml", ":7:5", "duplicate key 'requests_per_min'"),       # YAML keeps the last silently
    # --- required fields and shapes
    ("missing-name.yaml", "name", "required field is missing"),                    # no scenario name
    ("missing-offers.yaml", "offers", "required field is missing"),                # no offers section
    ("missing-ttft-slo.yaml", "workloads[0].ttft_slo_ms", "required field is missing"),  # SLO left out
    ("empty-workloads.yaml", "workloads", "must have at least 1 item"),            # workloads: []
    ("workloads-not-a-list.yaml", "workloads", "must be a list (got 'chat')"),     # a string, not a list
    ("null-model.yaml", "workloads[0].model", "must be a string (got None)"),      # `model:` left blank
    # --- wrong types
    ("wrong-type-requests.yaml", "workloads[0].requests_per_min", "must be a number (got 'lots')"),
    ("wrong-type-gpus-per-node.yaml", "offers[0].gpus_per_node", "must be an integer (got 'eight')"),
    ("fractional-gpus-per-node.yaml", "offers[0].gpus_per_node", "must be a whole number (got 2.5)"),
    # --- ranges
    ("negative-requests-per-min.yaml", "workloads[0].requests_per_min", "must be > 0 (got -5)"),  # the issue's own example
    ("negative-price.yaml", "offers[0].price_usd_per_gpu_hour", "must be > 0 (got -1)"),
    ("percentile-100.yaml", "workloads[0].ttft_percentile", "must be < 100 (got 100)"),   # p100 is unbounded
    ("target-utilization-above-1.yaml", "policy.target_utilization", "must be <= 1 (got 1.5)"),
    ("gpus-per-node-3.yaml", "offers[0].gpus_per_node", "must be a power of two"),  # TP packing needs 2^k
    ("profile-23-values.yaml", "workloads[0].profile.hourly", "must have 24 (daily) or 168 (weekly) values (got 23)"),
    # --- enumerations (with a hint where the typo is close)
    ("bad-market.yaml", "offers[0].market", "did you mean 'on_demand'?"),          # 'ondemand'
    ("bad-precision.yaml", "workloads[0].precisions[0]", "must be one of 'fp16', 'bf16', 'fp8', 'int8', 'int4' or 'fp4' (got 'fp9')"),
    ("bad-solver.yaml", "policy.solver", "must be one of 'cbc', 'scip', 'highs' or 'cpsat' (got 'gurobi')"),
    # --- unknown fields (typos)
    ("unknown-field-typo.yaml", "workloads[0].requests_per_minute", "unknown field; did you mean 'requests_per_min'?"),
    ("unknown-top-level-field.yaml", "offer", "unknown field; did you mean 'offers'?"),
    # --- cross-field rules inside one record
    ("size-mix-shares-not-one.yaml", "workloads[0].size_mix", "shares must sum to 1 (got 0.9)"),
    ("size-mix-and-prompt-tokens.yaml", "workloads[0]", "give either size_mix or prompt_tokens/output_tokens, not both"),
    ("context-smaller-than-request.yaml", "workloads[0]", "context_tokens (1024) must be >= prompt + output tokens (1200)"),
    ("profile-and-periods.yaml", "workloads[0]", "give either profile or periods, not both"),
    ("both-prices.yaml", "offers[0]", "give exactly one of price_usd_per_gpu_hour or price_usd_per_node_hour"),
    ("no-price.yaml", "offers[0]", "give exactly one of price_usd_per_gpu_hour or price_usd_per_node_hour"),
    ("spot-fields-on-on-demand.yaml", "offers[0]", "interruption_rate_per_hour, pool only apply to spot offers"),
    ("spot-without-interruption-rate.yaml", "offers[0]", "spot offers need interruption_rate_per_hour"),
    ("term-months-on-spot.yaml", "offers[0]", "term_months only apply to reserved offers (market is spot)"),
    ("owned-nodes-on-demand.yaml", "offers[0]", "owned_nodes only apply to reserved offers"),
    # --- ids that must resolve (catalog and cross-references)
    ("unknown-model-typo.yaml", "workloads[0].model", "did you mean 'llama-3.1-8b'?"),   # 'lama-3.1-8b'
    ("unknown-gpu.yaml", "offers[0].gpu", "did you mean 'h100-sxm'?"),                   # 'h100sxm'
    ("mig-on-l40s.yaml", "offers[0].mig", "GPU 'l40s' does not support MIG"),
    ("duplicate-workload-ids.yaml", "workloads[1].id", "duplicate workload id 'chat' (first at workloads[0])"),
    ("duplicate-offer-ids.yaml", "offers[1].id", "duplicate offer id 'l40s-od' (first at offers[0])"),
    ("override-unknown-workload.yaml", "capacity_overrides[0].workload", "unknown workload 'chta'; did you mean 'chat'?"),
    ("override-unknown-bucket.yaml", "capacity_overrides[0].prompt_tokens", "has no bucket 2000/200"),
    ("override-precision-not-allowed.yaml", "capacity_overrides[0].precision", "does not allow fp8 (allowed: bf16)"),
    ("forecast-growth-unknown-workload.yaml", "forecast.growth.chta", "unknown workload 'chta'; did you mean 'chat'?"),
    ("forecast-price-trend-unknown-offer.yaml", "forecast.price_trends[0].offer", "unknown offer 'l40s-ondemand'; did you mean 'l40s-od'?"),
    ("forecast-reserved-option-on-demand-offer.yaml", "forecast.reserved_options[0].offer", "reserved options must name a reserved offer"),
    ("models-hf-config-missing.yaml", "models[0].hf_config", "no such file"),       # config.json path does not exist
]

runner = CliRunner()


def _validate(*args: str):
    return runner.invoke(app, ["validate", *args], env={"FLEETPLAN_DEBUG": "0", "COLUMNS": "200"})


def _assert_clean_failure(result) -> str:
    output = result.output
    assert result.exit_code == 2, f"exit code {result.exit_code}, expected 2:\n{output}"
    assert "Traceback" not in output, output
    # CliRunner catches any exception; only SystemExit (typer.Exit) means the command ended on purpose.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return output


def test_corpus_is_covered_by_the_table():
    """Every file in tests/broken/ has a row, and every row has a file (no silent gaps)."""
    files = {p.name for p in BROKEN.glob("*.yaml")}
    rows = [c[0] for c in CASES]
    assert len(rows) == len(set(rows)), "a file is listed twice"
    assert files == set(rows)
    assert len(files) >= 25


@pytest.mark.parametrize(("name", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_broken_scenario(name: str, where: str, words: str):
    path = BROKEN / name
    output = _assert_clean_failure(_validate(str(path)))
    if where.startswith(":"):          # FILE:LINE:COL of a YAML error
        assert f"{path}{where}: " in output, output
    elif where:                        # FILE[:LINE:COL]: field.path: message
        assert re.search(f"{re.escape(str(path))}(:\\d+:\\d+)?: {re.escape(where)}: ", output), output
    else:                              # FILE: message
        assert f"{path}: " in output, output
    assert words in output, output


@pytest.mark.parametrize(("name", "where", "words"), CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_broken_scenario_json(name: str, where: str, words: str):
    """--format json reports the same problems as data (and the same exit code)."""
    import json

    result = _validate(str(BROKEN / name), "--format", "json")
    _assert_clean_failure(result)
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert any(words in e["message"] for e in data["errors"]), data
    if where and not where.startswith(":"):
        assert any(e["path"] == where for e in data["errors"]), data


def test_one_line_per_problem():
    """Every line of the error output names the file (no wrapped or multi-line messages)."""
    path = BROKEN / "unknown-field-typo.yaml"
    output = _assert_clean_failure(_validate(str(path)))
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 2  # the unknown field and the then-missing requests_per_min
    assert all(re.match(f"{re.escape(str(path))}(:\\d+:\\d+)?: ", ln) for ln in lines), lines


# (what to pass, expected words): bad paths and unreadable files get one clear line, exit 2.
BAD_FILES = [
    ("missing", "file not found"),                # a path that does not exist
    ("directory", "is a directory"),              # a folder instead of a file
    ("binary", "not UTF-8 text"),                 # bytes that are not text
]


@pytest.mark.parametrize(("kind", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_paths(tmp_path: Path, kind: str, words: str):
    target = tmp_path / "scenario.yaml"
    if kind == "directory":
        target.mkdir()
    elif kind == "binary":
        target.write_bytes(b"name: x\n\xff\xfe\x00\x81 oops\n")
    output = _assert_clean_failure(_validate(str(target)))
    assert f"{target}: {words}" in output
    assert len([ln for ln in output.splitlines() if ln.strip()]) == 1, output


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path):
    target = tmp_path / "scenario.yaml"
    target.write_text("name: x\n")
    target.chmod(0)
    try:
        output = _assert_clean_failure(_validate(str(target)))
    finally:
        target.chmod(0o600)
    assert f"{target}: permission denied" in output


def test_bad_format_flag_is_a_usage_error():
    result = _validate(str(BROKEN / "empty-file.yaml"), "--format", "xml")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_help_has_examples():
    result = runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "plan validate scenarios/chatbot.yaml" in result.output
    assert "--format" in result.output
