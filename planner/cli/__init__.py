"""The ``plan`` command line: parse -> call the library -> render. One module per command.

Each command module exposes ``register(app)``; this file only assembles them. Errors are turned into
messages and exit codes in ``planner.cli.common.guard`` and nowhere else.

Commands are registered lazily: the ``plan`` group knows every command's name, and imports a command's module
(with what that module imports: the scenario models, rich tables, the performance model...) only when the
command is looked up -- to run it, or to list it in ``plan --help``. ``plan solve`` thus loads ``solve`` alone.
The click command built from a module is the one an eager ``register(app)`` gives, built by the same typer
calls with the root's settings.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping

import typer
import typer.main
from typer.core import TyperGroup

from planner.cli import clock
from planner.cli.helptext import hide_flag_types


class _LazyCommands(MutableMapping):
    """name -> click command, in listing order; a command is built (its module imported) on first access."""

    def __init__(self, names: list[str], build: Callable[[str], dict], built: dict):
        self._names = list(names)
        self._build = build
        self._built = dict(built)
        self._names += [n for n in self._built if n not in self._names]

    def __getitem__(self, name: str):
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            for cmd_name, cmd in self._build(name).items():
                self._built.setdefault(cmd_name, cmd)
            if name not in self._built:
                raise RuntimeError(f"planner.cli.{name} did not register a command named {name!r}")
        return self._built[name]

    def __setitem__(self, name: str, cmd) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = cmd

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


class _LazyGroup(TyperGroup):
    """The root group: its commands are the command modules, imported when looked up."""

    def __init__(self, *, commands=None, **attrs):
        super().__init__(commands=commands, **attrs)
        self.commands = _LazyCommands(_command_names(), _build_commands, self.commands)


hide_flag_types()
app = typer.Typer(
    name="plan",
    help="fleetplan: find the cheapest GPU fleet that serves your LLM workloads within their SLAs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=_LazyGroup,
)

# Command modules, in the order they appear in --help: the plain commands, then the two groups of
# sub-commands (catalog, capacity), as eager registration listed them. A module that is missing is simply not
# registered (commands land issue by issue); a module that fails to import is a bug and raises.
_COMMAND_MODULES = (
    "init", "validate", "estimate", "calibrate", "solve", "whatif", "simulate", "forecast", "schema", "demand",
    "export", "catalog", "capacity",
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


def _command_names() -> list[str]:
    """The command modules that exist, in ``--help`` order (a missing module is not listed)."""
    return [name for name in _COMMAND_MODULES if importlib.util.find_spec(f"planner.cli.{name}") is not None]


def _build_commands(name: str) -> dict:
    """The click commands (and sub-groups) that ``planner.cli.<name>.register`` adds, built as the root group
    builds its own (``typer.main.get_group_from_info``), with the root's settings."""
    module = importlib.import_module(f"planner.cli.{name}")
    sub = typer.Typer()
    module.register(sub)
    out = {}
    for info in sub.registered_commands:
        cmd = typer.main.get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                               rich_markup_mode=app.rich_markup_mode)
        out[cmd.name] = cmd
    for info in sub.registered_groups:
        group = typer.main.get_group_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                               rich_markup_mode=app.rich_markup_mode,
                                               suggest_commands=app.suggest_commands)
        out[group.name] = group
    return out


# A ``plan`` command is one short process whose arrays are small: OpenBLAS's pool of threads (started when numpy
# loads, one per core) buys it nothing and costs ~0.05 s of CPU and more of wall-clock at start-up. The console
# script asks for one BLAS thread unless the user chose a count (any of these variables set).
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
_GC_YOUNG_THRESHOLD = 50_000  # new container objects between young collections (CPython's default: 700)


def main() -> None:
    """Console-script entry point.

    Garbage collection, tuned for one short process: a young-generation collection runs every 50,000 new
    container objects instead of every 700, so the ~150 collections that start-up triggered while importing (each
    older-generation one walking every module object loaded so far, ~0.03 s in all) shrink to one or two; garbage
    in reference cycles still goes, a little later. When the command is done (or fails), the objects it leaves
    are frozen (``gc.freeze``): the interpreter's exit then frees them by reference counting as before, but its
    last collections no longer walk all of them (the modules, pydantic's schemas, numpy: ~0.1 s of a ~0.7 s
    ``plan solve`` on two cores). The process is ending; only reference cycles left at exit stay unreclaimed, and
    the operating system takes them back.

    The budget of ``--time-limit`` starts at the process's own start (``planner.cli.clock``)."""
    clock.mark_entry()
    if "numpy" not in sys.modules and not any(os.environ.get(v) for v in _BLAS_THREAD_VARS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        app()
    finally:
        clock.forget_entry()
        gc.freeze()
