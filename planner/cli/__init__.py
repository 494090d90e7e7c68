"""The ``plan`` command line: parse -> call the library -> render. One module per command.

Each command module exposes ``register(app)``; this file only assembles them. Errors are turned into
messages and exit codes in ``planner.cli.common.guard`` and nowhere else.
"""

from __future__ import annotations

import importlib

import typer

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
    "validate", "catalog", "estimate", "calibrate", "solve", "whatif", "simulate", "forecast",
    "demand", "capacity", "export",
)


@app.callback()
def _root() -> None:
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
