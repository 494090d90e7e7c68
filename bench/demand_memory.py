"""``python -m bench.demand_memory``: peak memory and time of ``plan demand`` on synthetic traces, and the
size-mix bucketing's capacity error against per-request truth with the real performance model.

Memory: each run is a fresh process (``plan demand TRACE``, its output discarded); its peak resident set size is
``ru_maxrss`` of that child (``os.wait4``), so the Python + pandas + pyarrow baseline is included. A 1 000-request
trace gives that baseline; what the trace adds is the difference. Medians over ``--repeats``.

Capacity error: per key, a uniform sample of ``--truth-sample`` requests (the reader's reservoir). Per-request
truth is mean_i 1/c(p_i, o_i), c the per-replica capacity (requests/min at the SLOs) of the deployment that
``plan solve scenarios/chatbot.yaml`` picks for that model (``CASES``); requests no replica can serve at all
(capacity 0: prompt + output above the workload's context, or TTFT over the SLO even alone) are counted and left
out. Each bucketing is built from the same sample's fine cells, so the comparison has no sampling error between
the two sides; ``error %`` = (Σ_b s_b / c_b) / truth − 1 (positive: the plan over-provisions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

PLAN = "import sys; from planner.cli import main; sys.argv[0] = 'plan'; main()"

# model key -> (GPU, TP, precision, kv dtype, engine, TTFT SLO ms, percentile, TPOT SLO ms, context tokens): the
# chatbot scenario's workloads and the deployments plan solve chose for them (l40s fp8; h200 fp8 TP2; h200 fp8).
CASES = {
    "llama-3.1-8b": ("l40s", 1, "fp8", "auto", "vllm", 500.0, 95.0, 50.0, 8192),
    "llama-3.1-70b": ("h200", 2, "fp8", "fp8", "vllm", 2000.0, 95.0, 80.0, 32768),
    "qwen3-30b-a3b": ("h200", 1, "fp8", "auto", "sglang", 1000.0, 90.0, 40.0, None),
}


def peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS MiB, wall seconds) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-500:]}")
    return usage.ru_maxrss / 1024.0, wall


def memory_table(sizes: list[int], formats: list[str], repeats: int, chunk_rows: int, tmp: Path) -> list[dict]:
    from planner.demand.synth import write  # noqa: PLC0415

    rows = []
    for n in [1000] + sizes:
        for fmt in formats:
            path = tmp / f"trace-{n}.{fmt}"
            if not path.exists():
                t0 = time.perf_counter()
                write(path, n, days=7, seed=0)
                gen_s = time.perf_counter() - t0
            else:
                gen_s = float("nan")
            runs = [peak_rss_mib([sys.executable, "-c", PLAN, "demand", str(path), "--chunk-rows", str(chunk_rows)])
                    for _ in range(repeats)]
            rows.append({"requests": n, "format": fmt, "file_mib": path.stat().st_size / 2 ** 20,
                         "peak_rss_mib": statistics.median(r[0] for r in runs),
                         "wall_s": statistics.median(r[1] for r in runs), "generate_s": gen_s})
            print(f"  {n:>10,} {fmt:8s} file {rows[-1]['file_mib']:8.1f} MiB  peak RSS {rows[-1]['peak_rss_mib']:7.1f} MiB"
                  f"  {rows[-1]['wall_s']:6.1f} s", file=sys.stderr, flush=True)
    return rows


def capacity_errors(trace: Path, sample: int, ks: tuple[int, ...]) -> list[dict]:
    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.demand.accumulate import N_BINS, accumulate, size_bin  # noqa: PLC0415
    from planner.demand.buckets import capacity_error, grid_buckets, kmeans_buckets, mean_bucket  # noqa: PLC0415
    from planner.demand.read import read_trace  # noqa: PLC0415
    from planner.perf.estimate import estimate  # noqa: PLC0415

    cat = Catalog.builtin()
    stats = accumulate(read_trace(trace), sample_size=sample, seed=1)
    out = []
    for key, ks_ in sorted(stats.keys.items()):
        gpu, tp, prec, kv, eng, ttft, pct, tpot, ctx = CASES[key]
        model, g = cat.model(key), cat.gpu(gpu)
        cache: dict[tuple[int, int], float] = {}

        def cap(p: int, o: int) -> float:
            if (p, o) not in cache:
                e = estimate(model, g, tp=tp, precision=prec, kv_dtype=kv, engine=eng, prompt_tokens=p,
                             output_tokens=o, context_tokens=ctx, ttft_slo_ms=ttft, tpot_slo_ms=tpot,
                             ttft_percentile=pct)
                cache[(p, o)] = e.requests_per_min if e.fits else 0.0
            return cache[(p, o)]

        p_all, o_all = ks_.sample_prompt, np.maximum(ks_.sample_output, 1)
        servable = np.array([cap(int(p), int(o)) > 0 for p, o in zip(p_all, o_all)])
        p, o = p_all[servable], o_all[servable]
        cell = size_bin(p) * N_BINS + size_bin(o)
        uniq, inv = np.unique(cell, return_inverse=True)
        n = np.bincount(inv).astype(float)
        mp, mo = np.bincount(inv, weights=p) / n, np.bincount(inv, weights=o) / n
        variants = [("mean (1 bucket)", mean_bucket(n, mp, mo))]
        variants += [(f"k-means tokens K={k}", kmeans_buckets(n, mp, mo, k)) for k in ks]
        variants += [(f"k-means requests K={k}", kmeans_buckets(n, mp, mo, k, weight="requests")) for k in ks]
        variants.append(("fixed doubling grid", grid_buckets(n, mp, mo, tuple(2.0 ** i for i in range(1, 16)))))
        for name, bks in variants:
            # a bucket mean that no replica can serve would make the planner refuse the workload: report it
            err = capacity_error(bks, p, o, cap) if all(cap(b.prompt_tokens, b.output_tokens) > 0 for b in bks) \
                else float("nan")
            out.append({"key": key, "deployment": f"{gpu} {prec} TP{tp}", "sample": int(len(p_all)),
                        "unservable": int((~servable).sum()), "bucketing": name, "buckets": len(bks),
                        "error_pct": 100.0 * err})
        print(f"  {key}: {len(cache)} capacity evaluations", file=sys.stderr, flush=True)
    return out


def _markdown(rows: list[dict], cols: list[str], fmt: dict[str, str]) -> str:
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(format(r[c], fmt.get(c, "")) for c in cols) + " |\n" for r in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.demand_memory", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="requests per trace, comma-separated")
    ap.add_argument("--formats", default="parquet,csv")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--truth-sample", type=int, default=1500, help="requests per key scored against the model")
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demand-bench-") as d:
        tmp = Path(d)
        if not a.skip_memory:
            rows = memory_table([int(x) for x in a.sizes.split(",")], a.formats.split(","), a.repeats,
                                a.chunk_rows, tmp)
            print("### plan demand: peak memory (one process per run, median of "
                  f"{a.repeats}; chunk {a.chunk_rows:,} rows)\n")
            print(_markdown(rows, ["requests", "format", "file_mib", "peak_rss_mib", "wall_s"],
                            {"requests": ",", "file_mib": ".1f", "peak_rss_mib": ".1f", "wall_s": ".1f"}))
        from planner.demand.synth import write  # noqa: PLC0415

        trace = write(tmp / "truth.parquet", 1_000_000, days=7, seed=0)
        err = capacity_errors(trace, a.truth_sample, (3, 6, 10))
        print("### size-mix capacity error vs per-request truth (1 M-request synthetic trace)\n")
        print(_markdown(err, ["key", "deployment", "sample", "unservable", "bucketing", "buckets", "error_pct"],
                        {"error_pct": "+.2f"}))


if __name__ == "__main__":
    main()
