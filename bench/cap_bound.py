"""How far the offers' caps priced in (``planner.fleet.cap_bound``) lift the workloads' own bound (issue 13).

    python -m bench.cap_bound                          # L-1, L-2, L-3, 60 s each
    python -m bench.cap_bound --only M-1,L-2 --seconds 30

For each frozen-set instance named: the workload bound (``planner.fleet.workload_bound``), then the column
generation steps of ``cap_bound`` (unseeded: ``plan solve`` seeds them with its first plan) for ``--seconds`` of one
core (each period's in turn), printing the bound after each step; then a table of the bounds, the steps and the gap
each leaves at the instance's best-known plan (``bench/data/frozen-best.csv``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from bench import generate
from bench.report import markdown_table

BEST = Path(__file__).resolve().parent / "data" / "frozen-best.csv"


def main(argv: list[str] | None = None) -> None:
    from planner.fleet.cap_bound import cap_bound  # noqa: PLC0415
    from planner.fleet.horizon import horizon_for  # noqa: PLC0415
    from planner.fleet.options import enumerate_options  # noqa: PLC0415
    from planner.fleet.workload_bound import workload_bound  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="L-1,L-2,L-3", help="instances, e.g. M-1,L-2")
    ap.add_argument("--seconds", type=float, default=60.0, help="one core's seconds of steps per instance")
    args = ap.parse_args(argv)
    with BEST.open(encoding="utf-8") as fh:
        best = {r["instance"]: float(r["best_known_usd_per_hour"]) for r in csv.DictReader(fh)}
    rows = []
    for name in args.only.split(","):
        size, seed = name.rsplit("-", 1)
        loaded = generate.load(size, int(seed))
        s = loaded.scenario
        options, horizon = enumerate_options(loaded), horizon_for(s)
        t0 = time.perf_counter()
        base = workload_bound(s, options, horizon, t0 + args.seconds)
        t1 = time.perf_counter()
        trace: list = []
        bound = cap_bound(s, options, horizon, time.perf_counter() + args.seconds, trace=trace)
        t2 = time.perf_counter()
        print(f"{name}: " + ", ".join(f"{v:.2f}" for _, v in trace), flush=True)
        gap = (best[name] - bound) / best[name] * 100.0 if bound is not None else float("nan")
        rows.append([name, f"{base:.2f} ({t1 - t0:.1f} s)", f"{bound:.2f}", f"{len(trace)} ({t2 - t1:.1f} s)",
                     f"{best[name]:.2f}", f"{gap:.2f} %"])
    print(f"\n`python -m bench.cap_bound --only {args.only} --seconds {args.seconds:g}`\n")
    print(markdown_table((["instance", "workload bound", "caps priced", "steps", "best known", "gap at best known"],
                          rows)))


if __name__ == "__main__":
    main()
