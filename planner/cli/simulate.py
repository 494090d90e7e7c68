"""``plan simulate``: Monte Carlo of a plan's spot risk: how often is each workload's demand fully served?"""

from __future__ import annotations

import json
import math
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


MAX_PLAN_BYTES = 64 * 1024 * 1024  # a plan of the largest benchmark is a few MB


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def read_plan(path: Path):
    """A Plan from ``plan solve --format json`` output; InputError with one clear line otherwise.

    Every number must be finite (``NaN``, ``Infinity`` and ``1e400`` are refused), the file at most 64 MiB.
    """
    from pydantic import ValidationError  # noqa: PLC0415

    from planner.errors import InputError  # noqa: PLC0415
    from planner.plan import Plan  # noqa: PLC0415
    from planner.scenario.io import format_loc, read_text  # noqa: PLC0415

    if not path.exists():
        raise InputError(f"{path}: cannot read (no such file)")
    text = read_text(path, "plan JSON file", limit=MAX_PLAN_BYTES)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc} (every number in a plan must be finite)") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a plan") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a fleetplan plan (plan solve --format json): the top level must be an object")
    try:
        return Plan.from_json(data)
    except (ValidationError, ValueError, TypeError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            why = f"{format_loc(tuple(first['loc']))}: {first['msg']}"
        else:
            why = str(exc)
        raise InputError(f"{path}: not a fleetplan plan (plan solve --format json): {why[:200]}") from None


def check_plan(path: Path, plan, loaded) -> None:
    """Re-verify ``plan`` against the scenario (``planner.verify``) before simulating it; InputError if it fails.

    A plan file is only data: it may have been edited, produced for another scenario, or saved from a solve whose
    verification failed. Its own ``verification`` field is not trusted.
    """
    from planner.errors import InputError  # noqa: PLC0415
    from planner.verify import verify_plan  # noqa: PLC0415

    unmet = any(wl.unmet_requests_per_min for wl in plan.workloads)
    result = verify_plan(loaded, plan, allow_unmet=unmet)
    if not result.ok:
        failed = [c for c in result.checks if not c.ok]
        detail = "; ".join(f"{c.name}: {c.detail}" for c in failed[:3])
        raise InputError(f"{path}: the plan fails verification against {loaded.path} ({len(failed)} check"
                         f"{'s' if len(failed) != 1 else ''}): {' '.join(detail.split())[:400]}; not simulating it")


def simulate_command(
    plan_path: Path = typer.Argument(..., metavar="PLAN.json", help="A plan from plan solve --format json."),
    scenario: Path = typer.Option(..., "--scenario", help="The scenario the plan was solved for (rates, pools)."),
    hours: float = typer.Option(720.0, "--hours", min=1e-6, help="Hours to simulate (at most 1e6)."),
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
    loaded = load_scenario(scenario)
    check_plan(plan_path, plan, loaded)
    s = with_spot_overrides(loaded.scenario, interruption_rate=interruption_rate)
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
