"""``plan schema``: print the scenario JSON Schema, for editors and for validating scenario files in CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from planner.cli.common import guard

EPILOG = """Examples:

  plan schema > fleetplan-scenario.schema.json

  plan schema --out .vscode/fleetplan-scenario.schema.json

Then start a scenario with  # yaml-language-server: $schema=./fleetplan-scenario.schema.json  (VS Code's YAML
extension completes and checks fields as you type).
"""


def register(app: typer.Typer) -> None:
    @app.command("schema", epilog=EPILOG)
    @guard
    def schema_cmd(out: Optional[Path] = typer.Option(None, "--out", help="write the schema here instead of stdout")) -> None:
        """Print the JSON Schema of a scenario file: every field with its meaning, unit, bounds and default."""
        from planner.errors import InputError  # noqa: PLC0415
        from planner.scenario.schema import scenario_schema  # noqa: PLC0415

        text = json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({exc.strerror})") from None
