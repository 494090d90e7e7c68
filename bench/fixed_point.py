"""How close the queueing fixed point's answers are to the exact root, and what it costs to get there.

    python -m bench.fixed_point                  # M-1
    python -m bench.fixed_point --instance L-1

For one generator instance: every SLO capacity of the options stage (``planner.fleet.options._capacities``)
with the shipped stopping rule (Little's law met to ``planner.perf.queueing.TOL`` of the load, or a jump of it
bracketed to ``JUMP_X`` of q) against the same search run to 1e-9 of the load and 1e-12 of q (the reference).
Prints the relative change of the capacity (positive: more requests/min than the reference, i.e. optimistic)
— median, mean, 5th and 95th percentile, extremes, the share more than 1 % off — the CPU seconds of the stage
and the evaluations of the loop per load. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from bench import generate
from bench.report import markdown_table


@contextlib.contextmanager
def counting_evaluations():
    """Count the fixed point's evaluations (``planner.perf.queueing._at``) inside the block: yields ``[calls,
    loads]`` (the loads summed over the calls), and puts the real function back on the way out."""
    import planner.perf.queueing as queueing  # noqa: PLC0415

    real, counts = queueing._at, [0, 0]

    def counted(step, loop, q, fx, full=True):
        counts[0] += 1
        counts[1] += len(q)
        return real(step, loop, q, fx, full)

    queueing._at = counted
    try:
        yield counts
    finally:
        queueing._at = real


def _capacities(loaded, cal, tol: float, jump: float) -> tuple[dict, float, float]:
    import planner.perf.queueing as queueing  # noqa: PLC0415
    from planner.fleet.options import _capacities as caps_of  # noqa: PLC0415

    saved = queueing.TOL, queueing.JUMP_X
    queueing.TOL, queueing.JUMP_X = tol, jump
    try:
        with counting_evaluations() as counts:
            t = time.process_time()
            caps = caps_of(loaded, cal)
            cpu = time.process_time() - t
    finally:
        queueing.TOL, queueing.JUMP_X = saved
    return {k: np.array([e.requests_per_min for e in v]) for k, v in caps.items()}, cpu, counts[1]


def main(argv: list[str] | None = None) -> None:
    from planner.fleet.options import _load_calibration  # noqa: PLC0415
    import planner.perf.queueing as queueing  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instance", default="M-1", help="generator instance, e.g. M-1 or L-1")
    args = ap.parse_args(argv)
    size, seed = args.instance.split("-")
    loaded = generate.load(size, int(seed))
    cal = _load_calibration(loaded, None)
    ref, ref_cpu, ref_evals = _capacities(loaded, cal, 1e-9, 1e-12)
    rows = []
    for tol, jump, label in ((queueing.TOL, queueing.JUMP_X, "shipped"),
                             (queueing.TOL / 10, queueing.JUMP_X / 10, "10x tighter")):
        got, cpu, evals = _capacities(loaded, cal, tol, jump)
        rel = np.concatenate([(got[k] - ref[k]) / np.maximum(ref[k], 1e-9) for k in ref if len(ref[k])])
        served = np.concatenate([np.maximum(ref[k], got[k]) > 0 for k in ref if len(ref[k])])
        rel = rel[served]
        rows.append([f"{label} (TOL {tol:g}, JUMP_X {jump:g})", f"{len(rel):,}", f"{np.median(rel) * 100:+.3f}",
                     f"{rel.mean() * 100:+.3f}", f"{np.percentile(rel, 5) * 100:+.2f}",
                     f"{np.percentile(rel, 95) * 100:+.2f}", f"{rel.min() * 100:+.2f}", f"{rel.max() * 100:+.2f}",
                     f"{np.mean(np.abs(rel) > 0.01) * 100:.1f}", f"{cpu:.2f}", f"{evals:,}"])
    print(f"{args.instance}: SLO capacities against the search run to 1e-9 of the load ({ref_cpu:.2f} CPU s, "
          f"{ref_evals:,} load evaluations); % of the reference\n")
    print(markdown_table((["stopping rule", "capacities", "median %", "mean %", "p5 %", "p95 %", "min %", "max %",
                           "> 1 % off (% of them)", "CPU s", "load evaluations"], rows)))


if __name__ == "__main__":
    main()
