"""One vocabulary: each command's JSON and CSV, read back, use the same names for the same numbers, units in the
names, shares in percent, money to the cent, no float noise, and empty tables that read back typed."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from reports import export, tables
from reports.vocabulary import is_money, round_value, tidy
from tests.forecast_helpers import forecast_scenario, option
from tests.test_sweep import small

ROOT = Path(__file__).parent.parent
CHATBOT = str(ROOT / "scenarios" / "chatbot.yaml")
runner = CliRunner()
# Numeric columns whose name is a count of things (the unit is the thing) or an identifier of a point.
COUNTS = {"gpus", "nodes", "replicas", "tp", "instances", "periods", "months", "hours", "term_months",
          "checks_failed", "seed", "spot_nodes", "reclaims", "pool_events", "spot_gpus", "non_spot_gpus",
          "unserved_requests", "demand_requests", "owned_nodes", "interruption_rate", "hours_per_month"}


def _ok(r):
    assert r.exit_code == 0, r.output
    return r


def _csv(text: str, name: str) -> pd.DataFrame:
    return export.read_csv(io.StringIO(text), name)


def _yaml(tmp_path: Path, raw: dict, name: str) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def _has_unit(col: str) -> bool:
    base = col.split(".")[-1]
    return (base in COUNTS or base.startswith(("gpus_", "nodes_")) or "usd" in base or base.endswith(
        ("_pct", "_ms", "_seconds", "_requests_per_min", "_per_hour", "_target", "_months")))


def _check_numbers(frame: pd.DataFrame) -> None:
    """Units in every numeric column's name; shares in percent; money to the cent; no float noise."""
    for col in frame.columns:
        if frame[col].dtype.kind not in "if":
            continue
        assert _has_unit(col), f"{col}: a number without a unit in its name"
        vals = frame[col].dropna()
        if col.endswith("_pct") and "saving" not in col and "change" not in col:
            assert ((vals >= 0) & (vals <= 100 + 1e-9)).all(), f"{col} is not a percent: {list(vals)}"
        for v in vals:
            assert float(repr(float(v))) == round_value(col, float(v)), f"{col}={v!r} is not rounded"
            if is_money(col):
                assert round(v, 2) == v, f"{col}={v!r} is not in cents"


def _same_values(json_rows: list[dict], frame: pd.DataFrame, cols) -> None:
    assert len(json_rows) == len(frame)
    for rec, (_, row) in zip(json_rows, frame.iterrows()):
        for c in cols:
            a, b = rec[c], row[c]
            if a is None or (isinstance(a, float) and math.isnan(a)):
                assert pd.isna(b), (c, a, b)
            elif isinstance(a, (int, float)) and not isinstance(a, bool):
                assert b == pytest.approx(a, abs=0.005), (c, a, b)
            else:
                assert str(a) == str(b), (c, a, b)


def test_whatif_json_and_csv_are_one_table(tmp_path):
    scen = _yaml(tmp_path, small().raw, "s.yaml")
    args = ["whatif", scen, "--interruption-rate", "0,0.3", "--hours", "300", "--jobs", "1", "--solver", "highs"]
    recs = json.loads(_ok(runner.invoke(app, [*args, "--format", "json"])).stdout)
    frame = _csv(_ok(runner.invoke(app, [*args, "--format", "csv"])).stdout, "whatif")
    assert [list(r) for r in recs] == [list(frame.columns)] * len(recs)  # same names, same order
    assert {"simulated_attainment_pct", "spot_gpu_share_pct", "simulated_unserved_pct"} <= set(frame.columns)
    _same_values(recs, frame, frame.columns)
    _check_numbers(frame)
    # --out writes the same vocabulary as stdout
    out = tmp_path / "w.json"
    _ok(runner.invoke(app, [*args, "--out", str(out)]))
    assert json.loads(out.read_text()) == recs


def test_forecast_json_months_and_csv_share_names(tmp_path):
    loaded = forecast_scenario(months=3, options=[option(12, 0.6)])
    scen = _yaml(tmp_path, loaded.raw, "f.yaml")
    res = json.loads(_ok(runner.invoke(app, ["forecast", scen, "--format", "json", "--solver", "highs"])).stdout)
    frame = _csv(_ok(runner.invoke(app, ["forecast", scen, "--format", "csv", "--solver", "highs"])).stdout,
                 "forecast_months")
    # The JSON month nests per-workload demand and per-offer nodes; the CSV spells them out as
    # demand_<workload>_requests_per_min and nodes_<offer>; every other column is a JSON key of the same name.
    flat = []
    for m in res["months"]:
        row = {k: v for k, v in m.items() if not isinstance(v, dict)}
        row.update({f"demand_{w}_requests_per_min": v for w, v in m["demand_requests_per_min"].items()})
        row.update({f"nodes_{o}": v for o, v in m["nodes"].items()})
        flat.append(row)
    assert set(frame.columns) <= set(flat[0]), set(frame.columns) - set(flat[0])
    _same_values(flat, frame, frame.columns)
    _check_numbers(frame)
    assert "reserved_utilization" not in res["months"][0]  # a share is a percent, and says so
    for key in ("total_usd", "tail_usd", "all_on_demand_total_usd", "no_commitment_total_usd"):
        assert res[key] is None or round(res[key], 2) == res[key]


def test_simulate_json_and_csv_share_names(tmp_path):
    scen = _yaml(tmp_path, small().raw, "s.yaml")
    plan = tmp_path / "plan.json"
    _ok(runner.invoke(app, ["solve", scen, "--format", "json", "--out", str(plan), "--no-baselines"]))
    args = ["simulate", str(plan), "--scenario", scen, "--hours", "500", "--interruption-rate", "0.3"]
    data = json.loads(_ok(runner.invoke(app, [*args, "--format", "json"])).stdout)
    frame = _csv(_ok(runner.invoke(app, [*args, "--format", "csv"])).stdout, "simulate")
    rows = [*data["workloads"], data["fleet"]]
    assert [list(r) for r in rows] == [list(frame.columns)] * len(rows)
    _same_values(rows, frame, frame.columns)
    _check_numbers(frame)
    assert data["attainment_pct"] == pytest.approx(frame["attainment_pct"].iloc[:-1].min())


def test_solve_csv_names_match_the_plan_contract(tmp_path):
    """The plan JSON is the exchange contract (nested, exact floats); where a CSV column and a JSON field hold
    the same number they have the same name and value."""
    plan = json.loads(_ok(runner.invoke(app, ["solve", CHATBOT, "--format", "json", "--solver", "highs"])).stdout)
    _ok(runner.invoke(app, ["solve", CHATBOT, "--format", "csv", "--out", str(tmp_path / "t"), "--solver", "highs"]))
    summary = export.read_csv(tmp_path / "t" / "summary.csv", "summary")
    for key in ("objective_usd_per_hour", "bound_usd_per_hour", "solver", "status"):
        assert key in summary.columns
        _same_values([plan], summary, [key])
    fleet = export.read_csv(tmp_path / "t" / "fleet.csv", "fleet")
    shared = [c for c in fleet.columns if c in plan["nodes"][0]]
    assert {"offer", "gpu", "market", "gpus", "usd_per_hour", "price_usd_per_node_hour"} <= set(shared)
    _same_values(plan["nodes"], fleet, shared)
    for name in tables.PLAN_FRAMES:
        _check_numbers(export.read_csv(tmp_path / "t" / f"{name}.csv", name))


def test_empty_tables_read_back_typed(tmp_path):
    frames = {name: tables.empty_frame(name) for name in ("fleet", "options", "verification", "periods", "whatif",
                                                          "forecast_months", "simulate")}
    export.write_csv(frames, tmp_path)
    for name, frame in frames.items():
        back = export.read_csv(tmp_path / f"{name}.csv", name)
        assert back.empty and list(back.columns) == list(frame.columns)
        assert {c: str(t) for c, t in back.dtypes.items()} == {c: str(t) for c, t in frame.dtypes.items()}, name
        assert not any(t == object for c, t in back.dtypes.items() if frame[c].dtype != object)


def test_rounding_rules():
    assert round_value("usd", 17461.600000000002) == 17461.6
    assert round_value("total_usd", 1234.5678) == 1234.57
    assert round_value("price_usd_per_node_hour", 0.04257) == 0.04257  # a unit price keeps its digits
    assert round_value("usd_per_million_requests", 0.123456) == 0.123456
    assert round_value("share_pct", 84.91722869) == 84.92
    assert round_value("simulated_attainment_pct", 99.99612) == 99.996  # not "100.0"
    assert round_value("unserved_pct", 0.00134567) == 0.0013  # not "0.0"
    assert round_value("capacity_requests_per_min", 0.1 + 0.2) == 0.3
    assert round_value("gpus", 3) == 3 and round_value("x", True) is True
    assert tidy({"a_usd": [1.005, float("nan")], "b": {"c_pct": 1 / 3}}) == {"a_usd": [1.0, None],
                                                                             "b": {"c_pct": 0.33}}
