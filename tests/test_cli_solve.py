"""``plan solve`` as a user meets it: JSON contract, CSV/Markdown output, exit codes 2 and 3, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.plan import Plan

ROOT = Path(__file__).parent.parent
CHATBOT = str(ROOT / "scenarios" / "chatbot.yaml")
runner = CliRunner()

PLAN_KEYS = {"status", "objective_usd_per_hour", "bound_usd_per_hour", "gap", "solver", "solve_seconds", "nodes",
             "replicas", "mig_partitions", "workloads", "baselines", "verification"}
NODE_KEYS = {"offer", "gpu", "market", "count", "gpus", "usd_per_hour"}
REPLICA_KEYS = {"workload", "offer", "gpu", "precision", "tp", "mig_profile", "count", "capacity_requests_per_min",
                "assigned_requests_per_min", "utilization", "predicted_ttft_ms", "predicted_tpot_ms"}
WORKLOAD_KEYS = {"id", "demand_requests_per_min", "served_requests_per_min", "usd_per_hour",
                 "usd_per_million_output_tokens"}


def test_json_contract_and_round_trip(tmp_path):
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", CHATBOT, "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert PLAN_KEYS <= set(data)
    assert all(NODE_KEYS <= set(n) for n in data["nodes"]) and data["nodes"]
    assert all(REPLICA_KEYS <= set(r) for r in data["replicas"]) and data["replicas"]
    assert all(WORKLOAD_KEYS <= set(w) for w in data["workloads"])
    assert data["verification"]["ok"] is True and data["status"] == "optimal"
    assert any(b["name"].startswith("cheapest single offer") for b in data["baselines"])
    assert Plan.model_validate(data).to_json() == data
    # costs add up: sum of node lines = objective (one period)
    assert abs(sum(n["usd_per_hour"] for n in data["nodes"]) - data["objective_usd_per_hour"]) < 1e-6


def test_csv_tables_read_back(tmp_path):
    result = runner.invoke(app, ["solve", CHATBOT, "--format", "csv", "--out", str(tmp_path / "t"), "--no-baselines"])
    assert result.exit_code == 0, result.output
    fleet = pd.read_csv(tmp_path / "t" / "fleet.csv")
    assert fleet["gpus"].sum() > 0


def test_table_view_shows_fleet_and_options():
    result = runner.invoke(app, ["solve", CHATBOT, "--no-baselines"])
    assert result.exit_code == 0, result.output
    assert "l40s-spot" in result.output and "chosen" in result.output


def _write(tmp_path: Path, data: dict) -> str:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def test_infeasible_exits_3_with_reason(tmp_path):
    # Llama-3.1-405B in bf16 cannot fit any single-GPU L40S node.
    path = _write(tmp_path, {"name": "x", "workloads": [{"id": "huge", "model": "llama-3.1-405b", "requests_per_min": 5,
                                                          "prompt_tokens": 100, "output_tokens": 10, "ttft_slo_ms": 5000}],
                             "offers": [{"id": "l40s", "gpu": "l40s", "market": "on_demand", "price_usd_per_gpu_hour": 1}]})
    result = runner.invoke(app, ["solve", path])
    assert result.exit_code == 3
    assert "huge" in result.output and "Traceback" not in result.output


def test_bad_input_exits_2(tmp_path):
    result = runner.invoke(app, ["solve", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["solve", CHATBOT, "--format", "csv"])
    assert result.exit_code == 2 and "--out" in result.output
