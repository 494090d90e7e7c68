"""The options stage's capacities in forked worker processes (``planner.perf.workers``): the same answer as in
process, to the bit; chunks that cover every case once, in order; the count rules; a broken pool not trusted."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings, strategies as st

import planner.perf.workers as workers
from planner.errors import InputError
from planner.fleet.options import enumerate_options

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")


def _rows(options):
    return ([(d.index, d.key, d.capacity_rpm, d.ttft_ms, d.tpot_ms, d.availability, d.price_usd_per_gpu_hour)
             for d in options.deployments],
            [(r.workload, r.offer, r.precision, r.tp, r.mig_profile, r.state, r.reason, r.best_ttft_ms,
              r.weights_gib_per_gpu) for r in options.rejected])


@pytest.fixture(scope="module")
def bench_m():
    from bench import generate  # noqa: PLC0415

    return generate.load("M", 2)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=60), st.integers(1, 30))
@settings(max_examples=200, deadline=None)
def test_chunks_cover_every_case_once_in_order(weights, chunks):
    bounds = workers.chunk_bounds(weights, chunks)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(weights)
    assert all(lo < hi for lo, hi in bounds)                              # none empty
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))           # contiguous, in order
    assert len(bounds) <= min(chunks, len(weights))


def test_chunks_are_balanced_by_weight():
    # 12 equal cases in 3 chunks: 4 each; one heavy case first takes a chunk of its own
    assert workers.chunk_bounds([1] * 12, 3) == [(0, 4), (4, 8), (8, 12)]
    assert workers.chunk_bounds([10, 1, 1, 1, 1, 1], 2) == [(0, 1), (1, 6)]


def _counting(monkeypatch, fail_in_children: bool = False) -> list[int]:
    """Wrap ``capacities_for_workloads``; the list gets this process's calls (forked children inherit the wrapper
    and call it in their own memory, so a pool that worked leaves the list empty)."""
    import os  # noqa: PLC0415

    import planner.perf.many as many  # noqa: PLC0415

    parent, real, calls = os.getpid(), many.capacities_for_workloads, []

    def wrapped(*args, **kwargs):
        if os.getpid() == parent:
            calls.append(1)
        elif fail_in_children:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(many, "capacities_for_workloads", wrapped)
    return calls


@LINUX
def test_workers_give_the_in_process_options_to_the_bit(bench_m, monkeypatch):
    # M-2 (2,888 bucket estimates) forced into 2 workers (3 chunks each): every capacity, TTFT, TPOT and reason equal
    monkeypatch.setenv(workers.ENV, "1")
    alone = _rows(enumerate_options(bench_m))
    calls = _counting(monkeypatch)
    monkeypatch.setenv(workers.ENV, "2")
    spread = _rows(enumerate_options(bench_m))
    assert not calls  # every case was solved in a child: the parent made no call
    assert spread == alone


@LINUX
def test_a_broken_pool_is_not_the_answer(bench_m, monkeypatch):
    # workers that raise: the cases are solved again in process, and the answer is the in-process one
    monkeypatch.setenv(workers.ENV, "1")
    alone = _rows(enumerate_options(bench_m))
    calls = _counting(monkeypatch, fail_in_children=True)
    monkeypatch.setenv(workers.ENV, "2")
    assert _rows(enumerate_options(bench_m)) == alone
    assert calls == [1]


@pytest.mark.parametrize("value", ["0", "-3", "two", "1.5"])
def test_a_bad_worker_count_is_an_input_error(value, monkeypatch):
    monkeypatch.setenv(workers.ENV, value)
    with pytest.raises(InputError, match=f"{workers.ENV}="):
        workers.worker_count(10**6)


@LINUX
def test_the_count_rules(monkeypatch):
    monkeypatch.delenv(workers.ENV, raising=False)
    assert workers.worker_count(workers.PARALLEL_MIN - 1) == 1          # small: in process
    monkeypatch.setenv(workers.ENV, "1")
    assert workers.worker_count(10**6) == 1                              # asked for none
    monkeypatch.setenv(workers.ENV, "3")
    assert workers.worker_count(1) == 3                                  # the variable overrides the size rule
    import multiprocessing  # noqa: PLC0415

    import threading  # noqa: PLC0415

    seen = []
    t = threading.Thread(target=lambda: seen.append(workers.worker_count(10**6)))
    t.start()
    t.join()
    assert seen == [1]                                                   # off the main thread: never
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    assert workers.worker_count(10**6) == 1                              # inside a pool worker: never
