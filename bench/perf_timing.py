"""Time one ``planner.perf.estimate.estimate`` call (the solver makes thousands): prints a table of median µs per call.

Run from the repository root:  python bench/perf_timing.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import Catalog  # noqa: E402
from planner.perf.estimate import estimate  # noqa: E402

CASES = [
    ("SLO search, 8B on H100", "llama-3.1-8b", "h100-sxm", dict(ttft_slo_ms=500, tpot_slo_ms=50)),
    ("SLO search, 70B TP4 FP8", "llama-3.1-70b", "h100-sxm", dict(tp=4, precision="fp8", ttft_slo_ms=1000)),
    ("SLO search, DeepSeek-V3 TP8 B200 FP4", "deepseek-v3", "b200", dict(tp=8, precision="fp4", ttft_slo_ms=2000,
                                                                         engine="trtllm")),
    ("SLO search, MIG 3g.40gb", "llama-3.1-8b", "a100-80gb", dict(mig_profile="3g.40gb", ttft_slo_ms=800)),
    ("fixed concurrency 32", "llama-3.1-8b", "h100-sxm", dict(concurrency=32)),
    ("DeepSeek-V3 DP8 EP8 B200 FP4, concurrency 256", "deepseek-v3", "b200",
     dict(attention_dp=8, expert_parallel=8, precision="fp4", engine="sglang", concurrency=256)),
    ("max throughput", "mixtral-8x7b", "h100-sxm", dict(tp=2)),
    ("does not fit", "llama-3.1-405b", "h100-sxm", dict(tp=8)),
]


def main(repeats: int = 300) -> None:
    cat = Catalog.builtin()
    print(f"{'case':40s} {'median µs':>10s} {'p90 µs':>8s}")
    for label, model, gpu, kw in CASES:
        m, g = cat.model(model), cat.gpu(gpu)
        estimate(m, g, **kw)  # warm caches
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            estimate(m, g, **kw)
            times.append((time.perf_counter() - t) * 1e6)
        times.sort()
        print(f"{label:40s} {statistics.median(times):10.0f} {times[int(0.9 * len(times))]:8.0f}")


if __name__ == "__main__":
    main()
