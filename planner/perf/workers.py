"""The options stage's capacity cases spread over forked worker processes, where a scenario is large enough to pay.

``capacities_for_workloads`` (``planner.perf.many``) answers each case (workload × GPU × precision × TP × MIG
profile × DP/EP) from a stacked fixed point whose result for one point does not depend on what else shares the
stack (each point is frozen where it converges), so the cases split into contiguous chunks and solved in separate
processes give the in-process answer to the bit (``tests/test_perf_workers.py`` compares them). Chunks are
balanced by bucket estimates, ``CHUNKS_PER_WORKER`` per worker so that a slow chunk does not hold up the rest.

Workers are forked: they inherit the cases (nothing is pickled on the way in) and send back Estimates without
their ``terms`` breakdown (a lazy mapping that pickling would compute; the options stage reads none of it).
Used only where it is safe and pays:

- at least ``PARALLEL_MIN`` bucket estimates (L-size scenarios: ~15,000; an M scenario ~2,000 stays in process,
  where forking two workers costs more than it saves);
- more than one CPU in this process's affinity set, on Linux (``fork``; elsewhere in process: a child forked on
  macOS may crash in its system libraries, which is why ``spawn`` is the default there, and a spawned worker would
  import everything again);
- not inside a worker of a multiprocessing pool (``plan whatif`` already runs one solve per core), nor on a thread
  other than the main one (a threaded Dask worker, a library caller's pool: forking there copies locks other
  threads may hold);
- ``FLEETPLAN_WORKERS`` sets the count (1: always in process).

A pool that fails for any reason (a worker killed, an error raised in one) is not trusted with the answer: the
cases are solved again in process, which raises the error itself if there is one.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from typing import Any, Sequence

from planner.errors import InputError

PARALLEL_MIN = 6_000   # bucket estimates; ~0.4 ms each in process, ~15 ms to fork and collect a worker
MAX_WORKERS = 8
CHUNKS_PER_WORKER = 3
ENV = "FLEETPLAN_WORKERS"

_JOB: tuple | None = None   # (cases, calibration, overrides) for the forked workers to read


def worker_count(estimates: int) -> int:
    """Worker processes for ``estimates`` bucket estimates: 1 (in process) unless the module docstring's
    conditions hold; ``FLEETPLAN_WORKERS`` overrides the size rule and the CPU count, not the safety ones."""
    import multiprocessing  # noqa: PLC0415 - only large scenarios get here with more than one CPU

    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            asked = int(env)
        except ValueError:
            raise InputError(f"{ENV}={env!r}: give a whole number of worker processes >= 1") from None
        if asked < 1:
            raise InputError(f"{ENV}={env!r}: give a whole number of worker processes >= 1")
    else:
        if estimates < PARALLEL_MIN:
            return 1
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        asked = min(cpus, MAX_WORKERS)
    if asked <= 1 or not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return 1   # macOS has fork, but system libraries there may crash a forked child (why spawn is its default)
    if multiprocessing.parent_process() is not None or threading.current_thread() is not threading.main_thread():
        return 1
    return asked


def chunk_bounds(weights: Sequence[int], chunks: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges cutting ``weights`` into at most ``chunks`` contiguous parts of about equal sum,
    none empty, covering every index once, in order."""
    n = len(weights)
    chunks = max(1, min(chunks, n))
    total = float(sum(weights)) or 1.0
    bounds, lo, acc = [], 0, 0.0
    for i, w in enumerate(weights):
        acc += w
        if len(bounds) < chunks - 1 and acc >= total * (len(bounds) + 1) / chunks and i + 1 < n:
            bounds.append((lo, i + 1))
            lo = i + 1
    bounds.append((lo, n))
    return bounds


def _run_chunk(bounds: tuple[int, int]) -> list[list[Any]]:
    from planner.perf.many import capacities_for_workloads  # noqa: PLC0415

    cases, calibration, overrides = _JOB   # type: ignore[misc]
    lo, hi = bounds
    out = capacities_for_workloads(cases[lo:hi], calibration, overrides)
    return [[replace(e, terms={}) for e in ests] for ests in out]


def capacities_spread(cases: Sequence[tuple], calibration=None, overrides=()) -> list[list[Any]]:
    """``capacities_for_workloads(cases, calibration, overrides)``, in worker processes where the module
    docstring says so (the Estimates then carry no ``terms``)."""
    from planner.perf.many import capacities_for_workloads  # noqa: PLC0415

    cases = list(cases)
    weights = [len(case[2].buckets) for case in cases]
    workers = worker_count(sum(weights))
    if workers <= 1 or len(cases) < 2:
        return capacities_for_workloads(cases, calibration, overrides)
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    global _JOB
    bounds = chunk_bounds(weights, workers * CHUNKS_PER_WORKER)
    _JOB = (cases, calibration, tuple(overrides))
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(bounds)),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_run_chunk, bounds))
    except Exception:  # noqa: BLE001 - a broken pool is not an answer: the in-process solve raises what is wrong
        return capacities_for_workloads(cases, calibration, overrides)
    finally:
        _JOB = None
    return [ests for part in parts for ests in part]
