"""Reports: tidy frames (values checked by hand), JSON/CSV round trips, Markdown, terminal at 80 columns, and a
self-contained HTML page. The inputs are hand-built in tests/fixtures/reports/sample.py (no solver involved)."""

from __future__ import annotations

import ast
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from planner.plan import Plan
from reports.export import to_json, to_markdown, write_csv
from reports.html import render_html, render_html_frames
from reports.tables import (HOURS_PER_MONTH, PLAN_FRAMES, SCHEMAS, forecast_tables, plan_tables, whatif_axes,
                            whatif_tables)
from reports.terminal import (forecast_renderables, plan_renderables, print_renderables, render_text,
                              whatif_renderables)
from tests.report_sample import load_sample

ROOT = Path(__file__).resolve().parents[1]


S = load_sample()


@pytest.fixture(scope="module")
def plan() -> Plan:
    return S.build_plan()


@pytest.fixture(scope="module")
def frames(plan):
    return plan_tables(plan, S.build_scenario())


@pytest.fixture(scope="module")
def frames24():
    return plan_tables(S.build_plan_24(), S.build_scenario())


def _row(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in where.items():
        mask &= (frame[k] == v).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


# --------------------------------------------------------------------------- frames: shape and units

# Counts and identifiers carry no unit; every other numeric column must say its unit in its name.
_UNITLESS = {"nodes", "gpus", "owned_nodes", "replicas", "tp", "instances", "periods", "checks_failed", "months",
             "interruption_rate"}
_UNIT = re.compile(r"(^|_)(usd|hours)(_|$)|(_ms|_pct|_per_min|_seconds|_months)$")


def _assert_units(frame: pd.DataFrame) -> None:
    for col in frame.columns:
        if frame[col].dtype.kind not in "iuf" or col in _UNITLESS:
            continue
        if col.startswith(("gpus_", "nodes_")) or "." in col:  # per-offer counts; swept scenario paths
            continue
        assert _UNIT.search(col), f"{col}: numeric column without a unit in its name"


def test_every_plan_frame_has_its_schema_columns_and_units(frames, frames24):
    for fs in (frames, frames24):
        assert list(fs) == list(PLAN_FRAMES)
        for name, frame in fs.items():
            assert list(frame.columns[: len(SCHEMAS[name])]) == list(SCHEMAS[name]), name
            _assert_units(frame)


def test_missing_pieces_give_empty_frames_with_columns():
    bare = Plan(scenario="x", status="infeasible", objective_usd_per_hour=None, bound_usd_per_hour=None, gap=None,
                solver="cbc", solve_seconds=0.1, target_utilization=0.8, message="no fleet can serve chat-8b")
    fs = plan_tables(bare)
    for name, frame in fs.items():
        assert list(frame.columns) == list(SCHEMAS[name]), name
        assert len(frame) == (1 if name == "summary" else 0), name
    s = fs["summary"].iloc[0]
    assert s["status"] == "infeasible" and math.isnan(s["usd_per_month"]) and math.isnan(s["saving_pct"])
    assert s["message"] == "no fleet can serve chat-8b"
    # Every renderer copes with the empty plan.
    assert "infeasible" in render_text(plan_renderables(fs))
    assert "infeasible" in render_html_frames(fs)
    assert "infeasible" in to_markdown(fs)


# --------------------------------------------------------------------------- frames: values by hand


def test_summary_numbers(frames):
    s = frames["summary"].iloc[0]
    assert s["objective_usd_per_hour"] == pytest.approx(16.31)
    assert s["hours_per_month"] == HOURS_PER_MONTH == 730
    assert s["usd_per_month"] == pytest.approx(730 * 16.31)  # 11,906.30
    assert s["gpus"] == 4 + 3 + 1 and s["nodes"] == 2 + 3 + 1
    assert s["baseline"] == "all-on-demand"  # the cheapest priced baseline, not the first
    assert s["baseline_usd_per_hour"] == pytest.approx(17.94)
    assert s["saving_usd_per_hour"] == pytest.approx(17.94 - 16.31)  # 1.63
    assert s["saving_usd_per_month"] == pytest.approx(730 * 1.63)
    assert s["saving_pct"] == pytest.approx(100 * 1.63 / 17.94, abs=0.005)  # 9.09: shares to 0.01 %
    assert s["gap_pct"] == 0 and s["target_utilization_pct"] == pytest.approx(80)
    assert s["verified"] is True or s["verified"] == True  # noqa: E712 - numpy bool
    assert s["checks_failed"] == 0 and s["periods"] == 1


def test_fleet_and_cost(frames):
    h100 = _row(frames["fleet"], offer="h100-od")
    assert (h100["nodes"], h100["gpus"], h100["market"]) == (2, 4, "on_demand")
    assert h100["usd_per_hour"] == pytest.approx(2 * 5.98)
    assert h100["usd_per_month"] == pytest.approx(730 * 11.96)
    cost = frames["cost"]
    assert list(cost["market"]) == ["on_demand", "spot"]  # no reserved row: the plan uses none
    od = _row(cost, market="on_demand")
    assert od["usd_per_hour"] == pytest.approx(11.96 + 1.89)
    assert od["share_pct"] == pytest.approx(100 * 13.85 / 16.31, abs=0.005)
    assert (od["nodes"], od["gpus"]) == (3, 5)
    assert _row(cost, market="spot")["usd_per_month"] == pytest.approx(730 * 2.46)


@pytest.mark.parametrize("offer, util_pct", [
    ("l40s-spot", 100 * 420 / (3 * 200 * 0.99)),  # spot: capacity counts at 99 % availability -> 70.71 %
    ("a100-mig", 100 * 180 / (2 * 120)),          # 75 %
    ("h100-od", 100 * 60 / (2 * 40)),             # 75 %
])
def test_utilization_pct_is_assigned_over_capacity(frames, offer, util_pct):
    d = _row(frames["deployments"], offer=offer)
    assert d["utilization_pct"] == pytest.approx(util_pct, abs=0.005)  # shares to 0.01 %
    avail = d["availability_pct"] / 100
    assert d["utilization_pct"] == pytest.approx(
        100 * d["assigned_requests_per_min"] / (d["replicas"] * d["capacity_requests_per_min"] * avail), abs=0.01)


def test_slo_marks(frames):
    dep = frames["deployments"]
    assert list(dep["ttft_slo_ms"]) == [500, 500, 2000]
    assert list(dep["ttft_ok"]) == [True, True, True]
    tpot = list(dep["tpot_ok"])
    assert tpot[:2] == [True, False]  # 55 ms > 50 ms on the MIG slice
    assert pd.isna(tpot[2])  # rag-70b has no TPOT SLO: unknown, not a pass
    wl = frames["workloads"].set_index("workload")
    assert wl.loc["chat-8b", "slo_ok"] == False  # noqa: E712
    assert wl.loc["rag-70b", "slo_ok"] == True  # noqa: E712 - unknown TPOT does not fail it
    assert wl.loc["chat-8b", "replicas"] == 5 and wl.loc["chat-8b", "max_predicted_tpot_ms"] == 55
    assert wl.loc["chat-8b", "served_pct"] == pytest.approx(100)


def test_no_scenario_means_unknown_slos_not_passes(plan):
    dep = plan_tables(plan)["deployments"]
    assert dep["ttft_slo_ms"].isna().all() and dep["ttft_ok"].isna().all() and dep["tpot_ok"].isna().all()


def test_options_every_state_in_order(frames):
    opt = frames["options"]
    chat = opt[opt["workload"] == "chat-8b"]
    assert list(chat["state"]) == ["chosen", "chosen", "feasible", "dominated", "dropped"]
    # chosen sorted by USD per million requests at capacity: 0.82 / (200 x 60) x 1e6 = 68.33 first
    assert chat.iloc[0]["offer"] == "l40s-spot"
    assert chat.iloc[0]["usd_per_million_requests"] == pytest.approx(0.82 / (200 * 60) * 1e6)
    assert pd.isna(chat.iloc[-1]["usd_per_million_requests"])  # dropped: no price
    assert set(opt["state"]) == {"chosen", "feasible", "dominated", "dropped"}
    assert opt[opt["state"] == "dropped"]["reason"].notna().all()


def test_baselines_mig_and_verification(frames):
    b = frames["baselines"].set_index("name")
    assert b.loc["single-offer h100-od", "saving_usd_per_hour"] == pytest.approx(23.92 - 16.31)
    assert b.loc["single-offer h100-od", "saving_pct"] == pytest.approx(100 * 7.61 / 23.92, abs=0.005)
    assert pd.isna(b.loc["single-offer a100-mig", "usd_per_hour"])
    assert b.loc["single-offer a100-mig", "status"] == "infeasible"
    mig = frames["mig_partitions"].iloc[0]
    assert (mig["offer"], mig["gpu"], mig["pattern"], mig["instances"], mig["gpus"]) == \
        ("a100-mig", "a100-80gb", "3g.40gb + 3g.40gb", 2, 1)
    ver = frames["verification"]
    assert len(ver) == 6 and ver["ok"].all() and ver["ok"].dtype == bool


def test_periods_frame(frames, frames24):
    assert frames["periods"].empty and list(frames["periods"].columns) == list(SCHEMAS["periods"])
    per = frames24["periods"]
    assert len(per) == 24
    assert list(per.columns[len(SCHEMAS["periods"]):]) == ["gpus_h100-od", "gpus_l40s-spot", "gpus_a100-mig"]
    assert list(per["gpus_l40s-spot"]) == [S.spot_nodes_at(h) for h in range(24)]
    assert (per["gpus"] == per["gpus_h100-od"] + per["gpus_l40s-spot"] + per["gpus_a100-mig"]).all()
    assert per["usd"].tolist() == pytest.approx([S.period_usd_per_hour(h) * 1.0 for h in range(24)])
    s = frames24["summary"].iloc[0]
    assert s["periods"] == 24
    # hour-weighted mean: (12 h x 14.67 + 12 h x 17.13) / 24 = 15.90
    assert s["objective_usd_per_hour"] == pytest.approx((12 * 14.67 + 12 * 17.13) / 24)
    assert per["usd"].sum() / per["hours"].sum() == pytest.approx(s["objective_usd_per_hour"])


def test_whatif_tables():
    w = whatif_tables(S.whatif_records())["whatif"]
    assert whatif_axes(w) == ["interruption_rate"]
    assert list(w.columns[:1 + len(SCHEMAS["whatif"])]) == ["interruption_rate", *SCHEMAS["whatif"]]
    assert ["gpus_h100-od", "gpus_l40s-spot"] == [c for c in w.columns if c.startswith("gpus_")]
    first, second = w.iloc[0], w.iloc[1]
    assert first["change_usd_per_hour"] == 0
    # rate 0.01: 11.96 + 3 x 0.82 + 1 x 2.99 = 17.41 against 11.96 + 4 x 0.82 = 15.24 at rate 0
    assert second["change_usd_per_hour"] == pytest.approx(17.41 - 15.24)
    assert second["change_pct"] == pytest.approx(100 * 2.17 / 15.24, abs=0.005)
    assert second["spot_gpu_share_pct"] == pytest.approx(100 * 3 / 8)
    assert second["simulated_attainment_pct"] == pytest.approx(99.85)
    _assert_units(w)


def test_whatif_grid_changes_are_per_row_of_the_grid():
    recs = [{"interruption_rate": r, "policy.spot.availability_target": t, "status": "optimal",
             "objective_usd_per_hour": base + 10 * r, "spot_gpu_share": 0.5, "gpus_by_offer": {"a": 2},
             "simulated_attainment": None}
            for t, base in ((0.99, 100.0), (0.999, 120.0)) for r in (0.0, 0.1)]
    w = whatif_tables(recs)["whatif"]
    assert whatif_axes(w) == ["interruption_rate", "policy.spot.availability_target"]
    # each target is compared with its own rate-0 point: +1 USD/h, not 120 - 100
    assert w["change_usd_per_hour"].tolist() == pytest.approx([0, 1, 0, 1])
    assert w["simulated_attainment_pct"].isna().all()


def test_forecast_tables():
    res = S.forecast_result()
    f = forecast_tables(res)
    s = f["forecast_summary"].iloc[0]
    assert s["months"] == 12
    # all on demand costs total + 19,000; the commitments still owe a 16,000 tail after the horizon, so the
    # saving is 19,000 - 16,000 = 3,000 (the comparisons sign nothing, so they have no tail)
    assert s["saving_vs_all_on_demand_usd"] == pytest.approx(3_000)
    assert s["saving_vs_all_on_demand_pct"] == pytest.approx(100 * 3_000 / (res["total_usd"] + 19_000), abs=0.005)
    assert s["total_with_tail_usd"] == pytest.approx(res["total_usd"] + 16_000)
    m = f["forecast_months"]
    assert len(m) == 12 and m["usd"].sum() == pytest.approx(res["total_usd"])
    assert m["cumulative_usd"].iloc[-1] == pytest.approx(res["total_usd"])
    assert m["reserved_utilization_pct"].iloc[:2].isna().all() and m["reserved_utilization_pct"].iloc[5] == 90
    assert {"demand_chat-8b_requests_per_min", "nodes_h100-res"} <= set(m.columns)
    c = f["forecast_commitments"].iloc[0]
    assert c["description"] == "commit 1 x h100-res node for 12 months from 2027-03"
    for frame in f.values():
        _assert_units(frame)


# --------------------------------------------------------------------------- JSON and CSV


@pytest.mark.parametrize("build", [S.build_plan, S.build_plan_24])
def test_json_round_trip(build):
    p = build()
    text = to_json(p)
    assert Plan.model_validate_json(text) == p
    import json
    keys = json.loads(text).keys()
    assert {"status", "objective_usd_per_hour", "bound_usd_per_hour", "gap", "solver", "solve_seconds", "nodes",
            "replicas", "mig_partitions", "workloads", "baselines", "verification"} <= set(keys)


def _all_frame_sets():
    sc = S.build_scenario()
    return {
        "plan": plan_tables(S.build_plan(), sc),
        "plan-no-scenario": plan_tables(S.build_plan()),  # all-NaN SLO columns, all-missing booleans
        "plan-24": plan_tables(S.build_plan_24(), sc),
        "whatif": whatif_tables(S.whatif_records()),
        "forecast": forecast_tables(S.forecast_result()),
    }


@pytest.mark.parametrize("which", list(_all_frame_sets()))
def test_csv_round_trip(tmp_path, which):
    fs = _all_frame_sets()[which]
    paths = write_csv(fs, tmp_path / "out")
    assert [p.name for p in paths] == [f"{n}.csv" for n in fs]
    for (name, frame), path in zip(fs.items(), paths):
        back = pd.read_csv(path)
        assert list(back.columns) == list(frame.columns), name
        assert len(back) == len(frame), name
        for col in frame.columns:
            # A column with no values at all reads back as float NaN: compare values, not dtype, there.
            exact = bool(len(frame)) and frame[col].notna().any()
            pd.testing.assert_series_equal(back[col], frame[col], check_dtype=exact, obj=f"{name}.{col}")


def test_csv_keeps_missing_and_bools(tmp_path, frames):
    write_csv({"deployments": frames["deployments"]}, tmp_path)
    back = pd.read_csv(tmp_path / "deployments.csv")
    assert back["ttft_ok"].dtype == bool and back["ttft_ok"].all()
    assert back["tpot_ok"].tolist()[:2] == [True, False] and pd.isna(back["tpot_ok"].iloc[2])
    assert back["mig_profile"].isna().tolist() == [True, False, True]
    assert back["utilization_pct"].iloc[0] == frames["deployments"]["utilization_pct"].iloc[0]  # full precision


# --------------------------------------------------------------------------- Markdown


def test_markdown_tables_paste_cleanly(frames, frames24):
    for fs in (frames, frames24, whatif_tables(S.whatif_records()), forecast_tables(S.forecast_result())):
        md = to_markdown(fs, title="plan")
        assert md.endswith("|\n") and "\n\n\n" not in md
        blocks = [b.strip("\n") for b in md.split("\n\n") if b.startswith("|")]
        assert len(blocks) == sum(not f.empty for f in fs.values())
        for block in blocks:
            lines = block.split("\n")
            assert re.fullmatch(r"\|(:?-{3}:?\|)+", lines[1]), lines[1]  # one separator row, second line
            assert sum(bool(re.fullmatch(r"\|(:?-{3}:?\|)+", ln)) for ln in lines) == 1
            n = lines[1].count("|")
            for ln in lines:  # no raw newline or unescaped pipe inside a cell
                assert ln.startswith("| ") and ln.endswith(" |") or ln is lines[1]
                assert len(re.findall(r"(?<!\\)\|", ln)) == n, ln
    md = to_markdown(frames)
    assert "does not fit \\| weights + KV > 80 GB (largest MIG slice)" in md
    assert "| Cost USD/h | 16.31 |" in md  # the one-row summary reads as field / value


# --------------------------------------------------------------------------- terminal


def _terminal_outputs(frames, frames24):
    return {
        "plan": plan_renderables(frames),
        "plan-24": plan_renderables(frames24),
        "whatif": whatif_renderables(whatif_tables(S.whatif_records())),
        "forecast": forecast_renderables(forecast_tables(S.forecast_result())),
    }


def _long_ids_frames():
    """Generated catalogs make long ids; a long message too. Rich must fold them, not overflow."""
    p = S.build_plan()
    long = "an-extremely-long-offer-identifier-from-a-generated-catalog-us-east-1-h100-"
    p = p.model_copy(update={
        "nodes": tuple(n.model_copy(update={"offer": f"{long}{i}"}) for i, n in enumerate(p.nodes)),
        "replicas": tuple(r.model_copy(update={"offer": long, "workload": "w-" + long}) for r in p.replicas),
        "options": tuple(o.model_copy(update={"offer": long, "reason": f"{o.reason} {long}"}) for o in p.options),
        "message": "unmet " * 40})
    return plan_tables(p, S.build_scenario())


def test_names_print_as_given_never_as_markup_or_emoji():
    """A workload, offer or scenario name with rich markup (``[bold]``) or an emoji code (``:fire:``) prints
    literally, on a console that reads markup and emoji in plain strings (rich's default) as well as on
    fleetplan's own: before, "Options for chat[bold]x[/bold]" printed "Options for chatx" and ":fire:" an emoji."""
    from planner.cli.common import SafeConsole  # noqa: PLC0415

    wl, offer, name = "chat[bold]x[/bold]:fire:", "h100[red]od[/red]", "fleet [i]a[/i] :rocket:"
    p = S.build_plan()
    p = p.model_copy(update={
        "scenario": name,
        "nodes": tuple(n.model_copy(update={"offer": offer}) for n in p.nodes),
        "replicas": tuple(r.model_copy(update={"offer": offer, "workload": wl}) for r in p.replicas),
        "options": tuple(o.model_copy(update={"offer": offer, "workload": wl,
                                              "reason": f"{o.reason} [dim]why[/dim]"}) for o in p.options)})
    renderables = plan_renderables(plan_tables(p, S.build_scenario()))
    for console in (Console(width=200, record=True, file=io.StringIO()),
                    SafeConsole(width=200, record=True, file=io.StringIO())):
        print_renderables(renderables, console)
        text = console.export_text()
        for needle in (f"Options for {wl}", wl, offer, name, "[dim]why[/dim]"):
            assert needle in text, needle
        assert "\N{FIRE}" not in text and "\N{ROCKET}" not in text
    assert f"Options for {wl}" in render_text(renderables, width=200)


def test_terminal_fits_80_columns(frames, frames24):
    outputs = _terminal_outputs(frames, frames24)
    outputs["long-ids"] = plan_renderables(_long_ids_frames())
    for name, renderables in outputs.items():
        console = Console(width=80, record=True, file=io.StringIO())
        print_renderables(renderables, console)
        text = console.export_text()
        too_long = [ln for ln in text.splitlines() if len(ln) > 80]
        assert not too_long, f"{name}: {too_long[:3]}"


def test_terminal_content_and_marks(frames):
    text = render_text(plan_renderables(frames), width=80)
    for needle in ("16.31 USD/h", "11,906.30 USD/month (730 h)", "1.63 USD/h (9.1 %) vs all-on-demand",
                   "410 / 500 ✓", "55.0 / 50.0 ✗", "no SLO", "Options for chat-8b", "●", "dominated",
                   "SLO unreachable", "Verification"):
        assert needle in text, needle
    coloured = render_text(plan_renderables(frames), width=80, color=True)
    assert "\x1b[1;31m✗" in coloured  # a missed SLO is red
    assert "\x1b[32m✓" in coloured  # a met one green


def test_terminal_caps_long_option_lists(frames):
    text = render_text(plan_renderables(frames, max_options_per_workload=1), width=80)
    assert "… 2 more (1 dominated, 1 dropped), see --format csv" in text
    assert "l40s-spot bf16 TP1" in text and "a100-mig fp8 TP1" in text  # chosen rows always shown


def test_renderers_read_the_frames_only(frames):
    """Change a number in the frames: every renderer shows the changed number (none recomputes it)."""
    fs = {k: v.copy() for k, v in frames.items()}
    fs["summary"].loc[0, "usd_per_month"] = 4242.42
    fs["fleet"].loc[0, "usd_per_hour"] = 777.77
    assert "4,242.42" in render_text(plan_renderables(fs))
    assert "777.77" in render_text(plan_renderables(fs))
    assert "4,242.42" in to_markdown(fs) and "777.77" in to_markdown(fs)
    page = render_html_frames(fs)
    assert "4,242.42" in page and "777.77" in page


# --------------------------------------------------------------------------- HTML


@pytest.fixture(scope="module")
def pages(plan):
    return {
        "solve": render_html(plan, S.loaded_scenario()),
        "solve-24": render_html(S.build_plan_24(), S.loaded_scenario()),
        "whatif+forecast": render_html(plan, S.loaded_scenario(), whatif=S.whatif_records(),
                                       forecast=S.forecast_result(), title="Capacity plan <Q3>"),
        "forecast-only": render_html(None, S.loaded_scenario(), forecast=S.forecast_result()),
    }


EXPECTED_CHARTS = {
    "solve": ["fleet-mix", "cost", "slo"],
    "solve-24": ["fleet-mix", "cost", "slo", "periods"],
    "whatif+forecast": ["fleet-mix", "cost", "slo", "whatif", "forecast"],
    "forecast-only": ["forecast"],
}

_FIGURE = re.compile(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>', re.S)


@pytest.mark.parametrize("kind", list(EXPECTED_CHARTS))
def test_html_charts_are_inline_svg(pages, kind):
    page = pages[kind]
    figures = _FIGURE.findall(page)
    assert [name for name, _ in figures] == EXPECTED_CHARTS[kind]
    for name, body in figures:
        assert body.count("<svg") == 1, name
        svg = body[body.index("<svg"): body.index("</svg>")]
        assert re.search(r'viewBox="0 0 [1-9][\d.]* [1-9][\d.]*"', svg), name
        assert "<path" in svg or "<rect" in svg, name
    assert "<?xml" not in page and page.count("<!DOCTYPE") == 1 and "<metadata" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids across charts"


@pytest.mark.parametrize("kind", list(EXPECTED_CHARTS))
def test_html_is_self_contained(pages, kind):
    page = pages[kind]
    assert "<script" not in page.lower()  # no scripts at all (the scenario's <script> is escaped)
    assert "@import" not in page and "@font-face" not in page
    for attr, value in re.findall(r'\b(src|href|xlink:href|action|poster|srcset)\s*=\s*"([^"]*)"', page):
        assert value.startswith("#") or value.startswith("data:"), f"{attr}={value}"
    for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", page):
        assert ref.startswith("#"), ref
    links = re.findall(r"<link\b[^>]*>", page)
    assert links == ['<link rel="icon" href="data:,">']
    assert "Content-Security-Policy" in page and "default-src &#x27;none&#x27;" in page


def test_html_sections_and_escaping(pages):
    page = pages["whatif+forecast"]
    for anchor in ("summary", "fleet", "cost", "slo", "whatif", "forecast", "options", "verification", "scenario"):
        assert f'<section id="{anchor}">' in page, anchor
    assert "<title>Capacity plan &lt;Q3&gt;</title>" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # scenario text, escaped
    assert "# Fixture for tests/test_reports*.py" in page  # the file as read, comments kept
    assert "(largest MIG slice) &lt;b&gt;" in page
    assert "16.31 USD" in page and "11,906.30 USD" in page and "1.63 USD/h" in page
    assert 'class="miss" title="missed">✗' in page and 'class="ok" title="met">✓' in page
    assert "@media print" in page
    assert 'class="state-chosen"' in page and 'class="state-dropped"' in page
    # sections only when their data exists
    assert '<section id="whatif">' not in pages["solve"] and '<section id="periods">' in pages["solve-24"]
    assert '<section id="fleet">' not in pages["forecast-only"]


def test_scenario_text_falls_back_to_the_parsed_mapping(tmp_path, plan):
    import types
    loaded = types.SimpleNamespace(path=tmp_path / "gone.yaml", scenario=S.build_scenario(), raw=S.scenario_raw())
    page = render_html(plan, loaded)
    assert "name: reports-fixture" in page and "# Fixture for" not in page


# --------------------------------------------------------------------------- import rule


def test_reports_never_import_solvers_or_the_formulation():
    banned = ("solvers", "planner.fleet.formulation", "planner.problem", "planner.fleet.options")
    for path in sorted((ROOT / "reports").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                assert not any(n == b or n.startswith(b + ".") for b in banned), f"{path.name} imports {n}"
