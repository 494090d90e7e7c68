"""``plan whatif`` and ``plan simulate`` as a user meets them: JSON keys, CSV and chart files, exit code 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from tests.test_sweep import small

runner = CliRunner()
KEYS = {"interruption_rate", "status", "objective_usd_per_hour", "spot_gpu_share_pct", "gpus_a", "gpus_b",
        "simulated_attainment_pct"}


@pytest.fixture
def scen(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small().raw), encoding="utf-8")
    return str(path)


def test_whatif_json_csv_and_chart(tmp_path, scen):
    csv, svg = tmp_path / "out" / "whatif.csv", tmp_path / "whatif.svg"
    r = runner.invoke(app, ["whatif", scen, "--interruption-rate", "0,0.3", "--set",
                            "policy.spot.availability_target=0.95,0.999", "--format", "json", "--out", str(csv),
                            "--chart", str(svg), "--hours", "500", "--jobs", "1", "--solver", "highs"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)
    assert len(recs) == 4 and all(KEYS | {"policy.spot.availability_target"} <= set(x) for x in recs)
    assert (recs[0]["gpus_a"], recs[0]["gpus_b"]) == (2, 2) and recs[0]["spot_gpu_share_pct"] == 100.0
    assert all(0 <= r["simulated_attainment_pct"] <= 100 for r in recs)
    head = csv.read_text().splitlines()[0].split(",")
    assert head[:3] == ["interruption_rate", "policy.spot.availability_target", "status"]
    assert "simulated_attainment_pct" in head and len(csv.read_text().splitlines()) == 5
    assert svg.read_text().lstrip().startswith("<svg")


def test_whatif_table(scen):
    r = runner.invoke(app, ["whatif", scen, "--interruption-rate", "0,0.3", "--hours", "500", "--executor", "serial"])
    assert r.exit_code == 0, r.output
    assert "What-if sweep" in r.stdout and "0.3" in r.stdout


def test_whatif_json_out_file(tmp_path, scen):
    out = tmp_path / "w.json"
    r = runner.invoke(app, ["whatif", scen, "--interruption-rate", "0", "--out", str(out), "--format", "csv",
                            "--hours", "100"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())[0]["interruption_rate"] == 0
    assert r.stdout.startswith("interruption_rate,status,")


@pytest.mark.parametrize(("args", "message"), [
    (["--interruption-rate", "0,abc"], "--interruption-rate: 'abc' is not a number"),
    ([], "nothing to sweep"),
    (["--set", "policy.spot.nope=1"], "nope"),
    (["--set", "policy.spot.availability_target=0.9,2"], "availability_target"),
    (["--set", "offers[zz].max_nodes=1"], "no item 'zz'"),
    (["--set", "novalue"], "expected PATH=V1,V2"),
    (["--interruption-rate", "0.1", "--executor", "dask"], "--scheduler"),
    (["--interruption-rate", "0.1", "--scheduler", "tcp://x:1"], "only used with --executor dask"),
    (["--interruption-rate", "20"], "interruption_rate_per_hour"),
    (["--interruption-rate", "0.1", "--out", "x.xlsx"], ".csv or .json"),
])
def test_whatif_bad_input_is_one_clear_line(scen, args, message):
    r = runner.invoke(app, ["whatif", scen, *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_whatif_rate_needs_spot_offers(tmp_path):
    data = small().raw
    data["offers"] = [o for o in data["offers"] if o["market"] != "spot"]
    path = tmp_path / "od.yaml"
    path.write_text(yaml.safe_dump(data))
    r = runner.invoke(app, ["whatif", str(path), "--interruption-rate", "0.1"])
    assert r.exit_code == 2 and "no spot offers" in r.output


# --------------------------------------------------------------------------- plan simulate


def test_simulate_table_and_json(tmp_path, scen):
    plan = tmp_path / "plan.json"
    r = runner.invoke(app, ["solve", scen, "--format", "json", "--out", str(plan), "--no-baselines"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["simulate", str(plan), "--scenario", scen, "--hours", "1000", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert "chat" in r.stdout and "SLA attainment" in r.stdout
    r = runner.invoke(app, ["simulate", str(plan), "--scenario", scen, "--hours", "1000", "--seed", "2",
                            "--interruption-rate", "0.5", "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["hours"] == 1000 and data["seed"] == 2 and data["reclaims"] > 0
    assert [w["workload"] for w in data["workloads"]] == ["chat"] and data["fleet"]["workload"] == "(fleet)"
    assert 0 <= data["attainment_pct"] < 100


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ('{"scenario": "x"}', "not a fleetplan plan"),
])
def test_simulate_bad_plan_file(tmp_path, scen, content, message):
    path = tmp_path / "plan.json"
    path.write_text(content)
    r = runner.invoke(app, ["simulate", str(path), "--scenario", scen])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_simulate_plan_from_another_scenario(tmp_path, scen):
    plan = tmp_path / "plan.json"
    assert runner.invoke(app, ["solve", scen, "--format", "json", "--out", str(plan), "--no-baselines"]).exit_code == 0
    data = small().raw
    data["offers"] = [o for o in data["offers"] if o["id"] != "a"]
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(data))
    r = runner.invoke(app, ["simulate", str(plan), "--scenario", str(other)])
    assert r.exit_code == 2 and "offer 'a'" in r.output
    r = runner.invoke(app, ["simulate", str(tmp_path / "missing.json"), "--scenario", scen])
    assert r.exit_code == 2 and "cannot read" in r.output
