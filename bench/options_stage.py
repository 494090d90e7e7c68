"""The options stage (the performance table), stacked against one case at a time.

    python -m bench.options_stage                      # M-1, M-2, L-1; 3 repeats
    python -m bench.options_stage --only L-1 --repeats 1

For each generator instance: the process CPU seconds of ``planner.fleet.options.enumerate_options`` (every
SLO search of the scenario solved in stacked batches, ``planner.perf.many``), and of the same table computed
one ``estimate`` call per (workload, bucket, GPU, precision, TP, MIG profile) — the way the stage ran
before — with the largest relative difference between the two capacity tables (they must agree to
rounding: each point of a stack is solved as if alone). Medians of the repeats; CPU seconds, because the
machine is shared and wall seconds move with its load.

Then the whole stage (``enumerate_options``: capacities, dominance, the option records) in process and spread over
worker processes (``planner.perf.workers``, as ``plan solve`` runs it; the workers' count is printed), wall
seconds, and whether the two option sets are equal (they must be, to the bit).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

from bench import generate
from bench.report import markdown_table

INSTANCES = ("M-1", "M-2", "L-1")


def _one_at_a_time(loaded) -> dict[tuple, tuple]:
    """The capacity table through ``estimate`` (each bucket alone, overrides applied) / ``capacity_ep_dp``, one
    case per call."""
    from planner.fleet.options import _configs, _load_calibration  # noqa: PLC0415
    from planner.perf.estimate import apply_override, bucket_kwargs, estimate  # noqa: PLC0415
    from planner.perf.parallel import capacity_ep_dp  # noqa: PLC0415

    s, cat = loaded.scenario, loaded.catalog
    calib = _load_calibration(loaded, None)
    out: dict[tuple, tuple] = {}
    for w in s.workloads:
        model = cat.model(w.model)
        for o in s.offers:
            gpu = cat.gpu(o.gpu)
            for precision, tp, prof, dp, ep in _configs(w, o, model, gpu):
                key = (w.id, gpu.id, precision, tp, prof, dp, ep)
                if key in out:
                    continue
                if dp == 1 and ep == 1:
                    ests = [apply_override(estimate(model, gpu, **bucket_kwargs(w, b, tp=tp, mig_profile=prof,
                                                                            precision=precision, calibration=calib)),
                                           s.capacity_overrides, w, gpu, precision, tp, prof, b) for b in w.buckets]
                else:
                    ests = capacity_ep_dp(model, gpu, w, tp=tp // dp, attention_dp=dp, expert_parallel=ep,
                                          precision=precision, calibration=calib)
                out[key] = tuple(e.requests_per_min for e in ests)
    return out


@contextlib.contextmanager
def _workers(n: int | None):
    """``FLEETPLAN_WORKERS`` set to ``n`` (None: unset, the default rule) for the block."""
    from planner.perf.workers import ENV  # noqa: PLC0415

    old = os.environ.get(ENV)
    if n is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


def _stacked(loaded) -> dict[tuple, tuple]:
    from planner.fleet.options import _capacities, _load_calibration  # noqa: PLC0415

    with _workers(1):   # in process: CPU seconds of this process are the stage's
        caps = _capacities(loaded, _load_calibration(loaded, None))
    return {k: tuple(e.requests_per_min for e in v) for k, v in caps.items()}


def _stage_rows(options) -> tuple:
    return (tuple((d.key, d.capacity_rpm, d.ttft_ms, d.tpot_ms) for d in options.deployments),
            tuple((r.workload, r.offer, r.precision, r.tp, r.mig_profile, r.state, r.reason) for r in options.rejected))


def _stage_wall(loaded, n: int | None) -> tuple[float, tuple]:
    from planner.fleet.options import enumerate_options  # noqa: PLC0415

    with _workers(n):
        t = time.perf_counter()
        options = enumerate_options(loaded)
        return time.perf_counter() - t, _stage_rows(options)


def _cpu(fn, loaded) -> tuple[float, dict]:
    t = time.process_time()
    out = fn(loaded)
    return time.process_time() - t, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(INSTANCES), help="instances, e.g. M-1,L-1")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from planner.perf.workers import worker_count  # noqa: PLC0415

    rows, stage_rows = [], []
    for name in args.only.split(","):
        size, seed = name.split("-")
        loaded = generate.load(size, int(seed))
        stacked, single, diff, cases = [], [], 0.0, 0
        for _ in range(args.repeats):
            t1, a = _cpu(_stacked, loaded)
            t2, b = _cpu(_one_at_a_time, loaded)
            stacked.append(t1)
            single.append(t2)
            cases = sum(len(v) for v in a.values())
            for k, va in a.items():
                for x, y in zip(va, b[k]):
                    if max(abs(x), abs(y)) > 0:
                        diff = max(diff, abs(x - y) / max(abs(x), abs(y)))
        rows.append([name, f"{cases:,}", f"{statistics.median(single):.2f}", f"{statistics.median(stacked):.2f}",
                     f"{statistics.median(single) / statistics.median(stacked):.1f}x", f"{diff:.1e}",
                     str(args.repeats)])
        alone, spread, same = [], [], True
        for _ in range(args.repeats):
            t1, a = _stage_wall(loaded, 1)
            t2, b = _stage_wall(loaded, None)
            alone.append(t1)
            spread.append(t2)
            same = same and a == b
        stage_rows.append([name, str(worker_count(cases)), f"{statistics.median(alone):.2f}",
                           f"{statistics.median(spread):.2f}",
                           f"{statistics.median(alone) / statistics.median(spread):.1f}x", "yes" if same else "NO",
                           str(args.repeats)])
    print(markdown_table((["instance", "estimates", "one at a time CPU s", "stacked CPU s", "speed-up",
                           "max rel. difference", "n"], rows)))
    print()
    print(markdown_table((["instance", "workers", "whole stage in process, wall s", "whole stage as plan solve runs "
                           "it, wall s", "speed-up", "same options", "n"], stage_rows)))


if __name__ == "__main__":
    main()
