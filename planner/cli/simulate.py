"""``plan simulate``: Monte Carlo of a plan's spot risk: how often is each workload's demand fully served?"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from planner.cli.common import guard, out_console
from planner.cli.helptext import command_help


class SimFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


EXAMPLES = """
Examples:

  plan solve scenarios/spot-hedge.yaml --format json --out plan.json

  plan simulate plan.json --scenario scenarios/spot-hedge.yaml --hours 10000 --seed 7

  plan simulate plan.json --scenario scenarios/spot-hedge.yaml --interruption-rate 0.1 --format json
"""


def read_plan(path: Path):
    """A Plan from ``plan solve --format json`` output; InputError with one clear line otherwise."""
    from pydantic import ValidationError  # noqa: PLC0415

    from planner.errors import InputError  # noqa: PLC0415
    from planner.plan import Plan  # noqa: PLC0415

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from None
    try:
        return Plan.from_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{path}: not a fleetplan plan (plan solve --format json): {where}: {first['msg']}") from None


def simulate_command(
    plan_path: Path = typer.Argument(..., metavar="PLAN.json", help="A plan from plan solve --format json."),
    scenario: Path = typer.Option(..., "--scenario", help="The scenario the plan was solved for (rates, pools)."),
    hours: float = typer.Option(720.0, "--hours", min=1e-6, help="Hours to simulate."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same result)."),
    interruption_rate: Optional[float] = typer.Option(
        None, "--interruption-rate", min=0, max=10, help="Override every spot offer's rate, reclaims per node-hour."),
    fmt: SimFormat = typer.Option(SimFormat.table, "--format", help="Output format."),
) -> None:
    """Measure a plan's spot risk: how often each workload's demand is fully served.

    Monte Carlo over time: spot nodes are reclaimed as Poisson events at their rate (and pool-wide events take a
    whole pool), stay down for recovery_minutes, and capacity is compared with demand through the plan's periods.
    Reports per workload the share of time fully served, the worst shortfall and the expected unserved requests.
    Exit codes: 0 ok; 2 bad input.
    """
    from planner.scenario.io import load_scenario  # noqa: PLC0415
    from planner.risk.simulate import simulate_plan  # noqa: PLC0415
    from planner.fleet.hedge import with_spot_overrides  # noqa: PLC0415

    plan = read_plan(plan_path)
    s = with_spot_overrides(load_scenario(scenario).scenario, interruption_rate=interruption_rate)
    sim = simulate_plan(plan, s, hours=hours, seed=seed)
    from reports import tables, terminal  # noqa: PLC0415
    from reports.records import simulate_json  # noqa: PLC0415

    if fmt == SimFormat.json:
        typer.echo(json.dumps(simulate_json(sim.to_json()), indent=2))
        return
    frames = tables.simulate_tables(sim.to_json())
    if fmt == SimFormat.csv:
        typer.echo(frames["simulate"].to_csv(index=False), nl=False)
        return
    terminal.print_renderables(terminal.simulate_renderables(frames, sim.to_json(),
                                                             s.policy.spot.availability_target), out_console)


def register(app: typer.Typer) -> None:
    app.command("simulate", help=command_help(simulate_command.__doc__, EXAMPLES))(
        guard(simulate_command))
