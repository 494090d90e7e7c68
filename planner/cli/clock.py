"""When a command's wall-clock budget starts: the ``plan`` process's own start, where the system says it.

``--time-limit N`` is the command's budget: what the user waits for is the whole process, from the shell starting
it to its exit, so the interpreter's start-up and the imports before the command runs (~0.1-0.2 s; a tenth of a
2 s budget) count too. On Linux the kernel records the start: field 22 of ``/proc/self/stat`` (``starttime``, clock
ticks since boot), against ``CLOCK_BOOTTIME`` now::

    age = t_boot(now) - starttime / CLK_TCK          (resolution 1 / CLK_TCK, 10 ms)
    started_at = perf_counter() - age

Elsewhere, or when the process is older than ``FRESH_S`` at the console script's entry (a test runner or another
program calling ``main()`` in a long-lived process: its age is not this command's), the budget starts at the entry
of ``main()`` instead. A command run without ``main()`` (typer's test runner) starts it when it asks.
"""

from __future__ import annotations

import os
import time

FRESH_S = 5.0  # a process older than this at main()'s entry was not started for this command
_entry: float | None = None  # perf_counter() value the budget starts at, set by ``mark_entry``


def process_age() -> float | None:
    """Seconds since this process started, from the kernel (Linux), or None where it does not say."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        start_ticks = int(fields[19])  # field 22 of the whole line; fields[0] is field 3 (state)
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return age if age >= 0 else None


def mark_entry() -> None:
    """Called first thing by the console script's ``main()``: fix the budget's start at the process's start
    (or at this call, see the module docstring)."""
    global _entry  # noqa: PLW0603
    now = time.perf_counter()
    age = process_age()
    _entry = now - age if age is not None and age <= FRESH_S else now


def forget_entry() -> None:
    """Called by ``main()`` when its command is done: a later command in the same process (a test calling
    ``main()``, then typer's runner) must not count from this one's start."""
    global _entry  # noqa: PLW0603
    _entry = None


def command_started_at() -> float:
    """The ``time.perf_counter()`` value a command's budget counts from."""
    return _entry if _entry is not None else time.perf_counter()
