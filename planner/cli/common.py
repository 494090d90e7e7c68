"""Shared CLI plumbing: one place that turns domain errors into messages and exit codes, and writes outputs.

Exit codes: 0 ok, 1 internal error, 2 bad input, 3 infeasible. A traceback is shown only when
``FLEETPLAN_DEBUG=1`` is set; users get one clear line per problem.

Output layer (what may reach a terminal or a file):
- terminal text goes through ``SafeConsole``: control characters that came from an input file (ESC sequences,
  BEL, C1 controls, bidi overrides) are shown escaped (``\\x1b``), never interpreted; rich's own styling is kept;
- ``write_output`` writes a file atomically: a temporary file in the same folder, flushed to disk, then renamed
  over the target, so a failed write (disk full, killed) never leaves a truncated file where a good one was;
- ``output_format`` infers ``--format`` from the ``--out`` extension when it is not given and refuses a
  contradiction (``--format json --out plan.csv``).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.segment import Segment

from planner.errors import InfeasibleError, InputError, PlannerError

F = TypeVar("F", bound=Callable)
E = TypeVar("E", bound=Enum)

MAX_TIME_LIMIT_S = 7 * 86_400.0  # planner.scenario.model's (not imported here, for start-up time; a test ties them)


def time_limit_option(help: str):
    """The ``--time-limit`` option of the solving commands: seconds from 0.001 to a week, what ``policy.time_limit_s``
    allows (before: 1e400 reached the solver as inf and 1e11 overflowed its clock, exit 1; nan fails the range
    check too)."""
    return typer.Option(None, "--time-limit", min=0.001, max=MAX_TIME_LIMIT_S, help=help)


# C0 controls but tab and newline, DEL, C1 controls, and the bidi embedding/override/isolate characters
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


class SafeConsole(Console):
    """A rich Console that escapes control characters in the text it renders (not in its own styling), and
    reads no rich markup (``[bold]``) or emoji codes (``:fire:``) in plain strings: names a user gave print as
    given. fleetplan styles its output with ``Text`` objects, never markup."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def _render_buffer(self, buffer):  # noqa: D401 - rich's hook that turns segments into output text
        safe = (seg if seg.control else Segment(escape_control(seg.text), seg.style, seg.control) for seg in buffer)
        return super()._render_buffer(safe)


err_console = SafeConsole(stderr=True, highlight=False, soft_wrap=True)
out_console = SafeConsole(highlight=False)


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
        except RecursionError:  # nesting is bounded by the readers; this is the last line of defence
            raise fail("input nested too deeply to process (bounded nesting is 64 levels)", 2) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for users
            if os.environ.get("FLEETPLAN_DEBUG") == "1":
                raise
            raise fail(f"internal error: {type(exc).__name__}: {exc} (set FLEETPLAN_DEBUG=1 for a traceback)", 1) from None

    return wrapper  # type: ignore[return-value]


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


# --------------------------------------------------------------------------- files


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + rename); OS errors -> exit 2."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name")
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp_name, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def check_out_dir(path: Path, flag: str = "--out") -> None:
    """A folder output (one CSV per table) must not be an existing file."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: is an existing file; the csv format writes one file per table into a "
                         f"folder: give a folder name (it is created)")


def output_format(fmt: E | None, out: Path | None, by_suffix: Mapping[str, E], table: E,
                  table_file: E) -> tuple[E, E]:
    """(what the command shows, what it writes to ``--out``).

    Without ``--format`` (or with the table format) the table is shown and ``--out`` gets the format its extension
    names (``by_suffix``: ``.json`` -> json ...; ``table_file`` for any other name). With another ``--format``,
    that format goes to ``--out`` (or stdout); an ``--out`` extension naming a different format is refused (exit 2)
    rather than writing, say, JSON into ``forecast.csv``.
    """
    suffix = out.suffix.lower() if out is not None else ""
    implied = by_suffix.get(suffix)
    if fmt is None or fmt == table:
        return table, implied if implied is not None else table_file
    if implied is not None and implied != fmt:
        raise InputError(f"--format {fmt.value} contradicts --out {out} (a {suffix} file is {implied.value}); "
                         f"drop --format or change the extension")
    return fmt, fmt
