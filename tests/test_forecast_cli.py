"""``plan forecast``: table, JSON and CSV on a tiny scenario, the chart and the report, overrides and exit codes."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from tests.forecast_helpers import forecast_scenario, option

runner = CliRunner()


@pytest.fixture()
def scenario_file(tmp_path):
    # 160 req/min = 2 nodes; a 12-month term at 0.60 < 1.00 on demand: commit both in the first month.
    data = forecast_scenario(months=12, options=[option(12, 0.6)]).raw
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(*args):
    return runner.invoke(app, ["forecast", *map(str, args)])


def test_json(scenario_file):
    res = _run(scenario_file, "--format", "json")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["total_usd"] == pytest.approx(10_512.0) and r["all_on_demand_total_usd"] == pytest.approx(17_520.0)
    assert [(c["nodes"], c["start_month"], c["term_months"]) for c in r["commitments"]] == [(2, "2027-01", 12)]
    assert len(r["months"]) == 12 and r["months"][0]["month"] == "2027-01"


def test_months_and_start_override_the_file(scenario_file):
    r = json.loads(_run(scenario_file, "--format", "json", "--months", "3", "--start", "2028-11").stdout)
    assert [m["month"] for m in r["months"]] == ["2028-11", "2028-12", "2029-01"]
    # A 12-month term over a 3-month horizon pays 9 months after it: 12 x 0.60 = 7.2 > 3 x 1.00, not signed.
    assert r["commitments"] == [] and r["total_usd"] == pytest.approx(3 * 2 * 730.0)


def test_csv_chart_and_report(scenario_file, tmp_path):
    out, chart, report = tmp_path / "f.csv", tmp_path / "f.svg", tmp_path / "f.html"
    res = _run(scenario_file, "--format", "csv", "--out", out, "--chart", chart, "--report", report)
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame["month"])[:2] == ["2027-01", "2027-02"]
    assert frame["usd"].sum() == pytest.approx(10_512.0)
    assert {"reserved_usd", "on_demand_usd", "spot_usd", "cumulative_usd", "nodes_res"} <= set(frame.columns)
    svg = chart.read_text(encoding="utf-8")
    assert "<svg" in svg and "commit" in svg
    assert "<html" in report.read_text(encoding="utf-8").lower()


def test_csv_to_stdout(scenario_file):
    res = _run(scenario_file, "--format", "csv", "--months", "2")
    frame = pd.read_csv(io.StringIO(res.stdout))
    assert len(frame) == 2 and frame["usd"].tolist() == pytest.approx([1_460.0, 1_460.0])


def test_table(scenario_file):
    res = _run(scenario_file)
    assert res.exit_code == 0, res.output
    assert "Forecast" in res.stdout and "2027-12" in res.stdout
    assert "commit 2 × 1×L40S" in res.stdout and "for 12 months in 2027-01" in res.stdout


def test_exit_codes(scenario_file, tmp_path):
    assert _run(scenario_file, "--start", "2027-13").exit_code == 2
    data = yaml.safe_load(scenario_file.read_text(encoding="utf-8"))
    data["forecast"]["growth"] = {"chat": {"growth_pct_per_month": 100}}  # 2 nodes -> 4,096 nodes by month 12
    data["offers"][0]["max_nodes"] = 8
    data["offers"][1]["max_nodes"] = 8
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    res = _run(bad, "--format", "json")
    assert res.exit_code == 3, res.output
    assert "chat" in res.output
