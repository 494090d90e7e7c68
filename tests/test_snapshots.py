"""Every command's table output at 80 and 120 columns: golden files, and the property they exist for: no line
wider than the terminal, no id or number cut ("2…") or split across lines ("optima / l").

Golden files live in tests/fixtures/snapshots/<case>-<width>.txt. After an intended change of the layout,
regenerate them and read the diff before committing:

    FLEETPLAN_UPDATE_SNAPSHOTS=1 python -m pytest -q -p no:cacheprovider tests/test_snapshots.py

The plan, what-if, forecast and simulate views are rendered from the report fixture (tests/fixtures/reports),
so no solver timing enters a snapshot; validate and catalog run through the CLI with a console of the width.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from planner.cli import app
from reports import tables, terminal
from tests.report_sample import load_sample

ROOT = Path(__file__).parent.parent
SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
WIDTHS = (80, 120)
UPDATE = os.environ.get("FLEETPLAN_UPDATE_SNAPSHOTS") == "1"
runner = CliRunner()


S = load_sample()


def _console(width: int) -> Console:
    # A terminal of that width (validate prints its tables to the terminal's width), without colour codes.
    return Console(width=width, file=io.StringIO(), force_terminal=True, color_system=None, highlight=False,
                   legacy_windows=False)


def _renderables_text(renderables, width: int) -> str:
    return terminal.render_text(renderables, width=width)


def _cli_text(args: list[str], width: int, monkeypatch) -> str:
    console = _console(width)
    monkeypatch.chdir(ROOT)  # relative paths in the output, the same on every machine
    monkeypatch.setattr("planner.cli.validate.out_console", console)
    monkeypatch.setattr("planner.cli.catalog._console", lambda: console)
    monkeypatch.setattr("planner.cli.estimate._console", lambda: console)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return console.file.getvalue()


def _plan(build):
    return tables.plan_tables(build(), S.loaded_scenario().scenario)


CASES = {
    "solve": lambda w, mp: _renderables_text(terminal.plan_renderables(_plan(S.build_plan)), w),
    "solve-24-periods": lambda w, mp: _renderables_text(terminal.plan_renderables(_plan(S.build_plan_24)), w),
    "whatif": lambda w, mp: _renderables_text(terminal.whatif_renderables(tables.whatif_tables(S.whatif_records())), w),
    "whatif-4-offers": lambda w, mp: _renderables_text(
        terminal.whatif_renderables(tables.whatif_tables(S.whatif_records_many_offers())), w),
    "forecast": lambda w, mp: _renderables_text(terminal.forecast_renderables(tables.forecast_tables(
        S.forecast_result())), w),
    "simulate": lambda w, mp: _renderables_text(terminal.simulate_renderables(
        tables.simulate_tables(S.simulation()), S.simulation(), 0.99), w),
    "validate-seed-guide": lambda w, mp: _cli_text(["validate", "scenarios/seed-guide.yaml"], w, mp),
    "validate-spot-hedge": lambda w, mp: _cli_text(["validate", "scenarios/spot-hedge.yaml"], w, mp),
    "catalog-gpus": lambda w, mp: _cli_text(["catalog", "gpus"], w, mp),
    "catalog-models": lambda w, mp: _cli_text(["catalog", "models"], w, mp),
    "estimate": lambda w, mp: _cli_text(["estimate", "-m", "llama-3.1-8b", "-g", "h100", "--concurrency", "8"], w, mp),
    "estimate-all-gpus": lambda w, mp: _cli_text(["estimate", "-m", "llama-3.1-70b", "--all-gpus"], w, mp),
}

# Ids and numbers each case must show whole, on one line, at every width (worked out from the inputs, not from
# the output): a cut or split one is missing from every line.
_NUM = re.compile(r"^-?[\d,]+(\.\d+)?$")


def _must_show(case: str) -> list[str]:
    if case.startswith("solve"):
        plan = S.build_plan()
        return [n.offer for n in plan.nodes] + [n.gpu for n in plan.nodes] + ["11.96", "1,500 / 2,000 ✓"]
    if case == "whatif":
        return ["h100-od", "l40s-spot", "optimal", "99.95", "99.45"]
    if case == "whatif-4-offers":
        return ["l40s-spot-1a", "l40s-spot-1b", "l40s-od", "h100-od", "optimal", "100.00", "99.89", "99.91", "11.10"]
    if case == "forecast":
        return ["165,728.27", "2027-12", "96,000.00"]
    if case == "simulate":
        return ["chat-8b", "rag-70b", "99.198", "739,089", "(all at once)"]
    if case.startswith("validate"):
        import yaml

        raw = yaml.safe_load((ROOT / "scenarios" / f"{case.removeprefix('validate-')}.yaml").read_text())
        return [o["id"] for o in raw["offers"]] + [w["id"] for w in raw["workloads"]]
    if case == "catalog-gpus":
        from planner.catalog import Catalog

        cat = Catalog.builtin()
        return [g.id for g in cat.gpus.values()] + [f"{g.mem_bw_gbps:,.0f}" for g in cat.gpus.values()]
    if case == "estimate":
        return ["llama-3.1-8b", "h100-sxm", "131,072"]  # model, GPU, KV bytes/token (2 x 32 layers x 8 x 128 x 2)
    if case == "estimate-all-gpus":
        from planner.catalog import Catalog

        return [g.id for g in Catalog.builtin().gpus.values()]
    if case == "catalog-models":
        from planner.catalog import Catalog

        return [m.id for m in Catalog.builtin().models.values()]
    return []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", list(CASES))
def test_table_output_matches_snapshot_and_cuts_nothing(case, width, monkeypatch):
    text = CASES[case](width, monkeypatch)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), [ln for ln in lines if len(ln.rstrip()) > width]
    # an ellipsis only where we write one ("… 3 more")
    assert not [ln for ln in lines if "…" in ln and not re.search(r"… \d+ more", ln)], text
    for token in _must_show(case):
        assert any(token in line for line in lines), f"{token!r} is cut or split at {width} columns:\n{text}"

    path = SNAPSHOTS / f"{case}-{width}.txt"
    body = "\n".join(line.rstrip() for line in lines) + "\n"
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} was missing and has been written: check it, then rerun")
    assert body == path.read_text(encoding="utf-8"), (
        f"{case} at {width} columns differs from {path.name}; if intended, regenerate with "
        "FLEETPLAN_UPDATE_SNAPSHOTS=1 (see this module's docstring) and review the diff")


def test_numbers_in_80_columns_are_not_split():
    """The what-if view at 80 columns: every cell of a point's row sits on that row's first line."""
    text = CASES["whatif-4-offers"](80, None)
    rows = [ln for ln in text.splitlines() if re.match(r"^\s+[\d.]+\s+optimal", ln)]
    assert len(rows) == 3
    for ln in rows:
        cells = ln.split()
        assert all(_NUM.match(c) or c == "optimal" for c in cells[:8]), ln


@pytest.mark.parametrize("width", WIDTHS)
def test_calibrate_tables_fit_and_cut_nothing(width, monkeypatch):
    """``plan calibrate``'s tables at 80 and 120 columns: no table line over the width, every constant and GPU id
    whole. (No golden file: the fitted digits come from a least-squares solve, so only the layout is pinned.)
    The CSV is 14 rows of bench/data/measured-public.csv, with their source columns."""
    text = _cli_text_calibrate(width, monkeypatch)
    table_lines = [ln for ln in text.splitlines() if not ln.startswith(("  skipped", "tests/"))]
    assert all(len(ln.rstrip()) <= width for ln in table_lines), [ln for ln in table_lines if len(ln.rstrip()) > width]
    for token in ("eta_bw", "eta_bf16", "trtllm.t_request_ms", "gpu_speed.a100-80gb-pcie", "h100-sxm", "throughput"):
        assert any(token in ln for ln in table_lines), f"{token!r} cut or missing at {width} columns:\n{text}"


def _cli_text_calibrate(width: int, monkeypatch) -> str:
    console = _console(width)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("planner.cli.calibrate._console", lambda: console)
    r = runner.invoke(app, ["calibrate", "tests/fixtures/calibrate-public-14.csv"])
    assert r.exit_code == 0, r.output
    return console.file.getvalue()
