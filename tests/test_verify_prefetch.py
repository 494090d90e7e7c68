"""The verifier's model capacities computed together (``planner.verify.capacities.Capacities.prefetch``): the same
numbers as one call per deployment, to the bit, and a failure left to the one-by-one path that reports it."""

from __future__ import annotations

import pytest

from planner.verify.capacities import Capacities


@pytest.fixture(scope="module")
def bench_m():
    from bench import generate  # noqa: PLC0415

    return generate.load("M", 1)


def _wanted(loaded):
    s, cat = loaded.scenario, loaded.catalog
    gpus = sorted({o.gpu for o in s.offers})[:4]
    return [(w, cat.gpu(g), p, tp, None) for w in s.workloads[:6] for g in gpus for p in w.precisions[:1]
            for tp in (1, 2)]


def test_prefetched_capacities_are_the_one_by_one_ones(bench_m):
    wanted = _wanted(bench_m)
    alone = Capacities(bench_m, None)
    one_by_one = [alone.model(*k) for k in wanted]
    together = Capacities(bench_m, None)
    together.prefetch(wanted)
    assert len(together._perf) == len({(w.id, g.id, p, tp, m) for w, g, p, tp, m in wanted})  # all computed there
    assert [together.model(*k) for k in wanted] == one_by_one
    assert any(isinstance(c, list) and any(x > 0 for x in c) for c in one_by_one)  # not all unservable


def test_a_failed_prefetch_leaves_the_cases_to_the_one_by_one_path(bench_m, monkeypatch):
    import planner.perf.many as many  # noqa: PLC0415

    wanted = _wanted(bench_m)
    caps = Capacities(bench_m, None)
    monkeypatch.setattr(many, "capacities_for_workloads", lambda *a, **k: 1 / 0)
    caps.prefetch(wanted)
    assert caps._perf == {}
    got = caps.model(*wanted[0])
    assert isinstance(got, str) and got.startswith("performance model failed: ZeroDivisionError")
