"""Native-library clash: which backends must run in a worker process, and that worker.

highspy up to 1.15 and ortools each bundle their own, different ``libhighs.so.1``. The dynamic loader keeps the first
library loaded under a SONAME, so whichever package loads second fails with "undefined symbol" (``import pulp`` alone
imports highspy when it is installed). A backend whose library is already shadowed in this process (checked in
``/proc/self/maps``: ``shadowed_libs``; or by a failed import, ``solvers.registry``) runs in a persistent worker
subprocess instead (``isolated_solve``): same code, same answer, ``solve_seconds`` measured inside the worker.
highspy 1.16 links HiGHS into its extension module and ships no ``libhighs``, so with it nothing is shadowed
(``_ships``) and both backends run in process.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import importlib.util
import os
import pickle
import select
import subprocess
import sys
import threading
from dataclasses import replace

from planner.problem import Problem, Solution, SolveOptions, finalize_solution
from solvers.quiet import backend_call


def shadowed_libs(native_libs: dict[str, str]) -> list[str]:
    """Mapped libraries named like ours but owned by another package (Linux only; else [])."""
    owned = {}
    for prefix, package in native_libs.items():
        spec = importlib.util.find_spec(package)
        dirs = tuple(os.path.realpath(d) for d in (spec.submodule_search_locations or [])) if spec else ()
        if _ships(prefix, dirs):  # else linked in statically (highspy 1.16): no SONAME another copy could shadow
            owned[prefix] = dirs
    if not owned:
        return []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "/" in line}
    except OSError:
        return []
    bad = []
    for prefix, dirs in owned.items():
        for p in paths:
            if os.path.basename(p).startswith(prefix) and not any(os.path.realpath(p).startswith(d) for d in dirs):
                bad.append(p)
    return bad


@functools.lru_cache(maxsize=None)
def _ships(prefix: str, dirs: tuple[str, ...]) -> bool:
    """Whether a package (its folders ``dirs``) carries a shared library named ``prefix*`` of its own: highspy 1.15
    did (``highspy/libhighs.so.1``, the clash above); 1.16 links HiGHS into its extension module, so ortools'
    ``libhighs.so.1`` in the same process is no longer highspy's library and nothing needs isolating."""
    for d in dirs:
        for _root, _subdirs, files in os.walk(d):
            if any(f.startswith(prefix) for f in files):
                return True
    return False


class _Worker:
    """A persistent ``python -c`` subprocess speaking pickles over its stdin/stdout."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        code = "from solvers.isolation import worker_main; worker_main()"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.lock = threading.Lock()

    def call(self, request: tuple, timeout_s: float | None) -> tuple:
        pickle.dump(request, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"isolated worker gave no answer within {timeout_s:.0f} s")
        return pickle.load(self.proc.stdout)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


_WORKERS: dict[str, _Worker] = {}


@atexit.register
def _close_workers() -> None:
    while _WORKERS:
        _WORKERS.popitem()[1].close()


def isolated_solve(name: str, module: str, problem: Problem, options: SolveOptions) -> Solution:
    """Backend ``name`` (its ``module``'s ``solve``) run on ``problem`` in this backend's persistent worker."""
    worker = _WORKERS.get(name)
    if worker is None or worker.proc.poll() is not None:
        worker = _WORKERS[name] = _Worker()
    # generous: the limit, a repeat solve to settle infeasible-or-unbounded, and start-up
    timeout = None if options.time_limit_s is None else 3 * options.time_limit_s + 120
    with worker.lock:
        try:
            # a hook (SolveOptions.on_incumbent) stays here: a function is not sent to the worker, which never calls it
            sent = replace(options, on_incumbent=None)
            status, objective, bound, gap, x, seconds, message = worker.call((module, problem, sent), timeout)
        except BaseException as exc:
            worker.proc.kill()
            _WORKERS.pop(name, None)
            return finalize_solution(problem, options, solver=name, claimed="error",
                                     message=f"{name} (isolated worker) failed: {exc!r}")
    note = "ran in a worker process (highspy and ortools ship clashing libhighs builds)"
    return Solution(status, objective, bound, gap, x, name, seconds,
                    f"{message}; {note}" if message else note, problem)


def worker_main() -> None:
    """Worker loop: read (module, problem, options), answer with the Solution's fields."""
    proto_in = sys.stdin.buffer
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # solver logs must not corrupt the pickle stream
    while True:
        try:
            module, problem, options = pickle.load(proto_in)
        except EOFError:
            return
        try:
            with backend_call(show_output=bool(options.msg)):
                sol = importlib.import_module(module).solve(problem, options)
            answer = (sol.status, sol.objective, sol.bound, sol.gap, sol.values, sol.solve_seconds, sol.message)
        except BaseException as exc:
            answer = ("error", None, None, None, None, 0.0, f"worker failed: {exc!r}")
        pickle.dump(answer, proto_out, protocol=pickle.HIGHEST_PROTOCOL)
        proto_out.flush()
