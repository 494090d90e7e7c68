"""How far the queueing fixed point's decode-batch ↔ step-time rounds leave the SLO capacities from the settled
fixed point.

    python -m bench.inner_rounds                  # M-1
    python -m bench.inner_rounds --instance L-1

For one generator instance: every SLO capacity of the options stage (``planner.fleet.options._capacities``)
with ``planner.perf.queueing.INNER`` rounds per evaluation (with and without Aitken's extrapolation,
``AITKEN_R``), against 24 plain rounds as the reference. Prints the relative change of the capacity
(positive: more requests/min than the settled fixed point, i.e. optimistic) — median, mean, 5th and 95th
percentile, extremes, the share more than 1 % off — and the CPU seconds of the stage. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench import generate
from bench.report import markdown_table


def _capacities(loaded, cal, inner: int, aitken_r: float) -> tuple[dict, float]:
    import planner.perf.queueing as queueing  # noqa: PLC0415
    from planner.fleet.options import _capacities as caps_of  # noqa: PLC0415

    saved = queueing.INNER, queueing.AITKEN_R
    queueing.INNER, queueing.AITKEN_R = inner, aitken_r
    try:
        t = time.process_time()
        caps = caps_of(loaded, cal)
        cpu = time.process_time() - t
    finally:
        queueing.INNER, queueing.AITKEN_R = saved
    return {k: np.array([e.requests_per_min for e in v]) for k, v in caps.items()}, cpu


def main(argv: list[str] | None = None) -> None:
    from planner.fleet.options import _load_calibration  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instance", default="M-1", help="generator instance, e.g. M-1 or L-1")
    args = ap.parse_args(argv)
    size, seed = args.instance.split("-")
    loaded = generate.load(size, int(seed))
    cal = _load_calibration(loaded, None)
    ref, ref_cpu = _capacities(loaded, cal, 24, 0.0)
    rows = []
    for inner, aitken_r, label in ((2, 0.0, "2 plain rounds (until 2026-12-03)"), (3, 0.0, "3 plain rounds"),
                                   (3, 0.9, "2 rounds, Aitken, 1 round (shipped)"),
                                   (4, 0.9, "2 rounds, Aitken, 2 rounds")):
        got, cpu = _capacities(loaded, cal, inner, aitken_r)
        rel = np.concatenate([(got[k] - ref[k]) / np.maximum(ref[k], 1e-9) for k in ref if len(ref[k])])
        served = np.concatenate([np.maximum(ref[k], got[k]) > 0 for k in ref if len(ref[k])])
        rel = rel[served]
        rows.append([label, f"{len(rel):,}", f"{np.median(rel) * 100:+.2f}", f"{rel.mean() * 100:+.2f}",
                     f"{np.percentile(rel, 5) * 100:+.1f}", f"{np.percentile(rel, 95) * 100:+.1f}",
                     f"{rel.min() * 100:+.1f}", f"{rel.max() * 100:+.1f}", f"{np.mean(np.abs(rel) > 0.01) * 100:.1f}",
                     f"{cpu:.2f}"])
    print(f"{args.instance}: SLO capacities against 24 plain rounds ({ref_cpu:.2f} CPU s); % of the reference\n")
    print(markdown_table((["rounds per evaluation", "capacities", "median %", "mean %", "p5 %", "p95 %", "min %",
                           "max %", "> 1 % off (% of them)", "CPU s"], rows)))


if __name__ == "__main__":
    main()
