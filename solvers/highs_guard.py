"""HiGHS in a child process stopped at a hard deadline, for large programs with a time limit.

HiGHS 1.15 checks its time limit, ``cancelSolve`` and its interrupt callback between steps, and one step, a round
of root cut separation, runs for a minute on the benchmark's L programs: L-2 at a 39.5 s limit returned after
90.6 s (the round from 35.3 s to 90.2 s; ``docs/BENCHMARKS.md``). ``plan solve --time-limit`` promises the whole
command's wall clock, so ``solvers.highs.solve`` runs programs of ``GUARD_MIN_COLUMNS`` columns or more here:

- the child (a fresh interpreter, ``python -c``: never a fork of a process that ran HiGHS, whose thread pool is
  process-global, and never multiprocessing's spawn, which imports the caller's ``__main__`` again) reads the
  caller's ``sys.path`` and the arrays from its stdin, runs ``RUN`` (``solvers.highs._run``, named, not imported
  here) with the limit counted from the parent's call, and sends each improving solution and each rise of HiGHS'
  dual bound as they come (HiGHS' callbacks) through a pipe of its own (its stdout stays the caller's, for
  HiGHS' log when asked);
- the parent waits until ``limit × (1 + GRACE_SHARE) + GRACE_S`` after the call; the child's own answer, when it
  comes by then, is the answer. Otherwise the child is killed and the answer is the best solution it sent
  (``feasible``) or none (``error``), with the last bound it sent. HiGHS' dual bound only rises, and each one sent
  was proven when sent, so the last is a proven lower bound. With no solution the caller's completed constructive
  start is the plan (``planner.fleet.solve._fallback``), reported with that bound.

POSIX only: the pipe is passed with ``pass_fds``. What it costs: the child interpreter imports numpy and highspy
(~0.3 s) and unpickles the arrays (L-2: ~1 M nonzeros, a fraction of a second) before HiGHS starts; that time
comes out of the same limit.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

from planner.problem import ProblemArrays, SolveOptions
from solvers.registry import RawResult

GRACE_SHARE = 0.02  # of the limit, past it, before the child is stopped
GRACE_S = 1.0  # ... plus this
_CHILD = ("import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
          "from solvers.highs_guard import child_main; child_main(int(sys.argv[1]))")
RUN = "solvers.highs:_run"  # what the child runs: module:function, the backend's ``_run`` (it takes ``report``)


def child_main(fd: int) -> None:
    """The child: (run, arrays, offset, options, rewritten, deadline) from stdin, ``run`` a "module:function"
    name; the solve until ``deadline`` (a ``time.perf_counter()`` value: CLOCK_MONOTONIC, the same in every
    process), sending ("x" | "bound", bound, x) on ``fd`` as it goes and ("done", result, None) at the end."""
    import importlib  # noqa: PLC0415
    from multiprocessing.connection import Connection  # noqa: PLC0415

    conn = Connection(fd, readable=False)
    try:
        target, arr, offset, options, rewritten, deadline = pickle.load(sys.stdin.buffer)
        module, name = target.split(":")
        run = getattr(importlib.import_module(module), name)
        opts = replace(options, time_limit_s=max(deadline - time.perf_counter(), 0.01))
        result = run(arr, offset, opts, rewritten, report=lambda kind, bound, x: conn.send((kind, bound, x)))
    except Exception as exc:  # the parent reports it; nothing escapes a solver
        result = ("error", None, None, f"HiGHS failed in its child process: {exc!r}")
    conn.send(("done", result, None))
    conn.close()


def run_guarded(arr: ProblemArrays, offset: float, options: SolveOptions, rewritten: bool = False, report=None,
                bounds: bool = True) -> RawResult:
    """``solvers.highs._run`` in a child process, stopped at ``limit × (1 + GRACE_SHARE) + GRACE_S``; ``report``,
    when given, hears what the child sends as ``_run``'s does (the child always sends both kinds: ``bounds`` is
    accepted for the same signature). ``options.on_incumbent`` stays here: a function is not sent to the child."""
    from multiprocessing.connection import Connection  # noqa: PLC0415

    t0 = time.perf_counter()
    limit = float(options.time_limit_s)
    r, w = os.pipe()
    # the child's stderr goes to a file (never a pipe it could fill and block on): a child that fails before it
    # can report (an import) must not print a traceback at the user, and its last line says why it failed
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(w)], stdin=subprocess.PIPE, stderr=err,
                            pass_fds=(w,))
    os.close(w)
    recv = Connection(r, writable=False)
    hard = t0 + limit * (1.0 + GRACE_SHARE) + GRACE_S
    best_x, bound = None, None
    try:
        pickle.dump(list(sys.path), proc.stdin)
        pickle.dump((RUN, arr, offset, replace(options, on_incumbent=None), rewritten, t0 + limit), proc.stdin,
                    protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.close()
        while True:
            left = hard - time.perf_counter()
            if left <= 0 or not recv.poll(left):
                break
            try:
                kind, value, x = recv.recv()
            except EOFError:  # the child ended without an answer: its last stderr line says why
                proc.wait()
                err.seek(0)
                said = err.read().decode(errors="replace").strip().splitlines()
                return ("error", None, bound, f"HiGHS' child process ended without an answer (exit code "
                        f"{proc.returncode}{': ' + said[-1] if said else ''})")
            if kind == "done":
                return value
            bound = value if bound is None else max(bound, value)
            if kind == "x":
                best_x = x
            if report is not None and (bounds or kind == "x"):
                report(kind, value, x)
    except (BrokenPipeError, OSError) as exc:  # the child could not be fed
        return "error", None, bound, f"HiGHS' child process failed: {exc!r}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        err.close()
        recv.close()
    note = (f"HiGHS ran past its {limit:.3g} s limit inside a step that does not check it (root cut separation) "
            f"and was stopped at {time.perf_counter() - t0:.3g} s")
    if best_x is not None:
        return "feasible", best_x, bound, note
    return "error", None, bound, note
