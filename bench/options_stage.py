"""The options stage (the performance table), stacked against one case at a time.

    python -m bench.options_stage                      # M-1, M-2, L-1; 3 repeats
    python -m bench.options_stage --only L-1 --repeats 1

For each generator instance: the process CPU seconds of ``planner.fleet.options.enumerate_options`` (every
SLO search of the scenario solved in stacked batches, ``planner.perf.many``), and of the same table computed
one ``estimate`` call per (workload, bucket, GPU, precision, TP, MIG profile) — the way the stage ran
before — with the largest relative difference between the two capacity tables (they must agree to
rounding: each point of a stack is solved as if alone). Medians of the repeats; CPU seconds, because the
machine is shared and wall seconds move with its load.
"""

from __future__ import annotations

import argparse
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


def _stacked(loaded) -> dict[tuple, tuple]:
    from planner.fleet.options import _capacities, _load_calibration  # noqa: PLC0415

    caps = _capacities(loaded, _load_calibration(loaded, None))
    return {k: tuple(e.requests_per_min for e in v) for k, v in caps.items()}


def _cpu(fn, loaded) -> tuple[float, dict]:
    t = time.process_time()
    out = fn(loaded)
    return time.process_time() - t, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(INSTANCES), help="instances, e.g. M-1,L-1")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
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
    print(markdown_table((["instance", "estimates", "one at a time CPU s", "stacked CPU s", "speed-up",
                           "max rel. difference", "n"], rows)))


if __name__ == "__main__":
    main()
