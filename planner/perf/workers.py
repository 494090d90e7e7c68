"""Work spread over forked worker processes, where a scenario is large enough to pay: the options stage.

``planner.fleet.options.enumerate_options`` splits a large scenario's workloads into contiguous chunks (balanced by
bucket × offer pairs, ``CHUNKS_PER_WORKER`` per worker so that a slow chunk does not hold up the rest) and builds each
chunk's options -- the capacities from the performance model, the dominance pruning, the option records -- in a
child (:func:`run_forked`). Each workload's options depend on that workload alone, and the stacked fixed point's
answer for a point does not depend on what else shares its stack (``planner.perf.many``: each point is frozen
where it converges), so the chunks concatenated in order are the in-process option set to the bit
(``tests/test_perf_workers.py`` compares them).

Children are forked: they inherit the scenario and the function (nothing is pickled on the way in) and send back
what the function returns. Used only where it is safe and pays:

- at least ``PARALLEL_MIN`` (workload bucket × offer) pairs, a proxy of the work known before any of it (an L
  scenario: ~7,000 pairs and ~15,000 bucket estimates over its GPUs, TP degrees and precisions; an M scenario, ~700
  pairs, stays in process, where forking two workers would cost more than it saves);
- more than one CPU in this process's affinity set, on Linux (``fork``; elsewhere in process: a child forked on
  macOS may crash in its system libraries, which is why ``spawn`` is the default there, and a spawned worker would
  import everything again);
- not inside a worker of a multiprocessing pool (``plan whatif`` already runs one solve per core, and a child of
  this module is one), nor on a thread other than the main one (a threaded Dask worker, a library caller's pool:
  forking there copies locks other threads may hold);
- ``FLEETPLAN_WORKERS`` sets the count (1: always in process).

A pool that fails for any reason (a worker killed, an error raised in one) is not trusted with the answer:
:func:`run_forked` returns None and the caller does the work in process, which raises the error itself if there is
one.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Sequence

from planner.errors import InputError

PARALLEL_MIN = 3_000   # bucket x offer pairs (M: ~700, L: ~7,000); ~15 ms to fork and collect a worker
MAX_WORKERS = 8
CHUNKS_PER_WORKER = 3
ENV = "FLEETPLAN_WORKERS"

_JOB: Callable[[tuple[int, int]], Any] | None = None   # what the forked children run, one chunk each


def worker_count(size: int) -> int:
    """Worker processes for work of ``size`` (bucket × offer pairs): 1 (in process) unless the module docstring's
    conditions hold; ``FLEETPLAN_WORKERS`` overrides the size rule and the CPU count, not the safety ones."""
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            asked = int(env)
        except ValueError:
            raise InputError(f"{ENV}={env!r}: give a whole number of worker processes >= 1") from None
        if asked < 1:
            raise InputError(f"{ENV}={env!r}: give a whole number of worker processes >= 1")
    else:
        if size < PARALLEL_MIN:
            return 1
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        asked = min(cpus, MAX_WORKERS)
    if asked <= 1 or not sys.platform.startswith("linux"):
        return 1   # macOS has fork, but system libraries there may crash a forked child (why spawn is its default)
    import multiprocessing  # noqa: PLC0415 - not before: a small scenario's plan solve does without it (~5-15 ms)

    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.parent_process() is not None:
        return 1
    if threading.current_thread() is not threading.main_thread():
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


def _run_chunk(bounds: tuple[int, int]) -> Any:
    return _JOB(bounds)   # type: ignore[misc]


def run_forked(fn: Callable[[tuple[int, int]], Any], bounds: Sequence[tuple[int, int]], workers: int) -> list | None:
    """``[fn(b) for b in bounds]``, each call in a forked child (at most ``workers`` at once), in order; None when
    the pool fails (the caller then works in process). ``fn`` is read from this module by the children, never
    pickled: a closure over the caller's data is fine; what it returns is pickled back."""
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    global _JOB
    _JOB = fn
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(bounds)),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_chunk, bounds))
    except Exception:  # noqa: BLE001 - a broken pool is not an answer: the caller's in-process run raises what is wrong
        return None
    finally:
        _JOB = None
