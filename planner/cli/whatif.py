"""``plan whatif``: solve and simulate a scenario across interruption rates (and any other numeric field)."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from planner.cli.common import err_console, guard, out_console, time_limit_option
from planner.cli.helptext import command_help
from planner.cli.progress import QUIET_HELP, stage_progress
from planner.cli.solve import Solver, write_text


class WhatifFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ExecutorName(str, Enum):
    local = "local"
    serial = "serial"
    dask = "dask"


EXAMPLES = """
Examples:

  plan whatif scenarios/spot-hedge.yaml --interruption-rate 0,0.01,0.02,0.05,0.1,0.2

  plan whatif scenarios/spot-hedge.yaml --interruption-rate 0,0.05,0.2
  --set policy.spot.availability_target=0.95,0.99 --out whatif.csv --chart whatif.svg

  plan whatif scenarios/chatbot.yaml --set offers\\[l40s-spot].price_usd_per_node_hour=0.4,0.6,0.8 --format json

  plan whatif scenarios/spot-hedge.yaml --interruption-rate 0,0.1 --executor dask --scheduler tcp://10.0.0.5:8786
"""


def whatif_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    interruption_rate: Optional[str] = typer.Option(
        None, "--interruption-rate", help="Comma-separated reclaims per node-hour, applied to every spot offer."),
    recovery_minutes: Optional[float] = typer.Option(
        None, "--recovery-minutes", min=0, help="Recovery time of every spot offer, minutes (default: each offer's)."),
    sets: Optional[List[str]] = typer.Option(
        None, "--set", help="PATH=V1,V2,... for any numeric scenario field (repeatable; axes make a grid), e.g. "
                            "policy.spot.availability_target=0.95,0.99 or offers\\[l40s-od].max_nodes=2,4."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1,
                                       help="Local processes (default: CPUs, at most the points)."),
    executor: ExecutorName = typer.Option(ExecutorName.local, "--executor", help="Where the points run."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (with --executor dask)."),
    fmt: WhatifFormat = typer.Option(WhatifFormat.table, "--format", help="What to print on stdout."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the sweep: .json = the records, else CSV."),
    chart: Optional[Path] = typer.Option(None, "--chart",
                                         help="Write an SVG of cost and attainment vs the first axis."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report of the sweep."),
    hours: float = typer.Option(8760.0, "--hours", min=1e-6, help="Simulated hours per point (plan simulate)."),
    seed: int = typer.Option(1, "--seed", help="Simulation seed (the same at every point)."),
    solver: Optional[Solver] = typer.Option(None, "--solver", help="Backend (default: policy.solver)."),
    time_limit: Optional[float] = time_limit_option("Seconds per solve."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Solve the scenario at every point of a sweep and simulate each plan's spot risk.

    Prints one row per point: the swept values, USD/hour and its change against the lowest value of the first
    axis, the spot GPU share, GPUs by offer, and the simulated SLA attainment (the worst workload's share of time
    with its demand fully served). Exit codes: 0 ok (infeasible points are rows, not errors); 2 bad input.
    """
    from planner.errors import InputError  # noqa: PLC0415
    from planner.scenario.io import load_scenario  # noqa: PLC0415
    from planner.whatif.sweep import (RATE_AXIS, Axis, DaskExecutor, ProcessExecutor, SerialExecutor,  # noqa: PLC0415
                               check_points, parse_set, parse_values, run_sweep, spec_for)
    from reports import charts, tables, terminal  # noqa: PLC0415
    from reports.records import whatif_json  # noqa: PLC0415
    from reports.export import csv_text  # noqa: PLC0415

    loaded = load_scenario(scenario)
    axes = []
    if interruption_rate is not None:
        axes.append(Axis(RATE_AXIS, parse_values(interruption_rate, "--interruption-rate")))
    axes += [parse_set(x) for x in sets or []]
    if len({a.path for a in axes}) != len(axes):
        raise InputError("the same axis is given twice")
    if not axes:
        raise InputError("nothing to sweep: give --interruption-rate R1,R2,... and/or --set PATH=V1,V2,...")
    if out is not None and out.suffix.lower() not in (".csv", ".json", ".txt", ""):
        raise InputError(f"--out {out}: give a .csv or .json file")
    spec = spec_for(loaded, tuple(axes), recovery_minutes=recovery_minutes, solver=solver.value if solver else None,
                    time_limit_s=time_limit, hours=hours, seed=seed)
    points = check_points(spec)  # bad values fail here, before any solve
    if executor == ExecutorName.dask:
        runner = DaskExecutor(scheduler)
    elif scheduler:
        raise InputError("--scheduler is only used with --executor dask")
    elif executor == ExecutorName.serial or jobs == 1 or len(points) == 1:
        runner = SerialExecutor()
    else:
        runner = ProcessExecutor(jobs or min(len(points), os.cpu_count() or 1))
    with stage_progress("what-if", err_console, quiet) as bar:
        records = run_sweep(spec, runner, progress=bar.callback())
    frames = tables.whatif_tables(records)
    frame = frames["whatif"]
    if out is not None:
        as_json = out.suffix.lower() == ".json"
        write_text(out, json.dumps(whatif_json(records), indent=2) + "\n" if as_json else csv_text(frame))
    if chart is not None:
        svg = charts.whatif_svg(frame)
        if svg is None:
            raise InputError("--chart: nothing to draw (no swept axis)")
        write_text(chart, svg)
    if report is not None:
        from reports.html import render_html  # noqa: PLC0415

        write_text(report, render_html(None, loaded, whatif=records))
    if fmt == WhatifFormat.json:
        typer.echo(json.dumps(whatif_json(records), indent=2))
    elif fmt == WhatifFormat.csv:
        typer.echo(csv_text(frame), nl=False)
    else:
        terminal.print_renderables(terminal.whatif_renderables(frames), out_console)
        bad = [r for r in records if r.get("status") not in ("optimal", "feasible")]
        for r in bad:
            point = ", ".join(f"{a.path}={r.get(a.path)}" for a in axes)
            err_console.print(f"note: {point}: {r['status']}: {r.get('message', '')}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("whatif", help=command_help(whatif_command.__doc__, EXAMPLES))(guard(whatif_command))
