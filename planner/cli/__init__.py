"""The ``plan`` command line: parse -> call the library -> render. One module per command.

Each command module exposes ``register(app)``; this file only assembles them. Errors are turned into
messages and exit codes in ``planner.cli.common.guard`` and nowhere else.
"""

from __future__ import annotations

import importlib

import typer

from planner.cli.helptext import hide_flag_types

hide_flag_types()
app = typer.Typer(
    name="plan",
    help="fleetplan: find the cheapest GPU fleet that serves your LLM workloads within their SLAs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Command modules, in the order they appear in --help. A module that is missing is simply not registered
# (commands land issue by issue); a module that fails to import is a bug and raises.
_COMMAND_MODULES = (
    "init", "validate", "catalog", "estimate", "calibrate", "solve", "whatif", "simulate", "forecast", "schema",
    "demand", "capacity", "export",
)


def _show_version(value: bool) -> None:
    if value:
        from planner import __version__  # noqa: PLC0415

        typer.echo(f"fleetplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                       help="Print the version and exit.")) -> None:
    # A callback keeps `plan` a command group even while only one command is registered; without it typer
    # runs that lone command as `plan` itself and `plan validate FILE` fails with "unexpected extra argument".
    pass


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"planner.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"planner.cli.{name}":
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
