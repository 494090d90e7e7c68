"""Shared CLI plumbing: one place that turns domain errors into messages and exit codes.

Exit codes: 0 ok, 1 internal error, 2 bad input, 3 infeasible. A traceback is shown only when
``FLEETPLAN_DEBUG=1`` is set; users get one clear line per problem.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, TypeVar

import typer
from rich.console import Console

from planner.errors import InfeasibleError, PlannerError

F = TypeVar("F", bound=Callable)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False)


def fail(message: str, code: int) -> "typer.Exit":
    """Print ``message`` on stderr and return the Exit to raise."""
    err_console.print(message, markup=False)
    return typer.Exit(code)


def guard(fn: F) -> F:
    """Decorate a command: PlannerError -> message + its exit code; anything else -> exit 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except InfeasibleError as exc:
            lines = [f"infeasible: {exc}"] + [f"  - {r}" for r in exc.reasons]
            raise fail("\n".join(lines), exc.exit_code) from None
        except PlannerError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for users
            if os.environ.get("FLEETPLAN_DEBUG") == "1":
                raise
            raise fail(f"internal error: {type(exc).__name__}: {exc} (set FLEETPLAN_DEBUG=1 for a traceback)", 1) from None

    return wrapper  # type: ignore[return-value]


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
