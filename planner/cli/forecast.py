"""``plan forecast``: month-by-month budget with reserved commitments, as a table, JSON or CSV, with a chart."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from planner.cli.common import err_console, fail, guard, out_console, output_format, time_limit_option
from planner.cli.helptext import command_help
from planner.cli.progress import QUIET_HELP, stage_progress
from planner.cli.solve import Solver, write_text


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


EXAMPLES = """
Examples:

  plan forecast scenarios/forecast-growth.yaml

  plan forecast scenarios/forecast-growth.yaml --months 18 --start 2027-01 --format json --out forecast.json

  plan forecast scenarios/forecast-growth.yaml --format csv --out forecast.csv --chart forecast.svg
"""


def forecast_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML file (its forecast: block, or the defaults)."),
    months: Optional[int] = typer.Option(None, "--months", min=1, max=120,
                                         help="Horizon in months (default: forecast.months)."),
    start: Optional[str] = typer.Option(None, "--start", help="First month, YYYY-MM (default: forecast.start)."),
    fmt: Optional[Format] = typer.Option(None, "--format", help="Output format (default: the table, and --out in "
                                                               "the format its extension names: .json/.csv)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the output here (csv: the months table)."),
    chart: Optional[Path] = typer.Option(None, "--chart",
                                         help="Also write an SVG chart: monthly cost by market, commitments marked."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a self-contained HTML report."),
    solver: Optional[Solver] = typer.Option(None, "--solver", help="Backend (default: policy.solver)."),
    time_limit: Optional[float] = time_limit_option("Seconds per solve (default: policy.time_limit_s)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Forecast the monthly cost of serving growing demand, and when to sign reserved terms.

    One integer program over months x hours decides the commitments and the hourly on-demand/spot fleet; the result
    is compared with an all-on-demand fleet and with committing nothing. Exit codes: 0 a verified forecast; 2 bad
    input; 3 infeasible (which workload, which month); 1 internal error or a plan that failed verification.
    """
    from planner.forecast.run import ForecastSettings, run_forecast  # noqa: PLC0415
    from planner.scenario.io import load_scenario  # noqa: PLC0415
    from reports import tables, terminal  # noqa: PLC0415
    from reports.vocabulary import tidy  # noqa: PLC0415
    from reports.export import csv_text  # noqa: PLC0415

    fmt, file_fmt = output_format(fmt, out, {".json": Format.json, ".csv": Format.csv}, Format.table, Format.json)
    loaded = load_scenario(scenario)
    settings = ForecastSettings(solver=solver.value if solver else None, time_limit_s=time_limit)
    with stage_progress("forecast", err_console, quiet) as bar:
        result = run_forecast(loaded, settings, months=months, start=start, progress=bar.callback())
    if not result["verified"]:
        raise fail("internal error: the forecast's plan failed independent verification; not printing it", 1)
    frames = tables.forecast_tables(result)
    if len(frames["forecast_commitments"]) == len(result["commitments"]):  # the words name the node shape
        frames["forecast_commitments"]["description"] = [c["description"] for c in result["commitments"]]
    if chart is not None:
        from reports.charts import forecast_svg  # noqa: PLC0415

        svg = forecast_svg(frames["forecast_months"], frames["forecast_commitments"])
        write_text(chart, svg or "")
    if report is not None:
        from reports.html import render_html  # noqa: PLC0415

        write_text(report, render_html(None, loaded, forecast=result))
    if fmt == Format.json:
        text = json.dumps(tidy(result), indent=2)
        write_text(out, text + "\n") if out else typer.echo(text)
    elif fmt == Format.csv:
        text = csv_text(frames["forecast_months"])
        write_text(out, text) if out else typer.echo(text, nl=False)
    else:
        terminal.print_renderables(terminal.forecast_renderables(frames), out_console)
        for note in result["notes"]:
            out_console.print(f"note: {note}", markup=False)
        if out is not None:  # the format --out's extension names (.csv: the months table), else JSON
            write_text(out, csv_text(frames["forecast_months"]) if file_fmt == Format.csv
                       else json.dumps(tidy(result), indent=2) + "\n")
    for path in (p for p in (out, chart, report) if p is not None):
        err_console.print(f"wrote {path}", markup=False)
    if result["status"] != "optimal":
        err_console.print(f"note: status {result['status']} (gap {result['gap']})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("forecast", help=command_help(forecast_command.__doc__, EXAMPLES))(
        guard(forecast_command))
