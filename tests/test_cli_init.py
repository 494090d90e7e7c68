"""``plan init`` writes a commented scenario that loads and solves; ``plan solve`` warns about old prices on
stderr (one line) and the HTML report shows each chosen price's source and date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.scenario.io import load_scenario

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

ARGS = ["init", "--model", "llama-3.1-8b", "--rate", "120", "--ttft-ms", "1000", "--providers", "lambda,nebius",
        "--gpus", "h100-sxm", "--markets", "on_demand"]


def test_init_writes_a_commented_scenario_that_loads(tmp_path):
    result = runner.invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "placeholder: measure yours" in text and "# mean arrival rate, requests per minute" in text
    data = yaml.safe_load(text)
    assert data["workloads"][0]["requests_per_min"] == 120 and data["workloads"][0]["ttft_slo_ms"] == 1000
    assert data["offers_from_catalog"]["providers"] == ["lambda", "nebius"]
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario(path)
    assert {o.id.split("/")[0] for o in loaded.scenario.offers} == {"lambda", "nebius"}
    assert {o.gpu for o in loaded.scenario.offers} == {"h100-sxm"}


def test_init_piped_into_solve_from_stdin():
    # The documented pipe, through real processes: plan init ... | plan solve /dev/stdin
    cmd = [sys.executable, "-c", "from planner.cli import main; main()"]
    init = subprocess.run(cmd + ARGS, capture_output=True, text=True, cwd=ROOT, check=True)
    solve = subprocess.run(cmd + ["solve", "/dev/stdin", "--format", "json", "--no-baselines"], input=init.stdout,
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert solve.returncode == 0, solve.stderr
    plan = json.loads(solve.stdout)
    assert plan["status"] == "optimal" and plan["verification"]["ok"]
    assert all(n["offer"].split("/")[0] in ("lambda", "nebius") for n in plan["nodes"])


def test_init_refuses_a_selection_that_matches_nothing():
    result = runner.invoke(app, ["init", "--model", "llama-3.1-8b", "--rate", "60", "--ttft-ms", "500",
                                 "--providers", "lambda", "--markets", "spot"])
    assert result.exit_code == 2
    assert "offers_from_catalog[0]: no catalog offer matches" in result.output and "Traceback" not in result.output


def test_init_schema_line(tmp_path):
    out = tmp_path / "s.yaml"
    result = runner.invoke(app, [*ARGS, "--schema", "./fleetplan-scenario.schema.json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines()[0] == \
        "# yaml-language-server: $schema=./fleetplan-scenario.schema.json"


SMALL = {"name": "old-prices", "workloads": [{"id": "chat", "model": "llama-3.1-8b", "requests_per_min": 60,
                                              "prompt_tokens": 500, "output_tokens": 100, "ttft_slo_ms": 1000}],
         "offers": [{"id": "old", "gpu": "l40s", "market": "on_demand", "price_usd_per_gpu_hour": 0.86,
                     "source": "a page read long ago", "as_of": "2020-01"}]}


def test_solve_warns_once_about_old_prices_and_the_report_shows_sources(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(SMALL), encoding="utf-8")
    report = tmp_path / "r.html"
    result = runner.invoke(app, ["solve", str(path), "--format", "json", "--no-baselines", "--report", str(report)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "old (as_of 2020-01," in warnings[0] and "more than 180 days ago" in warnings[0]
    json.loads(result.stdout)                                   # stdout carries only the plan
    html = report.read_text(encoding="utf-8")
    assert "a page read long ago" in html and "2020-01" in html
    quiet = runner.invoke(app, ["solve", str(path), "--format", "json", "--no-baselines"],
                          env={"FLEETPLAN_PRICE_MAX_AGE_DAYS": "1000000"})
    assert quiet.exit_code == 0 and "warning:" not in quiet.stderr
