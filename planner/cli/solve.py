"""``plan solve``: the cheapest fleet for a scenario, verified, as a table, JSON, CSV or Markdown."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from planner.cli.clock import command_started_at
from planner.cli.common import (check_out_dir, err_console, fail, guard, out_console, output_format, time_limit_option,
                                write_output)
from planner.cli.helptext import command_help
from planner.cli.progress import QUIET_HELP, stage_progress


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Solver(str, Enum):
    cbc = "cbc"
    scip = "scip"
    cpsat = "cpsat"
    highs = "highs"


# What printing the plan costs after the solve, inside the same --time-limit (fixed s, s per workload, s per
# deployment), measured on L-1 (100 workloads, 9,269 deployments) and M-1 (20, 726), 2026-12-04, this 2-core
# machine: JSON 1.5e-5 s per deployment (``to_json`` and the write: 0.19 s on L-1); the terminal tables 3.5e-5 s per
# deployment (their rows) and 14 ms per workload (rich renders up to 8 options each: 1.4 s on L-1); CSV and Markdown
# import pandas (0.35 s) and build the DataFrames (3.3e-5 s per deployment), then write 5e-5 (CSV) or 1.05e-4
# (Markdown) s per deployment. Kept back OUTPUT_MARGIN x that, for slower moments of the machine.
OUTPUT_COST = {
    Format.json: (0.0, 0.0, 1.5e-5),
    Format.table: (0.0, 0.014, 3.5e-5),
    Format.csv: (0.35, 0.0, 8.3e-5),
    Format.markdown: (0.35, 0.0, 1.4e-4),
}
OUTPUT_MARGIN = 1.5


def output_reserve(fmt: Format, also_json: bool) -> tuple[float, float, float]:
    """``SolveSettings.output_reserve`` for printing the plan as ``fmt`` (and writing its JSON too)."""
    costs = [OUTPUT_COST[fmt]] + ([OUTPUT_COST[Format.json]] if also_json and fmt != Format.json else [])
    return tuple(OUTPUT_MARGIN * sum(c[k] for c in costs) for k in range(3))


EXAMPLES = """
Examples:

  plan solve scenarios/chatbot.yaml

  plan solve scenarios/chatbot.yaml --solver highs --format json --out plan.json

  plan solve scenarios/chatbot.yaml --format csv --out plan-tables/

  plan solve scenarios/chatbot.yaml --report report.html
"""


def write_text(path: Path, text: str) -> None:
    """Write an output file atomically, turning OS errors into one clear line (exit 2)."""
    write_output(path, text)


def solve_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    solver: Optional[Solver] = typer.Option(None, "--solver", help="Backend (default: policy.solver, highs)."),
    time_limit: Optional[float] = time_limit_option("Wall-clock budget in seconds for the whole solve: options, "
                                                    "building, solving, tie-break and baselines (default: "
                                                    "policy.time_limit_s)."),
    fmt: Optional[Format] = typer.Option(None, "--format", help="Output format (default: the table, and --out in "
                                                               "the format its extension names: .json/.md)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the output here (a directory for csv)."),
    allow_unmet: bool = typer.Option(False, "--allow-unmet",
                                     help="Solve with a penalised shortfall instead of failing when demand cannot be met."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a self-contained HTML report."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip the single-offer baseline solves."),
    threads: int = typer.Option(1, "--threads", min=1, max=256,
                                help="Threads for the full program's solve (HiGHS: parallel tree search; one fewer "
                                     "while the restricted programs run beside it; an hourly plan solved one "
                                     "reserved level at a time: that many hours at once; the offers' caps priced "
                                     "into the workloads' own programs, on one period: as many programs at once). "
                                     "Default 1: the same plan on every run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Find the cheapest fleet that serves every workload within its SLOs, verify it, and show it.

    Exit codes: 0 a verified plan; 2 bad input; 3 infeasible (with the reason per workload); 1 internal error or a
    plan that failed verification.
    """
    started_at = command_started_at()  # --time-limit counts from the process's start (planner.cli.clock)
    from planner.scenario.io import load_scenario  # noqa: PLC0415
    from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415
    from reports import export, tables, terminal  # noqa: PLC0415

    fmt, file_fmt = output_format(fmt, out, {".json": Format.json, ".md": Format.markdown, ".csv": Format.csv},
                                  Format.table, Format.json)
    if fmt == Format.table and file_fmt == Format.csv:
        raise fail(f"--out {out}: plan solve writes CSV as one file per table: give --format csv --out FOLDER", 2)
    if fmt == Format.csv and out is not None:
        check_out_dir(out)
    loaded = load_scenario(scenario)
    settings = SolveSettings(solver=solver.value if solver else None, time_limit_s=time_limit,
                             allow_unmet=allow_unmet, baselines=not no_baselines, started_at=started_at,
                             threads=threads,
                             output_reserve=output_reserve(fmt, fmt == Format.table and out is not None))
    with stage_progress("solve", err_console, quiet) as bar:
        plan = solve_scenario(loaded, settings, progress=bar.callback())
    if plan.verification is None or not plan.verification.ok:
        failed = [c for c in (plan.verification.checks if plan.verification else ()) if not c.ok]
        lines = "\n".join(f"  - {c.name}: {c.detail}" for c in failed)
        raise fail(f"internal error: the solver's plan failed independent verification; not printing it\n{lines}", 1)
    from planner.catalog.offers import price_age_warning  # noqa: PLC0415

    chosen = {n.offer for n in plan.nodes if n.count} | {n.offer for p in plan.periods for n in p.nodes if n.count}
    stale = price_age_warning((o, loaded.scenario.offer(o).as_of) for o in sorted(chosen))
    if stale:
        err_console.print(stale, markup=False, soft_wrap=True)
    # the tables, where the output shows them (JSON alone needs none: 0.4 s on an L plan's 37,000 options);
    # DataFrames (pandas) only for CSV and Markdown
    rows = tables.plan_rows(plan, loaded.scenario) if fmt != Format.json else None
    frames = {name: table.to_pandas() for name, table in rows.items()} if (
        fmt in (Format.csv, Format.markdown) or (out is not None and file_fmt == Format.markdown)) else None
    if report is not None:
        from reports.html import render_html  # noqa: PLC0415

        write_text(report, render_html(plan, loaded))
    if fmt == Format.json:
        text = export.to_json(plan)
        write_text(out, text) if out else typer.echo(text)
    elif fmt == Format.csv:
        if out is None:
            raise fail("--format csv writes one file per table: give --out DIR", 2)
        for path in export.write_csv(frames, out):
            err_console.print(f"wrote {path}", markup=False)
    elif fmt == Format.markdown:
        text = export.to_markdown(frames)
        write_text(out, text) if out else typer.echo(text)
    else:
        terminal.print_renderables(terminal.plan_renderables(rows), out_console)
        if out is not None:  # the format --out's extension names (.md), else the plan JSON
            write_text(out, export.to_markdown(frames) if file_fmt == Format.markdown else export.to_json(plan))
    if plan.status != "optimal":
        bound = "none proven" if plan.bound_usd_per_hour is None else f"{plan.bound_usd_per_hour:.6g} USD/h"
        gap = "unknown" if plan.gap is None else f"{100 * plan.gap:.3g} %"
        err_console.print(f"note: status {plan.status}: the best verified plan found within the time limit, "
                          f"{plan.objective_usd_per_hour:.6g} USD/h; proven lower bound {bound}, gap {gap}. "
                          f"{plan.message}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("solve", help=command_help(solve_command.__doc__, EXAMPLES))(guard(solve_command))
