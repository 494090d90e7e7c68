"""Time one ``planner.perf.estimate.estimate`` call (the solver makes thousands): prints a table of median µs per call.

Run from the repository root:  python bench/perf_timing.py [--repeats N]

Per case: the median and 90th percentile of wall µs per call, the median CPU µs of the calling thread
(``time.thread_time``: what another process on the shared cores does not add), and the evaluations of the queueing
fixed point's terms (``planner.perf.queueing._at``) one call makes: a count that does not vary with the host's
speed, which on this shared machine moves the timings by up to 2x between runs minutes apart. The last rows time the SLO
cases asked together through ``planner.perf.many.estimate_many`` (what the planner's options stage does):
µs per estimate when K copies of the four SLO cases are solved in one stacked pass.
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
    # answers of 2 tokens (classification): the grid's high loads sit where the prefill queue fills (rho -> 1), where
    # Little's law is steepest in q; they are far above the SLO and stop once that is proven (settling), the last of
    # them after about twice the rounds of the other cases
    ("SLO search, 2-token answers, 8B on H100", "llama-3.1-8b", "h100-sxm", dict(prompt_tokens=1000, output_tokens=2,
                                                                                ttft_slo_ms=500)),
    ("fixed concurrency 32", "llama-3.1-8b", "h100-sxm", dict(concurrency=32)),
    ("DeepSeek-V3 DP8 EP8 B200 FP4, concurrency 256", "deepseek-v3", "b200",
     dict(attention_dp=8, expert_parallel=8, precision="fp4", engine="sglang", concurrency=256)),
    ("max throughput", "mixtral-8x7b", "h100-sxm", dict(tp=2)),
    # its top loads' roots lie just below the prefill queue's corner, where the search crept from the flat side (27
    # evaluations until 2026-12-08, 13 with the corner probed: planner.perf.queueing.solve, "Corner"); that search had
    # also put its best load inside the grid (129 of 131), which the exact root does not (the rate grows to c_max)
    ("max throughput, roots at the corner", "qwen3-32b", "b200", dict(tp=2, prompt_tokens=8000, output_tokens=2)),
    # the rate peaks at 94 of 245 slots and dips by 0.13 % to c_max: a second solve, of the 17 loads from 86 to 102
    ("max throughput, peak inside the grid", "mixtral-8x7b", "a100-80gb",
     dict(tp=4, precision="fp8", engine="sglang", prompt_tokens=7650, output_tokens=200)),
    ("does not fit", "llama-3.1-405b", "h100-sxm", dict(tp=8)),
]


def _time(fn, repeats: int) -> tuple[float, float, float]:
    """(median wall µs, p90 wall µs, median thread-CPU µs) of ``fn()`` over ``repeats`` calls."""
    fn()  # warm caches
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - c) * 1e6)
        wall.append((time.perf_counter() - t) * 1e6)
    wall.sort()
    return statistics.median(wall), wall[int(0.9 * len(wall))], statistics.median(cpu)


def evaluations(fn) -> int:
    """How many times one ``fn()`` evaluates the fixed point's terms (each over every live load of its solve)."""
    from bench.fixed_point import counting_evaluations  # noqa: PLC0415

    with counting_evaluations() as counts:
        fn()
    return counts[0]


def main(repeats: int = 300) -> None:
    from planner.perf.many import Request, estimate_many

    cat = Catalog.builtin()
    print(f"| {'case':46s} | {'median µs':>10s} | {'p90 µs':>8s} | {'CPU µs':>8s} | {'evaluations':>11s} |")
    print(f"|{'-' * 48}|{'-' * 11}:|{'-' * 9}:|{'-' * 9}:|{'-' * 12}:|")
    for label, model, gpu, kw in CASES:
        m, g = cat.model(model), cat.gpu(gpu)
        med, p90, cpu = _time(lambda: estimate(m, g, **kw), repeats)
        n = evaluations(lambda: estimate(m, g, **kw))
        print(f"| {label:46s} | {med:10.0f} | {p90:8.0f} | {cpu:8.0f} | {n:11d} |")
    slo = [Request(cat.model(model), cat.gpu(gpu), kw) for _, model, gpu, kw in CASES if "ttft_slo_ms" in kw]
    for k in (1, 16, 256):
        reqs = slo * k
        med, p90, cpu = _time(lambda: estimate_many(reqs), max(3, repeats // (4 * k)))
        label = f"{len(reqs)} SLO estimates stacked, per estimate"
        per = [v / len(reqs) for v in (med, p90, cpu)]
        print(f"| {label:46s} | {per[0]:10.0f} | {per[1]:8.0f} | {per[2]:8.0f} | {'–':>11s} |")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 300)
